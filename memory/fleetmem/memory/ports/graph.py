"""The `EntityGraph` port: entities, their observations, and the relations between them.

The knowledge-graph use cases (create, observe, relate, delete, read, search, open, and
the entity lookups of recall and remember) need only this.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from fleetmem.memory.domain.models import Entity, GraphPage, Observation, Relation
from fleetmem.memory.ports.values import EntityRef


class EntityGraph(Protocol):
    """Entities and relations in the graph tier. Each method is atomic."""

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
        endpoints must exist (a relation whose end is missing is skipped: the service
        refuses such a request before calling this, so only an end deleted concurrently
        is skipped here). Return the new ones."""
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
