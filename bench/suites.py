"""The benchmark suites: each measures, adds its tables and targets to the report."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench import workload
from bench.ceiling import Ceiling, measure_side_by_side
from bench.core import CoreFigures, cold_start, data_dir_for, ingest
from bench.report import Report, Target, fmt, pct
from fleetmem.memory.bootstrap import build_embedder
from fleetmem.memory.ports import Embedder
from fleetmem.memory.settings import Settings


@dataclass
class RunContext:
    """Shared across suites of one run: the embedder and the ceiling measured once."""

    embedder: Embedder
    settings: Settings
    ceiling: Ceiling | None = None
    torch_ceiling: Ceiling | None = None
    core: dict[int, CoreFigures] | None = None
    peer_latency: dict[str, float] = field(default_factory=dict)
    peer_size: int = 0
    peer_capped: dict[str, int] = field(default_factory=dict)


def make_context() -> RunContext:
    """The service's own embedder, built from default settings (threads, batch size)."""
    settings = Settings()
    return RunContext(embedder=build_embedder(settings), settings=settings)


def torch_embedder(settings: Settings) -> Embedder | None:
    """sentence-transformers on PyTorch with the same settings, when the `torch` extra is
    installed (its figures stay beside ONNX Runtime's for one release), else None."""
    import importlib.util

    if importlib.util.find_spec("torch") is None or \
            importlib.util.find_spec("sentence_transformers") is None:
        return None
    e = settings.embedding
    return build_embedder(settings.model_copy(update={
        "embedding": e.model_copy(update={"runtime": "torch"})}))


def run_ceiling(ctx: RunContext, report: Report, *, sentences: int = 2048, chunk: int = 128,
                queries: int = 100) -> Ceiling:
    """Raw encode throughput and single-query latency of the service's embedder (ONNX
    Runtime: the ceiling), and of sentence-transformers/torch beside it when installed."""
    emb = ctx.settings.embedding
    texts, qs = workload.memories(sentences, seed=99), workload.queries(queries, seed=5)
    other = torch_embedder(ctx.settings)
    both = measure_side_by_side([ctx.embedder, *([other] if other else [])], texts, qs,
                                chunk=chunk, model_batch=emb.batch_size, threads=emb.threads)
    c, t = both[0], (both[1] if other else None)
    ctx.ceiling = c
    ctx.torch_ceiling = t

    def torch_cell(value: float, unit: str) -> str:
        return f"{value:.2f} {unit}" if t else "- (torch not installed)"

    report.table("Ceiling: the embedding model alone", [
        "what", "ONNX Runtime (default)", "torch (for one release)", "ONNX / torch", "how"], [
        ["encode throughput", f"{c.encode_rate:.1f} sentences/s",
         torch_cell(t.encode_rate if t else 0, "sentences/s"),
         fmt(c.encode_rate / t.encode_rate) if t else "-",
         f"{c.sentences} memory texts, {c.chunk} per call, model batch {c.model_batch}, "
         f"{c.threads} thread(s)"],
        ["single-query encode p50", f"{c.query_p50_ms:.2f} ms",
         torch_cell(t.query_p50_ms if t else 0, "ms"),
         fmt(c.query_p50_ms / t.query_p50_ms) if t else "-",
         f"{queries} questions, one per call"],
        ["single-query encode p95 / p99", f"{c.query_p95_ms:.2f} / {c.query_p99_ms:.2f} ms",
         f"{t.query_p95_ms:.2f} / {t.query_p99_ms:.2f} ms" if t else "-", "-", ""],
    ], notes=["ONNX Runtime: the embedder the service uses by default "
              "(memory/fleetmem/memory/stores/embedding/onnx_embedder.py); every 'x encode' "
              "ratio in this file is against it. torch: sentence-transformers "
              "(sentence_transformer.py, FLEETMEM_EMBEDDING__RUNTIME=torch), measured in the "
              "same run on the same texts, the two interleaved call by call. Threads and batch "
              "size from settings."])
    return c


