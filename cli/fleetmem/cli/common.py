"""Shared CLI plumbing: settings from options, the service (the folder's running owner or
stores opened here, see `invoke`), JSON or rich output."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import typer

from fleetmem.api.local_ops import Op, to_jsonable
from fleetmem.memory import logs
from fleetmem.memory.errors import FleetmemError
from fleetmem.memory.services import MemoryService
from fleetmem.memory.settings import Settings

if TYPE_CHECKING:
    from rich.console import Console

T = TypeVar("T")


class _LazyConsole:
    """A rich `Console` made on first use: `fleetmem serve` prints nothing with it, and
    importing rich would lengthen its start."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return getattr(self._console, name)


out = cast("Console", _LazyConsole(stderr=False))  # stdout: command results
err = cast("Console", _LazyConsole(stderr=True))

DataDirOption = typer.Option(None, "--data-dir", envvar="FLEETMEM_DATA_DIR",
                             help="Data folder (default: a per-user data folder).")
JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")
AgentOption = typer.Option("local", "--agent", "-a", envvar="FLEETMEM_DEFAULT_AGENT",
                           help="Agent id (or human:<name>) acting; default: the local agent.")


def setup_logging(level: str = "INFO", fmt: str | None = None) -> None:
    """Log to stderr (stdout is reserved for results and the MCP stdio wire) as text or
    JSON lines (`fmt`; default `FLEETMEM_LOG_FORMAT`, read before the settings load)."""
    logs.configure(level, fmt or os.environ.get("FLEETMEM_LOG_FORMAT", "text"))


def load_settings(data_dir: Path | None) -> Settings:
    """Settings from the environment, with --data-dir taking precedence."""
    return Settings(data_dir=data_dir) if data_dir else Settings()


@contextlib.asynccontextmanager
async def started(settings: Settings) -> AsyncIterator[MemoryService]:
    """A started service over the configured stores, closed on exit."""
    from fleetmem.memory.bootstrap import build_service

    service = build_service(settings)
    await service.start()
    try:
        yield service
    finally:
        await service.close()


def invoke(settings: Settings, op: Op[T], *, progress_title: str | None = None,
           **arguments: Any) -> T:
    """Run one of the CLI's operations where the data folder is: on the `fleetmem serve`
    that owns it (over its local socket), else on stores opened here. Either way a
    service error is printed on stderr, worded by the service, and exits with code 2.
    With `progress_title`, an operation run here shows a progress bar on a terminal (its
    `run` takes `progress`); one run by the service shows none (the work is there)."""
    from fleetmem.cli.reach import call_owner, owner_of

    info = owner_of(settings)
    if info is None:
        if op.embeds:  # the model loads in the background while the stores open
            from fleetmem.memory.bootstrap import preload_embedder

            preload_embedder(settings)
        if progress_title is None:
            return run_with_service(settings, lambda s: op.run(s, **arguments))
        from fleetmem.cli.progress import bar

        with bar(progress_title) as progress:
            return run_with_service(settings, lambda s: op.run(s, progress=progress,
                                                                **arguments))
    return exit_on_error(lambda: call_owner(info, op, arguments))


Call = Callable[[Op[Any], dict[str, Any]], Awaitable[Any]]


def invoke_many(settings: Settings, body: Callable[[Call], Awaitable[T]], *,
                embeds: bool = False) -> T:
    """Run a command that makes many operation calls (import and export, batch by batch)
    on one service: the folder's owner over its local socket, else stores opened here once
    for the whole command. `body` gets the function that runs one operation; service errors
    exit with code 2 as for `invoke`."""
    from fleetmem.cli.reach import call_owner, owner_of

    info = owner_of(settings)
    if info is None:
        if embeds:
            from fleetmem.memory.bootstrap import preload_embedder

            preload_embedder(settings)

        async def here(service: MemoryService) -> T:
            async def call(op: Op[Any], arguments: dict[str, Any]) -> Any:  # noqa: ANN401
                return await op.run(service, **arguments)
            return await body(call)

        return run_with_service(settings, here)
    owner = info

    async def remote(op: Op[Any], arguments: dict[str, Any]) -> Any:  # noqa: ANN401
        return await asyncio.to_thread(call_owner, owner, op, arguments)

    async def main() -> T:
        return await body(remote)

    return exit_on_error(lambda: asyncio.run(main()))


def run_with_service(settings: Settings, fn: Callable[[MemoryService], Awaitable[T]]) -> T:
    """Run one coroutine against a started service; service errors exit with code 2."""
    async def main() -> T:
        async with started(settings) as service:
            return await fn(service)

    return exit_on_error(lambda: asyncio.run(main()))


def exit_on_error(fn: Callable[[], T]) -> T:
    """Run `fn`; a service error is printed on stderr and exits with code 2."""
    try:
        return fn()
    except FleetmemError as exc:
        err.print(f"[red]error[/red] ({exc.code}): ", end="")
        err.print(exc.message, soft_wrap=True, highlight=False, markup=False)
        raise typer.Exit(2) from exc


def show(value: Any, as_json: bool, text: str) -> None:
    """Print `value` as JSON with --json, else the human-readable `text`."""
    if as_json:
        emit_json(value)
    else:
        out.print(text)


def emit_json(value: Any) -> None:
    """Print a value as JSON on stdout."""
    out.print_json(json.dumps(to_jsonable(value), default=str))
