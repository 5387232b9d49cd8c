"""The read path: session STM first, then dense + keyword + graph expansion, fused by
reciprocal rank fusion and re-scored by recency, importance and retention. Only the
caller's readable namespaces are ever searched, expanded or returned."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import BufferItem, Memory, MemoryStatus
from fleetmem.memory.domain.scoring import FUSION_WEIGHTS, rescore, rrf
from fleetmem.memory.domain.text import clean_text, estimate_tokens
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.ports import MemoryFilter, Vector
from fleetmem.memory.services.conflicts import mark_disputed
from fleetmem.memory.services.context import ServiceContext
from fleetmem.memory.services.inputs import check_k, check_kind, check_name, check_tags
from fleetmem.memory.services.views import BufferItemView, MemoryView, RecallHit, RecallResult

MODES = frozenset({"dense", "keyword", "graph"})

_WORD = re.compile(r"\w{3,}")


@dataclass(frozen=True)
class RecallQuery:
    """Everything a recall may ask for; defaults give hybrid search over current facts."""

    query: str
    k: int = 10
    namespaces: Sequence[str] | None = None
    kinds: Sequence[str] = ()
    tags: Sequence[str] = ()
    created_by: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    as_of: datetime | None = None
    max_tokens: int | None = None
    session_id: str | None = None
    modes: frozenset[str] = field(default_factory=lambda: MODES)
    include_archived: bool = False


async def recall(ctx: ServiceContext, caller: Caller, q: RecallQuery) -> RecallResult:
    """Answer a recall; reinforces what it returns.

    Raises:
        InvalidInput: empty query, k out of range, unknown mode or kind.
        Forbidden: a requested namespace is not readable by the caller.
    """
    ctx.policy.check_operation(caller.agent_id, "recall")
    text = clean_text(q.query, "query", max_chars=ctx.limits.max_text_chars)
    k = check_k(q.k, ctx.limits)
    bad = set(q.modes) - MODES
    if bad or not q.modes:
        raise InvalidInput(f"modes must be a non-empty subset of {sorted(MODES)}",
                           field="modes", rule="enum")
    if q.max_tokens is not None and (not isinstance(q.max_tokens, int) or q.max_tokens < 1):
        raise InvalidInput("max_tokens must be a positive integer", field="max_tokens",
                           rule="range")
    session_id = check_name(q.session_id, "session_id") if q.session_id is not None else None
    created_by = check_name(q.created_by, "created_by") if q.created_by is not None else None
    namespaces = ctx.policy.scope_reads(caller.agent_id, q.namespaces)
    statuses = (MemoryStatus.ACTIVE, MemoryStatus.ARCHIVED) if q.include_archived \
        else (MemoryStatus.ACTIVE,)
    flt = MemoryFilter(
        namespaces=namespaces, kinds=tuple(check_kind(x, "kinds").value for x in q.kinds),
        tags=check_tags(list(q.tags), ctx.limits), created_by=created_by,
        created_after=q.created_after, created_before=q.created_before, statuses=statuses,
        as_of=q.as_of)
    depth = max(k * 4, 20)

    rankings: dict[str, list[str]] = {}
    # The store work that needs no vector (keyword search, the graph's entity lookups)
    # runs while the query is embedded; only the dense leg waits for the vector.
    embedding = asyncio.create_task(_embed_one(ctx, text)) \
        if {"dense", "graph"} & q.modes else None
    tasks: list[Awaitable[tuple[str, list[str]]]] = []
    if "keyword" in q.modes:
        tasks.append(asyncio.create_task(_keyword(ctx, text, flt, depth)))
    if embedding is not None and "graph" in q.modes:
        tasks.append(asyncio.create_task(_graph(ctx, text, embedding, flt, depth)))
    if embedding is not None and "dense" in q.modes:
        tasks.append(_dense(ctx, embedding, flt, depth))
    for name, ids in await asyncio.gather(*tasks):
        rankings[name] = ids

    fused = rrf(rankings, FUSION_WEIGHTS)
    memories = await ctx.graph.get_memories(list(fused), namespaces)
    now = ctx.now()
    scored = sorted(((rescore(fused[m.id], m, now), m) for m in memories),
                    key=lambda sm: sm[0].total, reverse=True)
    hits: list[RecallHit] = []
    tokens = 0
    for breakdown, m in scored:
        if len(hits) >= k:
            break
        cost = estimate_tokens(m.text)
        if q.max_tokens is not None and tokens + cost > q.max_tokens and hits:
            break
        tokens += cost
        hits.append(RecallHit(memory=MemoryView.of(m), score=breakdown.total,
                              why=breakdown.as_dict(),
                              sources=sorted(fused[m.id].keys())))
    short_term = await _short_term(ctx, caller, session_id or caller.session_id, text)
    hits = await mark_disputed(ctx, namespaces, hits)
    if hits:
        ctx_ids = [h.memory.id for h in hits]
        await ctx.reinforcer.add(ctx_ids, now)
        ctx.reinforcer.audit(ctx.audit(caller, "recall", namespace=None, target_ids=ctx_ids))
    return RecallResult(query=text, hits=hits, short_term=short_term,
                        namespaces=list(namespaces), tokens=tokens)


async def _embed_one(ctx: ServiceContext, text: str) -> Vector:
    vector: Vector = (await ctx.embed([text]))[0]
    return vector


async def _dense(ctx: ServiceContext, embedding: Awaitable[Vector], flt: MemoryFilter,
                 depth: int) -> tuple[str, list[str]]:
    hits = await ctx.vectors.search(await embedding, flt, depth)
    # The graph is the source of truth: pending or closed memories never surface.
    return "dense", await ctx.graph.filter_ids([i for i, _ in hits], flt)


async def _keyword(ctx: ServiceContext, text: str, flt: MemoryFilter,
                   depth: int) -> tuple[str, list[str]]:
    return "keyword", [i for i, _ in await ctx.graph.keyword_search(text, flt, depth)]


async def _graph(ctx: ServiceContext, text: str, embedding: Awaitable[Vector],
                 flt: MemoryFilter, depth: int) -> tuple[str, list[str]]:
    """Memories about the entities the query names and about their neighbours, ranked by
    their similarity to the query (so the neighbour's *relevant* fact comes first, not its
    newest one)."""
    entities = await ctx.graph.entities_in_text(flt.namespaces, text, 8)
    if not entities:
        return "graph", []
    names = [e.name for e in entities]
    direct = await ctx.graph.memories_mentioning(names, flt, depth)
    relations = await ctx.graph.relations_of(flt.namespaces, names, flt.as_of)
    lowered = {n.lower() for n in names}
    neighbours = list(dict.fromkeys(
        n for r in relations for n in (r.from_entity, r.to_entity) if n.lower() not in lowered))
    second = await ctx.graph.memories_mentioning(neighbours, flt, depth) if neighbours else []
    candidates = list(dict.fromkeys([*direct, *second]))
    vectors = await ctx.graph.get_vectors(candidates)
    vector = await embedding
    similarity = {mid: float(np.dot(v, vector)) for mid, v in vectors.items()}
    return "graph", sorted(candidates, key=lambda mid: similarity.get(mid, -1.0), reverse=True)


async def _short_term(ctx: ServiceContext, caller: Caller, session_id: str | None,
                      text: str) -> list[BufferItemView]:
    """Unconsolidated items of the caller's session sharing words with the query."""
    if not session_id:
        return []
    items: list[BufferItem] = await ctx.graph.buffer_read(caller.agent_id, session_id, 50,
                                                          include_consolidated=False)
    words = set(_WORD.findall(text.lower()))
    return [BufferItemView.of(i) for i in reversed(items)
            if words & set(_WORD.findall(i.text.lower()))][:10]


def view_all(memories: Sequence[Memory]) -> list[MemoryView]:
    """Views of several memories."""
    return [MemoryView.of(m) for m in memories]
