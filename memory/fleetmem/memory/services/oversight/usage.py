"""Per-agent usage: requests, reads, writes, refusals and embedding calls (counted in this
process by the governance wrapper) plus stored memories and bytes (counted in the store).

`agent_usage` is for operator-facing doors (`/metrics`); `usage_for` is what a caller may
see (its own usage; admins see every agent's). `usage_metric_families` shapes the rows for
a Prometheus collector without importing prometheus-client here.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """One Prometheus metric family: name, type (counter|gauge), help, samples by agent."""

    name: str
    kind: str
    help: str
    samples: tuple[tuple[str, float], ...]
    """(agent_id, value) pairs; the label name is `agent`."""


_FAMILIES = (
    ("requests", "counter", "Service calls by agent (including refused ones)"),
    ("reads", "counter", "Successful read operations by agent"),
    ("writes", "counter", "Successful write operations by agent"),
    ("write_items", "counter", "Items written by agent (a batch counts each item)"),
    ("denied", "counter", "Calls refused by a role or namespace rule, by agent"),
    ("rate_limited", "counter", "Calls refused by a rate limit or quota, by agent"),
    ("embed_calls", "counter", "Embedding model calls made for the agent's requests"),
    ("embedded_texts", "counter", "Texts embedded for the agent's requests"),
    ("stored_memories", "gauge", "Committed memories written by the agent"),
    ("stored_bytes", "gauge", "UTF-8 bytes of the memories written by the agent"),
)


def usage_metric_families(rows: list[AgentUsageView]) -> list[MetricFamily]:
    """Prometheus families `fleetmem_agent_<field>` labelled by `agent`. Names are given
    without `_total`: prometheus-client's CounterMetricFamily appends it for counters."""
    out = []
    for field, kind, help_text in _FAMILIES:
        out.append(MetricFamily(f"fleetmem_agent_{field}", kind, help_text,
                                tuple((r.agent_id, float(getattr(r, field))) for r in rows)))
    return out
