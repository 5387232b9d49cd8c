"""`python -m bench locomo`: recall on LoCoMo's development half, in-process or through
REST, beside bench/quality.py's figures of the same run (a gain on one set that costs the
other is visible)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx

from bench.locomo import CATEGORIES, Conversation, by_category, data_dir, dialog_ranking, load
from bench.report import WORK_DIR, Report, Target, pct, say
from bench.suites import RunContext
from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.settings import Settings

AGENT = "locomo-bench"
KEY = "locomo-bench-key"
CALLER = Caller(AGENT)
BATCH = 128


def agents_file(convs: Sequence[Conversation], folder: Path) -> Path:
    """An agents file making the bench's agent a member of one team per conversation
    (each conversation is its own namespace `team:locomo-<id>`), with an API key."""
    import hashlib

    path = folder.parent / f"{folder.name}-agents.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)  # a fresh checkout has no bench/.work
    teams = "".join(f"  {c.namespace.removeprefix('team:')}: [{AGENT}]\n" for c in convs)
    path.write_text(f"teams:\n{teams}agents:\n  {AGENT}: {{key_sha256: "
                    f"\"{hashlib.sha256(KEY.encode()).hexdigest()}\"}}\n")
    return path


@dataclass
class Run:
    """What one door's run produced: per conversation the ranked dialog ids of each
    question, and the search latencies."""

    ranked: dict[str, list[list[str]]] = field(default_factory=dict)
    search_ms: list[float] = field(default_factory=list)
    ingest_s: float = 0.0


class Door(Protocol):
    """Writes a batch of turns and answers a recall (memory ids, best first)."""

    async def write(self, namespace: str, items: list[tuple[str, str]]) -> list[str]: ...

    async def search(self, namespace: str, query: str, k: int) -> list[str]: ...


class InProcess:
    """The service API in this process."""

    def __init__(self, service: object) -> None:
        from fleetmem.memory.services.service import MemoryService

        assert isinstance(service, MemoryService)
        self.service = service

    async def write(self, namespace: str, items: list[tuple[str, str]]) -> list[str]:
        from datetime import datetime

        res = await self.service.remember_batch(CALLER, [
            MemoryInput(text=t, namespace=namespace, valid_from=datetime.fromisoformat(w))
            for t, w in items])
        return [r.id for r in res]

    async def search(self, namespace: str, query: str, k: int) -> list[str]:
        res = await self.service.recall(CALLER, RecallQuery(query=query, k=k,
                                                            namespaces=[namespace]))
        return [h.memory.id for h in res.hits]


class Rest:
    """`/v1` on a `fleetmem serve` process (real uvicorn)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def write(self, namespace: str, items: list[tuple[str, str]]) -> list[str]:
        r = await self.client.post("/v1/memories/batch", json={"memories": [
            {"text": t, "namespace": namespace, "valid_from": w} for t, w in items]})
        r.raise_for_status()
        return [x["id"] for x in r.json()["results"]]

    async def search(self, namespace: str, query: str, k: int) -> list[str]:
        r = await self.client.post("/v1/memories/recall", json={
            "query": query, "k": k, "namespaces": [namespace]})
        r.raise_for_status()
        return [h["memory"]["id"] for h in r.json()["hits"]]


async def run_door(door: Door, convs: Sequence[Conversation]) -> Run:
    """Ingest every conversation, then ask every question of each against its own."""
    out = Run()
    dia_of: dict[str, list[str]] = {}
    t0 = time.perf_counter()
    for conv in convs:
        for i in range(0, len(conv.turns), BATCH):
            chunk = conv.turns[i:i + BATCH]
            ids = await door.write(conv.namespace,
                                   [(t.text, t.when.isoformat()) for t in chunk])
            for mid, t in zip(ids, chunk, strict=True):
                dia_of.setdefault(mid, []).append(t.dia_id)
    out.ingest_s = time.perf_counter() - t0
    for conv in convs:
        ranked: list[list[str]] = []
        for q in conv.questions:
            t1 = time.perf_counter()
            ids = await door.search(conv.namespace, q.text, 10)
            out.search_ms.append((time.perf_counter() - t1) * 1000)
            ranked.append(dialog_ranking(ids, dia_of))
        out.ranked[conv.sample_id] = ranked
    return out


async def run_in_process(ctx: RunContext, convs: Sequence[Conversation], folder: Path) -> Run:
    """The service API, on a fresh store."""
    service = build_service(Settings(data_dir=folder, agents_file=agents_file(convs, folder)),
                            embedder=ctx.embedder)
    await service.start()
    try:
        return await run_door(InProcess(service), convs)
    finally:
        await service.close()


