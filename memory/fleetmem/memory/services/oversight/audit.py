"""Service methods for oversight: conflicts, audit queries and verification, usage.

`MemoryService` inherits them, so they are governed (rate limits, denial audit) like every
other method; the ones without a caller are for operator-facing doors only (the CLI run by
whoever holds the data folder, `/metrics`).
"""

from __future__ import annotations

from fleetmem.memory.domain import audit as audit_rules
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import AuditEvent
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.ports import AuditQuery
from fleetmem.memory.services.graph import conflicts
from fleetmem.memory.services.oversight.usage import agent_usage, usage_for
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.views.oversight import AuditVerification, ConflictView
from fleetmem.memory.services.views.records import AgentUsageView, AuditEventView

_PAGE = 5000


class OversightMethods:
    """Conflicts, audit and usage operations of `MemoryService`."""

    ctx: ServiceContext

    async def conflicts_list(self, caller: Caller, *, status: str | None = "open",
                             namespace: str | None = None,
                             limit: int = 100) -> list[ConflictView]:
        """Conflicts between agents' facts in the caller's readable namespaces."""
        return await conflicts.list_conflicts(self.ctx, caller, status=status,
                                              namespace=namespace, limit=limit)

    async def conflicts_resolve(self, caller: Caller, conflict_id: str, keep: str,
                                note: str = "") -> ConflictView:
        """Resolve a conflict keeping claim a, b or both; records who chose what."""
        return await conflicts.resolve(self.ctx, caller, conflict_id, keep, note)

    async def audit_query(self, caller: Caller, *, agent: str | None = None,
                          workflow: str | None = None, memory_id: str | None = None,
                          operation: str | None = None, outcome: str | None = None,
                          after_seq: int = 0, limit: int = 100,
                          newest_first: bool = False) -> list[AuditEventView]:
        """Audit entries matching the filters. Admins see every entry; other agents see
        entries about namespaces they can read and their own entries."""
        self.ctx.policy.check_operation(caller.agent_id, "audit_read")
        if not 1 <= limit <= 1000 or after_seq < 0:
            raise InvalidInput("limit must be 1..1000 and after_seq >= 0", field="limit",
                               rule="range")
        admin = self.ctx.policy.principal(caller.agent_id).admin
        query = AuditQuery(
            visible_namespaces=None if admin else self.ctx.policy.readable(caller.agent_id),
            visible_agent=None if admin else caller.agent_id, agent_id=agent,
            workflow_id=workflow, target_id=memory_id, operation=operation, outcome=outcome,
            after_seq=after_seq, newest_first=newest_first)
        return [AuditEventView.of(e) for e in await self.ctx.audit_log.audit_query(query, limit)]

    async def operator_audit_query(self, *, agent: str | None = None,
                                   workflow: str | None = None, memory_id: str | None = None,
                                   operation: str | None = None, outcome: str | None = None,
                                   after_seq: int = 0, limit: int = 100,
                                   newest_first: bool = False) -> list[AuditEventView]:
        """Every matching audit entry, for operator-facing doors (the CLI run by whoever
        holds the data folder); agents use `audit_query`."""
        if not 1 <= limit <= 100_000 or after_seq < 0:
            raise InvalidInput("limit must be 1..100000 and after_seq >= 0", field="limit",
                               rule="range")
        query = AuditQuery(agent_id=agent, workflow_id=workflow, target_id=memory_id,
                           operation=operation, outcome=outcome, after_seq=after_seq,
                           newest_first=newest_first)
        return [AuditEventView.of(e) for e in await self.ctx.audit_log.audit_query(query, limit)]

    async def usage(self, caller: Caller) -> list[AgentUsageView]:
        """The caller's usage (every agent's for an admin)."""
        self.ctx.policy.check_operation(caller.agent_id, "stats")
        return await usage_for(self.ctx, caller)

    async def usage_report(self) -> list[AgentUsageView]:
        """Every agent's usage, for operator-facing doors (`/metrics`)."""
        return await agent_usage(self.ctx)

    async def verify_audit_chain(self) -> AuditVerification:
        """Check every entry's hash and link; name the first entry that fails."""
        prev, after, checked = audit_rules.GENESIS, 0, 0
        while True:
            events = await self.ctx.audit_log.audit_events(None, after, _PAGE)
            if not events:
                return AuditVerification(ok=True, checked=checked)
            bad = audit_rules.first_broken(events, prev)
            if bad is not None:
                return _failure(events, bad, prev, checked)
            checked += len(events)
            prev, after = events[-1].hash, events[-1].seq


def _failure(events: list[AuditEvent], bad: int, prev: str, checked: int) -> AuditVerification:
    """Describe why entry `bad` fails: its link, or its own content."""
    for e in events:
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
