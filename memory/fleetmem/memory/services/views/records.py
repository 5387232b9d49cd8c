"""What the service returns: pydantic views that every door serialises as they are.

REST uses them as response models and MCP as structured tool output, so a result looks the
same through every door and attribution is always included.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from fleetmem.memory.domain.models import (
    AuditEvent,
    BufferItem,
    Entity,
    Memory,
    NamespaceStats,
    Relation,
)


class AttributionView(BaseModel):
    """Who wrote it, when, for whom, in which workflow and session."""

    created_by: str
    created_at: datetime
    on_behalf_of: str | None = None
    workflow_id: str | None = None
    session_id: str | None = None


class MemoryView(BaseModel):
    """One long-term memory with its attribution, validity and usage."""

    id: str
    namespace: str
    text: str
    kind: str
    importance: float
    tags: list[str]
    status: str
    pinned: bool
    attribution: AttributionView
    updated_at: datetime
    valid_from: datetime
    valid_to: datetime | None = None
    access_count: int
    last_accessed_at: datetime | None = None
    supersedes: str | None = None
    superseded_by: str | None = None
    entities: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, m: Memory) -> MemoryView:
        """Build the view of a domain memory. Not validated again: a `Memory` holds these
        types already (recall builds one per hit, and validating was most of that)."""
        a = m.attribution
        return cls.model_construct(
            id=m.id, namespace=m.namespace, text=m.text, kind=m.kind.value,
            importance=m.importance, tags=list(m.tags), status=m.status.value, pinned=m.pinned,
            attribution=AttributionView.model_construct(
                created_by=a.created_by, created_at=a.created_at, on_behalf_of=a.on_behalf_of,
                workflow_id=a.workflow_id, session_id=a.session_id),
            updated_at=m.updated_at, valid_from=m.valid_from, valid_to=m.valid_to,
            access_count=m.access_count, last_accessed_at=m.last_accessed_at,
            supersedes=m.supersedes, superseded_by=m.superseded_by,
            entities=list(m.entity_names), metadata=dict(m.metadata),
        )


class EmbeddingView(BaseModel):
    """A memory's vector and the model that made it (export with vectors)."""

    model: str
    vector: list[float]


class ExportedMemory(MemoryView):
    """An export line: the memory, and its vector when the export asked for vectors."""

    embedding: EmbeddingView | None = None


class RememberResult(BaseModel):
    """Outcome of writing one memory."""

    id: str
    namespace: str
    deduplicated: bool = False
    redactions: int = 0
    status: str = "active"


class RememberBatchResult(BaseModel):
    """Outcome of a batch write, in input order."""

    results: list[RememberResult]


class RecallHit(BaseModel):
    """One recalled memory, why it scored, and whether it is disputed.

    `sources` names the retrievals that found it: `dense` (meaning), `keyword` (BM25),
    `graph` (about an entity the query names, or a neighbour), `hop` (about the entity at
    the other end of a relation the query asks about); `why.graph` includes `hop`.
    """

    memory: MemoryView
    score: float
    why: dict[str, float]
    sources: list[str]
    disputed: bool = False


class BufferItemView(BaseModel):
    """One short-term buffer entry."""

    id: str
    agent_id: str
    session_id: str
    namespace: str
    role: str
    text: str
    created_at: datetime
    importance: float
    consolidated_into: str | None = None
    workflow_id: str | None = None
    on_behalf_of: str | None = None

    @classmethod
    def of(cls, b: BufferItem) -> BufferItemView:
        """Build the view of a buffer item."""
        return cls(id=b.id, agent_id=b.agent_id, session_id=b.session_id, namespace=b.namespace,
                   role=b.role, text=b.text, created_at=b.created_at, importance=b.importance,
                   consolidated_into=b.consolidated_into, workflow_id=b.workflow_id,
                   on_behalf_of=b.on_behalf_of)


class RecallResult(BaseModel):
    """Recall answer: short-term items of the session first, then long-term hits."""

    query: str
    hits: list[RecallHit]
    short_term: list[BufferItemView] = Field(default_factory=list)
    namespaces: list[str]
    tokens: int = 0


class ObservationView(BaseModel):
    """An observation with its author and date."""

    text: str
    created_by: str
    created_at: datetime


