"""`fleetmem audit verify|tail|query` and `fleetmem conflicts list|resolve`.

The audit commands read the whole log as the operator (whoever holds the data folder);
`--as AGENT` shows only what that agent may see. Conflict commands act as `--agent`.
While `fleetmem serve` owns the data folder they run on it (its local socket), else on
the stores opened here.
"""

from __future__ import annotations

from pathlib import Path

import typer

from fleetmem.api.local_ops import AUDIT_QUERY, AUDIT_VERIFY, CONFLICTS_LIST, CONFLICTS_RESOLVE
from fleetmem.cli.common import (
    AgentOption,
    DataDirOption,
    JsonOption,
    emit_json,
    err,
    invoke,
    load_settings,
    out,
    show,
)
from fleetmem.memory.services import AuditEventView, AuditVerification, ConflictView

audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")
conflicts_app = typer.Typer(no_args_is_help=True,
                            help="Contradictions between agents' facts, for review.")

AsOption = typer.Option(None, "--as", help="Show only what this agent may see.")
ActingAgent = AgentOption


def _audit_table(events: list[AuditEventView]) -> None:
    """One row per entry; target ids in full, one per line (they stay copyable)."""
    from rich.table import Table  # rich loads only for terminal output
    from rich.text import Text

    table = Table("seq", "entry", "targets")
    table.columns[1].overflow = "fold"
    table.columns[2].no_wrap = True
    for e in events:
        who = e.agent_id + (f" for {e.on_behalf_of}" if e.on_behalf_of else "")
        where = " · ".join(x for x in (e.namespace, e.workflow_id) if x)
        entry = Text.assemble((f"{e.at:%Y-%m-%d %H:%M:%S}", "dim"), f" {who} {e.operation} ",
                              (e.outcome, "green" if e.outcome == "ok" else "yellow"))
        for line in (where, e.detail):
            if line:
                entry.append(f"\n{line}")
        table.add_row(str(e.seq), entry, "\n".join(e.target_ids))
    out.print(table)


def verify(data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
    """Check the audit hash chain and compare it with the witness (the head anchored
    outside the database); exit 1 naming what fails (a changed entry, removed ones)."""
    result = invoke(load_settings(data_dir), AUDIT_VERIFY)
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


def _show(events: list[AuditEventView], as_json: bool) -> None:
    if as_json:
        emit_json(events)
    else:
        _audit_table(events)


def tail(n: int = typer.Option(20, "-n", "--lines", min=1, max=1000),
         as_agent: str | None = AsOption, data_dir: Path | None = DataDirOption,
         as_json: bool = JsonOption) -> None:
    """The last entries of the audit log, oldest first."""
    events = invoke(load_settings(data_dir), AUDIT_QUERY, as_agent=as_agent, limit=n,
                    newest_first=True)
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
    events = invoke(load_settings(data_dir), AUDIT_QUERY, as_agent=as_agent, agent=agent,
                    workflow=workflow, memory_id=memory_id, operation=operation,
                    outcome=outcome, after_seq=after, limit=limit)
    _show(events, as_json)


def _conflicts_table(items: list[ConflictView]) -> None:
    """One row per conflict: its full id (for `conflicts resolve`), both claims, status."""
    from rich.table import Table

    table = Table("id", "conflict", "status")
    table.columns[0].no_wrap = True
    table.columns[0].min_width = 36
    table.columns[1].overflow = "fold"
    table.columns[2].overflow = "fold"
    for c in items:
        r = c.resolution
        table.add_row(c.id, f"{c.namespace}: {c.subject} {c.attribute}\n"
                      f"a (earlier): {c.a.value} ({c.a.agent_id})\n"
                      f"b (newer): {c.b.value} ({c.b.agent_id})",
                      c.status if r is None else f"{c.status}: kept {r.keep} by "
                      f"{r.resolved_by}" + (f": {r.note}" if r.note else ""))
    out.print(table)


def list_conflicts(agent: str = ActingAgent,
                   status: str = typer.Option("open", "--status",
                                              help="open, resolved or all."),
                   namespace: str | None = typer.Option(None, "--namespace", "-n"),
                   limit: int = typer.Option(100, "--limit", min=1, max=1000),
                   data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
    """Conflicts in the namespaces the agent can read."""
    items = invoke(load_settings(data_dir), CONFLICTS_LIST, agent=agent,
                   status=None if status == "all" else status, namespace=namespace,
                   limit=limit)
    if as_json:
        emit_json(items)
    elif not items:
        out.print(f"no {'' if status == 'all' else status + ' '}conflicts in the namespaces "
                  f"{agent} can read")
    else:
        _conflicts_table(items)


def resolve(conflict_id: str = typer.Argument(..., help="Id from `fleetmem conflicts list`."),
            keep: str = typer.Option(..., "--keep", help="a (earlier), b (newer) or both."),
            note: str = typer.Option("", "--note", help="Why (kept in the record)."),
            agent: str = ActingAgent, data_dir: Path | None = DataDirOption,
            as_json: bool = JsonOption) -> None:
    """Resolve a conflict; the choice, who made it and the note are recorded."""
    done = invoke(load_settings(data_dir), CONFLICTS_RESOLVE, agent=agent,
                  conflict_id=conflict_id, keep=keep, note=note)
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
