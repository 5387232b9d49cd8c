"""The read path: session STM first, then dense + keyword + graph expansion, each
candidate weighed on its merits (`domain.ranking`: cosine similarity + normalised
per-namespace BM25 + graph bonuses, less a short-text penalty) with recency of the event
time, importance and retention as bounded tie-breakers. Only the
caller's readable namespaces are ever searched, expanded or returned."""

from __future__ import annotations

import asyncio
import heapq
import re
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from fleetmem.memory import tracing
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import BufferItem, Memory, MemoryStatus, Relation
from fleetmem.memory.domain.ranking import (
    MAX_FINAL_LIFT,
    Relevance,
    final_score,
    relevance,
    with_neighbours,
)
from fleetmem.memory.domain.scoring import ScoreBreakdown
from fleetmem.memory.domain.text import asks_about, clean_text, estimate_tokens
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.ports import MemoryFilter, RecallRead, RecallRow, Vector
from fleetmem.memory.services.inputs import (
    check_k,
    check_kind,
    check_metadata_filter,
    check_name,
    check_tags,
)
from fleetmem.memory.services.memories.context import names_dates, query_dates
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.views.records import (
    BufferItemView,
    MemoryView,
    RecallHit,
    RecallResult,
)

MODES = frozenset({"dense", "keyword", "graph"})
DEPTH_PER_K = 4
"""Candidates each leg returns per hit asked for (at least 20)."""

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
    metadata: Mapping[str, object] | None = None
    """Top-level key/value pairs a memory's metadata must all hold (scalars only)."""
    neighbours: bool = True
    """The turns next to the best candidates in their conversation compete too, lifted
    to a share of that candidate's relevance (`ranking.with_neighbours`); they count
    against `k` and `max_tokens` like any hit."""


async def recall(ctx: ServiceContext, caller: Caller, q: RecallQuery) -> RecallResult:
    """Answer a recall; reinforces what it returns.

    Raises:
        InvalidInput: empty query, k out of range, unknown mode or kind.
        Forbidden: a requested namespace is not readable by the caller.
    """
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
    tracing.annotate_namespaces(namespaces)
    statuses = (MemoryStatus.ACTIVE, MemoryStatus.ARCHIVED) if q.include_archived \
        else (MemoryStatus.ACTIVE,)
    flt = MemoryFilter(
        namespaces=namespaces, kinds=tuple(check_kind(x, "kinds").value for x in q.kinds),
        tags=check_tags(list(q.tags), ctx.limits), created_by=created_by,
        created_after=q.created_after, created_before=q.created_before, statuses=statuses,
        as_of=q.as_of, metadata=check_metadata_filter(q.metadata, ctx.limits))
    depth = max(k * DEPTH_PER_K, 20)

    # The store work that needs no vector (keyword search, the graph's entity lookups)
    # runs while the query is embedded; only the dense leg waits for the vector.
    embedding = asyncio.create_task(_embed_one(ctx, text)) \
        if {"dense", "graph"} & q.modes else None
    tasks: list[Awaitable[list[tuple[str, list[tuple[str, float]]]]]] = []
    named: set[str] = set()  # the entities the question names (lower-cased), by the graph leg
    if "keyword" in q.modes:
        tasks.append(asyncio.create_task(_keyword(ctx, text, flt, depth)))
    if embedding is not None and "graph" in q.modes:
        tasks.append(asyncio.create_task(_graph(ctx, text, embedding, flt, depth, named)))
    if embedding is not None and "dense" in q.modes:
        tasks.append(_dense(ctx, embedding, flt, depth))
    legs: dict[str, dict[str, float]] = {}
    for found in await asyncio.gather(*tasks):
        legs.update((name, dict(hits)) for name, hits in found)
    candidates = list(dict.fromkeys(i for hits in legs.values() for i in hits))
    dense = embedding is not None and "dense" in q.modes
    query_vector = await embedding if dense and embedding is not None else None
    ranked: list[dict[str, Relevance]] = []

    def rank(found: list[RecallRow]) -> dict[str, Relevance]:
        if dense:
            legs["dense"] = _similarities(legs, found)
        return relevance(legs.get("dense", {}), legs.get("keyword", {}),
                         list(legs.get("graph", {})), list(legs.get("hop", {})))

    def pick(found: list[RecallRow]) -> list[str]:
        """Rank the candidates that have a row (inside the store's read) and name the
        best, whose neighbouring turns the same read brings."""
        ranked.append(rank(found))
        return _best_of(ranked[0], found, k) if q.neighbours else []

    with tracing.span("recall.rows") as reading:
        read = await ctx.memories.recall_read(candidates, flt, query_vector, pick)
        reading.set_attribute("fleetmem.rows", len(read.rows))
    rel = ranked[0] if ranked else rank(read.rows)
    rows = [*read.rows, *read.more]
    if q.neighbours:
        rel = _with_neighbours(rel, read, legs)
    now = ctx.now()
    scored = _scored(rel, rows, k, now, frozenset(named))
    hits: list[RecallHit] = []
    tokens = 0
    for breakdown, m, disputed in scored:
        if len(hits) >= k:
            break
        cost = estimate_tokens(m.text)
        if q.max_tokens is not None and tokens + cost > q.max_tokens and hits:
            break
        tokens += cost
        hits.append(RecallHit(memory=MemoryView.of(m), score=breakdown.total,
                              why=breakdown.as_dict(),
                              sources=_sources(legs, m.id),
                              disputed=disputed))
    short_term = await _short_term(ctx, caller, session_id or caller.session_id, text)
    if hits:
        ctx_ids = [h.memory.id for h in hits]
        await ctx.reinforcer.add(ctx_ids, now)
        ctx.reinforcer.audit(ctx.audit(caller, "recall", namespace=None, target_ids=ctx_ids))
    return RecallResult(query=text, hits=hits, short_term=short_term,
                        namespaces=list(namespaces), tokens=tokens)


