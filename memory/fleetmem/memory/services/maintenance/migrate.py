"""Copy one store into another (e.g. the embedded SQLite store into Neo4j + a Qdrant
server), preserving ids, attribution, timestamps, validity, usage counts, the audit chain
and vectors, then verify the copy by counts.

Everything goes through the GraphStore and VectorIndex ports, so any store pair works. The
target must be empty: the audit chain is re-appended in order, which reproduces every
sequence number and hash only on an empty chain. Idempotency records are not copied (they
only matter for retries in flight, and a migration runs with the service stopped).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from fleetmem.memory.domain.models import Memory, MemoryStatus, Relation
from fleetmem.memory.errors import Conflict
from fleetmem.memory.ports import (
    AuditStore,
    BufferStore,
    EntityGraph,
    GraphStore,
    MemoryFilter,
    MemoryStore,
    Vector,
    VectorIndex,
)
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.runtime.progress import ProgressFn, no_progress

logger = logging.getLogger(__name__)
Embed = Callable[[Sequence[str]], Awaitable[npt.NDArray[np.float32]]]
_PAGE = 500
_ALL_STATUSES = (MemoryStatus.ACTIVE, MemoryStatus.ARCHIVED, MemoryStatus.SUPERSEDED)
_FOREVER = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass
class MigrationReport:
    """What was copied, and whether the target's counts match the source's."""

    namespaces: int = 0
    entities: int = 0
    relations: int = 0
    memories: int = 0
    pending: int = 0
    vectors: int = 0
    reembedded: int = 0
    buffer_items: int = 0
    audit_events: int = 0
    conflicts: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        """True when every count of the target matches the source."""
        return not self.mismatches


async def _require_empty(graph: GraphStore, vectors: VectorIndex) -> None:
    if await graph.all_namespaces() or await graph.last_audit() is not None:
        raise Conflict("the target graph store already holds data; migrate into an empty "
                       "Neo4j database (or delete its contents) and retry",
                       field="target", rule="target_not_empty")
    if await vectors.count():
        raise Conflict("the target vector index already holds points; use an empty "
                       "collection (FLEETMEM_VECTOR__COLLECTION) and retry",
                       field="target", rule="target_not_empty")


async def _copy_entities(src: EntityGraph, dst: EntityGraph, namespaces: list[str],
                         progress: ProgressFn) -> int:
    copied, cursor = 0, None
    while True:
        page = await src.read_graph(namespaces, cursor, _PAGE)
        if page.entities:
            copied += len(await dst.create_entities(list(page.entities)))
            progress("entities", copied, None)
        cursor = page.next_cursor
        if cursor is None:
            return copied


async def _all_relations(graph: EntityGraph) -> list[Relation]:
    out: list[Relation] = []
    after: str | None = None
    while batch := await graph.all_relations(after, _PAGE):
        out += batch
        after = batch[-1].id
    return out


async def _copy_relations(src: EntityGraph, dst: EntityGraph, progress: ProgressFn) -> int:
    relations = await _all_relations(src)
    # Closed relations first: a current duplicate would make create_relations skip them.
    ordered = sorted(relations, key=lambda r: (r.valid_to is None, r.valid_from, r.id))
    copied = 0
    for start in range(0, len(ordered), _PAGE):
        copied += len(await dst.create_relations(ordered[start:start + _PAGE]))
        progress("relations", min(start + _PAGE, len(ordered)), len(ordered))
    return copied


async def _with_vectors(src: MemoryStore, memories: list[Memory], embed: Embed | None,
                        report: MigrationReport) -> list[Vector]:
    stored = await src.get_vectors([m.id for m in memories])
    missing = [m for m in memories if m.id not in stored]
    if missing:
        if embed is None:
            raise Conflict(f"{len(missing)} memories have no stored vector and no embedder "
                           "was given to re-embed them", rule="vector_missing")
        fresh = await embed([m.text for m in missing])
        stored.update({m.id: fresh[i] for i, m in enumerate(missing)})
        report.reembedded += len(missing)
    return [stored[m.id] for m in memories]


async def _copy_memories(src: GraphStore, dst: GraphStore, vectors: VectorIndex,
                         namespaces: list[str], embed: Embed | None,
                         report: MigrationReport, progress: ProgressFn) -> None:
    flt = MemoryFilter(namespaces=tuple(namespaces), statuses=_ALL_STATUSES)
    listed = {status.value for status in _ALL_STATUSES}
    total = sum(n for ns in await src.stats(namespaces)
                for status, n in ns.memories_by_status.items() if status in listed)
    after: str | None = None
    while page := await src.list_memories(flt, after, _PAGE):
        vecs = await _with_vectors(src, page, embed, report)
        await dst.insert_memories(page, vecs)
        points = [ServiceContext.point(m, v) for m, v in zip(page, vecs, strict=True)
                  if m.status in (MemoryStatus.ACTIVE, MemoryStatus.SUPERSEDED)]
        await vectors.upsert(points)
        report.memories += len(page)
        report.vectors += len(points)
        progress("memories", report.memories, max(total, report.memories))
        after = page[-1].id
    # Unacknowledged writes stay pending: the target's repair pass finishes them.
    pending = await src.pending_memories(1_000_000)
    if pending:
        memories = [m for m, _ in pending]
        vecs = await _with_vectors(src, memories, embed, report)
        await dst.insert_memories(memories, vecs)
        report.pending = len(pending)


async def _copy_buffers(src: BufferStore, dst: BufferStore) -> int:
    copied = 0
    for agent, session in await src.buffer_sessions_older_than(_FOREVER):
        items = await src.buffer_read(agent, session, 1_000_000, include_consolidated=True)
        if items:
            await dst.buffer_append(items)
            copied += len(items)
    return copied


async def _copy_audit(src: AuditStore, dst: AuditStore, progress: ProgressFn) -> int:
    copied, after = 0, 0
    while events := await src.audit_events(None, after, 2_000):
        await dst.append_audit(events)
        copied += len(events)
        progress("audit events", copied, None)
        after = events[-1].seq
    return copied


async def _copy_conflicts(src: AuditStore, dst: AuditStore, namespaces: list[str]) -> int:
    conflicts = await src.list_conflicts(namespaces, limit=1_000_000)
    for c in conflicts:
        await dst.create_conflict(c, [])
    return len(conflicts)


async def _verify(src: GraphStore, dst: GraphStore, vectors: VectorIndex,
                  namespaces: list[str], report: MigrationReport) -> None:
    def check(what: str, want: object, got: object) -> None:
        if want != got:
            report.mismatches.append(f"{what}: source {want!r}, target {got!r}")

    check("namespaces", namespaces, await dst.all_namespaces())
    for a, b in zip(await src.stats(namespaces), await dst.stats(namespaces), strict=True):
        check(f"{a.namespace} counts", a, b)
    indexable = await src.count_indexable()
    check("indexable memories", indexable, await dst.count_indexable())
    check("vectors", indexable, await vectors.count())
    check("relations (current and closed)", len(await _all_relations(src)),
          len(await _all_relations(dst)))
    check("pending memories", len(await src.pending_memories(1_000_000)),
          len(await dst.pending_memories(1_000_000)))
    src_last, dst_last = await src.last_audit(), await dst.last_audit()
    check("audit chain head", src_last and (src_last.seq, src_last.hash),
          dst_last and (dst_last.seq, dst_last.hash))
    check("conflicts", len(await src.list_conflicts(namespaces, limit=1_000_000)),
          len(await dst.list_conflicts(namespaces, limit=1_000_000)))


async def migrate(src: GraphStore, dst: GraphStore, vectors: VectorIndex, *,
                  embed: Embed | None = None,
                  progress: ProgressFn = no_progress) -> MigrationReport:
    """Copy everything from `src` into the empty `dst` and `vectors`, then verify;
    `progress` hears how many entities, relations, memories and audit events are copied.

    Raises:
        Conflict: the target is not empty, or a memory lacks a vector and `embed` is None.
    """
    await _require_empty(dst, vectors)
    namespaces = await src.all_namespaces()
    report = MigrationReport(namespaces=len(namespaces))
    report.entities = await _copy_entities(src, dst, namespaces, progress)
    report.relations = await _copy_relations(src, dst, progress)
    await _copy_memories(src, dst, vectors, namespaces, embed, report, progress)
    report.buffer_items = await _copy_buffers(src, dst)
    report.conflicts = await _copy_conflicts(src, dst, namespaces)
    report.audit_events = await _copy_audit(src, dst, progress)
    await vectors.flush()
    await _verify(src, dst, vectors, namespaces, report)
    logger.info("migration copied %s", report)
    return report
