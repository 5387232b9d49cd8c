"""The `BufferStore` port: per-agent, per-session short-term buffers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from fleetmem.memory.domain.models import BufferItem


class BufferStore(Protocol):
    """Short-term buffer items (private to their agent). Each method is atomic."""

    async def buffer_append(self, items: Sequence[BufferItem]) -> None: ...

    async def buffer_read(
        self, agent_id: str, session_id: str, limit: int, include_consolidated: bool = True
    ) -> list[BufferItem]: ...

    async def buffer_mark_consolidated(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Record (buffer item id, memory id) promotions."""
        ...

    async def buffer_clear(self, agent_id: str, session_id: str) -> int: ...

    async def buffer_sessions_older_than(self, before: datetime) -> list[tuple[str, str]]:
        """(agent, session) pairs holding items created before `before`."""
        ...

    async def buffer_delete_before(
        self, agent_id: str, session_id: str, before: datetime
    ) -> int:
        """Delete consolidated items created before `before`; return how many."""
        ...
