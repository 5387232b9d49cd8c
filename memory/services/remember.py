"""The write path: validate, authorize, redact, dedup, graph (pending), vector, commit.

A memory is acknowledged only after the graph marks it committed, in the same transaction
as its audit event. A crash before that leaves a `pending` row that the startup repair
finishes (its vector is stored with it) so no half-written memory is ever visible.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from fleetmem.memory.domain.access import Caller, private_namespace
from fleetmem.memory.domain.models import Attribution, CommitState, Memory, MemoryStatus
from fleetmem.memory.domain.redaction import redact
from fleetmem.memory.domain.text import (
    content_hash,
    content_words,
    new_id,
    numbers_in,
    whole_word,
)
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.ports import IdempotencyRecord
from fleetmem.memory.services.context import ServiceContext
from fleetmem.memory.services.governance import check_namespace_quota
from fleetmem.memory.services.idempotency import check_key
from fleetmem.memory.services.inputs import (
    MemoryInput,
    check_kind,
    check_memory_input,
    check_tags,
)
from fleetmem.memory.services.views import RememberResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Prepared:
    index: int
    memory: Memory
    redactions: int


def resolve_namespace(ctx: ServiceContext, caller: Caller, namespace: str | None) -> str:
    """The write namespace (default private), refused when the caller may not write it."""
    ns = namespace or private_namespace(caller.agent_id)
    ctx.policy.check_write(caller.agent_id, ns)
    return ns


async def remember_many(ctx: ServiceContext, caller: Caller, inputs: Sequence[MemoryInput],
                        *, operation: str = "remember",
                        idempotency_key: str | None = None) -> list[RememberResult]:
    """Write memories through the full write path; results in input order.

    Raises:
        InvalidInput: a field breaks a rule (nothing is written).
        Forbidden: the caller may not perform `operation` or write a namespace.
    """
    ctx.policy.check_operation(caller.agent_id, operation)
    if not inputs:
        raise InvalidInput("memories must hold at least one memory", field="memories",
                           rule="not_empty")
    if len(inputs) > ctx.limits.max_batch:
        raise InvalidInput(f"a batch holds at most {ctx.limits.max_batch} memories "
                           f"(got {len(inputs)}); split it", field="memories", rule="max_items")
    multi = len(inputs) > 1
    for i, inp in enumerate(inputs):
        check_memory_input(inp, ctx.limits, prefix=f"memories[{i}]." if multi else "")
    namespaces = [resolve_namespace(ctx, caller, inp.namespace) for inp in inputs]
    if idempotency_key is not None:
        # Validated here for every door: a key with a space could name another
        # operation's scoped record (`once` stores '<operation> <key>').
        check_key(idempotency_key)
        previous = await ctx.graph.get_idempotent(caller.agent_id, idempotency_key)
        if previous is not None:
            return [RememberResult.model_validate(r) for r in json.loads(previous.response_json)]

    now = ctx.now()
    prepared: list[_Prepared] = []
    for i, (inp, ns) in enumerate(zip(inputs, namespaces, strict=True)):
        red = redact(inp.text)
        a = Attribution(created_by=caller.agent_id, created_at=now,
                        on_behalf_of=caller.on_behalf_of, workflow_id=caller.workflow_id,
                        session_id=caller.session_id)
        prepared.append(_Prepared(i, Memory(
            id=new_id(), namespace=ns, text=red.text.strip(), kind=check_kind(inp.kind),
            importance=float(inp.importance), tags=check_tags(inp.tags, ctx.limits),
            attribution=a, updated_at=now, valid_from=inp.valid_from or now, pinned=inp.pinned,
            content_hash=content_hash(ns, red.text), entity_names=tuple(inp.entities),
        ), red.count))

    vectors = await ctx.embed([p.memory.text for p in prepared])
    results: list[RememberResult | None] = [None] * len(prepared)
    for ns in sorted(set(namespaces)):
        group = [p for p in prepared if p.memory.namespace == ns]
        async with ctx.namespace_lock(ns):
            await _write_group(ctx, caller, group, vectors, results, operation)
    final = [r for r in results if r is not None]
    if idempotency_key is not None:
        await ctx.graph.put_idempotent(IdempotencyRecord(
            agent_id=caller.agent_id, key=idempotency_key, operation=operation,
            response_json=json.dumps([r.model_dump() for r in final]), created_at=now))
    return final


async def _write_group(ctx: ServiceContext, caller: Caller, group: list[_Prepared],
                       vectors: npt.NDArray[np.float32], results: list[RememberResult | None],
                       operation: str) -> None:
    """Dedup then write one namespace's share of a batch (under the namespace lock)."""
    ns = group[0].memory.namespace
    fresh: list[_Prepared] = []
    seen_hash: dict[str, str] = {}
    reinforce: list[str] = []
    # One planned batch of similarity searches for the whole group (exact scoring over
    # unindexed points is shared), instead of one search per memory.
    near = await ctx.vectors.search_many([vectors[p.index] for p in group],
                                         ctx.active_filter([ns]), 3)
    for p, hits in zip(group, near, strict=True):
        dup_id = seen_hash.get(p.memory.content_hash) or await _find_duplicate(
            ctx, p.memory, hits)
        if dup_id is not None:
            reinforce.append(dup_id)
            results[p.index] = RememberResult(id=dup_id, namespace=ns, deduplicated=True,
                                              redactions=p.redactions)
            continue
        seen_hash[p.memory.content_hash] = p.memory.id
        fresh.append(p)
    if reinforce:
        await ctx.graph.reinforce(reinforce, ctx.now())
    if not fresh:
        return
    await check_namespace_quota(ctx, caller, ns, len(fresh))
    linked = await _link_entities(ctx, [p.memory for p in fresh])
    fresh_vectors = [vectors[p.index] for p in fresh]
    await ctx.graph.insert_memories(linked, fresh_vectors)
    await ctx.vectors.upsert([ctx.point(m, v) for m, v in zip(linked, fresh_vectors,
                                                               strict=True)])
    ids = [m.id for m in linked]
    await ctx.graph.mark_committed(ids, [ctx.audit(caller, operation, namespace=ns,
                                                   target_ids=ids)])
    for p in fresh:
        results[p.index] = RememberResult(id=p.memory.id, namespace=ns, redactions=p.redactions)
    logger.info("%s wrote %d memories in %s", operation, len(ids), ns,
                extra={"agent_id": caller.agent_id, "workflow_id": caller.workflow_id})


