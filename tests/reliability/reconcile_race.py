"""Writes racing the reconcile job, shared by the property test (tests/reliability/
test_reconcile_race.py) and the reliability tier's concurrent-reconcile run
(bench/reliability.py).

A `RaceWorld` drives one real service (SQLite + Qdrant Edge, the real embedder) in one
namespace: remember, forget, correct, and the vault's edit path (add and delete entity
observations through the service, as the vault importer does), while the reconcile job
runs in a loop. Its ledger holds what was acknowledged; `problems` lists every committed,
active memory that dense search of its own text does not find (hidden) and every archived
memory that still has a vector (resurrected).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.text import mirror_key, observation_record, observation_text
from fleetmem.memory.errors import Conflict, NotFound
from fleetmem.memory.ports import Embedder, Vector
from fleetmem.memory.services.graph.entities import EntitySpec
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.maintenance.jobs import SYSTEM_CALLER
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import Settings

WRITER = Caller("alice")
HOST = "Race Host"
OPS = ("remember", "remember", "forget", "correct", "observe", "unobserve")
_WORDS = ("cache", "runner", "ledger", "gateway", "queue", "backup", "mirror", "scheduler",
          "index", "proxy", "vault", "bucket", "shard", "replica", "tunnel", "cron")


@dataclass(frozen=True, slots=True)
class Op:
    """One operation of a step: `kind` from OPS; `pick` chooses its target memory."""

    kind: str
    pick: int = 0


@dataclass
class RaceLedger:
    """What was acknowledged, and what the reconcile runs did."""

    active: dict[str, str] = field(default_factory=dict)  # memory id -> its text
    archived: set[str] = field(default_factory=set)
    observed: dict[str, str] = field(default_factory=dict)  # memory id -> observation
    ops: dict[str, int] = field(default_factory=dict)
    reconciles: int = 0
    reindexed: int = 0
    dropped: int = 0
    in_flight: int = 0
    hidden: int = 0
    resurrected: int = 0

    def count(self, kind: str) -> None:
        self.ops[kind] = self.ops.get(kind, 0) + 1


class RaceWorld:
    """One namespace of a started service, its ledger, and the operations on it."""

    def __init__(self, service: MemoryService, namespace: str, *, first: int = 0) -> None:
        self.service = service
        self.ns = namespace
        self.ledger = RaceLedger()
        self._n = first  # texts are numbered from here (unique within the namespace)
        self._vectors: dict[str, Vector] = {}
        self.pause = 0.0
        """Seconds between reconcile runs in `step` (0: back to back)."""

    def _text(self) -> str:
        self._n += 1
        n = self._n
        a, b = _WORDS[n % len(_WORDS)], _WORDS[(n * 7 + 3) % len(_WORDS)]
        return f"the {a} for {b} number {n} listens on port {4000 + n * 13}"

    async def seed(self, memories: int = 3) -> None:
        """The entity observations go to, and a few memories to forget and correct."""
        await self.service.create_entities(WRITER, [EntitySpec(HOST, "host")], self.ns)
        # (an existing entity of that name is kept: worlds may share a namespace)
        texts = [self._text() for _ in range(memories)]
        done = await self.service.remember_batch(
            WRITER, [MemoryInput(text=t, namespace=self.ns) for t in texts])
        for r, t in zip(done, texts, strict=True):
            self.ledger.active[r.id] = t

    def _target(self, pick: int, among: Sequence[str]) -> str | None:
        return sorted(among)[pick % len(among)] if among else None

    async def run_op(self, op: Op) -> None:
        """Run one operation; record it in the ledger once it is acknowledged."""
        svc, led = self.service, self.ledger
        try:
            if op.kind == "remember":
                text = self._text()
                r = await svc.remember(WRITER, MemoryInput(text=text, namespace=self.ns))
                led.active[r.id] = text
            elif op.kind == "forget":
                if (mid := self._target(op.pick, list(led.active))) is None:
                    return
                await svc.forget(WRITER, mid)
                led.active.pop(mid, None)
                led.observed.pop(mid, None)
                led.archived.add(mid)
            elif op.kind == "correct":
                if (mid := self._target(op.pick, list(led.active))) is None:
                    return
                text = self._text()
                new = await svc.correct(WRITER, mid, text)
                led.active.pop(mid, None)
                led.observed.pop(mid, None)
                led.active[new.id] = text
            elif op.kind == "observe":
                obs = self._text()
                await svc.add_observations(WRITER, [(HOST, [obs])], self.ns)
                await self._observed(obs)
            elif op.kind == "unobserve":
                if (mid := self._target(op.pick, list(led.observed))) is None:
                    return
                await svc.delete_observations(WRITER, [(HOST, [led.observed[mid]])], self.ns)
                led.active.pop(mid, None)
                led.observed.pop(mid, None)
                led.archived.add(mid)
            else:
                raise ValueError(op.kind)
        except (Conflict, NotFound):
            return  # a concurrent operation changed the target first; nothing acknowledged
        led.count(op.kind)

    async def _observed(self, obs: str) -> None:
        text = observation_text(HOST, obs)
        key = mirror_key(self.ns, observation_record(HOST, obs))  # the mirror's dedup key
        found = await self.service.ctx.memories.find_by_hash(self.ns, key)
        assert found is not None, f"the observation memory for {obs!r} was not written"
        self.ledger.active[found.id] = text
        self.ledger.observed[found.id] = obs

    async def reconcile_loop(self, stop: asyncio.Event) -> None:
        """Run the reconcile job back to back until `stop` (the current run finishes)."""
        while True:
            r = await self.service.operator.gc_reconcile(SYSTEM_CALLER)
            self.ledger.reconciles += 1
            self.ledger.reindexed += r.reindexed
            self.ledger.dropped += r.dropped
            self.ledger.in_flight += r.in_flight
            if stop.is_set():
                return
            await asyncio.sleep(self.pause)

    async def step(self, ops: Sequence[Op]) -> None:
        """Run `ops` concurrently while the reconcile job runs in a loop; return once both
        are done (the last reconcile run started before the last operation ended)."""
        await self.lanes([[op] for op in ops])

    async def lanes(self, lanes: Sequence[Sequence[Op]]) -> None:
        """`step` with several operations per writer: each lane runs its operations in
        turn, the lanes concurrently."""
        async def lane(ops: Sequence[Op]) -> None:
            for op in ops:
                await self.run_op(op)

        stop = asyncio.Event()
        loop = asyncio.create_task(self.reconcile_loop(stop))
        try:
            await asyncio.gather(*(lane(ops) for ops in lanes))
        finally:
            stop.set()
            await loop

    async def problems(self) -> list[str]:
        """Committed, active memories dense search of their own text misses; archived
        memories that dense search finds or that still hold a vector."""
        ctx = self.service.ctx
        out: list[str] = []
        ids = sorted(self.ledger.active)
        if ids:
            texts = [self.ledger.active[i] for i in ids]
            new = sorted({t for t in texts if t not in self._vectors})
            if new:  # each text is embedded once (the model is deterministic)
                self._vectors.update(zip(new, await ctx.embed(new), strict=True))
            hits = await ctx.vectors.search_many([self._vectors[t] for t in texts],
                                                 ctx.active_filter([self.ns]), 10)
            for mid, found in zip(ids, hits, strict=True):
                if mid not in {h for h, _ in found}:
                    self.ledger.hidden += 1
                    out.append(f"hidden: committed active memory {mid} "
                               f"({self.ledger.active[mid]!r}) not found by dense search")
        archived = sorted(self.ledger.archived)
        for mid in sorted(await ctx.vectors.existing(archived)):
            self.ledger.resurrected += 1
            out.append(f"resurrected: archived memory {mid} still has a vector")
        return out


@dataclass
class RaceResult:
    """The reliability tier's concurrent-reconcile run: its ledger and the problems."""

    seconds: float
    writers: int
    rounds: int
    ledger: RaceLedger
    problems: list[str]

    def row(self) -> str:
        """Its row of the reliability table."""
        led = self.ledger
        ops = ", ".join(f"{n} {k}" for k, n in sorted(led.ops.items()))
        return (f"| concurrent reconcile: {self.writers} writers (remember, forget, correct, "
                f"observation add/delete as the vault does) x {self.seconds:.0f} s while the "
                f"reconcile job runs in a loop, checked after each of {self.rounds} rounds | "
                f"{led.reconciles} reconcile runs, {sum(led.ops.values())} acknowledged "
                f"operations ({ops}); dropped {led.dropped}, reindexed {led.reindexed}, "
                f"differences left to finish in flight {led.in_flight}; hidden memories "
                f"**{led.hidden}**, archived memories with a vector **{led.resurrected}** |")


async def run_reconcile_race(data_dir: Path, seconds: float, embedder: Embedder, *,
                             writers: int = 4, ops_per_round: int = 10,
                             seed: int = 0) -> RaceResult:
    """A fresh service (default settings) on `data_dir`; rounds of `writers` concurrent
    writers, each doing `ops_per_round` random operations in turn while reconcile loops,
    and a check after every round, for `seconds`."""
    rng = random.Random(seed)
    service = build_service(Settings(data_dir=data_dir), embedder=embedder)
    await service.start()
    problems: list[str] = []
    rounds = 0
    loop = asyncio.get_running_loop()
    try:
        world = RaceWorld(service, "agent:alice")
        await world.seed()
        started = loop.time()
        while rounds == 0 or loop.time() < started + seconds:
            await world.lanes([[Op(rng.choice(OPS), rng.randrange(1000))
                                for _ in range(ops_per_round)] for _ in range(writers)])
            rounds += 1
            problems += await world.problems()
            if len(world.ledger.active) > 200:  # keep each round's check cheap
                await world.run_op(Op("forget", rng.randrange(1000)))
    finally:
        await service.close()
    return RaceResult(loop.time() - started, writers, rounds, world.ledger, problems)
