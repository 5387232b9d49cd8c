"""Pure domain values: memories, entities, relations, buffer items, audit events.

Every value is frozen; changes produce new values (`dataclasses.replace`). Nothing here
does I/O, and time is always passed in.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


class MemoryKind(enum.StrEnum):
    """What kind of long-term memory a record is; kinds decay at different speeds."""

    FACT = "fact"
    EPISODE = "episode"
    PREFERENCE = "preference"
    PROCEDURE = "procedure"
    OBSERVATION = "observation"


class MemoryStatus(enum.StrEnum):
    """Lifecycle of a memory: only `active` ones are recalled by default."""

    ACTIVE = "active"
    ARCHIVED = "archived"
    SUPERSEDED = "superseded"


class CommitState(enum.StrEnum):
    """Write-path progress: a `pending` memory is invisible until the repair pass or the
    write itself finishes it."""

    PENDING = "pending"
    COMMITTED = "committed"


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who wrote something, when, on whose behalf and in which workflow."""

    created_by: str
    created_at: datetime
    on_behalf_of: str | None = None
    workflow_id: str | None = None
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class Memory:
    """One long-term memory: text, kind, namespace, attribution, validity and usage."""

    id: str
    namespace: str
    text: str
    kind: MemoryKind
    importance: float
    tags: tuple[str, ...]
    attribution: Attribution
    updated_at: datetime
    valid_from: datetime
    valid_to: datetime | None = None
    status: MemoryStatus = MemoryStatus.ACTIVE
    pinned: bool = False
    access_count: int = 0
    last_accessed_at: datetime | None = None
    supersedes: str | None = None
    superseded_by: str | None = None
    content_hash: str = ""
    commit_state: CommitState = CommitState.PENDING
    entity_names: tuple[str, ...] = ()
    metadata: Mapping[str, object] = field(default_factory=dict)
    """The writer's own JSON object (source ids, ...), bounded (`domain.metadata`)."""

    @property
    def created_at(self) -> datetime:
        """When the memory was written (from its attribution)."""
        return self.attribution.created_at

    def valid_at(self, when: datetime) -> bool:
        """Return whether the memory's validity interval contains `when`."""
        return self.valid_from <= when and (self.valid_to is None or when < self.valid_to)


@dataclass(frozen=True, slots=True)
class Observation:
    """One observation about an entity, with its author and time."""

    text: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Entity:
    """A named node in a namespace's graph (reference knowledge-graph server semantics)."""

    id: str
    namespace: str
    name: str
    entity_type: str
    attribution: Attribution
    updated_at: datetime
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    observations: tuple[Observation, ...] = ()
    status: MemoryStatus = MemoryStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class Relation:
    """A typed, directed relation between two entities of one namespace, valid over time."""

    id: str
    namespace: str
    from_entity: str
    to_entity: str
    relation_type: str
    attribution: Attribution
    valid_from: datetime
    valid_to: datetime | None = None


@dataclass(frozen=True, slots=True)
class BufferItem:
    """One short-term buffer entry of an agent's session (a turn, a tool result, a note)."""

    id: str
    agent_id: str
    session_id: str
    namespace: str
    role: str
    text: str
    created_at: datetime
    importance: float = 0.5
    consolidated_into: str | None = None
    workflow_id: str | None = None
    on_behalf_of: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One entry of the append-only, hash-chained audit log."""

    seq: int
    at: datetime
    agent_id: str
    operation: str
    outcome: str
    namespace: str | None = None
    target_ids: tuple[str, ...] = ()
    on_behalf_of: str | None = None
    workflow_id: str | None = None
    detail: str = ""
    prev_hash: str = ""
    hash: str = ""


@dataclass(frozen=True, slots=True)
class GraphPage:
    """A page of a namespace-scoped graph read."""

    entities: tuple[Entity, ...]
    relations: tuple[Relation, ...]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class NamespaceStats:
    """Counts for one namespace, as the caller may see them."""

    namespace: str
    memories_by_status: dict[str, int] = field(default_factory=dict)
    entities: int = 0
    relations: int = 0
    buffer_items: int = 0
