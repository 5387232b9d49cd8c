"""`fleetmem vault export|import|sync|watch`: the Obsidian vault from the command line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from fleetmem.api.local_ops import VAULT
from fleetmem.cli.common import (
    DataDirOption,
    JsonOption,
    emit_json,
    err,
    invoke,
    load_settings,
    out,
    setup_logging,
    started,
)
from fleetmem.cli.reach import embedded, refuse_if_owned
from fleetmem.memory.errors import FleetmemError
from fleetmem.memory.settings import Settings, VaultSettings
from fleetmem.vault.report import SyncReport
from fleetmem.vault.sync import Mode

vault_app = typer.Typer(no_args_is_help=True, help="Two-way sync with an Obsidian vault.")

PathOption = typer.Option(None, "--path", "-p", envvar="FLEETMEM_VAULT__PATH",
                          help="The vault folder (open it in Obsidian).")
ViewerOption = typer.Option(None, "--agent", "-a",
                            help="Whose view to show (an agent id or human:<name>); default: "
                                 "the human.")
HumanOption = typer.Option(None, "--human",
                           help="The human whose edits are imported (default: vault.human).")
NamespaceOption = typer.Option([], "--namespace", "-n",
                               help="Show only these namespaces (repeat); default: all readable.")
PrivateOption = typer.Option(None, "--include-private/--no-private",
                             help="Show the viewer's private agent:<id> namespace.")


def _vault_settings(settings: Settings, path: Path | None, agent: str | None,
                    human: str | None, namespace: list[str],
                    include_private: bool | None) -> VaultSettings:
    changes: dict[str, object] = {"path": path or settings.vault.path}
    if agent:
        changes["viewer"] = agent
    if human:
        changes["human"] = human
    if namespace:
        changes["namespaces"] = namespace
    if include_private is not None:
        changes["include_private"] = include_private
    return settings.vault.model_copy(update=changes)


def _show(report: SyncReport, as_json: bool) -> None:
    if as_json:
        emit_json(report)
        return
    out.print(f"{report.summary()} ({report.vault}, view of {report.viewer}, edits by "
              f"{report.human})")
    for title, lines, style in (("conflict", report.conflicts, "yellow"),
                                ("pending", report.pending, "cyan"),
                                ("error", report.errors, "red"),
                                ("warning", report.warnings, "dim")):
        for line in lines:
            out.print(f"[{style}]{title}[/{style}]: {line}")


def _command(mode: Mode):  # type: ignore[no-untyped-def]
    def command(path: Path | None = PathOption, agent: str | None = ViewerOption,
                human: str | None = HumanOption, namespace: list[str] = NamespaceOption,
                include_private: bool | None = PrivateOption,
                data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
        settings = load_settings(data_dir)
        cfg = _vault_settings(settings, path, agent, human, namespace, include_private)

        report = invoke(settings, VAULT, mode=mode, vault=cfg.model_dump(mode="json"),
                        path=str(path) if path else None, progress_title=f"vault {mode}")
        _show(report, as_json)
        if report.errors:
            raise typer.Exit(1)

    command.__doc__ = {
        "export": "Write the graph into the vault (notes with unimported edits are kept).",
        "import": "Apply human edits of the vault to the graph, as the configured human.",
        "sync": "Both directions; a change on both sides becomes a reported conflict.",
    }[mode]
    return command


def watch(path: Path | None = PathOption, agent: str | None = ViewerOption,
          human: str | None = HumanOption, namespace: list[str] = NamespaceOption,
          include_private: bool | None = PrivateOption,
          data_dir: Path | None = DataDirOption) -> None:
    """Keep the vault in sync until Ctrl-C (what `fleetmem serve` does when a vault is set)."""
    from fleetmem.vault.watcher import watching

    settings = load_settings(data_dir)
    if embedded(settings):  # the service owns the stores (and watches its own vault)
        refuse_if_owned(Path(settings.data_dir), "fleetmem vault watch")
    setup_logging(settings.log_level, settings.log_format)
    cfg = _vault_settings(settings, path, agent, human, namespace, include_private)

    async def main() -> None:
        async with started(settings) as service, watching(service, cfg, path):
            await asyncio.Event().wait()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        err.print("stopped")
    except FleetmemError as exc:
        err.print(f"[red]error[/red] ({exc.code}): {exc.message}")
        raise typer.Exit(2) from exc


def register(app: typer.Typer) -> None:
    """Add `fleetmem vault ...` to the main command."""
    for mode in ("export", "import", "sync"):
        vault_app.command(mode)(_command(mode))  # type: ignore[arg-type]
    vault_app.command("watch")(watch)
    app.add_typer(vault_app, name="vault")
