"""Peers on the identical workload: ingest, single write, search latency; quality scoring."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import anyio

from bench import workload
from bench.peers.base import BM_VENV, MEM0_VENV, NODE_DIR, Item, Peer
from bench.peers.basic_memory import BasicMemory
from bench.peers.mem0_peer import Mem0
from bench.peers.reference import ReferenceServer
from bench.quality import QualitySet, Scores, score
from bench.report import WORK_DIR, Report, Target, pct, say
from bench.suites import RunContext

KEYS: dict[str, type[Peer]] = {"reference": ReferenceServer, "mem0": Mem0,
                               "basic-memory": BasicMemory}
INGEST_BATCH = 64


def _peers(ctx: RunContext | None, only: Sequence[str]) -> list[Peer]:
    out: list[Peer] = []
    for key, cls in KEYS.items():
        if only and key not in only:
            continue
        if not cls.installed():
            say(f"peer {key} is not installed: run `python -m bench setup` (skipped)")
            continue
        out.append(Mem0(ctx.settings.embedding.threads) if cls is Mem0 and ctx else cls())
    return out


def _workdir(label: str) -> Path:
    path = WORK_DIR / "peers" / label
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


async def _throughput(peer: Peer, size: int, queries: list[str], singles: int
                      ) -> dict[str, object]:
    path = _workdir(f"{peer.name.replace(' ', '-')}-{size}")
    await peer.start(path)
    try:
        texts = workload.memories(size)
        items = [Item(f"n{i:06d}", t) for i, t in enumerate(texts)]
        t0 = time.perf_counter()
        for i in range(0, size, INGEST_BATCH):
            await peer.ingest(items[i:i + INGEST_BATCH])
        rate = size / (time.perf_counter() - t0)
        single = [await peer.remember(Item(f"n{size + j:06d}", t)) for j, t in
                  enumerate(workload.memories(singles, offset=size + 10_000_000))]
        lat: list[float] = []
        found = 0
        for q in queries:
            texts_out, ms = await peer.search(q, 10)
            lat.append(ms)
            found += bool(texts_out)
        return {"rate": rate, "single": single, "search": lat,
                "answered": found / max(1, len(queries))}
    finally:
        await peer.close()


def run_peers(ctx: RunContext, report: Report, *, size: int = 1_000, queries: int = 100,
              only: Sequence[str] = (), singles: int = 20,
              caps: dict[str, int] | None = None) -> dict[str, dict[str, object]]:
    """Each peer on the same corpus and questions as fleetmem; fleetmem's row beside them.

    `caps` limits how many memories a slow peer ingests (the first N of the same corpus,
    the same questions): its search then runs over a smaller store than fleetmem's, which
    favours the peer, and its row says so.
    """
    from bench.suites import run_core

    if ctx.core is None or size not in ctx.core:
        run_core(ctx, report, [size], queries=queries, doors=True)
    assert ctx.core is not None
    fm = ctx.core[size]
    qs = workload.queries(queries)
    results: dict[str, dict[str, object]] = {}
    rows: list[list[object]] = [[
        "fleetmem (in-process)", fm.ingest_rate, pct(fm.remember_ms, 50),
        pct(fm.recall_ms, 50), pct(fm.recall_ms, 95), 1.0, "hybrid: dense + keyword + graph"]]
    fm_p50 = pct(fm.recall_ms, 50)
    for door, m in fm.doors.items():
        rows.append([f"fleetmem ({door})", None, pct(m.get("remember", []), 50),
                     pct(m.get("recall", []), 50), pct(m.get("recall", []), 95),
                     pct(m.get("recall", []), 50) / fm_p50, ""])
    for peer in _peers(ctx, only):
        key = next(k for k, c in KEYS.items() if isinstance(peer, c))
        n = min(size, (caps or {}).get(key, size))
        say(f"peer {peer.name}: {n} memories ...")
        try:
            r = anyio.run(_throughput, peer, n, qs, singles)
        except Exception as exc:  # a broken peer is reported, not fatal to the run
            say(f"peer {peer.name} failed: {exc}")
            rows.append([peer.name, None, None, None, None, None, f"failed: {exc}"[:200]])
            continue
        results[peer.name] = r
        s = r["search"]
        assert isinstance(s, list)
        rows.append([peer.name, r["rate"], pct(r["single"], 50), pct(s, 50),  # type: ignore
                     pct(s, 95), pct(s, 50) / fm_p50,
                     f"{peer.note}; answered {r['answered']:.0%} of questions"
                     + ("" if n == size else
                        f"; ingested only the first {n:,} of the {size:,} memories "
                        "(capped for time: its write path is slow), so it searched a "
                        "smaller store than fleetmem did")])
        if n != size:
            ctx.peer_capped[peer.name] = n
    ctx.peer_latency = {n: pct(r["search"], 50) for n, r in results.items()}  # type: ignore
    ctx.peer_size = size
    report.table(f"Peers on the identical workload ({size:,} memories, {len(qs)} questions)", [
        "system", "ingest mem/s", "single write p50 ms", "search p50 ms", "p95",
        "search p50 / fleetmem in-process p50", "note"], rows, notes=[
        f"Same texts and questions as the fleetmem row; peers ingest in batches of "
        f"{INGEST_BATCH} through their own interface (reference: create_entities/"
        "add_observations; mem0: add(list of messages, infer=False); basic-memory: one "
        "write_note per memory, its interface has no batch).",
        "MCP peers are timed at the client (stdio round trip included), like fleetmem's "
        "mcp-stdio row; mem0 is a library and is timed inside its process like fleetmem's "
        "in-process row. Same torch thread count for every model."])
    return results


async def _quality(peer: Peer, qs: QualitySet) -> tuple[Scores, list[float]]:
    path = _workdir(f"quality-{peer.name.replace(' ', '-')}")
    await peer.start(path)
    try:
        items = {f.key: Item(f.key, f.text, f.entities[0] if f.entities else None,
                             qs.entities.get(f.entities[0], "topic") if f.entities else "topic")
                 for f in qs.facts}
        facts = list(items.values())
        for i in range(0, len(facts), INGEST_BATCH):
            await peer.ingest(facts[i:i + INGEST_BATCH])
        await peer.relate([(r.source, r.relation, r.target) for r in qs.relations])
        for u in qs.updates:
            assert u.replaces is not None
            old = items[u.replaces]
            await peer.update(old, Item(u.key, u.text, old.entity, old.entity_type))
        key_of = {t: k for k, t in qs.text_of().items()}
        ranked: list[list[str]] = []
        lat: list[float] = []
        for q in qs.questions:
            texts, ms = await peer.search(q.text, 10)
            lat.append(ms)
            ranked.append([key_of.get(t, "?") for t in texts])
        return score(qs, ranked), lat
    finally:
        await peer.close()


def quality_of_peers(qs: QualitySet, only: Sequence[str] = ()
                     ) -> dict[str, tuple[Scores, list[float], str]]:
    """Each installed peer scored on the quality set."""
    out: dict[str, tuple[Scores, list[float], str]] = {}
    for peer in _peers(None, only):
        say(f"quality: {peer.name} ...")
        try:
            s, lat = anyio.run(_quality, peer, qs)
        except Exception as exc:  # reported in the table, not fatal
            say(f"peer {peer.name} failed on the quality set: {exc}")
            continue
        out[peer.name] = (s, lat, peer.note)
    return out


def peer_targets(ctx: RunContext, report: Report, quality: dict[str, Scores]) -> None:
    """vs mem0 / basic-memory: recall p50 >= 4x faster with recall@5 at least as high."""
    lat, size = ctx.peer_latency, ctx.peer_size
    if ctx.core is None or size not in ctx.core:
        return
    ours = pct(ctx.core[size].recall_ms, 50)
    mine = quality.get("fleetmem hybrid + graph (default)")
    for name in ("mem0", "basic-memory"):
        if name not in lat:
            report.target(Target(f"recall p50 at {size:,} >= 4x faster than {name}",
                                 float("nan"), 4.0, True, f"{name} not measured in this run"))
            continue
        speed = lat[name] / ours
        theirs = quality.get(name)
        detail = f"{lat[name]:.2f} ms vs fleetmem {ours:.2f} ms in-process"
        if name in ctx.peer_capped:
            detail += (f"; {name} held only {ctx.peer_capped[name]:,} memories "
                       "(capped for time), which favours it")
        report.target(Target(f"recall p50 at {size:,} >= 4x faster than {name}", speed, 4.0,
                             True, detail))
        if mine and theirs:
            report.target(Target(f"recall@5 at least as high as {name} (fleetmem / {name})",
                                 mine.recall5 / max(theirs.recall5, 1e-9), 1.0, True,
                                 f"{mine.recall5:.3f} vs {theirs.recall5:.3f} on the quality "
                                 "set"))


def peer_versions() -> dict[str, str]:
    """Versions of the peers as installed under bench/.work."""
    out: dict[str, str] = {}
    pkg = NODE_DIR / "node_modules" / "@modelcontextprotocol" / "server-memory" / "package.json"
    if pkg.exists():
        import json

        out["@modelcontextprotocol/server-memory"] = json.loads(pkg.read_text())["version"]
    for name, venv in (("mem0ai", MEM0_VENV), ("basic-memory", BM_VENV)):
        found = list(venv.glob(f"lib/python3*/site-packages/{name.replace('-', '_')}-*.dist-info"))
        out[name] = found[0].name.removesuffix(".dist-info").split("-", 1)[1] if found \
            else "not installed"
    return out
