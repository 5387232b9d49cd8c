"""The write path: validate, authorize, redact, dedup, vector, graph commit with audit.

A memory is acknowledged once the graph has committed it, in the same transaction as its
audit event; its vector was written to the index just before. A crash in between leaves
a vector without a memory: never returned (recall reads its hits through the graph) and
dropped by the startup count check, so no half-written memory is ever visible. (Stores
written by earlier versions may hold `pending` rows; the startup repair still finishes
those.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from fleetmem.memory import tracing
from fleetmem.memory.domain.access import Caller, private_namespace
from fleetmem.memory.domain.models import Attribution, CommitState, Memory, MemoryStatus
from fleetmem.memory.domain.names import TextName, same_speaker
from fleetmem.memory.domain.redaction import redact
from fleetmem.memory.domain.text import (
    content_hash,
    content_words,
    mirror_key,
    new_id,
    numbers_in,
)
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.ports.values import Vector
from fleetmem.memory.services.inputs import (
    MemoryInput,
    check_kind,
    check_memory_input,
    check_metadata,
    check_tags,
)
from fleetmem.memory.services.memories.entity_links import create_text_entities, link_entities
from fleetmem.memory.services.memories.turns import Turns, conversation_turns
from fleetmem.memory.services.runtime.accounting import check_namespace_quota
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.views.records import RememberResult

logger = logging.getLogger(__name__)
_INDEXED = (MemoryStatus.ACTIVE, MemoryStatus.SUPERSEDED)  # statuses recall may return

EMBED_CHUNK = 64
"""Memories per model call within one write: the model's own batch size, so chunking
costs no encode throughput and lets writing one chunk overlap encoding the next."""
PREPARE_INLINE_CHARS = 64_000
"""Batches holding more text than this are redacted and hashed on a worker thread."""
DEDUP_BEAM = 16
"""The HNSW beam of the near-duplicate search (`VectorIndex.search_many`). A duplicate is
the nearest vector of all, which a beam of 16 already found for each of 64 stored vectors
queried against a 50k indexed shard; the index's default beam cost 90 ms per 64 texts
and shard against 33 ms at 32, and every sealed shard (one per 50k memories) pays it on
every write. On the 1M store (21 shards, int8 vectors rescored) the search of a batch of
128 took 256 ms at 16 against 326 ms at 32, and a beam of 8, 16 or 32 each caught 128 of
128 near-duplicates (a stored text with its last punctuation changed) held by a sealed
shard (bench/OTHER_RUNS.md, issue 22)."""


@dataclass(frozen=True, slots=True)
class _Prepared:
    index: int
    memory: Memory
    redactions: int
    mirror: bool = False
    timed: bool = False
    """The writer gave the event time (`valid_from`)."""


def resolve_namespace(ctx: ServiceContext, caller: Caller, namespace: str | None) -> str:
    """The write namespace (default private), refused when the caller may not write it."""
    ns = namespace or private_namespace(caller.agent_id)
    ctx.policy.check_write(caller.agent_id, ns)
    return ns


async def remember_many(ctx: ServiceContext, caller: Caller, inputs: Sequence[MemoryInput],
                        *, operation: str = "remember",
                        mirrors: Sequence[str] | None = None) -> list[RememberResult]:
    """Write memories through the full write path; results in input order.

    `mirrors` (graph writes only, one per input) names the graph record each memory
    mirrors: its dedup key is then `mirror_key(namespace, record)`, and it is deduplicated
    only against the mirror of the same record, so a graph delete later archives exactly
    the memory written for what it deleted (see `services.graph.entities`).

    Raises:
        InvalidInput: a field breaks a rule (nothing is written).
        Forbidden: the caller may not write a namespace (the operation itself was
            authorised by the service method; `operation` names the audit entries).
    """
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
    if mirrors is not None and len(mirrors) != len(inputs):
        raise ValueError("remember_many: one mirrored record per input")
    tracing.annotate_namespaces(sorted(set(namespaces)))

    if sum(len(inp.text) for inp in inputs) > PREPARE_INLINE_CHARS:
        # Redaction and hashing of a large batch run on a worker thread, so the event
        # loop keeps serving other requests (other agents' questions) meanwhile.
        prepared = await asyncio.to_thread(_prepare, ctx, caller, inputs, namespaces, mirrors)
    else:
        prepared = _prepare(ctx, caller, inputs, namespaces, mirrors)
    ctx.prepay_texts(len(prepared))  # refused whole (texts_per_minute), before any write
    # The write's reads (the preceding turn, each chunk's dedup and entity lookups) share
    # a read transaction until a chunk's write; each chunk's writes are one transaction
    # (`store_group`): one round trip each on a server store (issue 22).
    async with ctx.memories.reading():
        return await _write_chunks(ctx, caller, prepared, operation)


async def _write_chunks(ctx: ServiceContext, caller: Caller, prepared: list[_Prepared],
                        operation: str) -> list[RememberResult]:
    """Encode, deduplicate and write the prepared memories chunk by chunk (see
    `remember_many`)."""
    results: list[RememberResult | None] = [None] * len(prepared)
    chunks = [prepared[i:i + EMBED_CHUNK] for i in range(0, len(prepared), EMBED_CHUNK)]
    # Every chunk is queued for the model at once: chunk i + 1 is encoded while chunk i
    # is deduplicated and written, and the lookups that need no vector (dedup by hash,
    # entity links) run while a chunk is encoded.
    embeddings = [asyncio.create_task(_embed(ctx, [p.memory.text for p in chunk]))
                  for chunk in chunks]
    seen: dict[str, str] = {}
    try:
        # resolved while the first chunk is encoded (the model call releases the GIL)
        turns = await conversation_turns(ctx, caller, prepared)
        for chunk, embedding in zip(chunks, embeddings, strict=True):
            groups = {ns: [p for p in chunk if p.memory.namespace == ns]
                      for ns in sorted({p.memory.namespace for p in chunk})}
            lookups = {ns: asyncio.create_task(_lookups(ctx, group))
                       for ns, group in groups.items()}
            vectors = dict(zip((p.index for p in chunk), await embedding, strict=True))
            for ns, group in groups.items():
                known, linked, new_names = await lookups[ns]
                async with ctx.namespace_lock(ns):
                    with tracing.span("remember.group") as span:
                        tracing.annotate_namespaces([ns])
                        span.set_attribute("fleetmem.memories", len(group))
                        await _write_group(ctx, caller,
                                           _Group(group, linked, known, vectors, new_names),
                                           seen, results, operation, turns)
    finally:
        for task in embeddings:
            task.cancel()
    final = [r for r in results if r is not None]
    return final


def _prepare(ctx: ServiceContext, caller: Caller, inputs: Sequence[MemoryInput],
             namespaces: list[str], mirrors: Sequence[str] | None) -> list[_Prepared]:
    """The memories to write: redacted, attributed, with their dedup keys."""
    now = ctx.now()
    prepared: list[_Prepared] = []
    for i, (inp, ns) in enumerate(zip(inputs, namespaces, strict=True)):
        red = redact(inp.text)
        a = Attribution(created_by=caller.agent_id, created_at=now,
                        on_behalf_of=caller.on_behalf_of, workflow_id=caller.workflow_id,
                        session_id=caller.session_id)
        key = content_hash(ns, red.text) if mirrors is None else mirror_key(ns, mirrors[i])
        prepared.append(_Prepared(i, Memory(
            id=new_id(), namespace=ns, text=red.text.strip(), kind=check_kind(inp.kind),
            importance=float(inp.importance), tags=check_tags(inp.tags, ctx.limits),
            attribution=a, updated_at=now, valid_from=inp.valid_from or now, pinned=inp.pinned,
            content_hash=key, entity_names=tuple(inp.entities),
            metadata=check_metadata(inp.metadata, ctx.limits),
        ), red.count, mirrors is not None, inp.valid_from is not None))
    return prepared


@dataclass(frozen=True, slots=True)
class _Group:
    """One namespace's share of a chunk: its memories, the same with entity links, the
    ids already holding their dedup keys, the chunk's vectors by input index, and the
    names its texts mention that no entity of the namespace has yet."""

    prepared: list[_Prepared]
    linked: list[Memory]
    known: dict[str, str]
    vectors: dict[int, npt.NDArray[np.float32]]
    new_names: dict[str, TextName]


async def _embed(ctx: ServiceContext, texts: list[str]) -> npt.NDArray[np.float32]:
    with tracing.span("remember.embed", {"fleetmem.texts": len(texts)}):
        return await ctx.embed(texts)


async def _lookups(ctx: ServiceContext, group: list[_Prepared]
                   ) -> tuple[dict[str, str], list[Memory], dict[str, TextName]]:
    """What needs no vector: the active memories already holding the group's dedup keys,
    the group's memories linked to the entities their texts mention, and the mentioned
    names that are new to the namespace (see `entity_links`)."""
    with tracing.span("remember.lookup"):
        known, (linked, new_names) = await asyncio.gather(
            ctx.memories.find_by_hashes(group[0].memory.namespace,
                                        [p.memory.content_hash for p in group]),
            link_entities(ctx, [p.memory for p in group], [p.mirror for p in group]))
    return known, linked, new_names


async def _write_group(ctx: ServiceContext, caller: Caller, group: _Group,
                       seen: dict[str, str], results: list[RememberResult | None],
                       operation: str, turns: Turns) -> None:
    """Dedup then write one namespace's share of a chunk (under the namespace lock; the
    write itself is `store_group`)."""
    ns = group.prepared[0].memory.namespace
    with tracing.span("remember.dedup") as span:
        fresh = await _dedup(ctx, group, seen, results)
        span.set_attribute("fleetmem.duplicates", len(group.prepared) - len(fresh))
    if not fresh:
        return
    memories = [m for _, m in fresh]
    await store_group(ctx, caller, ns, memories, [group.vectors[p.index] for p, _ in fresh],
                      operation, turns.contexts, group.new_names, turns)
    for p, _ in fresh:
        results[p.index] = RememberResult(id=p.memory.id, namespace=ns, redactions=p.redactions)


async def store_group(ctx: ServiceContext, caller: Caller, ns: str,
                      memories: Sequence[Memory], vectors: Sequence[Vector], operation: str,
                      contexts: Mapping[str, str],
                      new_names: Mapping[str, TextName] | None = None,
                      turns: Turns | None = None) -> None:
    """Write one namespace's new memories with their vectors (the caller holds the
    namespace lock): `remember_batch` and import both end here.

    The namespace quota is checked for the active ones first, then the entities their
    texts name that are new to the namespace (`new_names`, see `entity_links`) are
    created. The vectors go first (a
    point only for what recall may return: active or superseded), then the memories
    (committed) with their audit event in one graph transaction: the write is acknowledged
    once that commits. A crash in between leaves only a vector without a memory, which
    recall never returns (hits are read through the graph) and the startup count check
    drops.
    """
    await check_namespace_quota(ctx, caller, ns,
                                sum(m.status is MemoryStatus.ACTIVE for m in memories))
    ids = [m.id for m in memories]

    async def commit() -> None:  # safe to repeat: a retry redoes all of it
        with tracing.span("remember.entities"):
            created = await create_text_entities(ctx, caller, ns, memories, new_names or {})
        with tracing.span("remember.vector_upsert"):
            await ctx.vectors.upsert([ctx.point(m, v)
                                      for m, v in zip(memories, vectors, strict=True)
                                      if m.status in _INDEXED])
        with tracing.span("remember.graph_commit"):
            await ctx.memories.insert_memories(memories, vectors, [ctx.audit(
                caller, operation, namespace=ns, target_ids=ids),
                *([created] if created is not None else [])],
                contexts={m.id: contexts[m.id] for m in memories if m.id in contexts})
        if turns is not None:  # the conversation's order and index (`turns`)
            with tracing.span("remember.turns"):
                await ctx.memories.link_turns(*turns.written(ids))
    # The new entities, the memories with their audit and their turn links are one graph
    # transaction on a server store (`write_together`); the two tiers differ until it
    # commits (reconcile waits on the gate).
    async with ctx.tier_gate.shared():
        await ctx.memories.write_together(commit)
    logger.info("%s wrote %d memories in %s", operation, len(ids), ns,
                extra={"agent_id": caller.agent_id, "workflow_id": caller.workflow_id})

async def _dedup(ctx: ServiceContext, group: _Group, seen: dict[str, str],
                 results: list[RememberResult | None]) -> list[tuple[_Prepared, Memory]]:
    """The group's memories that are new; duplicates get their results (the existing
    memory's id) and are reinforced."""
    ns = group.prepared[0].memory.namespace
    fresh: list[tuple[_Prepared, Memory]] = []
    reinforce: list[str] = []
    # One planned batch of similarity searches for the whole group (exact scoring over
    # unindexed points is shared), instead of one search per memory. It also finds what
    # another writer stored since the hash lookup (identical text scores 1.0).
    near = await ctx.vectors.search_many([group.vectors[p.index] for p in group.prepared],
                                         ctx.active_filter([ns]), 3, beam=DEDUP_BEAM)
    known = await _known_of_same_author(ctx, group)
    for p, linked, hits in zip(group.prepared, group.linked, near, strict=True):
        key = p.memory.content_hash
        # Within one write the author is the same; `seen` is per write.
        dup_id = seen.get(key) or known.get(key) or (
            None if p.mirror else await _find_duplicate(ctx, p.memory, hits))
        if dup_id is not None:
            seen[key] = dup_id
            reinforce.append(dup_id)
            results[p.index] = RememberResult(id=dup_id, namespace=ns, deduplicated=True,
                                              redactions=p.redactions)
            continue
        seen[key] = p.memory.id
        fresh.append((p, replace(linked, commit_state=CommitState.COMMITTED)))
    if reinforce:
        await ctx.memories.reinforce(reinforce, ctx.now())
    return fresh