def _sources(legs: dict[str, dict[str, float]], mid: str) -> list[str]:
    """The legs that found a memory (a similarity computed from its stored vector for
    another leg's hit does not count as the dense search finding it)."""
    found = [n for n in ("graph", "hop", "keyword", "neighbour") if mid in legs.get(n, {})]
    return sorted([*found, *(["dense"] if mid in legs.get("dense_hits", {}) else [])])


def _similarities(legs: dict[str, dict[str, float]],
                  found: Sequence[RecallRow]) -> dict[str, float]:
    """Cosine similarity to the question of every candidate of every leg: the dense
    search's own scores, and for the others' hits the dot product of their stored
    vectors with the question's (computed by the store with the rows), so a keyword- or
    graph-only hit is weighed on its merits."""
    dense = dict(legs.get("dense", {}))
    legs["dense_hits"] = dict(dense)
    dense.update((r.id, r.similarity) for r in found
                 if r.similarity is not None and r.id not in dense)
    return dense


NEIGHBOUR_SOURCES = 10
"""How many of the best candidates bring their neighbouring turns."""


def _best_of(rel: dict[str, Relevance], found: Sequence[RecallRow], k: int) -> list[str]:
    """The candidates whose neighbouring turns compete too: the best (by relevance) of
    those with a row, at most `min(k, NEIGHBOUR_SOURCES)`."""
    have = {r.id for r in found}
    return sorted((i for i in rel if i in have), key=lambda i: rel[i].total,
                  reverse=True)[:min(k, NEIGHBOUR_SOURCES)]


def _with_neighbours(rel: dict[str, Relevance], read: RecallRead,
                     legs: dict[str, dict[str, float]]) -> dict[str, Relevance]:
    """The candidates with the conversation turns next to the best of them
    (`ranking.with_neighbours`; the links and the new turns' rows came with the
    candidates' rows, `recall_read`). A turn that was no candidate is weighed by its own
    cosine similarity first (computed by the store with its row). Neighbours that the
    filter excludes have no row and are dropped."""
    with tracing.span("recall.neighbours"):
        own = {r.id: Relevance(r.similarity if r.similarity is not None else 0.0, 0.0, 0.0)
               for r in read.more}
        out = with_neighbours(rel, read.near, own)
        legs["neighbour"] = {i: 0.0 for i, r in out.items() if r.neighbour > 0}
    return out


