"""The one place that names every door: what `fleetmem serve` hosts and what `fleetmem` offers.

Plain imports and calls, no registry: a door that fails to import fails the app loudly,
and the import graph shows the whole application. It lives in the CLI because the CLI is
the top of the dependency graph (it already starts every door); `fleetmem.api.app` builds
the served app from it. No door imports this module except those two.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

import typer
from fastapi import FastAPI

from fleetmem.api import v1
from fleetmem.cli import (
    admin_cmds,
    audit_cmds,
    backup_cmds,
    gc_cmds,
    mcp_cmd,
    memory_cmds,
    vault_cmds,
)
from fleetmem.gc.scheduler import gc_background
from fleetmem.mcp_server.http import announce, mount_mcp, run_sessions
from fleetmem.memory.services import MemoryService
from fleetmem.memory.settings import Settings
from fleetmem.vault.watcher import vault_background

BackgroundWork = Callable[[FastAPI, MemoryService, Settings], AbstractAsyncContextManager[None]]

# Entered in this order for the served app's lifetime, left in reverse: the MCP session
# manager (a mounted sub-app's own lifespan never runs), serve.json for the stdio shims,
# the GC scheduler, the vault watcher.
BACKGROUND: tuple[BackgroundWork, ...] = (run_sessions, announce, gc_background,
                                          vault_background)


def install_doors(app: FastAPI, service: MemoryService, settings: Settings) -> None:
    """Add the REST API (/v1, /metrics) and MCP over HTTP (/mcp) to the served app."""
    v1.register(app, service, settings)
    mount_mcp(app, service, settings)


@asynccontextmanager
async def run_background(app: FastAPI, service: MemoryService,
                         settings: Settings) -> AsyncIterator[None]:
    """Run every door's background work for the served app's lifetime."""
    async with AsyncExitStack() as stack:
        for work in BACKGROUND:
            await stack.enter_async_context(work(app, service, settings))
        yield


def build_cli() -> typer.Typer:
    """The `fleetmem` command with every sub-command registered."""
    cli = typer.Typer(name="fleetmem", no_args_is_help=True, add_completion=False,
                      help="Knowledge-graph memory for fleets of AI agents.")
    cli.command("serve")(memory_cmds.serve)
    cli.command("remember")(memory_cmds.remember)
    cli.command("recall")(memory_cmds.recall)
    cli.command("forget")(memory_cmds.forget)
    cli.command("stats")(memory_cmds.stats)
    mcp_cmd.register(cli)
    vault_cmds.register(cli)
    gc_cmds.register(cli)
    admin_cmds.register(cli)
    backup_cmds.register(cli)
    audit_cmds.register(cli)
    return cli
