"""`fleetmem audit verify|tail|query` and `fleetmem conflicts list|resolve`.

The audit commands read the whole log as the operator (whoever holds the data folder);
`--as AGENT` shows only what that agent may see. Conflict commands act as `--agent`.
With embedded stores the data folder belongs to one process: run these while
`fleetmem serve` is stopped (or use the REST/MCP doors of the running service).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from fleetmem.cli.common import (
    DataDirOption,
    JsonOption,
    emit_json,
    err,
    load_settings,
    out,
    run_with_service,
    show,
)
from fleetmem.memory.services import (
    AuditEventView,
    AuditVerification,
    Caller,
    ConflictView,
    MemoryService,
)

audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")
conflicts_app = typer.Typer(no_args_is_help=True,
                            help="Contradictions between agents' facts, for review.")

AsOption = typer.Option(None, "--as", help="Show only what this agent may see.")
ActingAgent = typer.Option(..., "--agent", "-a", help="Agent (or human:<name>) acting.")


def _audit_table(events: list[AuditEventView]) -> None:
    table = Table()
    for name in ("seq", "time", "agent", "operation", "outcome", "namespace", "workflow",
                 "targets", "detail"):
        table.add_column(name, overflow="fold")  # never cut an id or a rule short
    for e in events:
        targets = ", ".join(t[:8] for t in e.target_ids[:4])
        if len(e.target_ids) > 4:
            targets += f" (+{len(e.target_ids) - 4})"
        who = e.agent_id + (f" for {e.on_behalf_of}" if e.on_behalf_of else "")
        table.add_row(str(e.seq), e.at.strftime("%Y-%m-%d %H:%M:%S"), who, e.operation,
                      e.outcome, e.namespace or "", e.workflow_id or "", targets, e.detail)
    out.print(table)


def verify(data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
    """Check the audit hash chain and compare it with the witness (the head anchored
    outside the database); exit 1 naming what fails (a changed entry, removed ones)."""
    result = run_with_service(load_settings(data_dir), lambda s: s.operator.verify_audit_chain())
    if as_json:
        emit_json(result)
    else:
        _verify_text(result)
    if not result.ok:
        raise typer.Exit(1)


def _verify_text(result: AuditVerification) -> None:
    w = result.witness
    anchored = (f"witness anchored seq {w.seq}" if w.seq is not None
                else "witness holds no anchor yet" if w.enabled else "no witness")
    for warning in result.warnings:
        err.print(f"[yellow]warning[/yellow]: {warning}")
    if result.ok:
        out.print(f"audit log intact: {result.checked} entries verified, head seq "
                  f"{result.head_seq}, {anchored}")
        return
    bad = result.first_bad
    if bad is not None:
        err.print(f"[red]audit log broken[/red] at entry {bad.seq} ({bad.at.isoformat()}, "
                  f"{bad.agent_id} {bad.operation} {bad.outcome}): {result.reason}; "
                  f"{result.checked} entries before it verify")
    for problem in result.problems:
        if problem != result.reason:
            err.print(f"[red]audit log fails the witness[/red]: {problem}")


async def _query(s: MemoryService, as_agent: str | None,
                 **filters: Any) -> list[AuditEventView]:
    if as_agent:
        return await s.audit_query(Caller(as_agent), **filters)
    return await s.operator.audit_query(**filters)


def _show(events: list[AuditEventView], as_json: bool) -> None:
    if as_json:
        emit_json(events)
    else:
        _audit_table(events)


def tail(n: int = typer.Option(20, "-n", "--lines", min=1, max=1000),
         as_agent: str | None = AsOption, data_dir: Path | None = DataDirOption,
         as_json: bool = JsonOption) -> None:
    """The last entries of the audit log, oldest first."""
    events = run_with_service(load_settings(data_dir), lambda s: _query(
        s, as_agent, limit=n, newest_first=True))
    _show(list(reversed(events)), as_json)


def query(agent: str | None = typer.Option(None, "--agent", help="Entries by this agent."),
          workflow: str | None = typer.Option(None, "--workflow", help="Workflow id."),
          memory_id: str | None = typer.Option(None, "--memory-id",
                                               help="Entries naming this id as a target."),
          operation: str | None = typer.Option(None, "--operation"),
          outcome: str | None = typer.Option(None, "--outcome",
                                             help="ok, denied, rate_limited..."),
          after: int = typer.Option(0, "--after", help="Only entries after this seq."),
          limit: int = typer.Option(100, "--limit", min=1, max=100_000),
          as_agent: str | None = AsOption, data_dir: Path | None = DataDirOption,
          as_json: bool = JsonOption) -> None:
    """Audit entries filtered by agent, workflow, target id, operation or outcome."""
    events = run_with_service(load_settings(data_dir), lambda s: _query(
        s, as_agent, agent=agent, workflow=workflow, memory_id=memory_id,
        operation=operation, outcome=outcome, after_seq=after, limit=limit))
    _show(events, as_json)


def _conflicts_table(items: list[ConflictView]) -> None:
    table = Table("id", "namespace", "subject", "attribute", "a (earlier)", "b (newer)",
                  "status", "resolution")
    for c in items:
        r = c.resolution
        table.add_row(c.id, c.namespace, c.subject, c.attribute,
                      f"{c.a.value} ({c.a.agent_id})", f"{c.b.value} ({c.b.agent_id})",
                      c.status, "" if r is None else f"kept {r.keep} by {r.resolved_by}"
                      + (f": {r.note}" if r.note else ""))
    out.print(table)


def list_conflicts(agent: str = ActingAgent,
                   status: str = typer.Option("open", "--status",
                                              help="open, resolved or all."),
                   namespace: str | None = typer.Option(None, "--namespace", "-n"),
                   limit: int = typer.Option(100, "--limit", min=1, max=1000),
                   data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
    """Conflicts in the namespaces the agent can read."""
    items = run_with_service(load_settings(data_dir), lambda s: s.conflicts_list(
        Caller(agent), status=None if status == "all" else status, namespace=namespace,
        limit=limit))
    if as_json:
        emit_json(items)
    else:
        _conflicts_table(items)


def resolve(conflict_id: str = typer.Argument(..., help="Id from `fleetmem conflicts list`."),
            keep: str = typer.Option(..., "--keep", help="a (earlier), b (newer) or both."),
            note: str = typer.Option("", "--note", help="Why (kept in the record)."),
            agent: str = ActingAgent, data_dir: Path | None = DataDirOption,
            as_json: bool = JsonOption) -> None:
    """Resolve a conflict; the choice, who made it and the note are recorded."""
    done = run_with_service(load_settings(data_dir), lambda s: s.conflicts_resolve(
        Caller(agent), conflict_id, keep, note))
    show(done, as_json, f"resolved {done.id}: kept {keep} ({done.subject} {done.attribute})")


def register(app: typer.Typer) -> None:
    """Add `audit` and `conflicts` to the `fleetmem` command."""
    audit_app.command("verify")(verify)
    audit_app.command("tail")(tail)
    audit_app.command("query")(query)
    conflicts_app.command("list")(list_conflicts)
    conflicts_app.command("resolve")(resolve)
    app.add_typer(audit_app, name="audit")
    app.add_typer(conflicts_app, name="conflicts")
