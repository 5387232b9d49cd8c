"""The embedded path at scale (issue 22, Deliver 1).

    python -m bench scale [--size 1000000] [--chunk 256] [--queries 100] [--encoded 0]

1. Ceiling: the model's encode rate (512 workload texts, 128 a call) and one query's
   encode p50/p99, measured in this run.
2. Bulk ingest: a fresh embedded store (Qdrant Edge + SQLite) fills with `--size`
   memories through the import path with precomputed vectors (`import_lines`, the call
   `fleetmem import` makes per batch; the lines are made in this process, outside the
   timed calls: see `scale_parts` for how the vectors are made). Per window (a tenth of
   the size, 100k at 1M): memories/s of the import calls and of the wall clock.
3. At each window's end: recall p50/p99 (hybrid recall of `--queries` workload questions,
   encoded by the model, one at a time), findability (50 real memories asked by their own
   text: found first among the dense hits), RSS and disk, per 10k memories.
4. Pauses during ingest: a 50 ms watchdog thread and an event-loop probe; stalls > 1 s.
5. Restart: the store is closed and started again: time to ready (start + first recall)
   and the longest stall meanwhile.
6. With `--encoded N`: the filled store (after the restart) takes N more workload texts
   through `remember_batch` (128 a call, the model encodes, near-duplicate search over the
   whole store): rate per window against the model's encode rate measured right before
   and right after this step (their mean), so a change in machine load during a long run
   does not skew the ratio.
7. With `--reuse` (and `--encoded N`): no import and no restart; the store an earlier run
   of this `--size` left takes N more workload texts through the model, following the
   ones earlier runs wrote (`bench-encoded.txt` in the store counts them), so a change to
   the write path is measured on the same store in ~30 min instead of ~80. `--writers K`
   sends the step's batches from K callers at once (each waits for its answer): the
   service's write capacity rather than one agent's.

Recall is compared with one query's encode measured at the same checkpoint (each question
is encoded alone right before it is asked), for the same reason.

Figures are printed and written to bench/.work/scale-<size>.md; nothing is asserted.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import workload
from bench.ceiling import Ceiling, measure
from bench.report import WORK_DIR, pct, say
from bench.scale_parts import Pauses, disk_mib, import_lines, rss_mib, synthetic
from fleetmem.memory.bootstrap import build_embedder, build_service
from fleetmem.memory.ports import Embedder
from fleetmem.memory.services import Caller, MemoryInput, MemoryService, RecallQuery
from fleetmem.memory.settings import Settings

AGENT = Caller("local")
FIND = 50


@dataclass
class Checkpoint:
    """Figures at the end of one window."""

    memories: int
    rate: float
    wall_rate: float
    recall_p50: float
    recall_p99: float
    found: int
    asked: int
    encode_p50: float
    """One query's encode p50 (ms) at this checkpoint: the reference of the recall ratios."""
    rss_mib: float
    disk_mib: float
    pauses: str = ""


@dataclass
class ScaleRun:
    """Everything one run measured."""

    size: int
    ceiling: Ceiling
    checkpoints: list[Checkpoint] = field(default_factory=list)
    ingest_pauses: Pauses = field(default_factory=Pauses)
    restart_s: float = float("nan")
    restart_pauses: Pauses = field(default_factory=Pauses)
    restart_count: int = 0
    encoded: list[tuple[int, float]] = field(default_factory=list)
    encoded_ceiling: float = float("nan")
    """The model's encode rate around step 6 (mean of before and after)."""
    encoded_offset: int = 0
    """With `--reuse`: the texts earlier runs wrote through the model into the store."""


ENCODED_MARKER = "bench-encoded.txt"
"""In a store's folder: how many texts step 6 of earlier runs wrote into it (`--reuse`)."""


def fresh(name: str) -> Path:
    path = WORK_DIR / "data" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