async def _find_duplicate(ctx: ServiceContext, memory: Memory,
                          hits: list[tuple[str, float]]) -> str | None:
    """An active memory of the namespace with the same normalised text, or a near-identical
    embedding among `hits` (cosine >= the configured threshold)."""
    same = await ctx.graph.find_by_hash(memory.namespace, memory.content_hash)
    if same is not None:
        return same.id
    close = [mid for mid, score in hits if score >= ctx.limits.dedup_similarity]
    if not close:
        return None
    # Embeddings barely see numbers ("port 8080" vs "port 9090") or a rare word (a
    # codename, a host): a near-duplicate must also carry exactly the same numbers and
    # the same words, or it is a different fact and is kept.
    candidates = await ctx.graph.get_memories(close, [memory.namespace])
    numbers, words = numbers_in(memory.text), content_words(memory.text)
    for candidate in candidates:
        if candidate.status is MemoryStatus.ACTIVE and numbers_in(candidate.text) == numbers \
                and content_words(candidate.text) == words:
            return candidate.id
    return None


async def _link_entities(ctx: ServiceContext, memories: list[Memory]) -> list[Memory]:
    """Add to each memory the names of existing entities its text mentions (one lookup
    for the whole group: memories of one write share a namespace)."""
    if not memories:
        return []
    found = await ctx.graph.entities_in_text(
        [memories[0].namespace], "\n".join(m.text for m in memories), 16 * len(memories))
    out: list[Memory] = []
    for m in memories:
        text = m.text.lower()
        mentioned = [e.name for e in found if whole_word(text, [e.name, *e.aliases])]
        names = tuple(dict.fromkeys([*m.entity_names, *mentioned]))
        out.append(replace(m, entity_names=names))
    return out



def committed_copy(m: Memory) -> Memory:
    """The memory as stored once its write finished (used by supersede)."""
    return replace(m, commit_state=CommitState.COMMITTED, status=MemoryStatus.ACTIVE)
