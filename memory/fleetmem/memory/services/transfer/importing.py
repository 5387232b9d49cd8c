"""The import use case: one batch of lines in, each record written whole or not at all.

Memories are written through the batch write path (`writing.write_memories`: redaction,
validation, one embedding call per chunk, vector then graph commit with its audit event);
the reference server's entities and relations go through the service's own
create_entities / add_observations / create_relations (their observations become memories
there, as for any agent).

Resuming is by id, in the service: a line of our format keeps its id; a line without one
(and every record of another format) gets a stable id derived from its namespace and its
source key (a mem0 id, a note's path and content, or the text), so re-importing a file
skips every record already in (`skipped`). An id that already belongs to a memory of
another namespace is mapped to a stable new id (`mapped`). Entities, observations and
relations are skipped when present by the graph's own rules (names, texts, current
relations).

A record may carry its vector (`embedding`: model name and values): when the model and
dimension are the store's it is written as given, without a model call (the bulk path);
otherwise the line is rejected saying why. A text redaction changed is encoded again (a
vector of the text as it was would still describe the secret).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from fleetmem.memory.domain.access import Caller, private_namespace, validate_namespace
from fleetmem.memory.domain.models import Attribution, CommitState, Memory, MemoryStatus
from fleetmem.memory.domain.redaction import redact
from fleetmem.memory.domain.text import content_hash, validate_id
from fleetmem.memory.errors import FleetmemError, Forbidden, InvalidInput, RateLimited
from fleetmem.memory.ports import Vector
from fleetmem.memory.services.inputs import (
    MemoryInput,
    check_kind,
    check_memory_input,
    check_metadata,
    check_tags,
)
from fleetmem.memory.services.memories.remember import PREPARE_INLINE_CHARS, resolve_namespace
from fleetmem.memory.services.runtime.operations import GC_AGENT
from fleetmem.memory.services.transfer.records import (
    FORMATS,
    EntityRecord,
    ImportReport,
    LineError,
    MemoryRecord,
    Record,
    RejectedLine,
    RelationRecord,
    check_embedding,
    derived_id,
    parse_line,
)
from fleetmem.memory.services.transfer.writing import write_memories

if TYPE_CHECKING:
    from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
    from fleetmem.memory.services.runtime.context import ServiceContext
    from fleetmem.memory.services.views.records import (
        EntityView,
        ObservationResult,
        RelationView,
    )

R = TypeVar("R")
_STATUSES = {s.value: s for s in MemoryStatus}


class GraphCalls(Protocol):
    """The governed graph methods an import of the reference format calls (the service:
    nested in the import's request, each is still authorised for the caller)."""

    async def create_entities(self, caller: Caller, entities: Sequence[EntitySpec],
                              namespace: str | None = None, *,
                              idempotency_key: str | None = None) -> list[EntityView]: ...

    async def add_observations(self, caller: Caller,
                               items: Sequence[tuple[str, Sequence[str]]],
                               namespace: str | None = None, *,
                               idempotency_key: str | None = None
                               ) -> list[ObservationResult]: ...

    async def create_relations(self, caller: Caller, relations: Sequence[RelationSpec],
                               namespace: str | None = None, *, one_valued: bool = False,
                               idempotency_key: str | None = None) -> list[RelationView]: ...


@dataclass
class _Run:
    ctx: ServiceContext
    caller: Caller
    fmt: str
    namespace: str | None
    strict: bool
    report: ImportReport
    sources: dict[int, str] = field(default_factory=dict)
    vectors: dict[int, Vector] = field(default_factory=dict)
    """Precomputed vectors accepted, by line."""

    def reject(self, line: int, reason: str) -> None:
        if self.strict:
            raise InvalidInput(f"line {line}: {reason} (--strict: nothing of this batch was "
                               "written; fix the line or import without --strict to skip it)",
                               field="line", rule="import_line")
        self.report.rejected.append(RejectedLine(line=line, source=self.sources.get(line),
                                                 reason=reason))


def check_format(fmt: object) -> str:
    """Return the format name or raise naming the known ones."""
    if isinstance(fmt, str) and fmt in FORMATS:
        return fmt
    raise InvalidInput(f"format must be one of {', '.join(FORMATS)} (got {fmt!r})",
                       field="format", rule="enum")


def target_namespaces(ctx: ServiceContext, caller: Caller,
                      namespaces: Sequence[str | None]) -> list[str]:
    """Every namespace an import will write (None: the caller's private one), each refused
    before anything is written when the caller may not write it.

    Raises:
        Forbidden: rule `namespace_write`, naming the first such namespace.
    """
    return sorted({resolve_namespace(ctx, caller, None if ns is None else
                                     validate_namespace(ns)) for ns in namespaces})


async def import_lines(ctx: ServiceContext, graph: GraphCalls, caller: Caller,
                       lines: Sequence[tuple[int, str]], fmt: str, namespace: str | None,
                       strict: bool) -> ImportReport:
    """Import one batch of lines of `fmt`; see the module docstring.

    Raises:
        Forbidden: a record's namespace may not be written (nothing of the batch written).
        InvalidInput: with `strict`, the first line that cannot be imported.
    """
    fmt = check_format(fmt)
    if fmt == "markdown":  # the vault turns notes into lines of our format
        fmt = "fleetmem"
    run = _Run(ctx, caller, fmt, namespace, strict, ImportReport(format=fmt, read=len(lines)))
    # Parsing and checking a large batch (lines with vectors are ~4 KB each) is CPU work:
    # on a worker thread, so the event loop keeps serving other requests meanwhile.
    heavy = sum(len(text) for _, text in lines) > PREPARE_INLINE_CHARS
    records = await asyncio.to_thread(_parse, run, lines) if heavy else _parse(run, lines)
    memories = [r for r in records if isinstance(r, MemoryRecord)]
    target_namespaces(ctx, caller, [namespace or r.data.namespace for r in memories]
                      or [namespace])
    await _memories(run, memories, heavy)
    entities = [r for r in records if isinstance(r, EntityRecord)]
    if entities:
        await _entities(run, graph, entities)
    relations = [r for r in records if isinstance(r, RelationRecord)]
    if relations:
        await _relations(run, graph, relations)
    return run.report


def _parse(run: _Run, lines: Sequence[tuple[int, str]]) -> list[Record]:
    records: list[Record] = []
    for number, text in lines:
        try:
            record = parse_line(run.fmt, number, text)
        except LineError as exc:
            run.reject(exc.line, exc.message)
            continue
        if isinstance(record, MemoryRecord) and record.data.source:
            run.sources[number] = record.data.source
        records.append(record)
    return records


def _trusted(ctx: ServiceContext, caller: Caller) -> bool:
    """Whether the caller may import attribution naming other agents (an operator)."""
    return caller.agent_id == GC_AGENT or ctx.policy.principal(caller.agent_id).admin


def _check_attribution(run: _Run, m: Memory) -> None:
    """Attribution is a security record: only an operator may import memories another
    agent wrote, or claim an on_behalf_of the caller's roles do not allow.

    Raises:
        Forbidden: rule `attribution` or `on_behalf_of`.
    """
    ctx, caller, a = run.ctx, run.caller, m.attribution
    if _trusted(ctx, caller):
        return
    if a.created_by != caller.agent_id:
        raise Forbidden(f"the memory is attributed to '{a.created_by}'; only an operator (an "
                        "agent with 'admin: true') may import memories written by other "
                        "agents: remove attribution.created_by to import it as your own",
                        field="attribution.created_by", rule="attribution")
    if a.on_behalf_of is not None:
        ctx.policy.check_on_behalf_of(caller.agent_id, a.on_behalf_of)


def _build(run: _Run, rec: MemoryRecord) -> tuple[Memory, int]:
    """The memory a record describes, checked by the rules of every write, and the number
    of secrets redacted from its text.

    Raises:
        FleetmemError: a rule refuses the record (it is rejected, nothing written).
    """
    ctx, caller, d = run.ctx, run.caller, rec.data
    ns = run.namespace or d.namespace or private_namespace(caller.agent_id)
    check_memory_input(MemoryInput(text=d.text, namespace=ns, kind=d.kind,
                                   importance=d.importance, tags=d.tags, pinned=d.pinned,
                                   entities=d.entities, metadata=d.metadata), ctx.limits)
    status = _STATUSES.get(d.status)
    if status is None:
        raise InvalidInput(f"status must be one of {', '.join(_STATUSES)} (got {d.status!r})",
                           field="status", rule="enum")
    a = d.attribution
    author = a.created_by if rec.native and a.created_by else caller.agent_id
    on_behalf_of = a.on_behalf_of if rec.native else caller.on_behalf_of
    red = redact(d.text)
    text = red.text.strip()
    if d.embedding is not None and red.count == 0:
        emb = ctx.embedder
        run.vectors[rec.line] = check_embedding(d.embedding, emb.model_name, emb.dimension)
    now = ctx.now()
    created = a.created_at or now
    key = rec.key or f"text:{content_hash(ns, text)}"
    memory_id = (validate_id(d.id, "id") if d.id and rec.native
                 else derived_id(run.fmt, ns, key))
    memory = Memory(
        id=memory_id, namespace=ns, text=text, kind=check_kind(d.kind),
        importance=float(d.importance), tags=check_tags(d.tags, ctx.limits),
        metadata=check_metadata(d.metadata, ctx.limits),
        attribution=Attribution(created_by=author, created_at=created,
                                on_behalf_of=on_behalf_of,
                                workflow_id=a.workflow_id if rec.native else caller.workflow_id,
                                session_id=a.session_id if rec.native else caller.session_id),
        updated_at=d.updated_at or created, valid_from=d.valid_from or created,
        valid_to=d.valid_to, status=status, pinned=d.pinned,
        access_count=d.access_count if rec.native else 0,
        last_accessed_at=d.last_accessed_at if rec.native else None,
        supersedes=validate_id(d.supersedes, "supersedes") if d.supersedes else None,
        superseded_by=(validate_id(d.superseded_by, "superseded_by") if d.superseded_by
                       else None),
        content_hash=content_hash(ns, text), commit_state=CommitState.COMMITTED,
        entity_names=tuple(d.entities))
    return memory, red.count


def _build_all(run: _Run, records: list[MemoryRecord]
               ) -> list[tuple[MemoryRecord, Memory, int]]:
    built: list[tuple[MemoryRecord, Memory, int]] = []
    for rec in records:
        try:
            memory, redactions = _build(run, rec)
        except RateLimited:
            raise
        except FleetmemError as exc:
            where = f"{exc.field}: " if exc.field and exc.field not in exc.message else ""
            run.reject(rec.line, where + exc.message)
            continue
        built.append((rec, memory, redactions))
    return built


async def _memories(run: _Run, records: list[MemoryRecord], heavy: bool) -> None:
    """Build (on a worker thread when `heavy`), drop what is already in, write the rest
    (one batch write)."""
    built = await asyncio.to_thread(_build_all, run, records) if heavy else \
        _build_all(run, records)
    fresh = []
    for rec, memory, redactions in await _absent(run, built):
        try:
            _check_attribution(run, memory)
        except FleetmemError as exc:
            run.reject(rec.line, exc.message)
            continue
        fresh.append((rec, memory, redactions))
    await write_memories(run.ctx, run.caller, [m for _, m, _ in fresh],
                         [run.vectors.get(rec.line) for rec, _, _ in fresh])
    run.report.imported += len(fresh)
    run.report.redactions += sum(n for _, _, n in fresh)


async def _absent(run: _Run, built: list[tuple[MemoryRecord, Memory, int]]
                  ) -> list[tuple[MemoryRecord, Memory, int]]:
    """The built memories not in the store yet: present ids (and, for other formats, the
    same text already active in the namespace) are skipped; an id held in another
    namespace is mapped to a stable new one."""
    ctx = run.ctx
    everywhere = await ctx.upkeep.all_namespaces()
    found = {m.id: m.namespace for m in await ctx.memories.get_memories(
        [m.id for _, m, _ in built], everywhere)}
    mapped: list[tuple[MemoryRecord, Memory, int]] = []
    for rec, m, n in built:
        if m.id in found and found[m.id] != m.namespace:
            mapped.append((rec, replace(m, id=derived_id("mapped", m.namespace, m.id)), n))
    if mapped:
        found |= {m.id: m.namespace for m in await ctx.memories.get_memories(
            [m.id for _, m, _ in mapped], everywhere)}
        remap = {rec.line: (rec, m, n) for rec, m, n in mapped}
        built = [remap.get(rec.line, (rec, m, n)) for rec, m, n in built]
        run.report.mapped += sum(1 for _, m, _ in mapped if m.id not in found)
    texts: dict[str, set[str]] = {}
    for ns in {m.namespace for rec, m, _ in built if not rec.native}:
        hashes = [m.content_hash for rec, m, _ in built if m.namespace == ns and not rec.native]
        texts[ns] = set((await ctx.memories.find_by_hashes(ns, hashes)).keys())
    fresh: list[tuple[MemoryRecord, Memory, int]] = []
    seen: set[str] = set()
    for rec, m, n in built:
        if m.id in found or m.id in seen or (
                not rec.native and m.content_hash in texts.get(m.namespace, set())):
            run.report.skipped += 1
            continue
        seen.add(m.id)
        fresh.append((rec, m, n))
    return fresh


async def _per_line(run: _Run, items: Sequence[Any],
                    call: Callable[[Sequence[Any]], Awaitable[R]]) -> list[tuple[Any, R]]:
    """Run `call` on all items at once; when a rule refuses the batch, on each alone, so
    the refusal is reported against its own line and the others still go in."""
    try:
        return [(None, await call(items))]
    except (Forbidden, RateLimited):
        raise
    except FleetmemError as exc:
        if len(items) == 1:
            run.reject(items[0].line, exc.message)
            return []
    out: list[tuple[Any, R]] = []
    for item in items:
        try:
            out.append((item, await call([item])))
        except (Forbidden, RateLimited):
            raise
        except FleetmemError as exc:
            run.reject(item.line, exc.message)
    return out


async def _entities(run: _Run, graph: GraphCalls, records: list[EntityRecord]) -> None:
    """Create the entities not there yet; add the observations missing from the others."""
    from fleetmem.memory.services.graph.entities import EntitySpec

    ns = run.namespace
    target = ns or private_namespace(run.caller.agent_id)
    names = list(dict.fromkeys(r.name for r in records))
    page = await run.ctx.entities.open_nodes([target], names)
    existing = {e.name.lower() for e in page.entities}
    new = [r for r in records if r.name.lower() not in existing]
    old = [r for r in records if r.name.lower() in existing]

    async def create(batch: Sequence[EntityRecord]) -> list[EntityView]:
        specs: list[EntitySpec] = [EntitySpec(r.name, r.entity_type, r.observations)
                                   for r in batch]
        return await graph.create_entities(run.caller, specs, ns)

    for _, created in await _per_line(run, new, create) if new else []:
        run.report.entities += len(created)
        run.report.imported += len(created)
        run.report.observations += sum(len(e.observations) for e in created)
    for rec in old:
        if not rec.observations:
            run.report.skipped += 1
            continue

        async def add(batch: Sequence[EntityRecord]) -> list[ObservationResult]:
            return await graph.add_observations(
                run.caller, [(r.name, list(r.observations)) for r in batch], ns)

        for _, results in await _per_line(run, [rec], add):
            added = sum(len(x.addedObservations) for x in results)
            run.report.observations += added
            if added:
                run.report.imported += 1
            else:
                run.report.skipped += 1


async def _relations(run: _Run, graph: GraphCalls, records: list[RelationRecord]) -> None:
    """Create the relations not current yet (an end missing is reported on its line)."""
    from fleetmem.memory.services.graph.entities import RelationSpec

    async def create(batch: Sequence[RelationRecord]) -> list[RelationView]:
        specs: list[RelationSpec] = [RelationSpec(r.from_entity, r.to_entity, r.relation_type)
                                     for r in batch]
        return await graph.create_relations(run.caller, specs, run.namespace)

    for item, created in await _per_line(run, records, create):
        tried = len(records) if item is None else 1
        run.report.relations += len(created)
        run.report.imported += len(created)
        run.report.skipped += tried - len(created)
