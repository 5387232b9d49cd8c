"""The `fleetmem` command: one entry point, sub-commands contributed by each package."""

from __future__ import annotations

import importlib

import typer

from fleetmem.cli import memory_cmds
from fleetmem.cli.common import setup_logging

app = typer.Typer(name="fleetmem", no_args_is_help=True, add_completion=False,
                  help="Knowledge-graph memory for fleets of AI agents.")

for name in ("serve", "remember", "recall", "forget", "stats"):
    app.command(name)(getattr(memory_cmds, name))

# Other packages add commands here: a module exposing `register(app)`.
for module in ("fleetmem.cli.mcp_cmd", "fleetmem.cli.vault_cmds", "fleetmem.cli.gc_cmds",
               "fleetmem.cli.admin_cmds", "fleetmem.cli.backup_cmds", "fleetmem.cli.audit_cmds"):
    try:
        importlib.import_module(module).register(app)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise


def main() -> None:
    """Console-script entry point."""
    setup_logging("WARNING")
    app()
