"""`fleetmem gc run [JOB] [--dry-run] [--json]` and `fleetmem gc restore ID`.

For cron or a Kubernetes CronJob; the jobs act as the system principal. While
`fleetmem serve` owns the data folder they run in it (over its local socket), else on the
stores opened here.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from pathlib import Path

import typer

from fleetmem.api.local_ops import GC_RESTORE, GC_RUN
from fleetmem.cli.common import DataDirOption, JsonOption, emit_json, invoke, load_settings, out
from fleetmem.gc.jobs import JOBS
from fleetmem.memory.services import GcReport

gc_app = typer.Typer(no_args_is_help=True, help="Decay, retention and repair jobs "
                     "(run as the system principal).")


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _num(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def print_report(report: GcReport) -> None:
    """A table of the items, then one summary line."""
    from rich.table import Table  # rich loads only for terminal output

    if report.items:
        # Three columns fit 80 columns: the id never wraps (it must stay copyable), the
        # details wrap (before, seven narrow columns wrapped one character per line).
        table = Table(title=f"{report.job}{' (dry run)' if report.dry_run else ''}")
        table.add_column("id", no_wrap=True, min_width=36)
        table.add_column("action", no_wrap=True)
        table.add_column("details", overflow="fold", ratio=1)
        for i in report.items:
            facts = [f"{i.namespace or ''} {i.kind or ''}".strip(),
                     f"score {_num(i.score, 4)}" if i.score is not None else "",
                     f"age {_num(i.age_days, 1)} d" if i.age_days is not None else "",
                     f"last access {_when(i.last_access)}" if i.last_access else ""]
            table.add_row(i.id, i.action, " · ".join(f for f in facts if f) + f"\n{i.reason}")
        out.print(table)
    counts = ", ".join(f"{k} {v}" for k, v in report.counts().items())
    state = f"skipped: {report.skipped}" if report.skipped else counts
    out.print(f"[bold]{report.job}[/bold]{' (dry run)' if report.dry_run else ''}: {state} "
              f"in {report.duration_seconds:.3f}s"
              + (" (item list truncated)" if report.items_truncated else ""))
    for error in report.errors:
        out.print(f"[yellow]warning[/yellow] {error}")


@gc_app.command("run")
def run(job: str | None = typer.Argument(
            None, help=f"One of: {', '.join(JOBS)}. Default: all, in that order."),
        dry_run: bool = typer.Option(False, "--dry-run",
                                     help="List what would change, and why; change nothing."),
        slot: str | None = typer.Option(
            None, "--slot", help="Claim this run key in the shared store first and skip if "
            "another runner claimed it (replicated cron), e.g. the scheduled hour."),
        data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
    """Run GC jobs now."""
    reports = invoke(load_settings(data_dir), GC_RUN, job=job, dry_run=dry_run, slot=slot,
                     owner=f"cli:{socket.gethostname()}:{os.getpid()}",
                     progress_title="gc reconcile")
    if as_json:
        emit_json(reports)
        return
    for report in reports:
        print_report(report)


@gc_app.command("restore")
def restore(memory_id: str = typer.Argument(..., help="Id of an archived memory."),
            data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
    """Bring an archived memory back (any namespace)."""
    view = invoke(load_settings(data_dir), GC_RESTORE, memory_id=memory_id)
    if as_json:
        emit_json(view)
    else:
        out.print(f"restored {view.id} in {view.namespace}: {view.text}", soft_wrap=True,
                  highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add `fleetmem gc ...` to the main command."""
    app.add_typer(gc_app, name="gc")
