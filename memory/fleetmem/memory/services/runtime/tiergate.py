"""The gate between writes that change both tiers and the jobs that compare them.

Every write path changes the graph and the vector tier in two steps (remember: vector,
then the graph commit; correct, forget, restore, archive: the graph, then the vector).
Between the two the tiers differ on purpose. A job that compares them (reconcile, the
startup align) must never act on such a difference: it re-checks each candidate and acts
on it while holding the gate exclusively, and every write holds it shared across its two
steps, so the re-check sees no write half done. Writes still run concurrently with each
other; a waiting exclusive holder stops new shared holders (it cannot starve), and holds
the gate only for one chunk of re-checks and fixes.

In-process only: writes of another process on the same graph are not excluded (see
`reconcile` for what guards those).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

_SHARED_HELD: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "fleetmem_tier_gate_shared", default=False)


class TierGate:
    """A shared/exclusive (readers-writer) gate for asyncio, shared side re-entrant."""

    def __init__(self) -> None:
        self._cond = asyncio.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        """Held by a write across its graph and vector steps (re-entrant in one task)."""
        if _SHARED_HELD.get():
            yield
            return
        async with self._cond:
            await self._cond.wait_for(lambda: not self._exclusive and not self._waiting)
            self._shared += 1
        token = _SHARED_HELD.set(True)
        try:
            yield
        finally:
            _SHARED_HELD.reset(token)
            async with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Held by a tier comparison while it re-checks and fixes one chunk: no write is
        between its two steps meanwhile."""
        if _SHARED_HELD.get():
            raise RuntimeError("the tier gate is held shared by this task")
        async with self._cond:
            self._waiting += 1
            try:
                await self._cond.wait_for(lambda: not self._exclusive and not self._shared)
            finally:
                self._waiting -= 1
                self._cond.notify_all()
            self._exclusive = True
        try:
            yield
        finally:
            async with self._cond:
                self._exclusive = False
                self._cond.notify_all()
