"""How a long job (migrate, vault export, re-indexing the vector tier, import, export)
reports how far it got: a callback the caller passes, which the CLI renders as a progress
bar on a terminal and other callers leave out. Called on the job's task or a worker
thread; it must be cheap and must not raise."""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[str, int, int | None], None]
"""`progress(stage, done, total)`: `done` items of `stage` ("memories", "notes", ...) are
finished out of `total` (None when not known ahead)."""


def no_progress(stage: str, done: int, total: int | None) -> None:
    """The callback of a caller that shows nothing."""
