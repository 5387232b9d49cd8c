"""`fleetmem backup --to FILE` and `fleetmem restore --from FILE` (embedded stores)."""

from __future__ import annotations

from pathlib import Path

import typer

from fleetmem.cli.common import DataDirOption, JsonOption, exit_on_error, load_settings, show
from fleetmem.cli.reach import refuse_if_owned
from fleetmem.memory.bootstrap import backup_embedded, restore_embedded


def backup(to: Path = typer.Option(..., "--to", help="Backup file to write (tar.gz)."),
           data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
    """Consistent online snapshot of the embedded stores (safe while serve runs)."""
    manifest = exit_on_error(lambda: backup_embedded(load_settings(data_dir), to))
    show(manifest, as_json, f"backup written to {to}: {manifest}")


def restore(source: Path = typer.Option(..., "--from", help="Backup file to restore."),
            force: bool = typer.Option(False, "--force", help="Replace existing data."),
            data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
    """Restore a backup into a folder no service owns (refused, naming the pid, while
    `fleetmem serve` runs on it); the vector index rebuilds on next start."""
    settings = load_settings(data_dir)
    refuse_if_owned(Path(settings.data_dir), "fleetmem restore")
    manifest = exit_on_error(lambda: restore_embedded(settings, source, force=force))
    show(manifest, as_json, f"restored {source}: {manifest}")


def register(app: typer.Typer) -> None:
    """Add the backup and restore commands."""
    app.command("backup")(backup)
    app.command("restore")(restore)
