"""What `/metrics` may show: store counts and usage as Prometheus metric families.

By default every family is an aggregate over the whole store: no label names a namespace
or an agent, so whoever reaches the port learns neither who exists nor how much each
holds. The per-namespace and per-agent families are added only when the operator turned
`metrics.detail` on, and only for an operator scrape (an admin agent's key, or the
loopback operator port); `OperatorService` decides which a scrape gets.

The families are plain data: doors render them without this package importing
prometheus-client.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from fleetmem.memory.domain.models import NamespaceStats
from fleetmem.memory.services.oversight.stats import memory_counts
from fleetmem.memory.services.oversight.usage import agent_usage
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.views.records import AgentUsageView

Sample = tuple[tuple[str, ...], float]


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """One Prometheus metric family: name, type (counter|gauge), help, label names and
    samples (label values in the order of `labels`, value). Counter names are given
    without `_total`: prometheus-client's CounterMetricFamily appends it."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...]
    samples: tuple[Sample, ...]


DETAIL_LABELS = frozenset({"namespace", "agent"})
"""Label names that only detailed (operator) families carry."""

_USAGE = (
    ("requests", "counter", "Service calls (including refused ones)"),
    ("reads", "counter", "Successful read operations"),
    ("writes", "counter", "Successful write operations"),
    ("write_items", "counter", "Items written (a batch counts each item)"),
    ("denied", "counter", "Calls refused by a role or namespace rule"),
    ("rate_limited", "counter", "Calls refused by a rate limit or quota"),
    ("embed_calls", "counter", "Embedding model calls made for requests"),
    ("embedded_texts", "counter", "Texts embedded for requests"),
    ("stored_memories", "gauge", "Committed memories"),
    ("stored_bytes", "gauge", "UTF-8 bytes of the committed memories"),
)


def count_families(stats: list[NamespaceStats], *, detail: bool) -> list[MetricFamily]:
    """Memories by status, entities, relations and buffer items over the whole store;
    with `detail`, also `fleetmem_namespace_*` families labelled by namespace."""
    by_status: Counter[str] = Counter()
    for s in stats:
        by_status.update(s.memories_by_status)
    out = [
        MetricFamily("fleetmem_memories", "gauge", "Memories by status, all namespaces",
                     ("status",), tuple(((st,), float(n))
                                        for st, n in sorted(by_status.items()))),
        MetricFamily("fleetmem_entities", "gauge", "Entities, all namespaces", (),
                     (((), float(sum(s.entities for s in stats))),)),
        MetricFamily("fleetmem_relations", "gauge", "Relations, all namespaces", (),
                     (((), float(sum(s.relations for s in stats))),)),
        MetricFamily("fleetmem_buffer_items", "gauge", "Short-term buffer items, all "
                     "namespaces", (), (((), float(sum(s.buffer_items for s in stats))),)),
    ]
    if not detail:
        return out
    out += [
        MetricFamily("fleetmem_namespace_memories", "gauge", "Memories by namespace and "
                     "status", ("namespace", "status"),
                     tuple(((s.namespace, st), float(n)) for s in stats
                           for st, n in sorted(s.memories_by_status.items()))),
        MetricFamily("fleetmem_namespace_entities", "gauge", "Entities by namespace",
                     ("namespace",), tuple(((s.namespace,), float(s.entities))
                                           for s in stats)),
        MetricFamily("fleetmem_namespace_relations", "gauge", "Relations by namespace",
                     ("namespace",), tuple(((s.namespace,), float(s.relations))
                                           for s in stats)),
        MetricFamily("fleetmem_namespace_buffer_items", "gauge", "Short-term buffer items "
                     "by namespace", ("namespace",),
                     tuple(((s.namespace,), float(s.buffer_items)) for s in stats)),
    ]
    return out


def usage_families(rows: list[AgentUsageView], *, detail: bool) -> list[MetricFamily]:
    """`fleetmem_usage_<field>`: every agent's usage summed; with `detail`, also
    `fleetmem_agent_<field>` labelled by agent."""
    out = [MetricFamily(f"fleetmem_usage_{field}", kind, f"{text}, all agents", (),
                        (((), float(sum(getattr(r, field) for r in rows))),))
           for field, kind, text in _USAGE]
    if detail:
        out += [MetricFamily(f"fleetmem_agent_{field}", kind, f"{text}, by agent", ("agent",),
                             tuple(((r.agent_id,), float(getattr(r, field))) for r in rows))
                for field, kind, text in _USAGE]
    return out


async def families(ctx: ServiceContext, *, detail: bool) -> list[MetricFamily]:
    """Every store-count and usage family of one scrape (detailed ones only if asked)."""
    return (count_families(await memory_counts(ctx), detail=detail)
            + usage_families(await agent_usage(ctx), detail=detail))