async def _known_of_same_author(ctx: ServiceContext, group: _Group) -> dict[str, str]:
    """The group's exact duplicates (by dedup key) that the same author wrote: identical
    text from another agent, or on behalf of another person, is that author's own claim
    and is kept (the near-duplicate search still finds this author's own copy). A mirror's
    key names a graph record, not an author's text: its duplicates are kept as found."""
    if not group.known:
        return {}
    mirrors = {p.memory.content_hash for p in group.prepared if p.mirror}
    first = group.prepared[0].memory
    held = await ctx.memories.get_memories(
        [mid for key, mid in group.known.items() if key not in mirrors], [first.namespace])
    same = {m.id for m in held if same_author(m, first)}
    return {key: mid for key, mid in group.known.items() if key in mirrors or mid in same}


def same_author(a: Memory, b: Memory) -> bool:
    """Whether two memories have one author: the same agent on behalf of the same person."""
    return (a.attribution.created_by == b.attribution.created_by
            and a.attribution.on_behalf_of == b.attribution.on_behalf_of)


async def _find_duplicate(ctx: ServiceContext, memory: Memory,
                          hits: list[tuple[str, float]]) -> str | None:
    """A near-identical active memory among `hits` (cosine >= the configured threshold,
    with the same numbers and words) of the same author and, for a conversation turn
    ("Nate: Bye Joanna!"), the same speaker: dedup never merges two people's words."""
    close = [mid for mid, score in hits if score >= ctx.limits.dedup_similarity]
    if not close:
        return None
    # Embeddings barely see numbers ("port 8080" vs "port 9090") or a rare word (a
    # codename, a host): a near-duplicate must also carry exactly the same numbers and
    # the same words, or it is a different fact and is kept.
    candidates = await ctx.memories.get_memories(close, [memory.namespace])
    numbers, words = numbers_in(memory.text), content_words(memory.text)
    for candidate in candidates:
        if candidate.status is MemoryStatus.ACTIVE and numbers_in(candidate.text) == numbers \
                and content_words(candidate.text) == words and same_author(candidate, memory) \
                and same_speaker(candidate.text, memory.text):
            return candidate.id
    return None


def committed_copy(m: Memory) -> Memory:
    """The memory as stored once its write finished (used by supersede)."""
    return replace(m, commit_state=CommitState.COMMITTED, status=MemoryStatus.ACTIVE)
