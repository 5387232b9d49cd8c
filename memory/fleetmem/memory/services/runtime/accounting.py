"""What governance does around a request, apart from deciding it: admission against rate
limits and quotas, denial auditing, audit coverage of every write and every read that
returns results, and per-agent usage accounting (see `governance.operation`).

Use cases keep writing their own, precise audit events in the same transaction as their
writes; these helpers only add an event when a write finished without one, or when a read
returned ids (batched, like recall's).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.redaction import redact
from fleetmem.memory.errors import FleetmemError, RateLimited
from fleetmem.memory.services.runtime.operations import SYSTEM_PREFIX, Access, Operation
from fleetmem.memory.services.runtime.request_scope import RequestScope

if TYPE_CHECKING:
    from fleetmem.memory.services.runtime.context import ServiceContext

logger = logging.getLogger(__name__)


def cost(op: Operation, bound: Mapping[str, Any]) -> int:
    """Items a write holds: the length of its declared batch parameter, else 1."""
    batch = bound.get(op.cost) if op.cost else None
    return max(1, len(batch)) if isinstance(batch, list | tuple) else 1


def is_system(caller: Caller) -> bool:
    """Whether the caller is a system principal (scheduled jobs): exempt from limits."""
    return bool(caller.agent_id.startswith(SYSTEM_PREFIX))


def admit(ctx: ServiceContext, caller: Caller, op: Operation, items: int) -> None:
    """Apply the caller's request rate and daily write quota (system jobs are exempt)."""
    if is_system(caller):
        return
    limits = ctx.governor.limits_for(ctx.policy.principal(caller.agent_id))
    now = ctx.now()
    ctx.governor.take_request(caller.agent_id, limits.requests_per_minute, now)
    if op.access is Access.WRITE:
        ctx.governor.check_writes(caller.agent_id, limits.writes_per_day, items, now)


def namespace_hint(bound: Mapping[str, Any]) -> str | None:
    """The namespace a request names: a `namespace` argument, or the one namespace its
    inputs (e.g. a MemoryInput or a batch of them) name."""
    ns = bound.get("namespace")
    if isinstance(ns, str):
        return ns
    named: set[str] = set()
    for key, value in bound.items():
        if key in ("self", "caller", "idempotency_key"):
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            found = getattr(item, "namespace", None)
            if isinstance(found, str):
                named.add(found)
    return next(iter(named)) if len(named) == 1 else None


async def record_refusal(ctx: ServiceContext, caller: Caller, operation: str,
                          exc: FleetmemError, bound: Mapping[str, Any], outcome: str) -> None:
    """Audit a refusal with the rule that refused it; never masks the refusal itself."""
    if exc.rule != "unknown_agent":  # unknown ids must not grow the usage table
        usage = ctx.governor.usage_of(caller.agent_id)
        usage.requests += 1
        if outcome == "denied":
            usage.denied += 1
        else:
            usage.rate_limited += 1
    target = bound.get("memory_id")
    if exc.rule == "on_behalf_of":  # a refused claim is not attribution; the detail names it
        caller = replace(caller, on_behalf_of=None)
    event = ctx.audit(caller, operation, namespace=namespace_hint(bound), outcome=outcome,
                      target_ids=[target] if isinstance(target, str) and len(target) <= 64
                      else (),
                      detail=redact(f"{exc.rule}: {exc.message}").text[:500])
    if outcome == "rate_limited":
        ctx.reinforcer.audit(event)  # batched: a flooding agent must not flood the log
        return
    try:
        await ctx.audit_log.append_audit([event])
    except FleetmemError:
        logger.exception("could not record a denial in the audit log",
                         extra={"agent_id": caller.agent_id, "workflow_id": caller.workflow_id})


def result_ids(result: Any, depth: int = 0) -> tuple[list[str], set[str]]:
    """Ids (and namespaces) of the records a result holds: models with an `id`, found at
    the top or one level down (a graph page's entities and relations, promoted items)."""
    ids: list[str] = []
    namespaces: set[str] = set()
    items = result if isinstance(result, list) else [result]
    for item in items:
        if not isinstance(item, BaseModel):
            continue
        item_id = getattr(item, "id", None)
        if isinstance(item_id, str):
            ids.append(item_id)
            ns = getattr(item, "namespace", None)
            if isinstance(ns, str):
                namespaces.add(ns)
        elif depth < 1:
            for value in item.__dict__.values():
                if isinstance(value, BaseModel | list):
                    more, more_ns = result_ids(value, depth + 1)
                    ids += more
                    namespaces |= more_ns
    return ids, namespaces


