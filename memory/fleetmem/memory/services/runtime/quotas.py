"""Per-agent rate limits, daily write quotas and usage counters, kept in this process.

The embedded deployment has one owner process, so in-process state is exact there. With
several replicas each one keeps its own buckets and counters: an agent may then get up to
(replicas x limit); configure limit / replicas per role, or put a shared limiter in front.
Counters reset when the process restarts (like any Prometheus counter); stored memories
and bytes per agent are counted from the store instead, so they are always exact.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from fleetmem.memory.domain.access import Principal
from fleetmem.memory.errors import RateLimited
from fleetmem.memory.settings import GovernanceSettings

_MAX_TRACKED = 10_000


@dataclass
class AgentUsage:
    """What one agent did since this process started."""

    requests: int = 0
    reads: int = 0
    writes: int = 0
    write_items: int = 0
    denied: int = 0
    rate_limited: int = 0
    embed_calls: int = 0
    embedded_texts: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return asdict(self)


@dataclass
class _Bucket:
    tokens: float
    updated: datetime


@dataclass(frozen=True, slots=True)
class EffectiveLimits:
    """The limits that apply to one agent (0 = unlimited)."""

    requests_per_minute: int
    writes_per_day: int
    memories_per_namespace: int
    texts_per_minute: int = 0


def _when(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


class Governor:
    """Token buckets per agent (requests and embedded texts per minute), UTC-day write
    counters, usage."""

    def __init__(self, settings: GovernanceSettings) -> None:
        self.settings = settings
        self._buckets: dict[str, _Bucket] = {}
        self._text_buckets: dict[str, _Bucket] = {}
        self._day_writes: dict[str, tuple[date, int]] = {}
        self.usage: dict[str, AgentUsage] = {}

    def limits_for(self, principal: Principal) -> EffectiveLimits:
        """Role limits from the agents file where set, else the configured defaults."""
        def pick(name: str) -> int:
            value = principal.limit(name)
            return int(getattr(self.settings, name)) if value is None else value
        return EffectiveLimits(pick("requests_per_minute"), pick("writes_per_day"),
                               pick("memories_per_namespace"), pick("texts_per_minute"))

    def usage_of(self, agent_id: str) -> AgentUsage:
        """The (mutable) usage counters of an agent."""
        found = self.usage.get(agent_id)
        if found is None:
            found = self.usage[agent_id] = AgentUsage()
        return found

    def take_request(self, agent_id: str, per_minute: int, now: datetime) -> None:
        """Spend one request token; raise RateLimited saying when one is available."""
        if per_minute <= 0:
            return
        rate = per_minute / 60.0
        bucket = self._buckets.get(agent_id)
        if bucket is None:
            self._prune(now)
            bucket = self._buckets[agent_id] = _Bucket(float(per_minute), now)
        elapsed = max(0.0, (now - bucket.updated).total_seconds())
        bucket.tokens = min(float(per_minute), bucket.tokens + elapsed * rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return
        wait = math.ceil((1.0 - bucket.tokens) / rate * 10) / 10
        raise RateLimited(
            f"agent '{agent_id}' exceeded its limit of {per_minute} requests per minute; "
            f"retry after {wait:g} s (at {_when(now + timedelta(seconds=wait))})",
            retry_after=wait, rule="requests_per_minute")

    def take_texts(self, agent_id: str, per_minute: int, count: int, now: datetime, *,
                   may_refuse: bool = True) -> None:
        """Spend `count` embedded-text tokens (each text of a batch counts); raise
        RateLimited saying when that many are available. With `may_refuse` False the texts
        are taken on credit (the bucket goes below zero and the agent's next request waits
        longer): for the later embeds of a request already under way.
        """
        if per_minute <= 0 or count <= 0:
            return
        rate = per_minute / 60.0
        bucket = self._text_buckets.get(agent_id)
        if bucket is None:
            self._prune(now, self._text_buckets)
            bucket = self._text_buckets[agent_id] = _Bucket(float(per_minute), now)
        elapsed = max(0.0, (now - bucket.updated).total_seconds())
        bucket.tokens = min(float(per_minute), bucket.tokens + elapsed * rate)
        bucket.updated = now
        if bucket.tokens >= count or not may_refuse:
            bucket.tokens -= count
            return
        if count > per_minute:
            raise RateLimited(
                f"agent '{agent_id}' may embed at most {per_minute} texts per minute and this "
                f"request holds {count}; split it into requests of at most {per_minute} texts",
                retry_after=60.0, rule="texts_per_minute")
        wait = math.ceil((count - bucket.tokens) / rate * 10) / 10
        raise RateLimited(
            f"agent '{agent_id}' exceeded its limit of {per_minute} embedded texts per minute "
            f"(each text of a batch counts; this request holds {count}); retry after "
            f"{wait:g} s (at {_when(now + timedelta(seconds=wait))}) or send smaller batches",
            retry_after=wait, rule="texts_per_minute")

    def check_writes(self, agent_id: str, per_day: int, cost: int, now: datetime) -> None:
        """Refuse a write of `cost` items that would exceed today's (UTC) quota."""
        if per_day <= 0:
            return
        used = self._used_today(agent_id, now)
        if used + cost <= per_day:
            return
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(),
                                    tzinfo=now.tzinfo)
        wait = math.ceil((midnight - now).total_seconds())
        hint = (f"; a request holds at most {per_day} items, split it" if cost > per_day
                else "")
        raise RateLimited(
            f"agent '{agent_id}' has used {used} of its {per_day} writes for today (UTC) and "
            f"this request needs {cost}; retry after {wait} s (at {_when(midnight)}){hint}",
            retry_after=float(wait), rule="writes_per_day")

    def add_writes(self, agent_id: str, cost: int, now: datetime) -> None:
        """Count `cost` written items against today's quota."""
        self._day_writes[agent_id] = (now.date(), self._used_today(agent_id, now) + cost)

    def _used_today(self, agent_id: str, now: datetime) -> int:
        day, used = self._day_writes.get(agent_id, (now.date(), 0))
        return used if day == now.date() else 0

    def _prune(self, now: datetime, buckets: dict[str, _Bucket] | None = None) -> None:
        """Forget buckets idle long enough to be full again (bounds memory when any agent
        id is accepted, as without an agents file)."""
        buckets = self._buckets if buckets is None else buckets
        if len(buckets) < _MAX_TRACKED:
            return
        for agent_id, b in list(buckets.items()):
            if (now - b.updated).total_seconds() > 60 and b.tokens >= 0:
                del buckets[agent_id]
