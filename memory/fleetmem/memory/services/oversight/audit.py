"""Reading and verifying the audit log: agents see entries about what they may read,
operators see everything, verify the hash chain and compare it with the witness (the head
anchored outside the store, so that a cut tail is detected)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from fleetmem.memory.domain import audit as audit_rules
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import AuditEvent
from fleetmem.memory.domain.witness import AnchorCheck, WitnessLog
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.ports import AuditQuery
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.views.oversight import (
    AuditHeadView,
    AuditVerification,
    WitnessView,
)
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


async def start_witness(ctx: ServiceContext) -> None:
    """Open the witness at the store's head and have every commit report its new head."""
    if ctx.witness is None:
        return
    last = await ctx.audit_log.last_audit()
    await asyncio.to_thread(ctx.witness.start, None if last is None else (last.seq, last.hash))
    ctx.audit_log.watch_audit_head(ctx.witness.observe)


async def stop_witness(ctx: ServiceContext) -> None:
    """Anchor the last head and close the witness (after the last audit write)."""
    if ctx.witness is None:
        return
    ctx.audit_log.watch_audit_head(None)
    await asyncio.to_thread(ctx.witness.close)


def _witness_view(ctx: ServiceContext) -> WitnessView:
    last = None if ctx.witness is None else ctx.witness.last()
    if last is None:
        return WitnessView(enabled=ctx.witness is not None)
    return WitnessView(enabled=True, seq=last.seq, hash=last.hash, at=last.at)


async def head(ctx: ServiceContext) -> AuditHeadView:
    """The store's head and the witness's last anchored head (no verification)."""
    last = await ctx.audit_log.last_audit()
    return AuditHeadView(seq=0 if last is None else last.seq,
                         hash=None if last is None else last.hash, witness=_witness_view(ctx))


async def verify_chain(ctx: ServiceContext) -> AuditVerification:
    """Check every entry's hash and link (naming the first that fails), and that the store
    still holds, unchanged, every head the witness anchored (a cut tail fails)."""
    log = WitnessLog() if ctx.witness is None else await asyncio.to_thread(ctx.witness.read)
    anchors = AnchorCheck(log.anchors)
    prev, after, checked = audit_rules.GENESIS, 0, 0
    broken: AuditVerification | None = None
    last: AuditEvent | None = None
    while page := await ctx.audit_log.audit_events(None, after, _PAGE):
        for e in page:
            anchors.see(e.seq, e.hash)
        if broken is None:
            bad = audit_rules.first_broken(page, prev)
            if bad is None:
                checked += len(page)
            else:
                broken = _failure(page, bad, prev, checked)
        prev, after, last = page[-1].hash, page[-1].seq, page[-1]
    head_seq = 0 if last is None else last.seq
    cut = anchors.finish(head_seq)
    problems = ([] if broken is None else [broken.reason]) + log.problems + cut
    warnings = list(log.warnings)
    if ctx.witness is None:
        warnings.append("no audit witness is configured: entries removed from the end of "
                        "the log would go undetected")
    firsts = [s for s in (anchors.first_bad, broken and broken.first_bad_seq) if s]
    top = log.last  # what the file says, not what this process remembers writing
    witness = WitnessView(enabled=ctx.witness is not None, anchors=len(log.anchors),
                          anchors_checked=anchors.checked)
    if top is not None:
        witness = witness.model_copy(update={"seq": top.seq, "hash": top.hash, "at": top.at})
    return AuditVerification(
        ok=not problems, checked=checked if broken is None else broken.checked,
        first_bad=None if broken is None else broken.first_bad,
        reason="" if broken is None else broken.reason,
        first_bad_seq=min(firsts) if firsts else None, head_seq=head_seq,
        head_hash=None if last is None else last.hash, witness=witness,
        problems=problems, warnings=warnings)


def _failure(page: list[AuditEvent], bad: int, prev: str, checked: int) -> AuditVerification:
    """Describe why entry `bad` fails: its link, or its own content."""
    for e in page:
        if e.seq == bad:
            reason = (f"entry {bad} does not link to the entry before it (its prev_hash is "
                      f"not that entry's hash)") if e.prev_hash != prev else (
                f"entry {bad} was changed after it was written (its content no longer "
                "matches its hash)")
            return AuditVerification(ok=False, checked=checked, first_bad=AuditEventView.of(e),
                                     reason=reason, first_bad_seq=bad)
        checked += 1
        prev = e.hash
    raise AssertionError("first_broken returned a seq outside the page")  # pragma: no cover
