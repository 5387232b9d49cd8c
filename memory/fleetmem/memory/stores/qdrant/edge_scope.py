"""The namespaces and statuses a Qdrant Edge shard's points may hold, so that a search can
leave out a payload filter that every point of the shard passes.

A recall's default filter (and a write's near-duplicate search) names only namespaces and
statuses. In a store of one agent (one namespace, every memory active) every point passes
it, yet Qdrant Edge checks it point by point: the exact search of a 50k-point active shard
took 8.3 ms with the filter and 4.3 ms without, an indexed 50k shard 1.3 against 0.9 ms
(bench/OTHER_RUNS.md, issue 22).

A shard's `Scope` is a superset of the values its points hold: read from the shard's
payload indexes when it is opened (facets), widened by every upsert, never narrowed by a
delete (a value left behind only costs the shortcut). So when the filter's namespaces and
statuses include the shard's, every point passes and the search without the filter
returns the same points. Any other filter condition (kinds, tags, author, metadata, dates,
`as_of`) keeps the filter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import qdrant_edge as qe

from fleetmem.memory.ports import MemoryFilter

FACET_LIMIT = 1_000
"""The most distinct values read per key when a shard is opened; a shard with more
namespaces than this keeps its filter (its scope is unknown)."""


@dataclass
class Scope:
    """What one shard's points may hold (None: not known, the filter stays)."""

    namespaces: set[str] | None = field(default_factory=set)
    statuses: set[str] | None = field(default_factory=set)

    @classmethod
    def of(cls, shard: qe.EdgeShard) -> Scope:
        """The values the shard's points hold now (its payload indexes' facets)."""
        points = int(shard.count(qe.CountRequest(exact=True)))
        return cls(_values(shard, "namespace", points), _values(shard, "status", points))

    def add(self, namespace: str, status: str) -> None:
        """Widen the scope by a point written to the shard."""
        if self.namespaces is not None:
            self.namespaces.add(namespace)
        if self.statuses is not None:
            self.statuses.add(status)

    def union(self, other: Scope) -> Scope:
        """What either scope's points may hold (the scope of a shard merged from both)."""
        def both(a: set[str] | None, b: set[str] | None) -> set[str] | None:
            return None if a is None or b is None else a | b
        return Scope(both(self.namespaces, other.namespaces), both(self.statuses, other.statuses))

    def passes(self, flt: MemoryFilter) -> bool:
        """Whether every point of the shard passes `flt` (which then need not be applied):
        the filter names only namespaces and statuses, and includes all of the shard's."""
        if not flt.scope_only or self.namespaces is None or self.statuses is None:
            return False
        return self.namespaces <= set(flt.namespaces) \
            and self.statuses <= {s.value for s in flt.statuses}


def _values(shard: qe.EdgeShard, key: str, points: int) -> set[str] | None:
    """The distinct values of a keyword field, or None when they cannot all be read or a
    point lacks the field (it would fail the filter but pass an unfiltered search)."""
    try:
        hits = shard.facet(qe.FacetRequest(key=key, limit=FACET_LIMIT, exact=True)).hits
    except Exception:  # e.g. no payload index on the key: the filter stays
        return None
    if len(hits) >= FACET_LIMIT or sum(int(h.count) for h in hits) != points:
        return None
    return {str(h.value) for h in hits}
