"""Resources: one entity (`memory://entity/{name}`) and one namespace summary
(`memory://namespace/{ns}`), as JSON, scoped to what the caller may read."""

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resources.templates import ResourceSecurity

from fleetmem.mcp_server.door import Door, one_line

# Names are data for parameterised queries, never paths: the path checks do not apply.
_NOT_A_PATH = ResourceSecurity(exempt_params=frozenset({"name", "ns"}))


ENTITY_DOC = """One entity (in every namespace you may read) with its observations, its
current relations, the entities at their other ends, and who wrote what and when."""
NAMESPACE_DOC = """A namespace you may read (e.g. agent:<id>, team:<name>, global): your access,
its members, memory/entity/relation counts and its first entities."""


def register(mcp: MCPServer[Any], door: Door) -> None:
    """Add the entity and namespace resources to `mcp`."""

    @mcp.resource("memory://entity/{name}", name="entity", mime_type="application/json",
                  title="An entity of the knowledge graph", security=_NOT_A_PATH,
                  description=one_line(ENTITY_DOC))
    async def entity(name: str, ctx: Context[Any, Any]) -> str:
        with door.reading(ctx) as caller:
            view = await door.service.neighbours(caller, name)
        text: str = view.model_dump_json(by_alias=True, indent=2)
        return text

    @mcp.resource("memory://namespace/{ns}", name="namespace", mime_type="application/json",
                  title="A namespace at a glance", security=_NOT_A_PATH,
                  description=one_line(NAMESPACE_DOC))
    async def namespace(ns: str, ctx: Context[Any, Any]) -> str:
        with door.reading(ctx) as caller:
            view = await door.service.namespace_summary(caller, ns)
        text: str = view.model_dump_json(by_alias=True, indent=2)
        return text
