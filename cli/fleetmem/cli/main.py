"""The `fleetmem` command's entry point; its sub-commands are listed in `composition`."""

from __future__ import annotations

from fleetmem.cli.common import setup_logging
from fleetmem.cli.composition import build_cli

app = build_cli()


def main() -> None:
    """Console-script entry point."""
    setup_logging("WARNING")
    app()
