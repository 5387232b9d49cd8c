"""Decay math and the score breakdown (pure); recall's ranking is in `ranking`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from fleetmem.memory.domain.models import Memory, MemoryKind
from fleetmem.memory.errors import InvalidInput

DEFAULT_HALF_LIFE_DAYS: Mapping[MemoryKind, float] = {
    MemoryKind.EPISODE: 14.0,
    MemoryKind.OBSERVATION: 30.0,
    MemoryKind.FACT: 90.0,
    MemoryKind.PROCEDURE: 180.0,
    MemoryKind.PREFERENCE: 365.0,
}


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
    """Why a hit scored what it did: each retrieval source's part of the relevance and
    each tie-breaker (see `ranking.final_score`)."""

    dense: float
    keyword: float
    graph: float
    recency: float
    importance: float
    retention: float
    total: float
    neighbour: float = 0.0
    """What a conversation turn got for being next to a better candidate (issue 18)."""

    def as_dict(self) -> dict[str, float]:
        """Return the breakdown as a plain mapping (rounded for readability); `neighbour`
        only when the hit got some."""
        return {
            "dense": round(self.dense, 6), "keyword": round(self.keyword, 6),
            "graph": round(self.graph, 6), "recency": round(self.recency, 4),
            "importance": round(self.importance, 4), "retention": round(self.retention, 4),
            **({"neighbour": round(self.neighbour, 6)} if self.neighbour else {}),
            "total": round(self.total, 6),
        }
