"""Ranking and decay math (pure): reciprocal rank fusion, recency, retention."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from fleetmem.memory.domain.models import Memory, MemoryKind
from fleetmem.memory.errors import InvalidInput

RRF_K = 60
# Weighted reciprocal rank fusion. On the seeded quality set (bench/quality.py) equal
# weights let the weak keyword ranking of a question dilute the dense one (nDCG@10 0.72
# vs 0.80 dense-only); these weights bring hybrid + graph to 0.81 with recall@5 0.93.
FUSION_WEIGHTS: Mapping[str, float] = {"dense": 1.0, "keyword": 0.5, "graph": 1.0, "hop": 1.0}

DEFAULT_HALF_LIFE_DAYS: Mapping[MemoryKind, float] = {
    MemoryKind.EPISODE: 14.0,
    MemoryKind.OBSERVATION: 30.0,
    MemoryKind.FACT: 90.0,
    MemoryKind.PROCEDURE: 180.0,
    MemoryKind.PREFERENCE: 365.0,
}


def rrf(rankings: Mapping[str, Sequence[str]], weights: Mapping[str, float] | None = None,
        k: int = RRF_K) -> dict[str, dict[str, float]]:
    """Fuse ranked id lists (weighted RRF); return per id the contribution of each source.

    Args:
        rankings: source name -> ids best first.
        weights: source name -> weight (missing sources weigh 1).
        k: the RRF damping constant.
    """
    fused: dict[str, dict[str, float]] = {}
    for source, ids in rankings.items():
        w = 1.0 if weights is None else weights.get(source, 1.0)
        for rank, mid in enumerate(ids):
            fused.setdefault(mid, {})[source] = w / (k + rank + 1)
    return fused


def strength(memory: Memory) -> float:
    """How strongly a memory resists decay: grows with importance and use (>= 0.5)."""
    return (0.5 + memory.importance) * (1.0 + math.log1p(memory.access_count))


def last_activity(memory: Memory) -> datetime:
    """When the memory was last written, accessed or restored (decay counts from here)."""
    times = [memory.created_at, memory.updated_at]
    if memory.last_accessed_at is not None:
        times.append(memory.last_accessed_at)
    return max(times)


def idle_days(memory: Memory, now: datetime) -> float:
    """Days since the memory's last activity (never negative)."""
    return max(0.0, (now - last_activity(memory)).total_seconds() / 86400.0)


def retention(memory: Memory, now: datetime,
              half_lives: Mapping[MemoryKind, float] = DEFAULT_HALF_LIFE_DAYS) -> float:
    """Return the retention in [0, 1]: 2^(-idle / (half_life * strength)); pinned is 1.

    Idle time counts from the last access, write or restore, so use reinforces twice: it
    resets the idle time and raises the strength.
    """
    if memory.pinned:
        return 1.0
    half_life = half_lives.get(memory.kind, 30.0)
    return math.exp(-idle_days(memory, now) * math.log(2) / (half_life * strength(memory)))


def half_lives_with(overrides: Mapping[str, float]) -> dict[MemoryKind, float]:
    """The default half-lives per kind with configured overrides (days) applied.

    Raises:
        InvalidInput: an unknown kind or a half-life that is not a positive number.
    """
    merged = dict(DEFAULT_HALF_LIFE_DAYS)
    for kind, days in overrides.items():
        if kind not in {k.value for k in MemoryKind}:
            raise InvalidInput(f"gc.half_life_days: unknown kind {kind!r}; kinds: "
                               + ", ".join(k.value for k in MemoryKind),
                               field="gc.half_life_days", rule="enum")
        if not isinstance(days, int | float) or not math.isfinite(days) or days <= 0:
            raise InvalidInput(f"gc.half_life_days.{kind} must be a positive number of days",
                               field=f"gc.half_life_days.{kind}", rule="range")
        merged[MemoryKind(kind)] = float(days)
    return merged


def min_idle_days_to_decay(half_lives: Mapping[MemoryKind, float], threshold: float) -> float:
    """A lower bound on the idle days any unpinned memory needs to fall below `threshold`.

    Strength is at least 0.5, so nothing idle for less than this can be archived; the
    sweep uses it to skip young memories without scoring them (inf when threshold <= 0).
    """
    if threshold <= 0.0:
        return math.inf
    if threshold >= 1.0:
        return 0.0
    return min(half_lives.values(), default=30.0) * 0.5 * math.log2(1.0 / threshold)


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


BOOST_WEIGHT = 0.2
MAX_BOOST = 1.0 + 3 * BOOST_WEIGHT
"""The most `rescore` multiplies relevance by (recency, importance, retention all 1)."""


def needed(relevance: Mapping[str, float], k: int) -> list[str]:
    """The ids (best relevance first) that can still reach the top `k` after `rescore`:
    a boost lifts relevance by at most MAX_BOOST and by at least 1, so an id whose best
    case stays below the k-th relevance cannot make it (recall reads fewer rows)."""
    ranked = sorted(relevance, key=lambda i: relevance[i], reverse=True)
    if len(ranked) <= k:
        return ranked
    floor = relevance[ranked[k - 1]]
    return [i for i in ranked if relevance[i] * MAX_BOOST >= floor]


def rescore(parts: Mapping[str, float], memory: Memory, now: datetime,
            half_lives: Mapping[MemoryKind, float] = DEFAULT_HALF_LIFE_DAYS) -> ScoreBreakdown:
    """Combine fused relevance with recency, importance and retention into one score.

    Relevance dominates: the boosts scale it by at most about 1.6x, so a highly relevant
    old memory still beats a barely relevant new one.
    """
    dense, keyword = parts.get("dense", 0.0), parts.get("keyword", 0.0)
    graph = parts.get("graph", 0.0) + parts.get("hop", 0.0)
    relevance = dense + keyword + graph
    age_days = max(0.0, (now - memory.created_at).total_seconds() / 86400.0)
    recency = math.exp(-age_days / 30.0)
    ret = retention(memory, now, half_lives)
    total = relevance * (1.0 + BOOST_WEIGHT * (recency + memory.importance + ret))
    return ScoreBreakdown(dense, keyword, graph, recency, memory.importance, ret, total)