class EntityView(BaseModel):
    """An entity (reference-server shape `name`, `entityType`, `observations`, plus ours)."""

    name: str
    entityType: str  # noqa: N815 - the reference server's field name
    observations: list[str]
    id: str
    namespace: str
    aliases: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    attribution: AttributionView
    updated_at: datetime
    observation_details: list[ObservationView] = Field(default_factory=list)

    @classmethod
    def of(cls, e: Entity) -> EntityView:
        """Build the view of an entity."""
        a = e.attribution
        return cls(
            name=e.name, entityType=e.entity_type, observations=[o.text for o in e.observations],
            id=e.id, namespace=e.namespace, aliases=list(e.aliases), tags=list(e.tags),
            attribution=AttributionView(created_by=a.created_by, created_at=a.created_at,
                                        on_behalf_of=a.on_behalf_of, workflow_id=a.workflow_id),
            updated_at=e.updated_at,
            observation_details=[ObservationView(text=o.text, created_by=o.created_by,
                                                 created_at=o.created_at)
                                 for o in e.observations],
        )


class RelationView(BaseModel):
    """A relation (reference-server shape `from`, `to`, `relationType`, plus validity)."""

    from_: str = Field(alias="from", serialization_alias="from")
    to: str
    relationType: str  # noqa: N815 - the reference server's field name
    id: str
    namespace: str
    attribution: AttributionView
    valid_from: datetime
    valid_to: datetime | None = None

    model_config = {"populate_by_name": True}

    @classmethod
    def of(cls, r: Relation) -> RelationView:
        """Build the view of a relation."""
        a = r.attribution
        return cls(**{"from": r.from_entity}, to=r.to_entity, relationType=r.relation_type,
                   id=r.id, namespace=r.namespace,
                   attribution=AttributionView(created_by=a.created_by, created_at=a.created_at,
                                               on_behalf_of=a.on_behalf_of,
                                               workflow_id=a.workflow_id),
                   valid_from=r.valid_from, valid_to=r.valid_to)


class GraphView(BaseModel):
    """A page of the knowledge graph."""

    entities: list[EntityView]
    relations: list[RelationView]
    next_cursor: str | None = None


class ObservationResult(BaseModel):
    """Observations actually added to one entity (reference shape)."""

    entityName: str  # noqa: N815
    addedObservations: list[str]  # noqa: N815


class ConsolidateResult(BaseModel):
    """What a consolidation promoted into long-term memory."""

    agent_id: str
    session_id: str
    promoted: list[RememberResult]
    skipped: int = 0


class NamespaceView(BaseModel):
    """A namespace the caller can see, with its access and counts."""

    namespace: str
    access: str
    memories: dict[str, int] = Field(default_factory=dict)
    entities: int = 0
    relations: int = 0
    buffer_items: int = 0
    members: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, s: NamespaceStats, access: str, members: list[str]) -> NamespaceView:
        """Build the view of one namespace's stats."""
        return cls(namespace=s.namespace, access=access, memories=dict(s.memories_by_status),
                   entities=s.entities, relations=s.relations, buffer_items=s.buffer_items,
                   members=members)


class AgentUsageView(BaseModel):
    """What one agent did since the service started, and what it has stored."""

    agent_id: str
    requests: int = 0
    reads: int = 0
    writes: int = 0
    write_items: int = 0
    denied: int = 0
    rate_limited: int = 0
    embed_calls: int = 0
    embedded_texts: int = 0
    stored_memories: int = 0
    stored_bytes: int = 0


class StatsView(BaseModel):
    """Counts over every namespace the caller may read."""

    agent_id: str
    namespaces: list[NamespaceView]
    total_memories: int
    embedding_model: str
    usage: list[AgentUsageView] = Field(default_factory=list)
    """The caller's usage (every agent's for an admin); see `services.oversight.usage`."""


class AuditEventView(BaseModel):
    """One audit entry."""

    seq: int
    at: datetime
    agent_id: str
    operation: str
    outcome: str
    namespace: str | None
    target_ids: list[str]
    on_behalf_of: str | None
    workflow_id: str | None
    detail: str
    hash: str

    @classmethod
    def of(cls, e: AuditEvent) -> AuditEventView:
        """Build the view of an audit event."""
        return cls(seq=e.seq, at=e.at, agent_id=e.agent_id, operation=e.operation,
                   outcome=e.outcome, namespace=e.namespace, target_ids=list(e.target_ids),
                   on_behalf_of=e.on_behalf_of, workflow_id=e.workflow_id, detail=e.detail,
                   hash=e.hash)
