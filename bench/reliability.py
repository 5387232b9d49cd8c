"""Reliability, full tier: kill -9 crash cycles (embedded, and with the graph on Neo4j),
eight concurrent agent processes, writes racing the reconcile job, and a soak under
mixed REST load; prints a Markdown section for bench/RESULTS.md and exits non-zero when
any invariant broke.

    .venv/bin/python -m bench.reliability --cycles 50 --concurrency-seconds 120 \\
        --reconcile-seconds 120 --soak-seconds 600

`--only-reconcile` runs the concurrent-reconcile part alone and prints its row;
`--only-hostile` runs the hostile-fleet tier alone (tests/hostile/cases.py, issue 21: a
flooding agent with a session hoarder, unfinished request heads, and the vault fuzz, each
on its own, then all at once).

The soak runs `fleetmem serve` in one process and the load in this one: workers doing
remember, recall, correct, forget, buffer appends and consolidation, and graph operations
(entities, observations, relations, read, search, open), each on its own memories so every
request is valid. It reports throughput per operation, the error rate (and 5xx, which must
be 0) and the serve process's RSS at start, after warm-up and at the end. The quick tier
runs the same code with small sizes (tests/reliability).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import workload
from bench.machine import git_commit
from fleetmem.memory.bootstrap import build_embedder
from fleetmem.memory.settings import Settings
from tests.hostile.cases import PARTS, hostile_section, parse_without, run_cases, without
from tests.hostile.fleet import hostile_sizes, run_hostile_fleet
from tests.hostile.report import hostile_lines
from tests.reliability.concurrency import ConcurrencyResult, run_concurrency
from tests.reliability.crash import WRITERS, CrashResult, run_crash
from tests.reliability.reconcile_race import RaceResult, run_reconcile_race
from tests.reliability.serve import ServeProcess, serving

os.environ.setdefault("HF_HUB_OFFLINE", "1")
logger = logging.getLogger("bench.reliability")
COMMAND = ("python -m bench.reliability --cycles {cycles} --concurrency-seconds {conc:g} "
           "--reconcile-seconds {rec:g} --soak-seconds {soak:g} --hostile-seconds {hostile:g}")
EXPECTED = {"remember": 201, "recall": 200, "get": 200, "correct": 201, "forget": 200,
            "buffer_append": 201, "consolidate": 200, "create_entities": 201,
            "add_observations": 201, "relate": 201, "read_graph": 200, "search_nodes": 200,
            "open_nodes": 200}
MIX = (("remember", 20), ("recall", 28), ("get", 5), ("correct", 8), ("forget", 5),
       ("buffer_append", 12), ("create_entities", 5), ("add_observations", 6),
       ("relate", 5), ("read_graph", 2), ("search_nodes", 2), ("open_nodes", 2))
MAX_OPS_PER_WORKER = 1_000_000


@dataclass
class SoakResult:
    """Counts per operation and status, errors, and the serve process's RSS (KiB)."""

    seconds: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    rss: dict[str, int] = field(default_factory=dict)
    rss_peak: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code >= 500)

    @property
    def error_rate(self) -> float:
        return len(self.errors) / self.total if self.total else 0.0


