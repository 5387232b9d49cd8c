"""A one-namespace summary (counts, access, members, a first page of entities) for
doors that show a namespace at a glance, such as the MCP `memory://namespace/{ns}`
resource."""

from __future__ import annotations

from collections.abc import Sequence

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.views.oversight import EntityBrief, NamespaceSummaryView
from fleetmem.memory.services.views.records import NamespaceView

_ENTITY_PAGE = 50


async def namespace_views(ctx: ServiceContext, caller: Caller,
                          namespaces: Sequence[str]) -> list[NamespaceView]:
    """Counts, the caller's access and team members of namespaces the caller may read."""
    writable = set(ctx.policy.writable(caller.agent_id))
    members = ctx.policy.team_members
    stats = await ctx.audit_log.stats(namespaces, buffer_agent=caller.agent_id)
    return [NamespaceView.of(s, "read-write" if s.namespace in writable else "read",
                             sorted(members.get(s.namespace.removeprefix("team:"), ()))
                             if s.namespace.startswith("team:") else [])
            for s in stats]


async def namespace_summary(ctx: ServiceContext, caller: Caller,
                            namespace: str) -> NamespaceSummaryView:
    """Summarise a namespace the caller may read (Forbidden otherwise)."""
    (ns,) = ctx.policy.scope_reads(caller.agent_id, [namespace])
    (view,) = await namespace_views(ctx, caller, [ns])
    page = await ctx.entities.read_graph([ns], None, _ENTITY_PAGE)
    return NamespaceSummaryView(
        namespace=view, more_entities=page.next_cursor is not None,
        entities=[EntityBrief(name=e.name, entityType=e.entity_type) for e in page.entities])
