"""Knowledge-graph tools: the reference memory server's nine tools with the same names and
argument shapes (so existing agent prompts work unchanged), plus optional `namespace`
and paging arguments, and the native `relate`; `tools_entities` adds the per-entity
tools."""

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel, ConfigDict, Field

from fleetmem.mcp_server.door import DESTRUCTIVE, IDEMPOTENT_WRITE, READ, Door, IdempotencyKey
from fleetmem.memory.services import (
    EntitySpec,
    EntityView,
    GraphView,
    ObservationResult,
    RelateResult,
    RelationSpec,
    RelationView,
)

Namespace = Annotated[str | None, Field(
    description="Namespace to work in: 'agent:<your id>' (private, the default), "
                "'team:<name>' or 'global'.")]
ReadNamespaces = Annotated[list[str] | None, Field(
    description="Only these namespaces (default: every namespace you may read).")]


class EntityInput(BaseModel):
    """An entity to create (reference shape)."""

    name: str = Field(description="The entity's name, e.g. 'Alice' or 'payments-api'.")
    entityType: str = Field(description="Its type, e.g. 'person', 'service', 'project'.")  # noqa: N815
    observations: list[str] = Field(default_factory=list,
                                    description="Facts about it, one statement each.")


class RelationInput(BaseModel):
    """A directed relation (reference shape), in active voice: from -relationType-> to."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", description="Source entity name.")
    to: str = Field(description="Target entity name.")
    relationType: str = Field(description="Relation in active voice, e.g. 'works_at'.")  # noqa: N815

    def spec(self) -> RelationSpec:
        """The service's relation spec."""
        return RelationSpec(self.from_, self.to, self.relationType)


class ObservationInput(BaseModel):
    """Observations to add to one entity (reference shape)."""

    entityName: str = Field(description="An existing entity's name.")  # noqa: N815
    contents: list[str] = Field(description="New facts about it, one statement each.")


class ObservationDeletion(BaseModel):
    """Observations to remove from one entity (reference shape)."""

    entityName: str = Field(description="The entity's name.")  # noqa: N815
    observations: list[str] = Field(description="The exact observations to remove.")


class EntitiesResponse(BaseModel):
    """The entities created (names that already existed are skipped)."""

    entities: list[EntityView]


class RelationsResponse(BaseModel):
    """The relations created (a relation already current is not created twice)."""

    relations: list[RelationView]


class ObservationsResponse(BaseModel):
    """The observations actually added, per entity."""

    results: list[ObservationResult]


class DeleteResponse(BaseModel):
    """Outcome of a delete: forgotten items are archived, not destroyed."""

    success: bool = True
    deleted: int
    message: str