class SoakWorker:
    """One client: its own memories, entities and sessions, so every request is valid."""

    def __init__(self, n: int, client: httpx.AsyncClient, result: SoakResult) -> None:
        self.n, self.http, self.result = n, client, result
        self.rng = random.Random(1000 + n)
        self.written = 0
        self.active: list[str] = []
        self.entities: list[str] = []
        self.buffered = 0
        self.queries = workload.queries(200, seed=n)

    async def call(self, op: str, method: str, path: str, **kw: Any) -> dict[str, Any] | None:
        try:
            r = await self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            self.result.counts[op] += 1
            self.result.errors.append(f"{op}: {exc!r}")
            return None
        self.result.counts[op] += 1
        self.result.statuses[r.status_code] += 1
        if r.status_code != EXPECTED[op]:
            self.result.errors.append(f"{op} {path} -> {r.status_code}: {r.text[:200]}")
            return None
        body: dict[str, Any] = r.json()
        return body

    def text(self) -> str:
        self.written += 1
        base = workload.memories(1, seed=7, offset=self.n * 10_000_000 + self.written)[0]
        return f"{base} (soak worker {self.n} note {self.written})"

    def pick(self, pool: list[str], pop: bool = False) -> str | None:
        if not pool:
            return None
        i = self.rng.randrange(len(pool))
        return pool.pop(i) if pop else pool[i]

    async def step(self, op: str) -> None:
        if op in ("get", "correct", "forget") and not self.active:
            op = "remember"  # nothing of ours to act on yet
        if op == "remember":
            body = await self.call(op, "POST", "/v1/memories", json={"text": self.text()})
            if body:
                self.active.append(body["id"])
        elif op == "recall":
            await self.call(op, "POST", "/v1/memories/recall", json={
                "query": self.rng.choice(self.queries), "k": 10},
                headers={"X-Session-Id": f"soak-{self.n}"})
        elif op == "get":
            await self.call(op, "GET", f"/v1/memories/{self.pick(self.active)}")
        elif op == "correct":
            body = await self.call(op, "POST",
                                   f"/v1/memories/{self.pick(self.active, pop=True)}/correct",
                                   json={"text": self.text(), "reason": "soak"})
            if body:
                self.active.append(body["id"])
        elif op == "forget":
            await self.call(op, "DELETE", f"/v1/memories/{self.pick(self.active, pop=True)}")
        elif op == "buffer_append":
            await self.buffer()
        elif op in ("create_entities", "relate") or not self.entities:
            await self.grow_graph(op)
        else:
            await self.graph_read(op)

    async def buffer(self) -> None:
        session = f"soak-{self.n}-{self.buffered // 100}"
        await self.call("buffer_append", "POST", f"/v1/buffers/{session}/items", json={
            "text": f"turn {self.buffered}: {self.rng.choice(self.queries)}",
            "role": self.rng.choice(["user", "assistant", "tool"])})
        self.buffered += 1
        if self.buffered % 10 == 0:
            await self.call("consolidate", "POST", f"/v1/buffers/{session}/consolidate",
                            json={"min_importance": 0.6})

    async def grow_graph(self, op: str) -> None:
        if op == "relate" and len(self.entities) >= 2:
            a, b = self.rng.sample(self.entities, 2)
            await self.call(op, "POST", "/v1/relate", json={
                "from": a, "relationType": self.rng.choice(["calls", "owns", "depends_on"]),
                "to": b})
            return
        name = f"soak-service-{self.n}-{len(self.entities)}"
        body = await self.call("create_entities", "POST", "/v1/entities", json={"entities": [{
            "name": name, "entityType": "service", "observations": [self.text()]}]})
        if body is not None:
            self.entities.append(name)

    async def graph_read(self, op: str) -> None:
        name = self.pick(self.entities) or ""
        if op == "add_observations":
            await self.call(op, "POST", "/v1/entities/observations", json={"observations": [
                {"entityName": name, "contents": [self.text()]}]})
        elif op == "read_graph":
            await self.call(op, "GET", "/v1/graph", params={"limit": 50})
        elif op == "search_nodes":
            await self.call(op, "GET", "/v1/graph/search", params={"query": name[:16]})
        else:
            await self.call(op, "POST", "/v1/graph/open", json={"names": [name]})

    async def run(self, deadline: float) -> None:
        ops, weights = zip(*MIX, strict=True)
        for _ in range(MAX_OPS_PER_WORKER):
            if time.monotonic() >= deadline:
                return
            await self.step(self.rng.choices(ops, weights)[0])


async def _sample_rss(serve: ServeProcess, result: SoakResult, stop: asyncio.Event) -> None:
    while not stop.is_set():
        result.rss_peak = max(result.rss_peak, serve.rss_kib())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5)


async def run_soak(work: Path, seconds: float, *, workers: int = 4) -> SoakResult:
    """Serve on a fresh data dir; `workers` clients for `seconds`; RSS start/warm-up/end."""
    result = SoakResult()
    warmup = max(10.0, min(60.0, seconds * 0.2))
    with serving(work / "soak-data", work / "soak-serve.log",
                 env={"FLEETMEM_GC__ENABLED": "true"}, start=False) as serve:
        await asyncio.to_thread(serve.start)
        result.rss["start"] = serve.rss_kib()
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample_rss(serve, result, stop))
        async with httpx.AsyncClient(base_url=serve.base_url, timeout=120) as client:
            started = time.monotonic()
            deadline = started + seconds
            tasks = [asyncio.create_task(SoakWorker(n, client, result).run(deadline))
                     for n in range(workers)]
            await asyncio.sleep(min(warmup, seconds))
            result.rss["after warm-up"] = serve.rss_kib()
            await asyncio.gather(*tasks)
            result.seconds = time.monotonic() - started
        result.rss["end"] = serve.rss_kib()
        stop.set()
        await sampler
        result.rss_peak = max(result.rss_peak, result.rss["end"])
        serve.stop()
    return result


