"""Per-entity tools: get_entity, neighbours, update_entity and rename_entity (the REST
/v1/entities/{name} operations). Each body makes one `MemoryService` call."""

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from fleetmem.mcp_server.door import READ, WRITE, Door, IdempotencyKey
from fleetmem.memory.services import EntityView, GraphView

EntityName = Annotated[str, Field(description="The entity's name (case-insensitive), e.g. "
                                  "'payments-api'.")]
Namespace = Annotated[str | None, Field(
    description="Namespace of the entity: 'agent:<your id>' (private, the default), "
                "'team:<name>' or 'global'.")]


def register(mcp: MCPServer[Any], door: Door) -> None:
    """Add the per-entity tools to `mcp`."""

    @mcp.tool(annotations=READ, title="Get an entity")
    async def get_entity(
        ctx: Context[Any, Any],
        name: EntityName,
        namespace: Annotated[str | None, Field(
            description="Read it from this namespace (default: the first namespace you can "
                        "read that holds it: private, then teams, then global).")] = None,
    ) -> EntityView:
        """Read one entity by name: its type, aliases, tags, observations with who wrote
        each, and attribution. Use neighbours to see its relations too."""
        with door.calling(ctx) as caller:
            return await door.service.get_entity(caller, name, namespace)

    @mcp.tool(annotations=READ, title="An entity's neighbours")
    async def neighbours(
        ctx: Context[Any, Any],
        name: EntityName,
        namespaces: Annotated[list[str] | None, Field(
            description="Only these namespaces (default: every namespace you may read).")]
        = None,
    ) -> GraphView:
        """An entity, its current relations and the entities at their other ends (also
        readable as the resource memory://entity/{name})."""
        with door.calling(ctx) as caller:
            return await door.service.neighbours(caller, name, namespaces)

    @mcp.tool(annotations=WRITE, title="Update an entity")
    async def update_entity(
        ctx: Context[Any, Any],
        name: EntityName,
        namespace: Namespace = None,
        entityType: Annotated[str | None, Field(description="New type (default: "  # noqa: N803
                                                "unchanged).")] = None,
        aliases: Annotated[list[str] | None, Field(description="New aliases, replacing the "
                                                   "old ones (default: unchanged).")] = None,
        tags: Annotated[list[str] | None, Field(description="New tags, replacing the old "
                                                "ones (default: unchanged).")] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> EntityView:
        """Change an entity's type, aliases and/or tags; what you leave out is kept.
        Observations are changed with add_observations and delete_observations."""
        with door.calling(ctx) as caller:
            return await door.service.update_entity(
                caller, name, namespace, entity_type=entityType, aliases=aliases, tags=tags,
                idempotency_key=idempotency_key)

    @mcp.tool(annotations=WRITE, title="Rename an entity")
    async def rename_entity(
        ctx: Context[Any, Any],
        name: EntityName,
        newName: Annotated[str, Field(description="The new name.")],  # noqa: N803
        namespace: Namespace = None,
        idempotency_key: IdempotencyKey = None,
    ) -> EntityView:
        """Rename an entity: its relations and links follow and the old name becomes an
        alias. Fails when another entity of the namespace already has the new name."""
        with door.calling(ctx) as caller:
            return await door.service.rename_entity(caller, name, newName, namespace,
                                                    idempotency_key=idempotency_key)