async def settle(ctx: ServiceContext, scope: RequestScope, op: Operation, result: Any,
                 bound: Mapping[str, Any], items: int) -> None:
    """Usage accounting, write quota charge, and the audit events the use case left out."""
    caller, operation = scope.caller, scope.operation
    usage = ctx.governor.usage_of(caller.agent_id)
    usage.requests += 1
    if op.access is Access.WRITE:
        usage.writes += 1
        usage.write_items += items
        if not is_system(caller):
            ctx.governor.add_writes(caller.agent_id, items, ctx.now())
        # System jobs audit what they change; a dry run changes nothing.
        if not scope.audited and not is_system(caller) and bound.get("dry_run") is not True:
            await _audit_write(ctx, caller, operation, result, bound)
    elif op.access is Access.READ:
        usage.reads += 1
        if op.audit_ids and ctx.governance.audit_reads:
            ids, namespaces = result_ids(result)
            if ids:
                ns = next(iter(namespaces)) if len(namespaces) == 1 else None
                bulk = op.bulk and not ctx.governance.audit_bulk_read_ids
                ctx.reinforcer.audit(ctx.audit(
                    caller, operation, namespace=ns, target_ids=() if bulk else ids,
                    detail=f"returned {len(ids)} records" if bulk else ""))


async def _audit_write(ctx: ServiceContext, caller: Caller, operation: str, result: Any,
                       bound: Mapping[str, Any]) -> None:
    """Record a write whose use case wrote no audit event (buffers, no-op writes...)."""
    ids, namespaces = result_ids(result)
    ns = namespace_hint(bound) or (next(iter(namespaces)) if len(namespaces) == 1 else None)
    detail = []
    session = bound.get("session_id")
    if isinstance(session, str):
        detail.append(f"session={session[:100]}")
    if isinstance(result, int) and not isinstance(result, bool):
        detail.append(f"count={result}")
    elif isinstance(result, list) and all(isinstance(x, str) for x in result):
        detail.append("names=" + ", ".join(result))
    if getattr(result, "deduplicated", False):
        detail.append("deduplicated")
    await ctx.audit_log.append_audit([ctx.audit(caller, operation, namespace=ns, target_ids=ids,
                                            detail=redact(" ".join(detail)).text[:500])])


def count_embeds(ctx: ServiceContext, scope: RequestScope) -> None:
    """Charge the request's embedding calls to the caller's usage."""
    if scope.embed_calls:
        usage = ctx.governor.usage_of(scope.caller.agent_id)
        usage.embed_calls += scope.embed_calls
        usage.embedded_texts += scope.embedded_texts


async def check_namespace_quota(ctx: ServiceContext, caller: Caller, namespace: str,
                                adding: int) -> None:
    """Refuse writing `adding` new memories into a namespace that would then hold more
    active memories than the writer's `memories_per_namespace` limit.

    Raises:
        RateLimited: the namespace is full for this writer (rule memories_per_namespace).
    """
    if adding <= 0 or is_system(caller):
        return
    limit = ctx.governor.limits_for(ctx.policy.principal(caller.agent_id))
    if limit.memories_per_namespace <= 0:
        return
    stats = await ctx.audit_log.stats([namespace])
    held = stats[0].memories_by_status.get("active", 0) if stats else 0
    if held + adding <= limit.memories_per_namespace:
        return
    wait = ctx.governance.quota_retry_seconds
    raise RateLimited(
        f"namespace '{namespace}' holds {held} active memories and agent "
        f"'{caller.agent_id}' may fill it up to {limit.memories_per_namespace}; this write "
        f"adds {adding}. Forget memories there (or ask an operator to raise "
        f"memories_per_namespace), then retry after {wait} s",
        retry_after=float(wait), rule="memories_per_namespace")
