"""Governance applied to every `MemoryService` call in one place: rate limits and quotas,
denial auditing, audit coverage of every write and every read that returns results, and
per-agent usage accounting.

`governed` wraps each public service method whose first parameter is the `caller`. Only
the outermost call of a request is governed (a method calling another one is one request).
Use cases keep writing their own, precise audit events in the same transaction as their
writes; the wrapper only adds an event when a write finished without one, or when a read
returned ids (batched, like recall's).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from fleetmem.memory.domain.access import (
    ALL_OPERATIONS,
    READ_OPERATIONS,
    WRITE_OPERATIONS,
    Caller,
)
from fleetmem.memory.domain.redaction import redact
from fleetmem.memory.errors import FleetmemError, Forbidden, InvalidInput, RateLimited
from fleetmem.memory.services.runtime import request_scope
from fleetmem.memory.services.runtime.request_scope import RequestScope

if TYPE_CHECKING:
    from fleetmem.memory.services.runtime.context import ServiceContext

logger = logging.getLogger(__name__)
S = TypeVar("S")

# Service methods whose operation name differs from the method name.
OPERATION_OF = {
    "remember_batch": "remember", "relate": "create_relations", "neighbours": "open_nodes",
    "namespace_summary": "list_namespaces", "audit_events": "audit_read",
    "audit_query": "audit_read", "update_entity": "create_entities",
    "rename_entity": "create_entities", "list_memories": "export",
}
# Reads that return no memory content (nothing to record as "returned to whom").
_UNAUDITED_READS = frozenset({"recall", "stats", "list_namespaces", "audit_read"})
# Paged whole-namespace reads (vault sync, exports): one summary entry per page by default,
# so a periodic full sync does not write every id it reads into the audit log each time.
_BULK_READS = frozenset({"read_graph", "export"})
SYSTEM_PREFIX = "system:"


def operation_of(method: str) -> str:
    """The operation (as named in role allow/deny lists) a service method performs."""
    if method in OPERATION_OF:
        return OPERATION_OF[method]
    if method in ALL_OPERATIONS:
        return method
    head = method.split("_", 1)[0]
    return head if head in ALL_OPERATIONS else method


def governed(cls: type[S]) -> type[S]:
    """Class decorator: govern every public coroutine method taking `caller` first."""
    for name in dir(cls):
        fn = getattr(cls, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(fn) or \
                getattr(fn, "__governed__", False):
            continue
        params = list(inspect.signature(fn).parameters)
        if len(params) >= 2 and params[1] == "caller":
            setattr(cls, name, _wrap(name, fn))
    return cls


def _wrap(name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    operation = operation_of(name)
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    async def call(self: Any, caller: Caller, *args: Any, **kwargs: Any) -> Any:
        if request_scope.current() is not None:  # nested: part of the outer request
            return await fn(self, caller, *args, **kwargs)
        if not isinstance(caller, Caller):
            raise InvalidInput("caller must be a Caller", field="caller", rule="type")
        ctx: ServiceContext = self.ctx
        bound = signature.bind(self, caller, *args, **kwargs).arguments
        scope = RequestScope(caller, operation)
        token = request_scope.enter(scope)
        try:
            _admit(ctx, caller, operation, _cost(bound))
            result = await fn(self, caller, *args, **kwargs)
        except Forbidden as exc:
            await _record_refusal(ctx, caller, operation, exc, bound, "denied")
            raise
        except RateLimited as exc:
            await _record_refusal(ctx, caller, operation, exc, bound, "rate_limited")
            raise
        finally:
            request_scope.leave(token)
            _count_embeds(ctx, scope)
        await _after(ctx, scope, result, bound, _cost(bound))
        return result

    call.__governed__ = True  # type: ignore[attr-defined]
    return call


def _cost(bound: Mapping[str, Any]) -> int:
    """Items a write holds: the length of its first argument when that is a batch, else 1."""
    values = [v for k, v in bound.items() if k not in ("self", "caller")]
    first = values[0] if values else None
    return max(1, len(first)) if isinstance(first, list | tuple) else 1


def _is_system(caller: Caller) -> bool:
    return bool(caller.agent_id.startswith(SYSTEM_PREFIX))


def _admit(ctx: ServiceContext, caller: Caller, operation: str, cost: int) -> None:
    """Apply the caller's request rate and daily write quota (system jobs are exempt)."""
    if _is_system(caller):
        return
    limits = ctx.governor.limits_for(ctx.policy.principal(caller.agent_id))
    now = ctx.now()
    ctx.governor.take_request(caller.agent_id, limits.requests_per_minute, now)
    if operation in WRITE_OPERATIONS:
        ctx.governor.check_writes(caller.agent_id, limits.writes_per_day, cost, now)