def run_core(ctx: RunContext, report: Report, sizes: Sequence[int], *, batch: int = 128,
             queries: int = 200, singles: int = 50, doors: bool = True) -> dict[int, CoreFigures]:
    """fleetmem at each size, beside the ceiling measured in this run."""
    c = ctx.ceiling or run_ceiling(ctx, report)
    qs = workload.queries(queries)
    figs: dict[int, CoreFigures] = {}
    door_rows: list[list[object]] = []
    for size in sizes:
        fig = asyncio.run(ingest(size, ctx.embedder, batch=batch, singles=singles, queries=qs,
                                 data_dir=data_dir_for(size)))
        fig.cold_start_s, fig.cold_start_ok = cold_start(fig.data_dir, qs[0])
        if doors:
            from bench.doors import measure_doors

            fig.doors = measure_doors(fig.data_dir, qs[: min(queries, 100)], singles)
            for door, m in fig.doors.items():
                door_rows.append([size, door, pct(m.get("remember", []), 50),
                                  pct(m.get("remember", []), 50) - c.query_p50_ms,
                                  pct(m.get("remember", []), 95), pct(m.get("recall", []), 50),
                                  pct(m.get("recall", []), 95), pct(m.get("recall", []), 99),
                                  pct(m.get("recall", []), 50) / c.query_p50_ms])
        figs[size] = fig
    ctx.core = figs
    rows = [[f.size, f.ingest_rate, f.ingest_rate / c.encode_rate, f.deduplicated,
             pct(f.remember_ms, 50), pct(f.remember_ms, 95), pct(f.recall_ms, 50),
             pct(f.recall_ms, 95), pct(f.recall_ms, 99), pct(f.recall_ms, 50) / c.query_p50_ms,
             f.numpy_p50_ms, f.rss_total_mib, f.rss_per_10k_mib, f.disk_total_mib,
             f.disk_per_10k_mib,
             f"{f.cold_start_s:.1f}" + ("" if f.cold_start_ok else " (failed)"),
             f"{f.index_build_s:.1f} ({f.indexed})"]
            for f in figs.values()]
    report.table("fleetmem in-process on embedded defaults (SQLite + Qdrant Edge + MiniLM)", [
        "memories", "ingest mem/s", "x encode", "dedup'd", "remember p50 ms", "p95",
        "recall p50 ms", "p95", "p99", "p50 x encode", "numpy top-10 p50 ms", "RSS MiB",
        "RSS MiB/10k", "disk MiB", "disk MiB/10k", "cold start s",
        "index build s (points)"], rows, notes=[
        f"Ingest: service.remember_batch in batches of {batch} (full write path: validate, "
        "redact, dedup, entity linking, SQLite commit, Qdrant Edge upsert, audit).",
        f"remember: {singles} single service.remember calls after the ingest; recall: "
        f"{len(qs)} questions, k=10, default hybrid modes (dense + keyword + graph), "
        "reinforcement on.",
        f"'x encode' is against the ceiling of this run: {c.encode_rate:.1f} sentences/s and "
        f"{c.query_p50_ms:.2f} ms per query.",
        "numpy top-10: exact dot product over the same stored vectors (no filter, no fusion).",
        "RSS: this benchmark process (model included) after the queries; RSS/10k: its "
        "growth during ingest + queries, scaled to 10k. disk: the data folder after close "
        "(allocated blocks); disk/10k: minus an empty store, scaled to 10k. Both per-10k "
        "figures are noise below 10k memories.",
        "cold start: a new `fleetmem recall` process (imports, model load, store open, "
        "repair pass, first answer).",
        "index build: after the ingest, the HNSW build the service runs at its next start "
        "and in the nightly reconcile job once FLEETMEM_VECTOR__INDEX_MIN_UNINDEXED points "
        "are unindexed (Qdrant Edge's optimize holds the GIL, so it pauses the process); "
        "recall is measured after it. Below the threshold searches stay exact."])
    if door_rows:
        report.table("fleetmem through its doors (same data, served by `fleetmem serve`)", [
            "memories", "door", "remember p50 ms", "minus encode p50 ms", "p95",
            "recall p50 ms", "p95", "p99", "recall p50 x encode"], door_rows, notes=[
            f"encode p50: one question's encode in this run ({c.query_p50_ms:.2f} ms), the "
            "reference of the MCP stdio target (remember p50 <= encode p50 + 5 ms); a "
            "remember encodes a memory text, about twice a question's tokens. "
            "`python -m bench mcp_breakdown` splits one remember into its parts."])
    _core_targets(report, figs, c)
    return figs


def _core_targets(report: Report, figs: dict[int, CoreFigures], c: Ceiling) -> None:
    if not figs:
        return
    top = figs[max(figs)]
    report.target(Target("batch ingest >= 0.8x raw encode throughput",
                         top.ingest_rate / c.encode_rate, 0.8, True,
                         f"{top.ingest_rate:.1f} vs {c.encode_rate:.1f} sentences/s at "
                         f"{top.size:,} memories"))
    big = figs.get(100_000, top)
    note = "" if big.size == 100_000 else f" (measured at {big.size:,}: 100k not run)"
    p50, p99 = pct(big.recall_ms, 50), pct(big.recall_ms, 99)
    # Against ONNX Runtime's encode since issue 17 (2.5x faster than torch's for one query):
    # the torch-era limits (1.5x, 3x) would have asked recall's own work to shrink from
    # half an encode to a fifth; 2.5x / 5x keep recall within the absolute time the old
    # targets allowed (2.5 x ~6 ms <= 1.5 x ~16 ms).
    report.target(Target("recall p50 at 100k <= 2.5x single-query encode",
                         p50 / c.query_p50_ms, 2.5, False,
                         f"{p50:.2f} ms vs {c.query_p50_ms:.2f} ms{note}"))
    report.target(Target("recall p99 at 100k <= 5x single-query encode",
                         p99 / c.query_p50_ms, 5.0, False,
                         f"{p99:.2f} ms vs {c.query_p50_ms:.2f} ms{note}"))
    mcp = top.doors.get("mcp-stdio", {}).get("remember", [])
    mp50 = pct(mcp, 50)
    report.target(Target("remember over MCP stdio p50 <= encode p50 + 5 ms",
                         mp50 / (c.query_p50_ms + 5), 1.0, False,
                         f"{mp50:.2f} ms vs {c.query_p50_ms:.2f} + 5 ms (difference "
                         f"{mp50 - c.query_p50_ms:.2f} ms)" if mcp else
                         "MCP stdio door not available in this run"))
    if len(figs) >= 2:
        sizes = sorted(figs)
        a, b = (10_000, 100_000) if {10_000, 100_000} <= set(figs) else (sizes[-2], sizes[-1])
        pa, pb = pct(figs[a].recall_ms, 50), pct(figs[b].recall_ms, 50)
        slope = math.log(pb / pa) / math.log(b / a)
        ea, eb = pa - c.query_p50_ms, pb - c.query_p50_ms
        beyond = (math.log(eb / ea) / math.log(b / a)) if ea > 0 and eb > 0 else float("nan")
        report.target(Target(f"recall cost grows sub-linearly {a:,} -> {b:,} (log-log slope)",
                             slope, 1.0, False,
                             f"p50 {pa:.2f} -> {pb:.2f} ms; slope of the part beyond "
                             f"encoding: {beyond:.2f}"))
