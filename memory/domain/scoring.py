"""Ranking and decay math (pure): reciprocal rank fusion, recency, retention."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from fleetmem.memory.domain.models import Memory, MemoryKind

RRF_K = 60

DEFAULT_HALF_LIFE_DAYS: Mapping[MemoryKind, float] = {
    MemoryKind.EPISODE: 14.0,
    MemoryKind.OBSERVATION: 30.0,
    MemoryKind.FACT: 90.0,
    MemoryKind.PROCEDURE: 180.0,
    MemoryKind.PREFERENCE: 365.0,
}


def rrf(rankings: Mapping[str, Sequence[str]], k: int = RRF_K) -> dict[str, dict[str, float]]:
    """Fuse ranked id lists; return per id the contribution of each source.

    Args:
        rankings: source name -> ids best first.
        k: the RRF damping constant.
    """
    fused: dict[str, dict[str, float]] = {}
    for source, ids in rankings.items():
        for rank, mid in enumerate(ids):
            fused.setdefault(mid, {})[source] = 1.0 / (k + rank + 1)
    return fused


def strength(memory: Memory) -> float:
    """How strongly a memory resists decay: grows with importance and use (>= 0.5)."""
    return (0.5 + memory.importance) * (1.0 + math.log1p(memory.access_count))


def retention(memory: Memory, now: datetime,
              half_lives: Mapping[MemoryKind, float] = DEFAULT_HALF_LIFE_DAYS) -> float:
    """Return the retention in [0, 1]: exp(-age / (half_life * strength)); pinned is 1.

    Age counts from the last access (or creation), so use reinforces.
    """
    if memory.pinned:
        return 1.0
    last = memory.last_accessed_at or memory.created_at
    age_days = max(0.0, (now - last).total_seconds() / 86400.0)
    half_life = half_lives.get(memory.kind, 30.0)
    return math.exp(-age_days * math.log(2) / (half_life * strength(memory)))


@dataclass(frozen=True, slots=True)
class ScoreBreakdown:
    """Why a hit scored what it did: each retrieval source's RRF part and each boost."""

    dense: float
    keyword: float
    graph: float
    recency: float
    importance: float
    retention: float
    total: float

    def as_dict(self) -> dict[str, float]:
        """Return the breakdown as a plain mapping (rounded for readability)."""
        return {
            "dense": round(self.dense, 6), "keyword": round(self.keyword, 6),
            "graph": round(self.graph, 6), "recency": round(self.recency, 4),
            "importance": round(self.importance, 4), "retention": round(self.retention, 4),
            "total": round(self.total, 6),
        }


def rescore(parts: Mapping[str, float], memory: Memory, now: datetime,
            half_lives: Mapping[MemoryKind, float] = DEFAULT_HALF_LIFE_DAYS) -> ScoreBreakdown:
    """Combine fused relevance with recency, importance and retention into one score.

    Relevance dominates: the boosts scale it by at most about 1.6x, so a highly relevant
    old memory still beats a barely relevant new one.
    """
    dense, keyword = parts.get("dense", 0.0), parts.get("keyword", 0.0)
    graph = parts.get("graph", 0.0)
    relevance = dense + keyword + graph
    age_days = max(0.0, (now - memory.created_at).total_seconds() / 86400.0)
    recency = math.exp(-age_days / 30.0)
    ret = retention(memory, now, half_lives)
    total = relevance * (1.0 + 0.2 * recency + 0.2 * memory.importance + 0.2 * ret)
    return ScoreBreakdown(dense, keyword, graph, recency, memory.importance, ret, total)