def _namespace_hint(bound: Mapping[str, Any]) -> str | None:
    """The namespace a request names: a `namespace` argument, or the one namespace its
    inputs (e.g. a MemoryInput or a batch of them) name."""
    ns = bound.get("namespace")
    if isinstance(ns, str):
        return ns
    named: set[str] = set()
    for key, value in bound.items():
        if key in ("self", "caller"):
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            found = getattr(item, "namespace", None)
            if isinstance(found, str):
                named.add(found)
    return next(iter(named)) if len(named) == 1 else None


async def _record_refusal(ctx: ServiceContext, caller: Caller, operation: str,
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
    event = ctx.audit(caller, operation, namespace=_namespace_hint(bound), outcome=outcome,
                      target_ids=[target] if isinstance(target, str) and len(target) <= 64
                      else (),
                      detail=redact(f"{exc.rule}: {exc.message}").text[:500])
    if outcome == "rate_limited":
        ctx.reinforcer.audit(event)  # batched: a flooding agent must not flood the log
        return
    try:
        await ctx.graph.append_audit([event])
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


async def _after(ctx: ServiceContext, scope: RequestScope, result: Any,
                 bound: Mapping[str, Any], cost: int) -> None:
    """Usage accounting, write quota charge, and the audit events the use case left out."""
    caller, operation = scope.caller, scope.operation
    usage = ctx.governor.usage_of(caller.agent_id)
    usage.requests += 1
    if operation in WRITE_OPERATIONS:
        usage.writes += 1
        usage.write_items += cost
        if not _is_system(caller):
            ctx.governor.add_writes(caller.agent_id, cost, ctx.now())
        # System jobs audit what they change; a dry run changes nothing.
        if not scope.audited and not _is_system(caller) and bound.get("dry_run") is not True:
            await _audit_write(ctx, caller, operation, result, bound)
    elif operation in READ_OPERATIONS:
        usage.reads += 1
        if operation not in _UNAUDITED_READS and ctx.governance.audit_reads:
            ids, namespaces = result_ids(result)
            if ids:
                ns = next(iter(namespaces)) if len(namespaces) == 1 else None
                bulk = operation in _BULK_READS and not ctx.governance.audit_bulk_read_ids
                ctx.reinforcer.audit(ctx.audit(
                    caller, operation, namespace=ns, target_ids=() if bulk else ids,
                    detail=f"returned {len(ids)} records" if bulk else ""))


async def _audit_write(ctx: ServiceContext, caller: Caller, operation: str, result: Any,
                       bound: Mapping[str, Any]) -> None:
    """Record a write whose use case wrote no audit event (buffers, no-op writes...)."""
    ids, namespaces = result_ids(result)
    ns = _namespace_hint(bound) or (next(iter(namespaces)) if len(namespaces) == 1 else None)
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
    await ctx.graph.append_audit([ctx.audit(caller, operation, namespace=ns, target_ids=ids,
                                            detail=redact(" ".join(detail)).text[:500])])


def _count_embeds(ctx: ServiceContext, scope: RequestScope) -> None:
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
    if adding <= 0 or _is_system(caller):
        return
    limit = ctx.governor.limits_for(ctx.policy.principal(caller.agent_id))
    if limit.memories_per_namespace <= 0:
        return
    stats = await ctx.graph.stats([namespace])
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
