"""Where the doors plug into `fleetmem serve` (one line each, so they never collide).

EXTENSIONS: callables (app, service, settings) -> None that add routes or mounts.
BACKGROUND: callables (app, service, settings) -> async context manager, entered for the
app's lifetime (MCP session manager, GC scheduler, vault watcher).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

Extension = Callable[[Any, Any, Any], None]
Background = Callable[[Any, Any, Any], AbstractAsyncContextManager[None]]

EXTENSIONS: list[Extension] = []
BACKGROUND: list[Background] = []


def _register() -> None:
    # Imported lazily so a door that is not installed yet does not break the others.
    import importlib

    for module in ("fleetmem.api.v1", "fleetmem.mcp_server.http", "fleetmem.gc.scheduler",
                   "fleetmem.vault.watcher"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        EXTENSIONS.extend(getattr(mod, "EXTENSIONS", []))
        BACKGROUND.extend(getattr(mod, "BACKGROUND", []))


_register()
