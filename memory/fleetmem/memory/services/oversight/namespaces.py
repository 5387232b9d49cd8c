"""A one-namespace summary (counts, access, members, a first page of entities) for
doors that show a namespace at a glance, such as the MCP `memory://namespace/{ns}`
resource."""

from __future__ import annotations

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.views.oversight import EntityBrief, NamespaceSummaryView
from fleetmem.memory.services.views.records import NamespaceView

_ENTITY_PAGE = 50


async def namespace_summary(ctx: ServiceContext, caller: Caller,
                            namespace: str) -> NamespaceSummaryView:
    """Summarise a namespace the caller may read (Forbidden otherwise)."""
    (ns,) = ctx.policy.scope_reads(caller.agent_id, [namespace])
    writable = set(ctx.policy.writable(caller.agent_id))
    stats = await ctx.audit_log.stats([ns], buffer_agent=caller.agent_id)
    members = sorted(ctx.policy.team_members.get(ns.removeprefix("team:"), ())) \
        if ns.startswith("team:") else []
    view = NamespaceView.of(stats[0], "read-write" if ns in writable else "read", members)
    page = await ctx.entities.read_graph([ns], None, _ENTITY_PAGE)
    return NamespaceSummaryView(
        namespace=view, more_entities=page.next_cursor is not None,
        entities=[EntityBrief(name=e.name, entityType=e.entity_type) for e in page.entities])
