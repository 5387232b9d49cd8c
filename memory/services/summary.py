"""A one-namespace summary (counts, access, members, a first page of entities) for
doors that show a namespace at a glance, such as the MCP `memory://namespace/{ns}`
resource."""

from __future__ import annotations

from pydantic import BaseModel, Field

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.context import ServiceContext
from fleetmem.memory.services.views import NamespaceView

_ENTITY_PAGE = 50


class EntityBrief(BaseModel):
    """An entity's name and type only."""

    name: str
    entityType: str  # noqa: N815 - the reference server's field name


class NamespaceSummaryView(BaseModel):
    """One readable namespace: its counts and access, and its first entities."""

    namespace: NamespaceView
    entities: list[EntityBrief] = Field(default_factory=list)
    more_entities: bool = False


async def namespace_summary(ctx: ServiceContext, caller: Caller,
                            namespace: str) -> NamespaceSummaryView:
    """Summarise a namespace the caller may read (Forbidden otherwise)."""
    ctx.policy.check_operation(caller.agent_id, "list_namespaces")
    (ns,) = ctx.policy.scope_reads(caller.agent_id, [namespace])
    writable = set(ctx.policy.writable(caller.agent_id))
    stats = await ctx.graph.stats([ns], buffer_agent=caller.agent_id)
    members = sorted(ctx.policy.team_members.get(ns.removeprefix("team:"), ())) \
        if ns.startswith("team:") else []
    view = NamespaceView.of(stats[0], "read-write" if ns in writable else "read", members)
    page = await ctx.graph.read_graph([ns], None, _ENTITY_PAGE)
    return NamespaceSummaryView(
        namespace=view, more_entities=page.next_cursor is not None,
        entities=[EntityBrief(name=e.name, entityType=e.entity_type) for e in page.entities])