def soak_lines(r: SoakResult) -> list[str]:
    """Markdown table: throughput per operation, errors, RSS."""
    mib = {k: v / 1024 for k, v in r.rss.items()}
    lines = [f"Soak: {r.total} requests in {r.seconds:.0f} s = **{r.total / r.seconds:.1f} "
             f"ops/s**, error rate **{r.error_rate:.2%}** ({len(r.errors)} errors), "
             f"5xx **{r.server_errors}**; serve RSS MiB: start {mib['start']:.0f}, after "
             f"warm-up {mib['after warm-up']:.0f}, end {mib['end']:.0f} (peak "
             f"{r.rss_peak / 1024:.0f}), growth after warm-up **"
             f"{mib['end'] - mib['after warm-up']:+.0f} MiB**.", "",
             "| operation | requests | ops/s |", "| --- | ---: | ---: |"]
    lines += [f"| {op} | {n} | {n / r.seconds:.2f} |" for op, n in r.counts.most_common()]
    return lines


def _summary(crashes: dict[str, CrashResult], conc: ConcurrencyResult, race: RaceResult,
             soak: SoakResult, args: argparse.Namespace) -> list[str]:
    """The "Reliability (full tier)" section (titled "reduced sizes" below full sizes)."""
    load = os.getloadavg()
    fig = conc.figures()
    five = sum(c.ledger.server_errors for c in crashes.values()) + conc.server_errors + \
        soak.server_errors
    problems = [p for c in crashes.values() for p in c.problems] + conc.problems + \
        race.problems
    command = COMMAND.format(cycles=args.cycles, conc=args.concurrency_seconds,
                             rec=args.reconcile_seconds, soak=args.soak_seconds,
                             hostile=args.hostile_seconds)
    full = args.cycles >= 50 and args.concurrency_seconds >= 120 and \
        args.reconcile_seconds >= 120 and args.soak_seconds >= 600 and \
        args.hostile_seconds >= 120
    lines = [f"## Reliability ({'full tier' if full else 'reduced sizes'})", "",
             f"Reproduce: `{command}`; commit {git_commit()}, "
             f"{os.cpu_count()} cores, load average at start {load[0]:.2f}. The quick tier "
             "(tests/reliability, part of `make test`) runs the same code with small sizes.",
             "", "| check | result |", "| --- | --- |"]
    for name, c in crashes.items():
        led = c.ledger
        lines += [f"| crash cycles survived, {name} (kill -9 of `fleetmem serve` under "
                  f"{WRITERS} concurrent REST writers; {led.early_kills} killed during "
                  f"startup) | {led.cycles}/{args.cycles} |",
                  f"| acknowledged writes lost, {name} | **{c.lost_writes}** of "
                  f"{len(led.acked)} ({led.retried} unanswered writes retried with their "
                  "idempotency key after the restart) |"]
    lines += [f"| concurrency: 8 agent processes x {args.concurrency_seconds:g} s, two "
              f"overlapping teams | {fig['ops']} requests, {fig['acknowledged_writes']} "
              f"acknowledged writes; {fig['race_rounds']} race entries: "
              f"{fig['race_wins']} corrections won, {fig['race_conflicts']} got 409, "
              f"{fig['race_forgets']} forgets |", race.row(),
              f"| 5xx answers (crash runs, concurrency, soak) | **{five}** |",
              f"| soak: throughput, error rate | {soak.total / soak.seconds:.1f} ops/s over "
              f"{soak.seconds:.0f} s, {soak.error_rate:.2%} |",
              f"| soak: serve RSS growth after warm-up | "
              f"{(soak.rss['end'] - soak.rss['after warm-up']) / 1024:+.0f} MiB |",
              f"| invariant violations (lost/duplicate writes, half-written memories, tier "
              f"drift, broken chains or audit, leaks) | **{len(problems)}** |", ""]
    if args.security_summary and Path(args.security_summary).exists():
        figures = Path(args.security_summary).read_text().split("\n")
        lines[-1:-1] = [f"| security suite, full profile (tests/security) | "
                        f"{'; '.join(f for f in figures if f)} |"]
    lines += soak_lines(soak)
    if problems or soak.errors:
        lines += ["", "Problems:", ""] + [f"- {p}" for p in (problems + soak.errors)[:30]]
    return lines


