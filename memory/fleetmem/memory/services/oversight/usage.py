"""Per-agent usage: requests, reads, writes, refusals and embedding calls (counted in this
process by the governance wrapper) plus stored memories and bytes (counted in the store).

`agent_usage` is for operator work (`oversight.metrics` sums it for `/metrics`, and names
agents only in a detailed operator scrape); `usage_for` is what a caller may see (its own
usage; admins see every agent's).
"""

from __future__ import annotations

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.runtime.quotas import AgentUsage
from fleetmem.memory.services.views.records import AgentUsageView


def _view(agent_id: str, usage: AgentUsage | None, stored: tuple[int, int]) -> AgentUsageView:
    counters = usage.as_dict() if usage is not None else {}
    return AgentUsageView(agent_id=agent_id, stored_memories=stored[0],
                          stored_bytes=stored[1], **counters)


async def agent_usage(ctx: ServiceContext) -> list[AgentUsageView]:
    """Every agent's usage over the whole store (operators only: no caller scoping)."""
    stored = await ctx.audit_log.usage_by_author(None)
    agents = sorted(set(stored) | set(ctx.governor.usage))
    return [_view(a, ctx.governor.usage.get(a), stored.get(a, (0, 0))) for a in agents]


async def usage_for(ctx: ServiceContext, caller: Caller) -> list[AgentUsageView]:
    """The caller's own usage (stored counts over its readable namespaces); every agent's
    for an admin."""
    if ctx.policy.principal(caller.agent_id).admin:
        return await agent_usage(ctx)
    stored = await ctx.audit_log.usage_by_author(ctx.policy.readable(caller.agent_id))
    return [_view(caller.agent_id, ctx.governor.usage.get(caller.agent_id),
                  stored.get(caller.agent_id, (0, 0)))]
