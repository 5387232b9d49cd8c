"""Small builders of domain values for the port contract suites (fixed times, seeded
vectors), so each test states only what it is about."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from fleetmem.memory.domain import audit as audit_rules
from fleetmem.memory.domain.models import (
    Attribution,
    AuditEvent,
    CommitState,
    Entity,
    Memory,
    MemoryKind,
    MemoryStatus,
    Observation,
    Relation,
)
from fleetmem.memory.domain.text import content_hash, new_id
from fleetmem.memory.ports import GraphStore, MemoryFilter, Vector

T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
ALICE = "agent:alice"
BOB = "agent:bob"
TEAM = "team:atlas"
DIM = 8


def at(minutes: float) -> datetime:
    """T0 plus some minutes."""
    return T0 + timedelta(minutes=minutes)


def vec(seed: int) -> Vector:
    """A deterministic unit vector."""
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32)


def mem(text: str, ns: str = ALICE, *, minute: float = 0, kind: MemoryKind = MemoryKind.FACT,
        tags: Sequence[str] = (), by: str = "alice", entities: Sequence[str] = (),
        importance: float = 0.5, on_behalf_of: str | None = None,
        workflow_id: str | None = None, valid_from: datetime | None = None,
        metadata: dict[str, object] | None = None) -> Memory:
    """A new pending memory."""
    when = at(minute)
    return Memory(
        id=new_id(), namespace=ns, text=text, kind=kind, importance=importance,
        tags=tuple(tags),
        attribution=Attribution(created_by=by, created_at=when, on_behalf_of=on_behalf_of,
                                workflow_id=workflow_id, session_id="s1"),
        updated_at=when, valid_from=valid_from or when, content_hash=content_hash(ns, text),
        entity_names=tuple(entities), metadata=metadata or {})


def committed(m: Memory) -> Memory:
    """The memory as the store returns it once committed."""
    return replace(m, commit_state=CommitState.COMMITTED)


def ev(operation: str, ns: str | None = ALICE, minute: float = 0,
       targets: Sequence[str] = ()) -> AuditEvent:
    """An unsealed audit event."""
    return audit_rules.event(operation, "alice", at(minute), namespace=ns,
                             target_ids=tuple(targets))


async def put(graph: GraphStore, *memories: Memory, seed: int = 0) -> list[Memory]:
    """Insert and commit memories (one audit event); return them as committed."""
    await graph.insert_memories(list(memories), [vec(seed + i) for i in range(len(memories))])
    await graph.mark_committed([m.id for m in memories],
                               [ev("remember", memories[0].namespace,
                                   targets=[m.id for m in memories])])
    return [committed(m) for m in memories]


def ent(name: str, ns: str = ALICE, *, entity_type: str = "thing",
        observations: Sequence[str] = (), aliases: Sequence[str] = (),
        tags: Sequence[str] = (), minute: float = 0, by: str = "alice") -> Entity:
    """A new entity."""
    when = at(minute)
    return Entity(id=new_id(), namespace=ns, name=name, entity_type=entity_type,
                  attribution=Attribution(created_by=by, created_at=when), updated_at=when,
                  aliases=tuple(aliases), tags=tuple(tags),
                  observations=tuple(Observation(o, by, when) for o in observations))


def rel(a: str, b: str, relation_type: str, ns: str = ALICE, *, minute: float = 0,
        valid_to: datetime | None = None) -> Relation:
    """A new relation valid from `minute`."""
    when = at(minute)
    return Relation(id=new_id(), namespace=ns, from_entity=a, to_entity=b,
                    relation_type=relation_type,
                    attribution=Attribution(created_by="alice", created_at=when),
                    valid_from=when, valid_to=valid_to)


def flt(*namespaces: str, **kw: object) -> MemoryFilter:
    """A filter over the given namespaces (active memories unless told otherwise)."""
    return MemoryFilter(namespaces=namespaces or (ALICE,), **kw)  # type: ignore[arg-type]


ALL_STATUSES = (MemoryStatus.ACTIVE, MemoryStatus.ARCHIVED, MemoryStatus.SUPERSEDED)


async def recall_rows(graph: GraphStore, ids: Sequence[str],
                      f: MemoryFilter) -> list[tuple[Memory, bool]]:
    """Recall's candidate read without a question vector: (memory, disputed) in id order."""
    read = await graph.recall_read(ids, f, None, lambda rows: [])
    return [(r.memory, r.disputed) for r in read.rows]


def downgrade(path: Path, triggers: Sequence[str], *statements: str) -> None:
    """Rewrite a closed SQLite store to the schema of an earlier release: drop `triggers`,
    then run `statements` (constants of the tests, never input)."""
    with sqlite3.connect(path) as c:
        for trigger in triggers:
            c.execute(f"DROP TRIGGER {trigger}")
        for statement in statements:
            c.execute(statement)
