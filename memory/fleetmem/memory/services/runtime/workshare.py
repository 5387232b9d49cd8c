"""Per-agent admission of service calls: one agent's many connections cannot take every
worker of the stores.

Each agent may have at most `requests` calls in progress, of which at most `batches`
are batches (more than `BATCH_ITEMS` items); further calls wait in that agent's own
queue (first come, first served within the agent) and never in another agent's. The
store threads serve calls in arrival order, so another agent's call waits behind at most
that many of one agent's, however many requests it sends at once. Work of the system
principal (GC, reconcile, vault sync as the service) is not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

BATCH_ITEMS = 4
"""A call of more items than this (a write's batch length) counts as a batch."""


@dataclass
class _Share:
    requests: asyncio.Semaphore
    batches: asyncio.Semaphore
    users: int = 0
    """Calls holding or waiting for this share (dropped at 0: agents come and go)."""


@dataclass
class WorkShare:
    """Per-agent slots (0 = unlimited); see the module."""

    requests: int = 16
    batches: int = 1
    _shares: dict[str, _Share] = field(default_factory=dict)

    def waiting(self, agent: str) -> int:
        """Calls of `agent` in progress or waiting (for metrics and tests)."""
        share = self._shares.get(agent)
        return share.users if share is not None else 0

    @contextlib.asynccontextmanager
    async def slot(self, agent: str, items: int) -> AsyncIterator[None]:
        """Hold one of `agent`'s slots (and a batch slot for a batch) for the call."""
        if self.requests <= 0 and self.batches <= 0:
            yield
            return
        share = self._shares.get(agent)
        if share is None:
            share = self._shares[agent] = _Share(
                asyncio.Semaphore(self.requests or 1 << 30),
                asyncio.Semaphore(self.batches or 1 << 30))
        share.users += 1
        try:
            async with contextlib.AsyncExitStack() as stack:
                if items > BATCH_ITEMS:
                    await stack.enter_async_context(share.batches)
                await stack.enter_async_context(share.requests)
                yield
        finally:
            share.users -= 1
            if share.users == 0:
                self._shares.pop(agent, None)
