"""Open a stopped service's stores in-process WITHOUT the startup repair and report what is
on disk: half-written memories, graph/vector consistency, supersede chains, audit chain."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.domain.models import Memory, MemoryStatus
from fleetmem.memory.ports import Embedder, MemoryFilter
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import GraphSettings, Settings

ALL_STATUSES = (MemoryStatus.ACTIVE, MemoryStatus.SUPERSEDED, MemoryStatus.ARCHIVED)


def settings_for(data_dir: Path, env: Mapping[str, str], agents_file: Path | None = None
                 ) -> Settings:
    """The Settings a `fleetmem serve` started with `env` (FLEETMEM_GRAPH__* only) uses."""
    graph = {k.removeprefix("FLEETMEM_GRAPH__").lower(): v for k, v in env.items()
             if k.startswith("FLEETMEM_GRAPH__")}
    return Settings(data_dir=data_dir, agents_file=agents_file,
                    graph=GraphSettings.model_validate(graph))


@dataclass
class StoreReport:
    """What the stopped service left on disk."""

    pending: int = 0
    vector_count: int = 0
    indexable_count: int = 0
    vectors_missing: list[str] = field(default_factory=list)
    vectors_extra: list[str] = field(default_factory=list)
    audit_first_bad: int | None = None
    memories: dict[str, Memory] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """Broken invariants, one line each (empty when the stores are consistent)."""
        out = []
        if self.pending:
            out.append(f"{self.pending} half-written (pending) memories on disk")
        if self.vector_count != self.indexable_count:
            out.append(f"vector tier holds {self.vector_count} points, graph has "
                       f"{self.indexable_count} indexable memories")
        if self.vectors_missing:
            out.append(f"{len(self.vectors_missing)} indexable memories without a vector, "
                       f"e.g. {self.vectors_missing[:3]}")
        if self.vectors_extra:
            out.append(f"{len(self.vectors_extra)} vectors without an indexable memory, "
                       f"e.g. {self.vectors_extra[:3]}")
        if self.audit_first_bad is not None:
            out.append(f"audit chain broken at seq {self.audit_first_bad}")
        out += chain_problems(self.memories)
        return out


async def open_without_repair(settings: Settings, embedder: Embedder) -> MemoryService:
    """The service over the stores as they are: `start()` would repair them first."""
    service = build_service(settings, embedder=embedder)
    await service.ctx.graph.open()
    return service


async def inspect(settings: Settings, embedder: Embedder) -> StoreReport:
    """Read every invariant the reliability suite checks from a stopped service's stores."""
    service = await open_without_repair(settings, embedder)
    try:
        ctx = service.ctx
        report = StoreReport()
        report.pending = len(await ctx.graph.pending_memories(10))
        report.vector_count = await ctx.vectors.count()
        report.indexable_count = await ctx.graph.count_indexable()
        want, have = await ctx.graph.indexable_ids(), await ctx.vectors.all_ids()
        report.vectors_missing = sorted(want - have)
        report.vectors_extra = sorted(have - want)
        report.audit_first_bad = await service.operator.verify_audit()
        report.memories = await all_memories(service)
        return report
    finally:
        await service.close()


async def all_memories(service: MemoryService) -> dict[str, Memory]:
    """Every committed memory of every namespace and status, by id."""
    graph = service.ctx.graph
    flt = MemoryFilter(namespaces=tuple(await graph.all_namespaces()), statuses=ALL_STATUSES)
    out: dict[str, Memory] = {}
    after: str | None = None
    while True:
        page = await graph.list_memories(flt, after, 1000)
        out.update((m.id, m) for m in page)
        if len(page) < 1000:
            return out
        after = page[-1].id


def chain_problems(memories: Mapping[str, Memory]) -> list[str]:
    """Supersede chains must be linear: at most one successor per memory, links agree in
    both directions, a memory with a successor is no longer active, no cycles."""
    out: list[str] = []
    successors = Counter(m.supersedes for m in memories.values() if m.supersedes)
    out += [f"memory {mid} has {n} successors" for mid, n in successors.items() if n > 1]
    for m in memories.values():
        if m.supersedes is not None:
            prev = memories.get(m.supersedes)
            if prev is None or prev.superseded_by != m.id:
                out.append(f"memory {m.id} supersedes {m.supersedes}, which does not point "
                           "back to it")
        if m.superseded_by is not None:
            nxt = memories.get(m.superseded_by)
            if nxt is None or nxt.supersedes != m.id:
                out.append(f"memory {m.id} is superseded by {m.superseded_by}, which does not "
                           "point back to it")
            if m.status is MemoryStatus.ACTIVE:
                out.append(f"memory {m.id} has a successor but is still active")
    rooted = _reachable_from_roots(memories)
    loose = [mid for mid in memories if mid not in rooted]
    if loose:
        out.append(f"{len(loose)} memories sit on a supersede cycle, e.g. {loose[:3]}")
    return out


def _reachable_from_roots(memories: Mapping[str, Memory]) -> set[str]:
    """Ids on a chain that starts at a root (a memory superseding nothing we know)."""
    reached: set[str] = set()
    for m in memories.values():
        if m.supersedes is None or m.supersedes not in memories:
            cur: Memory | None = m
            while cur is not None and cur.id not in reached:
                reached.add(cur.id)
                cur = memories.get(cur.superseded_by) if cur.superseded_by else None
    return reached
