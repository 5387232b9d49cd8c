"""REST under concurrent load: `fleetmem serve` in one process, N clients in another.

    .venv/bin/python -m bench.rest_load --size 10000 --clients 8 --seconds 60

Fills a fresh data dir with `--size` memories in-process (or reuses `--data-dir`), starts
`fleetmem serve` on it, then a second process (`--client` mode) runs N concurrent httpx
clients on loopback doing one remember per three recalls for a bounded time, and prints
p50/p95/p99 and throughput per operation beside the same operations measured in-process
(single caller) on the same data in this run. Loops are bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench import workload
from bench.doors import _env, _fleetmem, _free_port, _wait_ready, stop_process
from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.settings import Settings

AGENT = "bench"


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank), NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def client_load(base: str, clients: int, seconds: float) -> dict[str, list[float]]:
    """N concurrent clients, each looping remember/recall/recall/recall until time is up."""
    out: dict[str, list[float]] = {"remember": [], "recall": [], "errors": []}
    questions = workload.queries(200)
    # Each client's texts are made before the clock starts: making 100,000 a client inside
    # the timed loop blocked the event loop for most of a 30 s run (no recall finished).
    most = 4 * 2_000  # requests a client may send: far more than it can in the time
    texts = [iter(workload.memories(most // 4, offset=30_000_000 + n * 100_000))
             for n in range(clients)]
    deadline = time.monotonic() + seconds

    async def one(n: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60,
                                     headers={"X-Workflow-Id": f"load-{n}"}) as c:
            i = 0
            while time.monotonic() < deadline and i < most:
                t0 = time.perf_counter()
                if i % 4 == 0:
                    r = await c.post("/v1/memories", json={"text": next(texts[n])})
                    kind = "remember"
                else:
                    r = await c.post("/v1/memories/recall",
                                     json={"query": questions[(n * 31 + i) % len(questions)],
                                           "k": 10})
                    kind = "recall"
                took = (time.perf_counter() - t0) * 1000
                out[kind if r.status_code < 400 else "errors"].append(took)
                i += 1

    await asyncio.gather(*(one(n) for n in range(clients)))
    return out


async def in_process(data_dir: Path, n: int) -> dict[str, list[float]]:
    """The same operations by one in-process caller, for reference."""
    service = build_service(Settings(data_dir=data_dir))
    await service.start()
    out: dict[str, list[float]] = {"remember": [], "recall": []}
    try:
        caller = Caller(AGENT)
        for text in workload.memories(n, offset=40_000_000):
            t0 = time.perf_counter()
            await service.remember(caller, MemoryInput(text=text))
            out["remember"].append((time.perf_counter() - t0) * 1000)
        for q in workload.queries(n * 3):
            t0 = time.perf_counter()
            await service.recall(caller, RecallQuery(query=q, k=10))
            out["recall"].append((time.perf_counter() - t0) * 1000)
    finally:
        await service.close()
    return out


async def fill(data_dir: Path, size: int) -> None:
    """Write `size` memories through the service (batches of 128)."""
    service = build_service(Settings(data_dir=data_dir))
    await service.start()
    try:
        texts = workload.memories(size)
        for i in range(0, size, 128):
            await service.remember_batch(Caller(AGENT),
                                         [MemoryInput(text=t) for t in texts[i:i + 128]])
        await service.ctx.vectors.build_index(Settings().vector.index_min_unindexed)
    finally:
        await service.close()


def main(argv: list[str] | None = None) -> int:
    """Run the load test and print a Markdown table."""
    p = argparse.ArgumentParser(prog="python -m bench.rest_load", description=__doc__)
    p.add_argument("--size", type=int, default=10_000)
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--client", default="", help=argparse.SUPPRESS)  # second-process mode
    args = p.parse_args(argv)
    if args.client:
        result = asyncio.run(client_load(args.client, args.clients, args.seconds))
        sys.stdout.write(json.dumps(result))
        return 0
    data_dir = args.data_dir or Path("bench/.work/data") / f"rest-load-{args.size}"
    if args.data_dir is None:
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)
        asyncio.run(fill(data_dir, args.size))
    reference = asyncio.run(in_process(data_dir, 30))
    port = _free_port()
    server = subprocess.Popen([_fleetmem(), "serve", "--data-dir", str(data_dir)],
                              env={k: v for k, v in _env(data_dir, port).items()
                                   if k != "FLEETMEM_AGENTS_FILE"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, server)
        with httpx.Client(base_url=base, timeout=300) as warm:  # loads the model in serve
            warm.post("/v1/memories/recall", json={"query": "warm up", "k": 1})
            warm.post("/v1/memories", json={"text": "warm-up memory for the load test"})
        done = subprocess.run([sys.executable, "-m", "bench.rest_load", "--client", base,
                               "--clients", str(args.clients), "--seconds", str(args.seconds)],
                              capture_output=True, text=True, check=True,
                              timeout=args.seconds + 300)
        load = json.loads(done.stdout)
    finally:
        stop_process(server)
    lines = [f"## REST under concurrent load ({args.clients} clients in a second process, "
             f"{args.seconds:.0f} s, {args.size} memories)",
             "| operation | where | n | ops/s | p50 ms | p95 ms | p99 ms |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for op in ("remember", "recall"):
        lat = load[op]
        lines.append(f"| {op} | REST, {args.clients} concurrent clients | {len(lat)} | "
                     f"{len(lat) / args.seconds:.1f} | {pct(lat, 50):.1f} | {pct(lat, 95):.1f} | "
                     f"{pct(lat, 99):.1f} |")
        ref = reference[op]
        lines.append(f"| {op} | in-process, one caller | {len(ref)} | "
                     f"{1000 / statistics.mean(ref):.1f} | {pct(ref, 50):.1f} | "
                     f"{pct(ref, 95):.1f} | {pct(ref, 99):.1f} |")
    lines.append(f"\n- errors (4xx/5xx): {len(load['errors'])}. One remember per three "
                 "recalls per client; every client its own keep-alive connection; no agents "
                 "file (the local agent).")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
