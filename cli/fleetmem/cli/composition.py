"""The one place that names every door: what `fleetmem serve` hosts and what `fleetmem` offers.

Plain imports and calls, no registry: a door that fails to import fails the app loudly,
and the import graph shows the whole application. It lives in the CLI because the CLI is
the top of the dependency graph (it already starts every door); `fleetmem.api.app` builds
the served app from it. No door imports this module except those two.

The served app's doors (REST, MCP over HTTP, the GC scheduler, the vault watcher) are
imported by the functions that install them, so a CLI command that only talks to the
store does not load FastAPI and the MCP SDK first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import typer

from fleetmem.cli import (
    admin_cmds,
    audit_cmds,
    backup_cmds,
    gc_cmds,
    mcp_cmd,
    memory_cmds,
    transfer_cmds,
    vault_cmds,
)
from fleetmem.memory.services import MemoryService, agents_reload_background
from fleetmem.memory.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

BackgroundWork = Callable[["FastAPI", MemoryService, Settings],
                          AbstractAsyncContextManager[None]]


def background_work() -> tuple[BackgroundWork, ...]:
    """What runs for the served app's lifetime, entered in this order and left in reverse:
    the REST routes built after ready (when deferred), the MCP door (loaded in the
    background, then its session manager), the local socket for the CLI, serve.json for
    the stdio shims and the CLI, the agents-file reload, the GC scheduler, the vault
    watcher, the loopback operator metrics port (when `metrics.operator_port` is set)."""
    from fleetmem.api.local_door import local_socket
    from fleetmem.api.operator_port import operator_metrics_port
    from fleetmem.api.v1 import build_routes_later
    from fleetmem.gc.scheduler import gc_background
    from fleetmem.mcp_server.deferred import announce, run_mcp
    from fleetmem.vault.watcher import vault_background

    return (build_routes_later, run_mcp, local_socket, announce, agents_reload_background,
            gc_background, vault_background, operator_metrics_port)


def install_doors(app: FastAPI, service: MemoryService, settings: Settings, *,
                  defer: bool = False) -> None:
    """Add the REST API (/v1, /metrics) and MCP over HTTP (/mcp) to the served app; the
    MCP SDK is imported by the door's background work while the app starts, and with
    `defer` (`fleetmem serve`) the REST routes agents use least are built once it is
    ready (`fleetmem.api.v1.LATER`)."""
    from fleetmem.api import v1
    from fleetmem.mcp_server.deferred import mount_deferred

    v1.register(app, service, settings, defer=defer)
    mount_deferred(app)


@asynccontextmanager
async def run_background(app: FastAPI, service: MemoryService,
                         settings: Settings) -> AsyncIterator[None]:
    """Run every door's background work for the served app's lifetime."""
    async with AsyncExitStack() as stack:
        for work in background_work():
            await stack.enter_async_context(work(app, service, settings))
        yield


def build_cli() -> typer.Typer:
    """The `fleetmem` command with every sub-command registered."""
    cli = typer.Typer(name="fleetmem", no_args_is_help=True, add_completion=False,
                      help="Knowledge-graph memory for fleets of AI agents.")
    cli.command("serve")(memory_cmds.serve)
    cli.command("remember")(memory_cmds.remember)
    cli.command("recall")(memory_cmds.recall)
    cli.command("list")(memory_cmds.list_memories)
    cli.command("forget")(memory_cmds.forget)
    cli.command("stats")(memory_cmds.stats)
    mcp_cmd.register(cli)
    vault_cmds.register(cli)
    gc_cmds.register(cli)
    admin_cmds.register(cli)
    backup_cmds.register(cli)
    audit_cmds.register(cli)
    transfer_cmds.register(cli)
    return cli