def register(mcp: MCPServer[Any], door: Door) -> None:
    """Add the knowledge-graph tools to `mcp`."""

    @mcp.tool(annotations=IDEMPOTENT_WRITE, title="Create entities")
    async def create_entities(ctx: Context[Any, Any], entities: list[EntityInput],
                              namespace: Namespace = None,
                              idempotency_key: IdempotencyKey = None) -> EntitiesResponse:
        """Create multiple new entities in the knowledge graph. Entities whose name already
        exists in the namespace are skipped; use add_observations to add facts to them."""
        with door.calling(ctx) as caller:
            made = await door.service.create_entities(
                caller, [EntitySpec(e.name, e.entityType, e.observations) for e in entities],
                namespace, idempotency_key=idempotency_key)
        return EntitiesResponse(entities=made)

    @mcp.tool(annotations=IDEMPOTENT_WRITE, title="Create relations")
    async def create_relations(
        ctx: Context[Any, Any], relations: list[RelationInput], namespace: Namespace = None,
        one_valued: Annotated[bool, Field(
            description="Each relation has one current value (e.g. works_at): your current "
                        "relations of the same type from the same entity end now, kept as "
                        "history (another agent's stay current and a conflict is opened).")]
        = False,
        idempotency_key: IdempotencyKey = None,
    ) -> RelationsResponse:
        """Create multiple new relations between existing entities of one namespace.
        Relations should be in active voice (from 'Alice' relationType 'works_at' to
        'Acme'). An entity that does not exist in the namespace is an error naming it and
        nothing is written: create the entities first, or use relate. A relation that
        already exists is not created twice."""
        with door.calling(ctx) as caller:
            made = await door.service.create_relations(
                caller, [r.spec() for r in relations], namespace, one_valued=one_valued,
                idempotency_key=idempotency_key)
        return RelationsResponse(relations=made)

    @mcp.tool(annotations=IDEMPOTENT_WRITE, title="Add observations")
    async def add_observations(ctx: Context[Any, Any], observations: list[ObservationInput],
                               namespace: Namespace = None,
                               idempotency_key: IdempotencyKey = None) -> ObservationsResponse:
        """Add new observations (facts) to existing entities. Observations already present
        are skipped; an unknown entity name is an error and nothing is added."""
        with door.calling(ctx) as caller:
            added = await door.service.add_observations(
                caller, [(o.entityName, o.contents) for o in observations], namespace,
                idempotency_key=idempotency_key)
        return ObservationsResponse(results=added)

    @mcp.tool(annotations=DESTRUCTIVE, title="Delete entities")
    async def delete_entities(
        ctx: Context[Any, Any],
        entityNames: Annotated[list[str], Field(description="Names of the entities to "  # noqa: N803
                                                "delete.")],
        namespace: Namespace = None,
        idempotency_key: IdempotencyKey = None,
    ) -> DeleteResponse:
        """Delete entities and their relations from the knowledge graph. The memories written
        for their observations are archived (restorable by an operator)."""
        with door.calling(ctx) as caller:
            deleted = await door.service.delete_entities(caller, entityNames, namespace,
                                                         idempotency_key=idempotency_key)
        return DeleteResponse(deleted=len(deleted),
                              message=f"Deleted {len(deleted)} entities: {', '.join(deleted)}")

    @mcp.tool(annotations=DESTRUCTIVE, title="Delete observations")
    async def delete_observations(ctx: Context[Any, Any], deletions: list[ObservationDeletion],
                                  namespace: Namespace = None,
                                  idempotency_key: IdempotencyKey = None) -> DeleteResponse:
        """Delete specific observations from entities."""
        with door.calling(ctx) as caller:
            n = await door.service.delete_observations(
                caller, [(d.entityName, d.observations) for d in deletions], namespace,
                idempotency_key=idempotency_key)
        return DeleteResponse(deleted=n, message=f"Deleted {n} observations")

    @mcp.tool(annotations=DESTRUCTIVE, title="Delete relations")
    async def delete_relations(ctx: Context[Any, Any], relations: list[RelationInput],
                               namespace: Namespace = None,
                               idempotency_key: IdempotencyKey = None) -> DeleteResponse:
        """Delete specific relations from the knowledge graph."""
        with door.calling(ctx) as caller:
            n = await door.service.delete_relations(caller, [r.spec() for r in relations],
                                                    namespace, idempotency_key=idempotency_key)
        return DeleteResponse(deleted=n, message=f"Deleted {n} relations")

    @mcp.tool(annotations=READ, title="Read the knowledge graph")
    async def read_graph(
        ctx: Context[Any, Any],
        namespaces: ReadNamespaces = None,
        cursor: Annotated[str | None, Field(description="next_cursor from the previous "
                                            "page; omit for the first page.")] = None,
        limit: Annotated[int, Field(description="Entities per page (1..500).")] = 50,
    ) -> GraphView:
        """Read the knowledge graph you can see, one page at a time (entities with their
        observations, and their relations). When next_cursor is set, call again with it
        for the next page. Prefer search_nodes or open_nodes when you know what you want."""
        with door.calling(ctx) as caller:
            return await door.service.read_graph(caller, namespaces, cursor, limit)

    @mcp.tool(annotations=READ, title="Search nodes")
    async def search_nodes(
        ctx: Context[Any, Any],
        query: Annotated[str, Field(description="Text to match against entity names, types "
                                    "and observations.")],
        namespaces: ReadNamespaces = None,
        limit: Annotated[int, Field(description="At most this many entities.")] = 50,
    ) -> GraphView:
        """Search for entities whose name, type or observations contain the query (case
        insensitive); returns them and the relations among them. For questions in natural
        language, recall is better."""
        with door.calling(ctx) as caller:
            return await door.service.search_nodes(caller, query, namespaces, limit)

    @mcp.tool(annotations=READ, title="Open nodes")
    async def open_nodes(
        ctx: Context[Any, Any],
        names: Annotated[list[str], Field(description="Entity names to open.")],
        namespaces: ReadNamespaces = None,
    ) -> GraphView:
        """Open specific entities by name: their observations and the relations among them."""
        with door.calling(ctx) as caller:
            return await door.service.open_nodes(caller, names, namespaces)

    @mcp.tool(annotations=IDEMPOTENT_WRITE, title="Relate two entities")
    async def relate(
        ctx: Context[Any, Any],
        from_entity: Annotated[str, Field(description="Source entity, e.g. 'Alice'.")],
        relation_type: Annotated[str, Field(description="Relation in active voice, e.g. "
                                            "'works_at'.")],
        to_entity: Annotated[str, Field(description="Target entity, e.g. 'Acme'.")],
        namespace: Namespace = None,
        from_type: Annotated[str, Field(description="Type for the source if it must be "
                                        "created.")] = "entity",
        to_type: Annotated[str, Field(description="Type for the target if it must be "
                                      "created.")] = "entity",
        exclusive: Annotated[bool, Field(
            description="The relation has one current value (e.g. works_at): earlier "
                        "relations of this type from the source end now, kept as history."
        )] = False,
        idempotency_key: IdempotencyKey = None,
    ) -> RelateResult:
        """Record that from_entity relation_type to_entity (e.g. Alice works_at Acme),
        creating either entity in the namespace if it does not exist yet. Both ends live in
        one namespace: when an entity exists only in another namespace you can read (e.g.
        your team's), relate refuses rather than create a second copy; relate in that
        namespace instead. Facts change over time: set exclusive=true to close the previous
        value instead of keeping both as current."""
        with door.calling(ctx) as caller:
            return await door.service.relate(caller, from_entity, relation_type, to_entity,
                                             namespace=namespace, from_type=from_type,
                                             to_type=to_type, exclusive=exclusive,
                                             idempotency_key=idempotency_key)
