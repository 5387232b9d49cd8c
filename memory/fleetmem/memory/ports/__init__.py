"""Storage and infrastructure ports (Protocols) the service depends on.

Each port method is one atomic unit: a store implements it as one transaction, so the
service never needs a cross-call transaction. Every read takes the namespaces to search:
stores never decide access, but they never return anything outside the namespaces they
are given either. One narrow port per aggregate (`MemoryStore`, `EntityGraph`,
`BufferStore`, `AuditStore`, `UpkeepStore`), and `GraphStore` composing them. Adapters:
`SqliteGraphStore`/`Neo4jGraphStore` (GraphStore), `EdgeVectorIndex`/
`QdrantServerVectorIndex` (VectorIndex), `SentenceTransformerEmbedder` (Embedder).
"""

from fleetmem.memory.ports.audit import AuditStore, AuditWitness
from fleetmem.memory.ports.buffers import BufferStore
from fleetmem.memory.ports.clock import Clock
from fleetmem.memory.ports.embedder import Embedder
from fleetmem.memory.ports.graph import EntityGraph
from fleetmem.memory.ports.graph_store import GraphStore
from fleetmem.memory.ports.memories import MemoryStore
from fleetmem.memory.ports.upkeep import UpkeepStore
from fleetmem.memory.ports.values import (
    AuditQuery,
    EntityRef,
    IdempotencyRecord,
    MemoryFilter,
    PriorTurn,
    RecallRead,
    RecallRow,
    TurnLink,
    Vector,
    VectorPoint,
)
from fleetmem.memory.ports.vectors import VectorIndex

__all__ = [
    "AuditQuery",
    "AuditStore",
    "AuditWitness",
    "BufferStore",
    "Clock",
    "Embedder",
    "EntityGraph",
    "EntityRef",
    "GraphStore",
    "IdempotencyRecord",
    "MemoryFilter",
    "MemoryStore",
    "PriorTurn",
    "RecallRead",
    "RecallRow",
    "TurnLink",
    "UpkeepStore",
    "Vector",
    "VectorIndex",
    "VectorPoint",
]
