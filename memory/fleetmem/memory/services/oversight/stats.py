"""Whole-store counts for operators (Prometheus gauges), not scoped to a caller.

Only doors that are themselves operator-facing (the `/metrics` endpoint) call this; it
returns counts, never content.
"""

from __future__ import annotations

from fleetmem.memory.domain.models import NamespaceStats
from fleetmem.memory.services.runtime.context import ServiceContext


async def memory_counts(ctx: ServiceContext) -> list[NamespaceStats]:
    """Counts of memories by status, entities, relations and buffer items per namespace."""
    namespaces = await ctx.upkeep.all_namespaces()
    return await ctx.audit_log.stats(namespaces) if namespaces else []
