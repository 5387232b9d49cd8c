"""`fleetmem gc run [JOB] [--dry-run] [--json]` and `fleetmem gc restore ID`.

For cron or a Kubernetes CronJob; the jobs act as the system principal. With embedded
stores the data folder belongs to one process: run these while `fleetmem serve` is
stopped, or let its scheduler run the jobs.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from fleetmem.cli.common import (
    DataDirOption,
    JsonOption,
    emit_json,
    load_settings,
    out,
    run_with_service,
)
from fleetmem.gc.jobs import JOBS, job_names, run_job
from fleetmem.memory.services import SYSTEM_CALLER, GcReport, JobSlot, MemoryService, MemoryView

gc_app = typer.Typer(no_args_is_help=True, help="Decay, retention and repair jobs "
                     "(run as the system principal).")


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _num(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def print_report(report: GcReport) -> None:
    """A table of the items, then one summary line."""
    if report.items:
        table = Table(title=f"{report.job}{' (dry run)' if report.dry_run else ''}")
        table.add_column("action")
        table.add_column("id", no_wrap=True, min_width=36)  # ids must stay copyable
        for name in ("namespace", "kind", "score", "age (d)", "last access", "reason"):
            table.add_column(name, overflow="fold")
        for i in report.items:
            table.add_row(i.action, i.id, i.namespace or "", i.kind or "", _num(i.score, 4),
                          _num(i.age_days, 1), _when(i.last_access), i.reason)
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
    async def go(service: MemoryService) -> list[GcReport]:
        owner = f"cli:{socket.gethostname()}:{os.getpid()}"
        claim = JobSlot(key=slot, owner=owner) if slot else None
        return [await run_job(service, name, dry_run=dry_run, slot=claim, caller=SYSTEM_CALLER)
                for name in job_names(job)]

    reports = run_with_service(load_settings(data_dir), go)
    if as_json:
        emit_json(reports)
        return
    for report in reports:
        print_report(report)


@gc_app.command("restore")
def restore(memory_id: str = typer.Argument(..., help="Id of an archived memory."),
            data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
    """Bring an archived memory back (any namespace)."""
    async def go(service: MemoryService) -> MemoryView:
        return await service.operator.gc_restore(SYSTEM_CALLER, memory_id)

    view = run_with_service(load_settings(data_dir), go)
    if as_json:
        emit_json(view)
    else:
        out.print(f"restored {view.id} in {view.namespace}: {view.text}")


def register(app: typer.Typer) -> None:
    """Add `fleetmem gc ...` to the main command."""
    app.add_typer(gc_app, name="gc")
