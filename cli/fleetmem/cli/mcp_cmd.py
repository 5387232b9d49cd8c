"""`fleetmem mcp`: the MCP server over stdio, for Claude Code, Cursor and other clients."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from fleetmem.cli.common import DataDirOption, err, load_settings, setup_logging, started
from fleetmem.cli.reach import embedded, refuse_if_owned
from fleetmem.memory.settings import Settings

logger = logging.getLogger(__name__)


def mcp(data_dir: Path | None = DataDirOption,
        agent: str | None = typer.Option(
            None, "--agent", "-a", envvar="FLEETMEM_MCP__AGENT",
            help="Agent id of this client (default: FLEETMEM_MCP__AGENT or default_agent); "
                 "with an agents file, FLEETMEM_MCP__API_KEY names the agent instead."),
        url: str | None = typer.Option(
            None, "--url", help="Forward to this MCP endpoint (e.g. a shared team service's "
                                "http://host:8765/mcp) instead of the local data dir's."),
        direct: bool = typer.Option(
            False, "--direct", help="Open the stores in this process instead of forwarding "
                                    "(only when no other process uses the data dir, or with "
                                    "server backends; with embedded stores it is refused "
                                    "while a service owns the data dir).")
        ) -> None:
    """Serve MCP over stdio, forwarding to the data dir's `fleetmem serve` (started if needed)."""
    settings = load_settings(data_dir)
    setup_logging("WARNING" if settings.log_level.upper() == "INFO" else settings.log_level,
                  settings.log_format)
    if direct:
        import anyio  # here: the other commands run no anyio loop

        if embedded(settings):
            refuse_if_owned(Path(settings.data_dir), "fleetmem mcp --direct")
        anyio.run(_run_direct, settings, agent)
        return
    from fleetmem.mcp_server.launcher import LaunchError, ensure_serve
    from fleetmem.mcp_server.shim import identity_headers, preflight, run_until_lost

    headers = identity_headers(settings, agent)
    try:
        target = url or ensure_serve(settings).mcp_url
        preflight(target, headers)
    except LaunchError as exc:
        err.print(f"[red]error[/red]: {exc}", soft_wrap=True, markup=True, highlight=False)
        raise typer.Exit(2) from exc
    logger.info("forwarding stdio MCP to %s", target)
    run_until_lost(target, headers)


async def _run_direct(settings: Settings, agent: str | None) -> None:
    from fleetmem.mcp_server.door import Identity
    from fleetmem.mcp_server.server import build_server

    async with started(settings) as service:
        key = settings.mcp.api_key
        who = service.authenticate(key) if key else \
            agent or settings.mcp.agent or settings.default_agent
        if who is None:
            err.print("[red]error[/red]: FLEETMEM_MCP__API_KEY matches no agent of the "
                      "agents file")
            raise typer.Exit(2)
        await build_server(service, Identity(who)).run_stdio_async()


def register(app: typer.Typer) -> None:
    """Add `fleetmem mcp` to the CLI."""
    app.command("mcp")(mcp)
