"""`GraphStore`: the whole graph tier, the composition of the narrow ports plus its
lifecycle. Adapters implement this; use cases name the narrow port they need."""

from __future__ import annotations

from typing import Protocol

from fleetmem.memory.ports.audit import AuditStore
from fleetmem.memory.ports.buffers import BufferStore
from fleetmem.memory.ports.graph import EntityGraph
from fleetmem.memory.ports.memories import MemoryStore
from fleetmem.memory.ports.upkeep import UpkeepStore


class GraphStore(MemoryStore, EntityGraph, BufferStore, AuditStore, UpkeepStore, Protocol):
    """The graph tier and source of truth: memories, entities, relations, buffers, audit,
    upkeep. Each method is atomic."""

    async def open(self) -> None:
        """Create the schema if needed (idempotent)."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StorageUnavailable when the store cannot answer."""
        ...