def run_rest(convs: Sequence[Conversation], folder: Path) -> Run:
    """Through REST on `fleetmem serve` of this checkout (`doors.tree_command`, not the
    venv's `fleetmem` script, which may be another tree's) over a fresh store."""
    from bench.doors import _env, _free_port, _wait_ready, stop_process, tree_command, tree_env

    port = _free_port()
    folder.mkdir(parents=True, exist_ok=True)
    env = tree_env({**_env(folder, port),
                    "FLEETMEM_AGENTS_FILE": str(agents_file(convs, folder))})
    log = (folder.parent / f"serve-{folder.name}.log").open("w")
    server = subprocess.Popen([*tree_command(), "serve", "--data-dir", str(folder)], env=env,
                              stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, server)

        async def go() -> Run:
            async with httpx.AsyncClient(base_url=base, timeout=300, headers={
                    "Authorization": f"Bearer {KEY}"}) as client:
                await client.post("/v1/memories/recall", json={"query": "warm up", "k": 1})
                return await run_door(Rest(client), convs)
        return asyncio.run(go())
    finally:
        stop_process(server)
        log.close()


def encode_p50(ctx: RunContext, convs: Sequence[Conversation]) -> float:
    """One query encode per question of the set (the same texts recall encodes), p50 ms."""
    qs = [q.text for c in convs for q in c.questions]
    ctx.embedder.embed(qs[:3])
    lat = []
    for q in qs:
        t0 = time.perf_counter()
        ctx.embedder.embed([q])
        lat.append((time.perf_counter() - t0) * 1000)
    return pct(lat, 50)


def quality_default(ctx: RunContext, scale: int = 3) -> tuple[float, float, float]:
    """bench/quality.py's set, default recall: recall@5, recall@10, nDCG@10."""
    from bench.quality import generate
    from bench.quality import score as quality_score
    from bench.quality_suite import MODES, load_fleetmem, rank_fleetmem

    qs = generate(scale)
    folder = WORK_DIR / "data" / "locomo-quality"
    shutil.rmtree(folder, ignore_errors=True)
    key_of = asyncio.run(load_fleetmem(qs, ctx.embedder, folder))
    ranked, _ = asyncio.run(rank_fleetmem(qs, ctx.embedder, folder, key_of,
                                          MODES["fleetmem hybrid + graph (default)"]))
    s = quality_score(qs, ranked)
    return s.recall5, s.recall10, s.ndcg10


def run_locomo(ctx: RunContext, report: Report, *, door: str = "in-process",
               quality: bool = True, label: str = "") -> bool:
    """Score default recall on LoCoMo (and the quality set beside it); False when the
    data is absent (the suite is skipped with a message)."""
    path = data_dir()
    if not (path / "locomo-dev.json").exists():
        say(f"LoCoMo data not found in {path} (set FLEETMEM_LOCOMO_DIR): suite skipped")
        return False
    convs = load(path / "locomo-dev.json")
    questions = [q for c in convs for q in c.questions]
    folder = WORK_DIR / "data" / f"locomo-{door}"
    shutil.rmtree(folder, ignore_errors=True)
    run = asyncio.run(run_in_process(ctx, convs, folder)) if door == "in-process" \
        else run_rest(convs, folder)
    ranked = [r for c in convs for r in run.ranked[c.sample_id]]
    scores = by_category(questions, ranked)
    enc = encode_p50(ctx, convs)
    p50, p95 = pct(run.search_ms, 50), pct(run.search_ms, 95)
    q5, q10, qn = quality_default(ctx) if quality else (float("nan"),) * 3
    name = label or "fleetmem default recall"
    report.table(f"LoCoMo development half, default recall ({door})", [
        "run", "R@5", "R@10", "nDCG@10",
        *(f"{n} R@5 / R@10 ({scores[n].n})" for n in CATEGORIES.values()),
        "search p50 ms", "p95", "query encode p50 ms", "p50 / encode",
        "quality.py recall@5", "quality.py nDCG@10"], [[
            name, *(f"{x:.3f}" for x in (scores["overall"].r5, scores["overall"].r10,
                                          scores["overall"].ndcg10)),
            *(f"{scores[n].r5:.3f} / {scores[n].r10:.3f}" for n in CATEGORIES.values()),
            p50, p95, enc, p50 / enc, f"{q5:.3f}", f"{qn:.3f}"]], notes=[
        f"{len(convs)} conversations, {sum(len(c.turns) for c in convs)} turns, "
        f"{len(questions)} queries (categories 1-4 with evidence), k = 10, one namespace "
        f"per conversation; ingest {run.ingest_s:.1f} s.",
        "quality.py: the seeded set (scale 3), default recall, measured in the same run "
        f"(recall@10 {q10:.3f}).",
        "Protocol: ../shared/data/locomo/README.md; command: python -m bench locomo"
        + ("" if door == "in-process" else f" --door {door}")])
    for t in (Target("LoCoMo R@10 >= 0.75", scores["overall"].r10, 0.75, True, door),
              Target("LoCoMo R@5 >= 0.65", scores["overall"].r5, 0.65, True, door),
              Target("LoCoMo multi-hop R@10 >= 0.50", scores["multi-hop"].r10, 0.5, True, door),
              Target("LoCoMo temporal R@10 >= 0.80", scores["temporal"].r10, 0.8, True, door),
              Target("LoCoMo search p50 <= 2x query encode", p50 / enc, 2.0, False,
                     f"{p50:.2f} vs {enc:.2f} ms"),
              Target("quality.py recall@5 >= 0.94", q5, 0.94, True, ""),
              Target("quality.py nDCG@10 >= 0.82", qn, 0.82, True, "")):
        report.target(t)
    return True
