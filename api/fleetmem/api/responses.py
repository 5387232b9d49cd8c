"""REST list envelopes and small results (`...Response`) that are not service views.

Lists carry `next_cursor`: pass it back as `cursor` for the next page (null: the end).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from fleetmem.memory.services import (
    AuditEventView,
    BufferItemView,
    ConflictView,
    EntityView,
    MemoryView,
    NamespaceView,
    ObservationResult,
    RelationView,
)


class MemoriesResponse(BaseModel):
    """A page of active memories ordered by id; pass `next_cursor` as `cursor`."""

    items: list[MemoryView]
    next_cursor: str | None = Field(default=None, description="The id of the last memory "
                                    "of this page, or null at the end.")


class MemoryHistoryResponse(BaseModel):
    """The versions of a memory, oldest first (the whole chain: `next_cursor` is null)."""

    items: list[MemoryView]
    next_cursor: str | None = None


class EntitiesResponse(BaseModel):
    """Entities created (existing names are not repeated)."""

    entities: list[EntityView]


class RelationsResponse(BaseModel):
    """Relations created (duplicates are not repeated)."""

    relations: list[RelationView]


class ObservationsResponse(BaseModel):
    """Observations actually added, per entity."""

    results: list[ObservationResult]


class DeletedEntitiesResponse(BaseModel):
    """Names of the entities deleted."""

    deleted: list[str]


class CountResponse(BaseModel):
    """How many items the operation affected."""

    count: int


class BufferItemsResponse(BaseModel):
    """The latest items of a session buffer, oldest first (`limit` bounds the page)."""

    items: list[BufferItemView]
    next_cursor: str | None = None


class NamespacesResponse(BaseModel):
    """Every namespace the caller can see (the whole list: `next_cursor` is null)."""

    items: list[NamespaceView]
    next_cursor: str | None = None


class AuditEventsResponse(BaseModel):
    """A page of audit events; pass `next_cursor` as `cursor` for the next page."""

    items: list[AuditEventView]
    next_cursor: str | None = Field(default=None, description="The seq of the last event "
                                    "of this page, or null at the end.")


class ConflictsResponse(BaseModel):
    """Conflicts, oldest first (`limit` bounds the list: `next_cursor` is null)."""

    items: list[ConflictView]
    next_cursor: str | None = None