async def run_all(work: Path, args: argparse.Namespace) -> int:
    """Every part in turn; returns the exit code (1 when anything broke)."""
    embedder = build_embedder(Settings(data_dir=work))
    crashes: dict[str, CrashResult] = {}
    logger.info("crash cycles, embedded: %d", args.cycles)
    crashes["embedded"] = await run_crash(work / "crash" / "data", args.cycles, embedder,
                                          seed=1)
    if not args.no_neo4j:
        from tests.support.neo4j_server import start_neo4j

        server = await asyncio.to_thread(start_neo4j, work / "neo4j")
        try:
            logger.info("crash cycles, graph on Neo4j: %d", args.cycles)
            crashes["graph on Neo4j"] = await run_crash(
                work / "crash-neo4j" / "data", args.cycles, embedder, seed=2,
                env={"FLEETMEM_GRAPH__BACKEND": "neo4j",
                     "FLEETMEM_GRAPH__NEO4J_URI": server.uri})
        finally:
            server.stop()
    logger.info("concurrency: %g s", args.concurrency_seconds)
    conc = await run_concurrency(work / "concurrency", args.concurrency_seconds, embedder)
    logger.info("concurrent reconcile: %g s", args.reconcile_seconds)
    race = await run_reconcile_race(work / "reconcile" / "data", args.reconcile_seconds,
                                    embedder)
    logger.info("soak: %g s", args.soak_seconds)
    soak = await run_soak(work, args.soak_seconds, workers=args.soak_workers)
    hostile = await run_cases(work / "hostile", args.hostile_seconds)
    section = "\n".join(_summary(crashes, conc, race, soak, args) + [""] + hostile_section(
        hostile, args.hostile_seconds)) + "\n"
    sys.stdout.write(section)
    if args.write:
        Path(args.write).write_text(section)
    broken = any(c.problems or c.lost_writes for c in crashes.values()) or conc.problems \
        or race.problems or soak.errors or soak.server_errors \
        or not all(cr.ok for cr in hostile)
    return 1 if broken else 0


async def run_reconcile_only(work: Path, args: argparse.Namespace) -> int:
    """`--only-reconcile`: the concurrent-reconcile run alone; prints its table row."""
    embedder = build_embedder(Settings(data_dir=work))
    race = await run_reconcile_race(work / "reconcile" / "data", args.reconcile_seconds,
                                    embedder)
    lines = ["| check | result |", "| --- | --- |", race.row()]
    lines += [f"- {p}" for p in race.problems[:30]]
    sys.stdout.write("\n".join(lines) + "\n")
    return 1 if race.problems else 0


async def run_hostile_only(work: Path, args: argparse.Namespace) -> int:
    """`--only-hostile`: the hostile-fleet tier alone (every case, or one run without the
    attackers `--hostile-without` names); prints its section."""
    if not args.hostile_without:
        results = await run_cases(work / "hostile", args.hostile_seconds)
        sys.stdout.write("\n".join(hostile_section(results, args.hostile_seconds)))
        return 0 if all(cr.ok for cr in results) else 1
    left_out = frozenset(args.hostile_without.split(","))
    r = await run_hostile_fleet(work / "hostile",
                                without(hostile_sizes(args.hostile_seconds), left_out))
    sys.stdout.write("\n".join(hostile_lines(
        r, f"python -m bench.reliability --only-hostile --hostile-seconds "
        f"{args.hostile_seconds:g} --hostile-without {args.hostile_without}")))
    return 1 if r.problems or not r.latency_ok else 0


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.reliability`: run everything, print the Markdown section."""
    p = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cycles", type=int, default=50, help="kill -9 cycles per backend")
    p.add_argument("--concurrency-seconds", type=float, default=120.0)
    p.add_argument("--reconcile-seconds", type=float, default=120.0,
                   help="writes racing the reconcile job running in a loop")
    p.add_argument("--only-reconcile", action="store_true",
                   help="run only the concurrent-reconcile part and print its row")
    p.add_argument("--soak-seconds", type=float, default=600.0)
    p.add_argument("--hostile-seconds", type=float, default=120.0,
                   help="attack phase of the hostile-fleet tier (full sizes otherwise)")
    p.add_argument("--only-hostile", action="store_true",
                   help="run only the hostile-fleet tier and print its section")
    p.add_argument("--hostile-without", default="", type=parse_without,
                   help="with --only-hostile: one run leaving these attackers out, to measure "
                        "the rest alone (comma-separated: " + ", ".join(PARTS) + ")")
    p.add_argument("--soak-workers", type=int, default=4)
    p.add_argument("--no-neo4j", action="store_true", help="skip the crash run on Neo4j")
    p.add_argument("--security-summary", default="",
                   help="a file with the security suite's figures to include (written by "
                        "tests/security when FLEETMEM_SECURITY_SUMMARY names it)")
    p.add_argument("--write", default="",
                   help="also write the section to this file (make reliability: "
                        "bench/RELIABILITY.md, which `python -m bench all` includes)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="fleetmem-reliability-") as tmp:
        run = run_reconcile_only if args.only_reconcile else \
            run_hostile_only if args.only_hostile else run_all
        return asyncio.run(run(Path(tmp), args))


if __name__ == "__main__":
    sys.exit(main())
