"""Frozen values the ports take and return: filters, vector points, queries, references.

They live apart from the Protocols so that each narrow port, and every adapter, can import
the values without importing any other port.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from fleetmem.memory.domain.metadata import MetadataFilter
from fleetmem.memory.domain.models import Memory, MemoryStatus

Vector = npt.NDArray[np.float32]


class RecallRow:
    """One recall candidate's row: its id, whether it is a claim of an open conflict, the
    similarity (dot product) of its stored vector to the question's (None when either
    vector is missing), and the memory.

    The memory may be given as a function that builds it from the store's row, called on
    first use: recall reads ~100 candidates and builds only the ~k it scores (building
    every one was half the time of the read, on the path after the query's encode).
    """

    __slots__ = ("_build", "_memory", "disputed", "id", "similarity")

    def __init__(self, memory_id: str, disputed: bool, similarity: float | None,
                 memory: Memory | Callable[[], Memory]) -> None:
        self.id = memory_id
        self.disputed = disputed
        self.similarity = similarity
        self._memory: Memory | None = memory if isinstance(memory, Memory) else None
        self._build: Callable[[], Memory] | None = None if isinstance(memory, Memory) \
            else memory

    @property
    def memory(self) -> Memory:
        """The memory (built from the store's row on first use)."""
        if self._memory is None:
            assert self._build is not None
            self._memory = self._build()
            self._build = None
        return self._memory

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecallRow):
            return NotImplemented
        return (self.id, self.disputed, self.similarity, self.memory) == \
            (other.id, other.disputed, other.similarity, other.memory)

    __hash__ = None  # type: ignore[assignment]  # equal by value, and not immutable

    def __repr__(self) -> str:
        return f"RecallRow({self.id!r}, disputed={self.disputed}, similarity={self.similarity})"


@dataclass(frozen=True, slots=True)
class RecallRead:
    """What recall reads after its legs, in one read (`recall_read`): the candidates'
    rows, the conversation turns next to the best of them, and the rows of those turns
    that were no candidate."""

    rows: list[RecallRow]
    near: dict[str, tuple[str, ...]]
    more: list[RecallRow]


def new_turns(near: dict[str, tuple[str, ...]], ids: Sequence[str]) -> list[str]:
    """The neighbouring turns of `near` that are not among `ids`, once each, in order:
    those whose rows `recall_read` still has to read."""
    known = set(ids)
    return list(dict.fromkeys(n for turns in near.values() for n in turns if n not in known))


@dataclass(frozen=True, slots=True)
class MemoryFilter:
    """Filters shared by keyword search, listing and vector search."""

    namespaces: tuple[str, ...]
    kinds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    created_by: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    statuses: tuple[MemoryStatus, ...] = (MemoryStatus.ACTIVE,)
    as_of: datetime | None = None
    """When set, only memories valid at this instant (any status but archived)."""
    metadata: MetadataFilter = ()
    """Top-level metadata pairs that must all match (see `domain.metadata`)."""

    @property
    def scope_only(self) -> bool:
        """Whether the filter names only namespaces and statuses (a recall's default): what
        SQLite's narrow keyword table holds and what the keyword cache keys on."""
        return bool(self.statuses) and not (
            self.as_of is not None or self.kinds or self.tags or self.metadata
            or self.created_by or self.created_after or self.created_before)


@dataclass(frozen=True, slots=True)
class VectorPoint:
    """What the vector tier stores per memory: its vector and the payload to filter on."""

    id: str
    vector: Vector
    namespace: str
    kind: str
    status: str
    created_by: str
    created_at: float
    tags: tuple[str, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()
    """The filterable metadata pairs, key -> canonical JSON text
    (`domain.metadata.scalar_pairs`): the dense leg filters before ranking."""


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """The first response to a request made with an idempotency key."""

    agent_id: str
    key: str
    operation: str
    response_json: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which audit entries to return (every field that is set must match)."""

    visible_namespaces: tuple[str, ...] | None = None
    """When set, only entries whose namespace is one of these, or whose agent_id is
    `visible_agent` (so an agent sees its own entries, including namespace-less ones)."""
    visible_agent: str | None = None
    agent_id: str | None = None
    workflow_id: str | None = None
    target_id: str | None = None
    """Entries whose target_ids contain this id (a memory, entity, relation, conflict)."""
    operation: str | None = None
    outcome: str | None = None
    after_seq: int = 0
    """Only entries with seq > after_seq."""
    newest_first: bool = False
    """Order by seq descending (for a tail) instead of ascending."""


@dataclass(frozen=True, slots=True)
class EntityRef:
    """An entity addressed by namespace and name (names are unique per namespace)."""

    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class PriorTurn:
    """A writer's latest memory in a namespace and session: the turn a new memory may
    continue (see `services.memories.remember`)."""

    id: str
    text: str
    valid_from: datetime
    seq: int
    """Its place in the writer's sequence in the namespace and session (0 first; -1 for a
    memory written before sequences were kept, or imported)."""


@dataclass(frozen=True, slots=True)
class TurnLink:
    """A new memory's place in its writer's sequence: `seq`, and the turn it continues
    (`previous_id`, None when it starts a conversation or is an unrelated fact)."""

    memory_id: str
    seq: int
    previous_id: str | None = None
