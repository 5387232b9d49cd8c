"""Storage and infrastructure ports (Protocols) the service depends on.

Each port method is one atomic unit: a store implements it as one transaction, so the
service never needs a cross-call transaction. Every read takes the namespaces to search:
stores never decide access, but they never return anything outside the namespaces they
are given either. Adapters: `SqliteGraphStore`/`Neo4jGraphStore` (GraphStore),
`EdgeVectorIndex`/`QdrantServerVectorIndex` (VectorIndex),
`SentenceTransformerEmbedder` (Embedder).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from fleetmem.memory.domain.conflicts import ConflictRecord, ConflictStatus, Resolution
from fleetmem.memory.domain.models import (
    AuditEvent,
    BufferItem,
    Entity,
    GraphPage,
    Memory,
    MemoryStatus,
    NamespaceStats,
    Observation,
    Relation,
)

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class MemoryFilter:
    """Filters shared by keyword search, listing and vector search."""

    namespaces: tuple[str, ...]
    kinds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    created_by: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    statuses: tuple[MemoryStatus, ...] = (MemoryStatus.ACTIVE,)
    as_of: datetime | None = None
    """When set, only memories valid at this instant (any status but archived)."""


@dataclass(frozen=True, slots=True)
class VectorPoint:
    """What the vector tier stores per memory: its vector and the payload to filter on."""

    id: str
    vector: Vector
    namespace: str
    kind: str
    status: str
    created_by: str
    created_at: float
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """The first response to a request made with an idempotency key."""

    agent_id: str
    key: str
    operation: str
    response_json: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which audit entries to return (every field that is set must match)."""

    visible_namespaces: tuple[str, ...] | None = None
    """When set, only entries whose namespace is one of these, or whose agent_id is
    `visible_agent` (so an agent sees its own entries, including namespace-less ones)."""
    visible_agent: str | None = None
    agent_id: str | None = None
    workflow_id: str | None = None
    target_id: str | None = None
    """Entries whose target_ids contain this id (a memory, entity, relation, conflict)."""
    operation: str | None = None
    outcome: str | None = None
    after_seq: int = 0
    """Only entries with seq > after_seq."""
    newest_first: bool = False
    """Order by seq descending (for a tail) instead of ascending."""


@dataclass(frozen=True, slots=True)
class EntityRef:
    """An entity addressed by namespace and name (names are unique per namespace)."""

    namespace: str
    name: str


class Clock(Protocol):
    """Source of the current time (injected so decay and expiry are testable)."""

    def now(self) -> datetime: ...


