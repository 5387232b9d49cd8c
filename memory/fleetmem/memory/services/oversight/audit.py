"""Reading and verifying the audit log: agents see entries about what they may read,
operators see everything and verify the hash chain."""

from __future__ import annotations

from dataclasses import replace

from fleetmem.memory.domain import audit as audit_rules
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import AuditEvent
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.ports import AuditQuery
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.views.oversight import AuditVerification
from fleetmem.memory.services.views.records import AuditEventView

_PAGE = 5000


def _check_page(after_seq: int, limit: int, most: int) -> None:
    if not 1 <= limit <= most or after_seq < 0:
        raise InvalidInput(f"limit must be 1..{most} and after_seq >= 0", field="limit",
                           rule="range")


async def events(ctx: ServiceContext, caller: Caller, after_seq: int,
                 limit: int) -> list[AuditEventView]:
    """Audit entries about the caller's readable namespaces, in order."""
    _check_page(after_seq, limit, 1000)
    readable = ctx.policy.readable(caller.agent_id)
    page = await ctx.audit_log.audit_events(readable, after_seq, limit)
    return [AuditEventView.of(e) for e in page]


async def query(ctx: ServiceContext, caller: Caller | None, limit: int, *,
                agent: str | None = None, workflow: str | None = None,
                memory_id: str | None = None, operation: str | None = None,
                outcome: str | None = None, after_seq: int = 0,
                newest_first: bool = False) -> list[AuditEventView]:
    """Entries matching the filters. An agent that is not an admin sees entries about the
    namespaces it can read and its own entries; `caller=None` (an operator) sees all."""
    _check_page(after_seq, limit, 1000 if caller is not None else 100_000)
    filters = AuditQuery(agent_id=agent, workflow_id=workflow, target_id=memory_id,
                         operation=operation, outcome=outcome, after_seq=after_seq,
                         newest_first=newest_first)
    if caller is not None and not ctx.policy.principal(caller.agent_id).admin:
        filters = replace(filters, visible_namespaces=ctx.policy.readable(caller.agent_id),
                          visible_agent=caller.agent_id)
    return [AuditEventView.of(e) for e in await ctx.audit_log.audit_query(filters, limit)]


async def verify_chain(ctx: ServiceContext) -> AuditVerification:
    """Check every entry's hash and link; name the first entry that fails."""
    prev, after, checked = audit_rules.GENESIS, 0, 0
    while True:
        page = await ctx.audit_log.audit_events(None, after, _PAGE)
        if not page:
            return AuditVerification(ok=True, checked=checked)
        bad = audit_rules.first_broken(page, prev)
        if bad is not None:
            return _failure(page, bad, prev, checked)
        checked += len(page)
        prev, after = page[-1].hash, page[-1].seq


def _failure(page: list[AuditEvent], bad: int, prev: str, checked: int) -> AuditVerification:
    """Describe why entry `bad` fails: its link, or its own content."""
    for e in page:
        if e.seq == bad:
            reason = (f"entry {bad} does not link to the entry before it (its prev_hash is "
                      f"not that entry's hash)") if e.prev_hash != prev else (
                f"entry {bad} was changed after it was written (its content no longer "
                "matches its hash)")
            return AuditVerification(ok=False, checked=checked, first_bad=AuditEventView.of(e),
                                     reason=reason)
        checked += 1
        prev = e.hash
    raise AssertionError("first_broken returned a seq outside the page")  # pragma: no cover
