"""`MemoryService` methods over the knowledge graph (entities, relations, observations)
and the conflicts between agents' facts; each declares its operation and delegates."""

from __future__ import annotations

from collections.abc import Sequence

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.graph import conflicts, edits, lookup
from fleetmem.memory.services.graph import entities as graph_ops
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.services.graph.relate import relate
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.runtime.governance import operation
from fleetmem.memory.services.runtime.operations import READ, WRITE
from fleetmem.memory.services.views.oversight import ConflictView, RelateResult
from fleetmem.memory.services.views.records import (
    EntityView,
    GraphView,
    ObservationResult,
    RelationView,
)


class GraphMethods:
    """The reference memory server's graph operations, plus relate, edits and conflicts."""

    ctx: ServiceContext

    @operation("create_entities", WRITE, cost="entities")
    async def create_entities(self, caller: Caller, entities: Sequence[EntitySpec],
                              namespace: str | None = None, *,
                              idempotency_key: str | None = None) -> list[EntityView]:
        """Create entities (existing names are skipped, as in the reference server)."""
        return await graph_ops.create_entities(self.ctx, caller, entities, namespace)

    @operation("create_relations", WRITE, cost="relations")
    async def create_relations(self, caller: Caller, relations: Sequence[RelationSpec],
                               namespace: str | None = None, *, one_valued: bool = False,
                               idempotency_key: str | None = None) -> list[RelationView]:
        """Create relations between existing entities."""
        return await graph_ops.create_relations(self.ctx, caller, relations, namespace,
                                                one_valued=one_valued)

    # relate creates the endpoints it is missing, so it needs both permissions.
    @operation("create_relations", WRITE, also=("create_entities",))
    async def relate(self, caller: Caller, from_entity: str, relation_type: str,
                     to_entity: str, *, namespace: str | None = None,
                     from_type: str = "entity", to_type: str = "entity",
                     exclusive: bool = False,
                     idempotency_key: str | None = None) -> RelateResult:
        """One relation, creating missing endpoint entities; `exclusive` closes old values."""
        return await relate(self.ctx, caller, from_entity, relation_type, to_entity,
                            namespace=namespace, from_type=from_type, to_type=to_type,
                            exclusive=exclusive)

    @operation("add_observations", WRITE, cost="items")
    async def add_observations(self, caller: Caller,
                               items: Sequence[tuple[str, Sequence[str]]],
                               namespace: str | None = None, *,
                               idempotency_key: str | None = None) -> list[ObservationResult]:
        """Add observations to existing entities."""
        return await graph_ops.add_observations(self.ctx, caller, items, namespace)

    @operation("delete_entities", WRITE, cost="names")
    async def delete_entities(self, caller: Caller, names: Sequence[str],
                              namespace: str | None = None, *,
                              idempotency_key: str | None = None) -> list[str]:
        """Delete entities and their relations (their memories are archived)."""
        return await graph_ops.delete_entities(self.ctx, caller, names, namespace)

    @operation("delete_observations", WRITE, cost="items")
    async def delete_observations(self, caller: Caller,
                                  items: Sequence[tuple[str, Sequence[str]]],
                                  namespace: str | None = None, *,
                                  idempotency_key: str | None = None) -> int:
        """Delete observations from entities."""
        return await graph_ops.delete_observations(self.ctx, caller, items, namespace)

    @operation("delete_relations", WRITE, cost="relations")
    async def delete_relations(self, caller: Caller, relations: Sequence[RelationSpec],
                               namespace: str | None = None, *,
                               idempotency_key: str | None = None) -> int:
        """Delete relations."""
        return await graph_ops.delete_relations(self.ctx, caller, relations, namespace)

    @operation("read_graph", READ, bulk=True)
    async def read_graph(self, caller: Caller, namespaces: Sequence[str] | None = None,
                         cursor: str | None = None, limit: int = 50) -> GraphView:
        """A page of the readable graph."""
        return await graph_ops.read_graph(self.ctx, caller, namespaces, cursor, limit)

    @operation("search_nodes", READ)
    async def search_nodes(self, caller: Caller, query: str,
                           namespaces: Sequence[str] | None = None,
                           limit: int = 50) -> GraphView:
        """Substring search over entity names, types and observations."""
        return await graph_ops.search_nodes(self.ctx, caller, query, namespaces, limit)

    @operation("open_nodes", READ)
    async def open_nodes(self, caller: Caller, names: Sequence[str],
                         namespaces: Sequence[str] | None = None) -> GraphView:
        """The named entities and the relations among them."""
        return await graph_ops.open_nodes(self.ctx, caller, names, namespaces)

    @operation("open_nodes", READ)
    async def neighbours(self, caller: Caller, name: str,
                         namespaces: Sequence[str] | None = None) -> GraphView:
        """An entity with its relations and neighbouring entities."""
        return await graph_ops.neighbours(self.ctx, caller, name, namespaces)

    # An entity is both a record ("get") and a node ("open_nodes"): roles may deny either.
    @operation("get", READ, also=("open_nodes",))
    async def get_entity(self, caller: Caller, name: str,
                         namespace: str | None = None) -> EntityView:
        """One entity by name (first readable namespace holding it), or NotFound."""
        return await lookup.get_entity(self.ctx, caller, name, namespace)

    @operation("create_entities", WRITE)
    async def update_entity(self, caller: Caller, name: str, namespace: str | None = None, *,
                            entity_type: str | None = None, aliases: Sequence[str] | None = None,
                            tags: Sequence[str] | None = None,
                            idempotency_key: str | None = None) -> EntityView:
        """Replace an entity's type, aliases and/or tags (None keeps a field)."""
        return await edits.update_entity(self.ctx, caller, name, namespace,
                                          entity_type=entity_type, aliases=aliases, tags=tags)

    @operation("create_entities", WRITE, also=("delete_entities",))
    async def rename_entity(self, caller: Caller, name: str, new_name: str,
                            namespace: str | None = None, *,
                            idempotency_key: str | None = None) -> EntityView:
        """Rename an entity; relations and wikilinks in observations follow it."""
        return await edits.rename_entity(self.ctx, caller, name, new_name, namespace)

    # conflicts ------------------------------------------------------------------------
    @operation("conflicts_list", READ)
    async def conflicts_list(self, caller: Caller, *, status: str | None = "open",
                             namespace: str | None = None,
                             limit: int = 100) -> list[ConflictView]:
        """Conflicts between agents' facts in the caller's readable namespaces."""
        return await conflicts.list_conflicts(self.ctx, caller, status=status,
                                              namespace=namespace, limit=limit)

    @operation("conflicts_resolve", WRITE)
    async def conflicts_resolve(self, caller: Caller, conflict_id: str, keep: str,
                                note: str = "", *,
                                idempotency_key: str | None = None) -> ConflictView:
        """Resolve a conflict keeping claim a, b or both; records who chose what."""
        return await conflicts.resolve(self.ctx, caller, conflict_id, keep, note)