class Embedder(Protocol):
    """Turns texts into unit-length dense vectors. Synchronous and CPU-bound: callers run
    it off the event loop."""

    @property
    def dimension(self) -> int: ...

    @property
    def model_name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return one L2-normalised row per text, shape (len(texts), dimension)."""
        ...


class VectorIndex(Protocol):
    """The vector tier: an index rebuildable from the graph. All methods are async."""

    async def upsert(self, points: Sequence[VectorPoint]) -> None: ...

    async def delete(self, ids: Sequence[str]) -> None: ...

    async def search(
        self, vector: Vector, flt: MemoryFilter, limit: int
    ) -> list[tuple[str, float]]:
        """Return (id, cosine score) best first, only within `flt.namespaces`."""
        ...

    async def search_many(self, vectors: Sequence[Vector], flt: MemoryFilter,
                          limit: int) -> list[list[tuple[str, float]]]:
        """`search` for several vectors at once (one planned batch), results in order."""
        ...

    async def existing(self, ids: Sequence[str]) -> set[str]:
        """Return which of `ids` are present."""
        ...

    async def all_ids(self) -> set[str]: ...

    async def count(self) -> int: ...

    async def flush(self) -> None: ...

    async def build_index(self, min_unindexed: int) -> int:
        """Build the approximate index over unindexed points when at least `min_unindexed`
        of them exist (0 disables); return how many were indexed. Servers index on their
        own and return 0."""
        ...

    async def close(self) -> None: ...


class GraphStore(Protocol):
    """The graph tier and source of truth: memories, entities, relations, buffers, audit,
    idempotency records. Each method is atomic."""

    # lifecycle -----------------------------------------------------------------
    async def open(self) -> None:
        """Create the schema if needed (idempotent)."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StorageUnavailable when the store cannot answer."""
        ...

    # memories --------------------------------------------------------------------
    async def insert_memories(
        self, memories: Sequence[Memory], vectors: Sequence[Vector],
        audit: Sequence[AuditEvent] = ()
    ) -> None:
        """Store new memories in the commit state they carry, with their vectors, linked
        to the entities named in `memory.entity_names` that exist in the memory's
        namespace, and append `audit`: one atomic, durable transaction."""
        ...

    async def mark_committed(self, ids: Sequence[str], audit: Sequence[AuditEvent]) -> None:
        """Flip pending memories to committed and append the audit events, atomically."""
        ...

    async def delete_pending(self, ids: Sequence[str]) -> None:
        """Roll back pending memories (never touches committed ones)."""
        ...

    async def pending_memories(self, limit: int) -> list[tuple[Memory, Vector | None]]: ...

    async def get_memories(self, ids: Sequence[str], namespaces: Sequence[str]) -> list[Memory]:
        """Return the committed memories among `ids` that live in `namespaces`."""
        ...

    async def get_vectors(self, ids: Sequence[str]) -> dict[str, Vector]: ...

    async def find_by_hash(self, namespace: str, content_hash: str) -> Memory | None:
        """Return the committed active memory with this dedup key, if any."""
        ...

    async def find_by_hashes(self, namespace: str,
                             content_hashes: Sequence[str]) -> dict[str, str]:
        """Dedup keys -> id of the committed active memory holding each (those found)."""
        ...

    async def reinforce(self, ids: Sequence[str], at: datetime, count: int = 1) -> None:
        """Add `count` to the access counts and set the last access time."""
        ...

    async def set_status(
        self, ids: Sequence[str], status: MemoryStatus, at: datetime, audit: Sequence[AuditEvent]
    ) -> list[str]:
        """Set the status of committed memories; return the ids that changed."""
        ...

    async def supersede(
        self, old_id: str, new: Memory, vector: Vector, at: datetime, audit: Sequence[AuditEvent]
    ) -> bool:
        """Atomically close `old_id` (valid_to=at, status superseded, superseded_by=new)
        and insert `new` as committed. Return False (changing nothing) when `old_id` is
        not an active committed memory any more (a concurrent correction won)."""
        ...

    async def history(self, memory_id: str, namespaces: Sequence[str]) -> list[Memory]:
        """Return the supersede chain containing `memory_id`, oldest first."""
        ...

    async def keyword_search(
        self, query: str, flt: MemoryFilter, limit: int
    ) -> list[tuple[str, float]]:
        """Full-text search (BM25 or the store's equivalent), best first."""
        ...

    async def recall_rows(self, ids: Sequence[str],
                          flt: MemoryFilter) -> list[tuple[Memory, bool]]:
        """The memories among `ids` that pass `flt`, in the order of `ids`, each with
        whether it is a claim of an open conflict: recall's one read after fusion."""
        ...

    async def list_memories(
        self, flt: MemoryFilter, after_id: str | None, limit: int
    ) -> list[Memory]:
        """Page through memories ordered by id."""
        ...

    async def memories_mentioning(
        self, entity_names: Sequence[str], flt: MemoryFilter, limit: int
    ) -> list[str]:
        """Ids of memories linked to any of these entities (names are compared
        case-insensitively), newest first."""
        ...

    async def count_indexable(self) -> int:
        """Committed memories that belong in the vector tier (active or superseded)."""
        ...

    async def indexable_ids(self) -> set[str]: ...

    async def all_namespaces(self) -> list[str]:
        """Every namespace holding memories, entities or buffers (for system jobs only)."""
        ...

    async def purge_memories(self, ids: Sequence[str], audit: Sequence[AuditEvent]) -> list[str]:
        """Hard-delete archived memories; return the ids removed."""
        ...

    # maintenance (system jobs: GC) ----------------------------------------------------
    async def transition_status(
        self, ids: Sequence[str], from_status: MemoryStatus, to_status: MemoryStatus,
        at: datetime, audit: Sequence[AuditEvent]
    ) -> list[str]:
        """Compare-and-set status: those of `ids` that are committed AND currently
        `from_status` get `to_status` and `updated_at = at`; others are left untouched (a
        concurrent correct/restore wins). In one transaction, `audit` is appended only when
        at least one memory changed. Return the changed ids in input order."""
        ...

    async def unclosed_memories(
        self, at: datetime, after_id: str | None, limit: int
    ) -> list[tuple[Memory, str | None]]:
        """Active committed memories (any namespace) that are no longer current: their
        `valid_to` is set and <= `at`, or `superseded_by` is set, or another committed memory
        names them in `supersedes`. Return (memory, successor id or None) ordered by memory
        id, only ids > `after_id`, at most `limit`. The successor is `superseded_by` when set,
        else the committed memory with `supersedes` = this id and the earliest valid_from."""
        ...

    async def close_memories(
        self, closures: Sequence[tuple[str, datetime, str | None]], at: datetime,
        audit: Sequence[AuditEvent]
    ) -> list[str]:
        """Close facts: for each (id, valid_to, successor id), a memory that is committed and
        still `active` gets status `superseded`, `valid_to = COALESCE(valid_to, given)`,
        `superseded_by = COALESCE(superseded_by, given successor)` and `updated_at = at`.
        One transaction; `audit` appended only when at least one changed. Return the ids
        closed in input order."""
        ...

    async def orphan_entities(
        self, before: datetime, after_id: str | None, limit: int
    ) -> list[Entity]:
        """Entities in any namespace with `updated_at < before`, no observations, no
        relation rows of any validity (current or closed) from or to them, and no memory
        (any status) linked to them (memory mentions, names compared case-insensitively).
        Ordered by entity id, only ids > `after_id`, at most `limit`."""
        ...

    async def delete_orphan_entities(
        self, ids: Sequence[str], before: datetime, audit: Sequence[AuditEvent]
    ) -> list[str]:
        """Delete those of the entity `ids` that still meet every `orphan_entities`
        condition for `before` (re-checked inside the transaction, so an entity that gained
        an observation, relation or memory meanwhile survives). `audit` is appended in the
        same transaction when at least one is deleted. Return the deleted ids."""
        ...

    async def claim_job_slot(self, job: str, slot_key: str, owner: str, at: datetime) -> bool:
        """Claim one scheduled run of a job across replicas: an atomic unique insert of
        (job, slot_key). Return True for the first caller ever to claim that pair, False for
        every later one (whatever its owner; claiming is not re-entrant). `owner` and `at`
        are kept for inspection. The store may forget claims older than 30 days."""
        ...

    # idempotency -------------------------------------------------------------------
    async def get_idempotent(self, agent_id: str, key: str) -> IdempotencyRecord | None: ...

    async def put_idempotent(self, record: IdempotencyRecord) -> None: ...

    # entities and relations ----------------------------------------------------------
    async def create_entities(self, entities: Sequence[Entity]) -> list[Entity]:
        """Create entities whose (namespace, name) does not exist yet; return the new ones."""
        ...

    async def add_observations(
        self, ref: EntityRef, observations: Sequence[Observation], at: datetime
    ) -> list[Observation] | None:
        """Add observations not already present; None when the entity does not exist."""
        ...

    async def update_entity(self, entity: Entity) -> None:
        """Replace type, aliases, tags (and observations) of an existing entity."""
        ...

    async def delete_entities(self, refs: Sequence[EntityRef], at: datetime) -> list[str]:
        """Delete entities and their relations; return the names deleted."""
        ...

    async def delete_observations(
        self, ref: EntityRef, observations: Sequence[str], at: datetime
    ) -> int: ...

    async def create_relations(self, relations: Sequence[Relation]) -> list[Relation]:
        """Create relations whose (namespace, from, type, to) is not current yet; the
        endpoints must exist (missing ones are skipped). Return the new ones."""
        ...

    async def delete_relations(self, relations: Sequence[Relation], at: datetime) -> int: ...

    async def close_relations(
        self, namespace: str, from_entity: str, relation_type: str, at: datetime
    ) -> int:
        """End the validity of the current relations of one type from one entity."""
        ...

    async def read_graph(
        self, namespaces: Sequence[str], cursor: str | None, limit: int
    ) -> GraphPage: ...

    async def search_nodes(
        self, namespaces: Sequence[str], query: str, limit: int
    ) -> list[Entity]:
        """Case-insensitive substring match on name, type and observations."""
        ...

    async def open_nodes(self, namespaces: Sequence[str], names: Sequence[str]) -> GraphPage:
        """The named entities and the relations between them."""
        ...

    async def relations_of(
        self, namespaces: Sequence[str], names: Sequence[str], as_of: datetime | None
    ) -> list[Relation]:
        """Relations touching any of the named entities (current only unless as_of)."""
        ...

    async def all_relations(self, after_id: str | None, limit: int) -> list[Relation]:
        """Every relation, current and closed, of every namespace, ordered by id (paged
        with `after_id`; for export and migration only)."""
        ...

    async def entities_in_text(
        self, namespaces: Sequence[str], text: str, limit: int
    ) -> list[Entity]:
        """Entities whose name (or alias) occurs in `text`, case-insensitively."""
        ...

    # buffers ------------------------------------------------------------------------
    async def buffer_append(self, items: Sequence[BufferItem]) -> None: ...

    async def buffer_read(
        self, agent_id: str, session_id: str, limit: int, include_consolidated: bool = True
    ) -> list[BufferItem]: ...

    async def buffer_mark_consolidated(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Record (buffer item id, memory id) promotions."""
        ...

    async def buffer_clear(self, agent_id: str, session_id: str) -> int: ...

    async def buffer_sessions_older_than(self, before: datetime) -> list[tuple[str, str]]:
        """(agent, session) pairs holding items created before `before`."""
        ...

    async def buffer_delete_before(
        self, agent_id: str, session_id: str, before: datetime
    ) -> int:
        """Delete consolidated items created before `before`; return how many."""
        ...

    # audit and stats -------------------------------------------------------------------
    async def append_audit(self, events: Sequence[AuditEvent]) -> None: ...

    async def audit_events(
        self, namespaces: Sequence[str] | None, after_seq: int, limit: int
    ) -> list[AuditEvent]: ...

    async def last_audit(self) -> AuditEvent | None: ...

    async def stats(self, namespaces: Sequence[str],
                    buffer_agent: str | None = None) -> list[NamespaceStats]:
        """Counts per namespace. Short-term buffers are private to their agent, so with
        `buffer_agent` only that agent's buffer items are counted (what an agent is shown);
        None counts every agent's (operator metrics, migration checks)."""
        ...

    async def audit_query(self, query: AuditQuery, limit: int) -> list[AuditEvent]:
        """Audit entries matching every set field of `query`, at most `limit`, ordered by
        seq (descending with `newest_first`). Entries are returned exactly as stored (the
        caller re-checks hashes)."""
        ...

    async def usage_by_author(
        self, namespaces: Sequence[str] | None
    ) -> dict[str, tuple[int, int]]:
        """Per `created_by` agent: (number of committed memories of any status, total UTF-8
        bytes of their text), over `namespaces` (None: every namespace). Agents without
        memories are absent."""
        ...

    # conflicts (two agents' incompatible facts, see fleetmem.memory.domain.conflicts) ---
    async def create_conflict(
        self, conflict: ConflictRecord, audit: Sequence[AuditEvent]
    ) -> ConflictRecord:
        """Store an open conflict and append `audit`, in one transaction.

        At most one OPEN conflict exists per `pair_key`: when one already exists, store
        nothing, append nothing and return the existing record (a resolved conflict with the
        same key does not count: the disagreement may come back after a resolution)."""
        ...

    async def list_conflicts(
        self, namespaces: Sequence[str], *, status: ConflictStatus | None = None,
        conflict_ids: Sequence[str] = (), memory_ids: Sequence[str] = (), limit: int = 100
    ) -> list[ConflictRecord]:
        """Conflicts in `namespaces` with `status` (None: any), restricted to `conflict_ids`
        and to those whose claim a or b has a memory id in `memory_ids` when those are
        non-empty; oldest first (created_at, then id), at most `limit`. Records come back
        with every field as created, plus status and resolution as last set."""
        ...

    async def resolve_conflict(
        self, conflict_id: str, resolution: Resolution, audit: Sequence[AuditEvent]
    ) -> bool:
        """Compare-and-set: when conflict `conflict_id` exists and is open, set its status
        to resolved and store `resolution`, appending `audit` in the same transaction, and
        return True. Otherwise change nothing, append nothing, and return False (a
        concurrent resolution won, or there is no such conflict)."""
        ...
