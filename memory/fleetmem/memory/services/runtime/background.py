"""Batches the cheap, frequent writes of the read path (reinforcement and read audit).

Recall must not pay a durable commit per call; these writes are flushed together every
`interval` seconds and on close. Losing the last second of access counts in a crash is
acceptable; no memory content goes through here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from datetime import datetime

from fleetmem.memory.domain.models import AuditEvent
from fleetmem.memory.ports import AuditStore, MemoryStore

logger = logging.getLogger(__name__)


class Reinforcer:
    """Collects access counts and read-audit events; flushes them in the background."""

    def __init__(self, memories: MemoryStore, audit_log: AuditStore,
                 interval: float = 1.0) -> None:
        self._memories = memories
        self._audit_log = audit_log
        self._interval = interval
        self._counts: Counter[str] = Counter()
        self._last: datetime | None = None
        self._events: list[AuditEvent] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def add(self, ids: list[str], at: datetime) -> None:
        """Count one access of each id at `at`."""
        self._counts.update(ids)
        self._last = at if self._last is None or at > self._last else self._last
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush_later())

    def audit(self, event: AuditEvent) -> None:
        """Queue a read-audit event."""
        self._events.append(event)

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._interval)
        await self.flush()

    async def flush(self) -> None:
        """Write everything collected so far."""
        async with self._lock:
            counts, self._counts = self._counts, Counter()
            events, self._events = self._events, []
            at = self._last
            by_count: dict[int, list[str]] = {}
            for mid, n in counts.items():
                by_count.setdefault(n, []).append(mid)
            if at is not None:
                for n, ids in by_count.items():
                    await self._memories.reinforce(ids, at, n)
            if events:
                await self._audit_log.append_audit(events)

    async def close(self) -> None:
        """Flush and stop the pending timer."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
