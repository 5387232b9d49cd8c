"""Progress bars for the CLI's long jobs (migrate, vault export, re-indexing, import,
export): `bar()` gives the `progress(stage, done, total)` callback the service's long jobs
take, rendered with rich on stderr when stderr is a terminal and doing nothing otherwise
(piped, redirected, under a test or a CI log), so stdout stays results only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from fleetmem.memory.services import ProgressFn, no_progress

if TYPE_CHECKING:  # rich is imported when a bar is drawn: `serve` never needs it
    from rich.console import Console
    from rich.progress import Progress, TaskID


def shows_bars(console: Console | None = None) -> bool:
    """Whether bars are drawn: stderr (or `console`) is a terminal."""
    from rich.console import Console

    return (console or Console(stderr=True)).is_terminal


def new_progress(console: Console | None = None) -> Progress | None:
    """A rich `Progress` on stderr (not started), or None when stderr is not a terminal."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = console or Console(stderr=True)
    if not console.is_terminal:
        return None
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, transient=False)


@contextmanager
def bar(title: str = "", console: Console | None = None) -> Iterator[ProgressFn]:
    """A progress callback for one job: a bar per stage ("memories", "notes", ...) while
    the block runs, titled `title: stage`; a no-op when stderr is not a terminal."""
    progress = new_progress(console)
    if progress is None:
        yield no_progress
        return
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int | None) -> None:
        task = tasks.get(stage)
        if task is None:
            label = f"{title}: {stage}" if title else stage
            task = tasks[stage] = progress.add_task(label, total=total)
        progress.update(task, completed=done, total=total)

    with progress:
        yield update