def _scored(rel: dict[str, Relevance], found: Sequence[RecallRow], k: int,
            now: datetime, named: frozenset[str] = frozenset()
            ) -> list[tuple[ScoreBreakdown, Memory, bool]]:
    """Final scores of the candidates, best first. The graph is the source of truth: a
    candidate whose row did not pass the filter (forgotten or corrected meanwhile,
    outside `as_of`) has no row and is dropped. A turn whose speaker the question names
    (`named`) gets the speaker bonus."""
    with tracing.span("recall.fuse") as fusing:
        fusing.set_attribute("fleetmem.candidates", len(rel))
        rows = {r.id: r for r in found}
        # best relevance first, so that equal final scores keep the relevance order
        ranked = sorted((i for i in rel if i in rows), key=lambda i: rel[i].total,
                        reverse=True)
        scored: list[tuple[ScoreBreakdown, Memory, bool]] = []
        best: list[float] = []  # the k best final scores so far (a min-heap)
        for i in ranked:
            # the rest are less relevant and can gain at most MAX_FINAL_LIFT: none of
            # them reaches the top k (scoring all of them was most of the fusion's time)
            if best and len(best) >= k and rel[i].total + MAX_FINAL_LIFT + _EPSILON < best[0]:
                break
            breakdown = final_score(rel[i], rows[i].memory, now, named=named)
            scored.append((breakdown, rows[i].memory, rows[i].disputed))
            if len(best) < k:
                heapq.heappush(best, breakdown.total)
            elif breakdown.total > best[0]:
                heapq.heapreplace(best, breakdown.total)
        fusing.set_attribute("fleetmem.scored", len(scored))
        scored.sort(key=lambda smd: smd[0].total, reverse=True)
    return scored[:k]


_EPSILON = 1e-9
"""Room for floating-point rounding in the bound of `_scored`."""


async def _embed_one(ctx: ServiceContext, text: str) -> Vector:
    with tracing.span("recall.embed"):
        vector: Vector = (await ctx.embed([text]))[0]
    return vector


async def _dense(ctx: ServiceContext, embedding: Awaitable[Vector], flt: MemoryFilter,
                 depth: int) -> list[tuple[str, list[tuple[str, float]]]]:
    # Checked against the graph (the source of truth) with the rows: see `_scored`.
    if len(flt.namespaces) > 1:  # while the query is embedded: each filter value costs
        flt = replace(flt, namespaces=tuple(await ctx.memories.namespaces_in_use(
            flt.namespaces)))
    vector = await embedding
    if not flt.namespaces:
        return [("dense", [])]
    with tracing.span("recall.dense"):
        return [("dense", await ctx.vectors.search(vector, flt, depth,
                                                   beam=dense_beam(depth)))]


def dense_beam(depth: int) -> int:
    """The HNSW search beam (`hnsw_ef`) of the dense leg on indexed shards: a fifth over
    the hits it asks for, not the index's default (its `ef_construct`, 100).

    A large store has many sealed shards, each searched for the leg's full depth: at 1M
    memories (20 sealed shards of 50k and the active one, int8 vectors rescored) the
    default beam took 12.6-14.1 ms a search, a beam of 48 for 40 hits 8.6-9.2 ms, and
    64 10.2-11.6 ms. Against an exact search of the same shards, the top 10 held 9.97
    of 10 with the default and 9.90 with 48 (top 40: 39.82 and 39.35); a beam of 40
    saved no more time and held 9.83 (100 workload questions, bench/OTHER_RUNS.md)."""
    return depth + depth // 5


async def _keyword(ctx: ServiceContext, text: str, flt: MemoryFilter,
                   depth: int) -> list[tuple[str, list[tuple[str, float]]]]:
    """Keyword search over the texts and their keyword contexts; dates the question
    names ("October 2023", "last May") are searched as the date tokens the contexts
    hold (see `context`)."""
    with tracing.span("recall.keyword"):
        if names_dates(text):
            tokens = await asyncio.to_thread(query_dates, text, ctx.now())
            text = " ".join([text, *tokens])
        return [("keyword", await ctx.memories.keyword_search(text, flt, depth))]


async def _graph(ctx: ServiceContext, text: str, embedding: Awaitable[Vector],
                 flt: MemoryFilter, depth: int, named: set[str]
                 ) -> list[tuple[str, list[tuple[str, float]]]]:
    """Memories about the entities the query names and about their neighbours, ranked by
    their similarity to the query (so the neighbour's *relevant* fact comes first, not its
    newest one).

    When the query names a relation it follows ("where does the *owner* of X sit?" and
    `owned_by`), the best fact about the entity at the relation's other end is a ranking
    of its own ("hop"): a question about the owner is answered by a fact that names only
    the owner, which the other rankings place below every fact about X itself.
    """
    with tracing.span("recall.graph"):
        return [(name, [(i, 0.0) for i in ids])
                for name, ids in await _graph_leg(ctx, text, embedding, flt, depth, named)]


