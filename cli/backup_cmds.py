"""`fleetmem backup --to FILE` and `fleetmem restore --from FILE` (embedded stores)."""

from __future__ import annotations

from pathlib import Path

import typer

from fleetmem.cli.common import DataDirOption, JsonOption, emit_json, err, load_settings, out
from fleetmem.memory.bootstrap import backup_embedded, restore_embedded
from fleetmem.memory.errors import FleetmemError


def backup(to: Path = typer.Option(..., "--to", help="Backup file to write (tar.gz)."),
           data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
    """Consistent online snapshot of the embedded stores (safe while serve runs)."""
    try:
        manifest = backup_embedded(load_settings(data_dir), to)
    except FleetmemError as exc:
        err.print(f"[red]error[/red]: {exc.message}")
        raise typer.Exit(2) from exc
    if as_json:
        emit_json(manifest)
    else:
        out.print(f"backup written to {to}: {manifest}")


def restore(source: Path = typer.Option(..., "--from", help="Backup file to restore."),
            force: bool = typer.Option(False, "--force", help="Replace existing data."),
            data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
    """Restore a backup (stop the service first); the vector index rebuilds on next start."""
    try:
        manifest = restore_embedded(load_settings(data_dir), source, force=force)
    except FleetmemError as exc:
        err.print(f"[red]error[/red]: {exc.message}")
        raise typer.Exit(2) from exc
    if as_json:
        emit_json(manifest)
    else:
        out.print(f"restored {source}: {manifest}")


def register(app: typer.Typer) -> None:
    """Add the backup and restore commands."""
    app.command("backup")(backup)
    app.command("restore")(restore)
