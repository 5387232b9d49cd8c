"""Scores fleetmem's recall modes (and the peers) on the seeded quality set."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from bench.quality import QualitySet, Scores, generate, score
from bench.report import WORK_DIR, Report, pct
from bench.suites import RunContext
from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.ports import Embedder
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.settings import Settings

MODES: dict[str, frozenset[str]] = {
    "fleetmem dense only": frozenset({"dense"}),
    "fleetmem keyword only": frozenset({"keyword"}),
    "fleetmem hybrid (dense + keyword)": frozenset({"dense", "keyword"}),
    "fleetmem hybrid + graph (default)": frozenset({"dense", "keyword", "graph"}),
}
CALLER = Caller("local")
Ranked = list[list[str]]


async def load_fleetmem(qs: QualitySet, embedder: Embedder, data_dir: Path) -> dict[str, str]:
    """Write the set through the service (entities, relations, facts, then corrections);
    return memory id -> key."""
    service = build_service(Settings(data_dir=data_dir), embedder=embedder)
    await service.start()
    try:
        await service.create_entities(CALLER, [EntitySpec(n, t) for n, t in qs.entities.items()])
        await service.create_relations(CALLER, [RelationSpec(r.source, r.target, r.relation)
                                                for r in qs.relations])
        key_of: dict[str, str] = {}
        for i in range(0, len(qs.facts), 128):
            chunk = qs.facts[i:i + 128]
            res = await service.remember_batch(CALLER, [
                MemoryInput(text=f.text, kind=f.kind, entities=list(f.entities)) for f in chunk])
            for f, r in zip(chunk, res, strict=True):
                key_of.setdefault(r.id, f.key)
        id_of = {k: i for i, k in key_of.items()}
        for u in qs.updates:
            assert u.replaces is not None
            view = await service.correct(CALLER, id_of[u.replaces], u.text)
            key_of[view.id] = u.key
    finally:
        await service.close()
    return key_of


async def rank_fleetmem(qs: QualitySet, embedder: Embedder, data_dir: Path,
                        key_of: dict[str, str], modes: frozenset[str]
                        ) -> tuple[Ranked, list[float]]:
    """Top-10 keys per question for one recall mode, and the latency of each recall."""
    service = build_service(Settings(data_dir=data_dir), embedder=embedder)
    await service.start()
    ranked: Ranked = []
    lat: list[float] = []
    try:
        for q in qs.questions:
            t0 = time.perf_counter()
            res = await service.recall(CALLER, RecallQuery(query=q.text, k=10, modes=modes))
            lat.append((time.perf_counter() - t0) * 1000)
            ranked.append([key_of.get(h.memory.id, "?") for h in res.hits])
    finally:
        await service.close()
    return ranked, lat


def run_fleetmem_modes(ctx: RunContext, qs: QualitySet) -> dict[str, tuple[Scores, list[float]]]:
    """Every recall mode on its own copy of the same loaded store (recall reinforces)."""
    base = WORK_DIR / "data" / "quality-base"
    shutil.rmtree(base, ignore_errors=True)
    key_of = asyncio.run(load_fleetmem(qs, ctx.embedder, base))
    out: dict[str, tuple[Scores, list[float]]] = {}
    for label, modes in MODES.items():
        copy = WORK_DIR / "data" / f"quality-{'-'.join(sorted(modes))}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(base, copy)
        ranked, lat = asyncio.run(rank_fleetmem(qs, ctx.embedder, copy, key_of, modes))
        out[label] = (score(qs, ranked), lat)
    return out


def run_quality(ctx: RunContext, report: Report, *, scale: int = 3, peers: bool = False,
                only: Sequence[str] = ()) -> dict[str, Scores]:
    """Score fleetmem's modes and (optionally) the peers; add the table."""
    qs = generate(scale)
    results = run_fleetmem_modes(ctx, qs)
    notes: dict[str, str] = {}
    if peers:
        from bench.peers.suite import quality_of_peers

        for name, (s, lat, note) in quality_of_peers(qs, only).items():
            results[name] = (s, lat)
            notes[name] = note
    cats = sorted({q.category for q in qs.questions})
    rows = [[name, s.recall5, s.recall10, s.ndcg10, *(s.by_category.get(c, 0.0) for c in cats),
             s.stale_in_top5, pct(lat, 50), notes.get(name, "")]
            for name, (s, lat) in results.items()]
    counts = {c: sum(q.category == c for q in qs.questions) for c in cats}
    report.table(f"Retrieval quality (seeded set, scale {scale})", [
        "system / mode", "recall@5", "recall@10", "nDCG@10",
        *(f"recall@5 {c} ({counts[c]})" for c in cats), "stale answer in top 5",
        "query p50 ms", "note"], rows, notes=[
        f"{len(qs.facts)} memories ({sum(not f.key.startswith('n') for f in qs.facts)} facts "
        f"about {len(qs.entities)} people, services and teams; the rest ops-log noise), "
        f"{len(qs.updates)} updates that supersede an earlier fact, {len(qs.relations)} "
        f"relations, {len(qs.questions)} questions with gold answers (bench/quality.py, "
        "seeded: same set everywhere).",
        "paraphrase: the question shares few words with the answer; update: only the newer "
        "fact is gold and the superseded one counts as stale; multi-hop: needs the service's "
        "owner (a relation) and a fact about that owner (both are gold).",
        "fleetmem applies updates with service.correct (supersede); each peer through its "
        "own interface (mem0 update, reference server delete+add observation, basic-memory "
        "note overwrite)."])
    return {name: s for name, (s, _) in results.items()}