async def _graph_leg(ctx: ServiceContext, text: str, embedding: Awaitable[Vector],
                     flt: MemoryFilter, depth: int, named: set[str]
                     ) -> list[tuple[str, list[str]]]:
    entities = await ctx.entities.entities_in_text(flt.namespaces, text, 8)
    named.update(e.name.lower() for e in entities)
    if not entities:
        return [("graph", [])]
    names = [e.name for e in entities]
    direct = await _selective_mentions(ctx, names, flt, depth)
    relations = await ctx.entities.relations_of(flt.namespaces, names, flt.as_of)
    lowered = {n.lower() for n in names}
    asked, other = _neighbours(relations, lowered, text)
    hop = await ctx.memories.memories_mentioning(asked, flt, depth) if asked else []
    second = await ctx.memories.memories_mentioning(other, flt, depth) if other else []
    candidates = list(dict.fromkeys([*direct, *hop, *second]))
    vectors = await ctx.memories.get_vectors(candidates)
    vector = await embedding
    similarity = {mid: float(np.dot(v, vector)) for mid, v in vectors.items()}
    ranked = sorted(candidates, key=lambda mid: similarity.get(mid, -1.0), reverse=True)
    about_x = set(direct)
    hop_ranked = [mid for mid in ranked if mid in set(hop) and mid not in about_x]
    return [("graph", ranked), ("hop", hop_ranked[:HOP_PICKS])]


async def _selective_mentions(ctx: ServiceContext, names: Sequence[str], flt: MemoryFilter,
                              depth: int) -> list[str]:
    """The memories mentioning each named entity, for the entities whose memories fit the
    leg's depth. An entity mentioned by more memories than that (a conversation's speaker,
    named by every turn they speak) tells nothing about which of them answers: the store
    would hand back its newest `depth`, a sample by recency, and the graph bonus on it cost
    LoCoMo R@10 0.732 -> 0.717 (bench/RESULTS.md). Those memories are left to the dense
    and keyword rankings; the entity's relations are still followed."""
    found = await asyncio.gather(*(ctx.memories.memories_mentioning_few([n], flt, depth)
                                   for n in names))
    return list(dict.fromkeys(i for ids in found if ids is not None for i in ids))


HOP_PICKS = 2
"""Facts the "hop" ranking offers: the two closest to the question. Offering every such
fact, or hopping whatever the question asks, pushed direct answers out of the top 5 on
the quality set (paraphrase recall@5 0.98 -> 0.86)."""


def _neighbours(relations: Sequence[Relation], lowered: set[str],
                text: str) -> tuple[list[str], list[str]]:
    """The named entities' neighbours: across a relation the question asks about, and
    across any other."""
    asked: dict[str, None] = {}
    other: dict[str, None] = {}
    for r in relations:
        target = asked if asks_about(text, r.relation_type) else other
        for n in (r.from_entity, r.to_entity):
            if n.lower() not in lowered:
                target[n] = None
    return list(asked), [n for n in other if n not in asked]


async def _short_term(ctx: ServiceContext, caller: Caller, session_id: str | None,
                      text: str) -> list[BufferItemView]:
    """Unconsolidated items of the caller's session sharing words with the query."""
    if not session_id:
        return []
    with tracing.span("recall.short_term"):
        return await _session_items(ctx, caller, session_id, text)


async def _session_items(ctx: ServiceContext, caller: Caller, session_id: str,
                         text: str) -> list[BufferItemView]:
    items: list[BufferItem] = await ctx.buffers.buffer_read(caller.agent_id, session_id, 50,
                                                            include_consolidated=False)
    words = set(_WORD.findall(text.lower()))
    return [BufferItemView.of(i) for i in reversed(items)
            if words & set(_WORD.findall(i.text.lower()))][:10]


def view_all(memories: Sequence[Memory]) -> list[MemoryView]:
    """Views of several memories."""
    return [MemoryView.of(m) for m in memories]