SEAL = {"seal_points": 50_000}
"""The vector settings of the run (`--seal`: the embedded shard's seal size, 0 = one
shard indexed in-process, the behaviour before issue 22)."""


async def started(data_dir: Path, embedder: Embedder) -> MemoryService:
    settings = Settings(data_dir=data_dir, agents_file=None, vector=SEAL)  # type: ignore[arg-type]
    service = build_service(settings, embedder=embedder)
    await service.start()
    return service


async def recall_figures(service: MemoryService, embedder: Embedder, queries: list[str],
                         base_texts: list[str], find: int = FIND
                         ) -> tuple[float, float, int, int, float]:
    """Recall p50/p99 (ms) of the questions; how many of `find` real memories asked by
    their text come first among the dense hits; one query's encode p50 (ms), each question
    encoded alone right before it is asked."""
    lat, enc = [], []
    for q in queries:
        t0 = time.perf_counter()
        embedder.embed([q])
        enc.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        await service.recall(AGENT, RecallQuery(query=q))
        lat.append((time.perf_counter() - t0) * 1000)
    step = max(1, len(base_texts) // find)
    asked = base_texts[::step][:find]
    found = 0
    for text in asked:
        hits = (await service.recall(AGENT, RecallQuery(
            query=text, k=3, modes=frozenset({"dense"})))).hits
        found += bool(hits) and hits[0].memory.text == text
    return pct(lat, 50), pct(lat, 99), found, len(asked), pct(enc, 50)


async def bulk(run: ScaleRun, embedder: Embedder, data_dir: Path, *, chunk: int,
               queries: list[str], base: int, find: int = FIND) -> None:
    """Steps 2-4 (see the module docstring)."""
    base_texts = workload.memories(base, seed=23)
    base_vectors = embedder.embed(base_texts)
    window = max(chunk, run.size // 10)
    service = await started(data_dir, embedder)
    run.ingest_pauses.start()
    try:
        done, busy, wall0 = 0, 0.0, time.perf_counter()
        window_start = (0, 0.0, wall0)
        while done < run.size:
            n = min(chunk, run.size - done)
            if done < base:
                n = min(n, base - done)
                texts, vectors = base_texts[done:done + n], base_vectors[done:done + n]
            else:
                texts = workload.memories(n, seed=29, offset=done)
                vectors = synthetic(base_vectors, done, n)
            lines = import_lines(texts, vectors, embedder.model_name, done + 1)
            t0 = time.perf_counter()
            report = await service.import_lines(AGENT, lines)
            busy += time.perf_counter() - t0
            if report.imported != n:
                raise RuntimeError(f"import wrote {report.imported} of {n}: {report}")
            done += n
            if done // window > (done - n) // window or done == run.size:
                await service.flush()
                count, busy0, wall_start = window_start
                now = time.perf_counter()
                p50, p99, found, asked, enc = await recall_figures(
                    service, embedder, queries, base_texts, find)
                cp = Checkpoint(done, (done - count) / (busy - busy0),
                                (done - count) / (now - wall_start), p50, p99, found, asked,
                                enc, rss_mib(), disk_mib(data_dir), run.ingest_pauses.text())
                run.checkpoints.append(cp)
                say(f"  {done:>9,}: {cp.rate:7.0f}/s import ({cp.wall_rate:.0f}/s wall), "
                    f"recall p50 {p50:.1f} ms p99 {p99:.1f} ms (query encode {enc:.1f} ms), "
                    f"found {found}/{asked}, "
                    f"RSS {cp.rss_mib:,.0f} MiB, disk {cp.disk_mib:,.0f} MiB; {cp.pauses}; "
                    f"load {os.getloadavg()[0]:.1f}")
                window_start = (done, busy, time.perf_counter())
    finally:
        await run.ingest_pauses.stop()
        await service.close()


async def restart(run: ScaleRun, embedder: Embedder, data_dir: Path, query: str) -> None:
    """Step 5: start on the filled store, answer one recall."""
    run.restart_pauses.start()
    t0 = time.perf_counter()
    service = await started(data_dir, embedder)
    try:
        await service.recall(AGENT, RecallQuery(query=query))
        run.restart_s = time.perf_counter() - t0
        run.restart_count = await service.ctx.vectors.count()
    finally:
        await run.restart_pauses.stop()
        await service.close()


def encode_rate(embedder: Embedder, texts: int) -> float:
    """The model's encode rate now (sentences/s, 128 texts a call)."""
    return measure(embedder, workload.memories(texts, seed=99), workload.queries(5, seed=5),
                   chunk=128, model_batch=64, threads=1).encode_rate


async def encoded(run: ScaleRun, embedder: Embedder, data_dir: Path, size: int,
                  batch: int = 128, ceiling_texts: int = 512, offset: int = 0,
                  writers: int = 1) -> None:
    """Step 6: remember_batch of workload texts (the model encodes) into the filled store;
    `offset`: texts an earlier step wrote into it (these follow them); `writers`: callers
    each waiting for its batch's answer before sending the next (1: one agent)."""
    before = encode_rate(embedder, ceiling_texts)
    service = await started(data_dir, embedder)
    if offset:
        wait = getattr(service.ctx.vectors, "wait_indexed", None)  # the embedded store's
        if wait is not None:
            await wait()  # its copies in memory filled and its shards built, as after a start
        say(f"  reusing the store: {await service.ctx.vectors.count():,} vectors")
    window = max(batch, size // 10)
    starts = iter(range(0, size, batch))
    t0 = last = time.perf_counter()
    done = last_done = 0

    async def write() -> None:
        nonlocal done, last_done, last
        for start in starts:  # one iterator shared: each batch is written once
            texts = workload.memories(min(batch, size - start), seed=31, offset=offset + start)
            await service.remember_batch(AGENT, [MemoryInput(text=t) for t in texts])
            done += len(texts)
            # a window ends at the first batch that reaches it (batches need not divide it)
            if done - last_done >= window or done == size:
                now = time.perf_counter()
                rate = (done - last_done) / (now - last)
                last_done = done
                run.encoded.append((done, rate))
                say(f"  encoded {done:>8,}: {rate:.1f}/s = "
                    f"{rate / before:.2f}x the model's rate before this step; "
                    f"load {os.getloadavg()[0]:.1f}")
                last = now
    try:
        await asyncio.gather(*(write() for _ in range(writers)))
        say(f"  encoded total {done / (time.perf_counter() - t0):.1f}/s")
    finally:
        await service.close()
    after = encode_rate(embedder, ceiling_texts)
    run.encoded_ceiling = (before + after) / 2
    say(f"  model encode rate {before:.1f}/s before, {after:.1f}/s after")


def lines_of(run: ScaleRun, command: str) -> list[str]:
    """The run as markdown (for bench/RESULTS.md)."""
    c = run.ceiling
    out = [f"`{command}`", "",
           f"Encode ceiling: {c.encode_rate:.1f} sentences/s; one query's encode p50 "
           f"{c.query_p50_ms:.2f} ms, p99 {c.query_p99_ms:.2f} ms.", "",
           "| memories | import/s (calls) | wall/s | x encode | query encode p50 ms | recall "
           "p50 ms | x query encode | recall p99 ms | x query encode | found | RSS MiB | "
           "per 10k | disk MiB | per 10k |", "|" + "---|" * 14]
    for p in run.checkpoints:
        per = p.memories / 10_000
        out.append(f"| {p.memories:,} | {p.rate:,.0f} | {p.wall_rate:,.0f} | "
                   f"{p.rate / c.encode_rate:.1f} | {p.encode_p50:.2f} | {p.recall_p50:.1f} | "
                   f"{p.recall_p50 / p.encode_p50:.2f} | {p.recall_p99:.1f} | "
                   f"{p.recall_p99 / p.encode_p50:.2f} | {p.found}/{p.asked} | "
                   f"{p.rss_mib:,.0f} | {p.rss_mib / per:.1f} | {p.disk_mib:,.0f} | "
                   f"{p.disk_mib / per:.1f} |")
    out += ["", f"Pauses during ingest: {run.ingest_pauses.text()}.",
            f"Restart on the filled store ({run.restart_count:,} points): ready and first "
            f"recall in {run.restart_s:.1f} s; {run.restart_pauses.text()}."]
    if run.encoded:
        out += ["", f"Encode-bound ingest into the filled store (remember_batch, 128 a call; "
                f"the model's rate around this step {run.encoded_ceiling:.1f} sentences/s):"]
    for n, rate in run.encoded:
        out.append(f"- {run.size + run.encoded_offset + n:,} memories: {rate:.1f}/s = "
                   f"{rate / run.encoded_ceiling:.2f}x the model")
    return out


async def run_scale(size: int, *, chunk: int = 256, queries: int = 100, base: int = 2048,
                    encoded_size: int = 0, embedder: Embedder | None = None,
                    data_dir: Path | None = None, ceiling_texts: int = 512,
                    ceiling_queries: int = 100, find: int = FIND,
                    reuse: bool = False, writers: int = 1) -> ScaleRun:
    """Measure (see the module docstring); returns the figures."""
    emb = embedder or build_embedder(Settings())
    ceiling = measure(emb, workload.memories(ceiling_texts, seed=99),
                      workload.queries(ceiling_queries, seed=5),
                      chunk=128, model_batch=64, threads=1)
    run = ScaleRun(size, ceiling)
    say(f"scale: {size:,} memories, chunk {chunk}, seal {SEAL['seal_points']}; "
        f"ceiling {ceiling.encode_rate:.1f}/s, query encode p50 "
        f"{ceiling.query_p50_ms:.2f} ms; load {os.getloadavg()[0]:.2f}")
    if reuse:  # a store of this size that earlier runs filled and wrote into
        folder = data_dir or WORK_DIR / "data" / f"scale-{size}"
        marker = folder / ENCODED_MARKER
        run.encoded_offset = int(marker.read_text()) if marker.exists() else 0
    else:
        folder = data_dir or fresh(f"scale-{size}")
        qs = workload.queries(queries, seed=13)
        await bulk(run, emb, folder, chunk=chunk, queries=qs, base=min(base, size), find=find)
        await restart(run, emb, folder, qs[0])
        say(f"restart: {run.restart_s:.1f} s; {run.restart_pauses.text()}")
    if encoded_size:
        await encoded(run, emb, folder, encoded_size, ceiling_texts=ceiling_texts,
                      offset=run.encoded_offset, writers=writers)
        (folder / ENCODED_MARKER).write_text(str(run.encoded_offset + encoded_size))
    return run


def main(size: int, chunk: int, queries: int, encoded_size: int, seal: int, base: int = 2048,
         sentences: int = 512, *, reuse: bool = False, writers: int = 1) -> int:
    """`python -m bench scale`: print and write bench/.work/scale-<size>.md."""
    SEAL["seal_points"] = seal
    run = asyncio.run(run_scale(size, chunk=chunk, queries=queries, base=base,
                                encoded_size=encoded_size, ceiling_texts=sentences,
                                reuse=reuse, writers=writers))
    from bench.machine import header_lines

    command = (f"python -m bench scale --size {size} --seal {seal} --chunk {chunk} "
               f"--queries {queries} --base {base} --sentences {sentences}") + (
        f" --encoded {encoded_size}" if encoded_size else "") + (" --reuse" if reuse else "") + (
        f" --writers {writers}" if writers != 1 else "")
    text = "\n".join([*header_lines(command, {}), "", *lines_of(run, command)]) + "\n"
    out = WORK_DIR / f"scale-{size}-seal{seal}.md"
    out.write_text(text)
    say(text)
    say(f"wrote {out}")
    return 0
