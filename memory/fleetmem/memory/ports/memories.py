"""The `MemoryStore` port: writing, reading, searching and changing committed memories.

The use cases of the memory aggregate (remember, recall, get, history, correct, forget,
restore) need only this; unfinished writes, the vector-tier reconciliation and GC sweeps
are in `UpkeepStore`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol, TypeVar

from fleetmem.memory.domain.models import AuditEvent, Memory, MemoryStatus
from fleetmem.memory.ports.values import (
    MemoryFilter,
    PriorTurn,
    RecallRead,
    RecallRow,
    TurnLink,
    Vector,
)

T = TypeVar("T")


class MemoryStore(Protocol):
    """Memories in the graph tier (the source of truth). Each method is atomic."""

    def reading(self) -> AbstractAsyncContextManager[object]:
        """A scope whose reads (of any port of this store, made by the task that enters
        it and the tasks it starts) may share one read transaction, so a use case that
        reads several times (recall's legs and rows, a write's lookups) pays one round
        trip for the transaction, not one per read. Every read returns what it would
        return outside the scope, a read made after a write of the scope sees that write,
        and a failed shared read is retried on its own. Scopes nest (the outer one
        counts). A store without transaction round trips returns a scope that does
        nothing."""
        ...

    async def write_together(self, block: Callable[[], Awaitable[T]]) -> T:
        """Run `block` and return its result; everything it wrote on this store is
        committed when this returns, and its reads see its own writes. A store with a
        round trip per transaction commits the block's reads and writes as one
        transaction (one round trip per write, not one per call; then none of its writes
        is kept when it fails) and may run `block` again to retry a transient error, so
        `block` must be safe to repeat; an embedded store may commit each write as it is
        made. Inside another block, runs as part of that one."""
        ...

    async def insert_memories(
        self, memories: Sequence[Memory], vectors: Sequence[Vector],
        audit: Sequence[AuditEvent] = (), contexts: Mapping[str, str] | None = None
    ) -> None:
        """Store new memories in the commit state they carry, with their vectors, linked
        to the entities named in `memory.entity_names` that exist in the memory's
        namespace, and append `audit`: one atomic, durable transaction.

        `contexts` (memory id -> text) is what the keyword search also matches for that
        memory and never shows: the preceding turn, resolved dates (see
        `services.memories.context`)."""
        ...

    async def preceding_turn(self, namespace: str, created_by: str,
                             session_id: str | None) -> PriorTurn | None:
        """The latest committed memory this writer wrote in this namespace and session
        (the highest `seq` among the latest written), or None when there is none."""
        ...

    async def link_turns(self, links: Sequence[TurnLink],
                         following: Mapping[str, str]) -> None:
        """Record new memories' places in their writer's sequence (`TurnLink`), and append
        `following[id]` (the text of the turn that continues it, written later) to the
        keyword context of existing memory `id`: one transaction; links and texts for
        memories that do not exist are ignored."""
        ...

    async def turn_neighbours(self, ids: Sequence[str],
                              namespaces: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """For each of `ids`, the committed memories in `namespaces` directly before and
        after it in its conversation (by `TurnLink.previous_id`), before first."""
        ...

    async def recall_read(self, ids: Sequence[str], flt: MemoryFilter, vector: Vector | None,
                          pick: Callable[[list[RecallRow]], Sequence[str]]) -> RecallRead:
        """Recall's read after its legs, in one read.

        First the rows of the memories among `ids` that pass `flt`, in the order of `ids`:
        each with whether it is a claim of an open conflict and the similarity (dot
        product; the vectors are normalised) of its stored vector to `vector` (None
        without one), so a keyword- or graph-only hit is weighed with no further read.
        Then `turn_neighbours` of the candidates `pick` chooses from those rows (recall
        ranks them; `pick` is called once, inside the read), and the rows of those
        neighbours that are not among `ids`, read the same way."""
        ...

    async def get_memories(self, ids: Sequence[str], namespaces: Sequence[str]) -> list[Memory]:
        """Return the committed memories among `ids` that live in `namespaces`."""
        ...

    async def get_vectors(self, ids: Sequence[str]) -> dict[str, Vector]: ...

    async def find_by_hash(self, namespace: str, content_hash: str) -> Memory | None:
        """Return the committed active memory with this dedup key, if any."""
        ...

    async def find_by_hashes(self, namespace: str,
                             content_hashes: Sequence[str]) -> dict[str, str]:
        """Dedup keys -> id of the committed active memory holding each (those found)."""
        ...

    async def reinforce(self, ids: Sequence[str], at: datetime, count: int = 1) -> None:
        """Add `count` to the access counts and set the last access time."""
        ...

    async def set_status(
        self, ids: Sequence[str], status: MemoryStatus, at: datetime, audit: Sequence[AuditEvent]
    ) -> list[str]:
        """Set the status of committed memories; return the ids that changed."""
        ...

    async def supersede(
        self, old_id: str, new: Memory, vector: Vector, at: datetime, audit: Sequence[AuditEvent]
    ) -> bool:
        """Atomically close `old_id` (valid_to=at, status superseded, superseded_by=new)
        and insert `new` as committed. Return False (changing nothing) when `old_id` is
        not an active committed memory any more (a concurrent correction won)."""
        ...

    async def history(self, memory_id: str, namespaces: Sequence[str]) -> list[Memory]:
        """Return the supersede chain containing `memory_id`, oldest first."""
        ...

    async def namespaces_in_use(self, namespaces: Sequence[str]) -> list[str]:
        """Those of `namespaces` that hold a memory (of any status or commit state), in
        their order: the dense search leaves the empty ones out of its filter, where each
        value costs (an exact Qdrant Edge shard of 50k points: 8.3 ms for two namespaces,
        one of them empty, against 6.5 ms for one)."""
        ...

    async def keyword_search(
        self, query: str, flt: MemoryFilter, limit: int
    ) -> list[tuple[str, float]]:
        """Full-text search, best first: BM25 whose statistics come from the filtered
        namespaces only (one namespace's ranking never depends on another's content),
        matching each memory's text and its keyword context."""
        ...

    async def list_memories(
        self, flt: MemoryFilter, after_id: str | None, limit: int
    ) -> list[Memory]:
        """Page through memories ordered by id."""
        ...

    async def memories_mentioning(
        self, entity_names: Sequence[str], flt: MemoryFilter, limit: int
    ) -> list[str]:
        """Ids of memories linked to any of these entities (names are compared
        case-insensitively), newest first."""
        ...

    async def memories_mentioning_few(
        self, entity_names: Sequence[str], flt: MemoryFilter, at_most: int
    ) -> list[str] | None:
        """`memories_mentioning` when at most `at_most` memories are linked to these
        entities, else None: found without reading and ordering all of them (a
        conversation's speaker is named by every turn they speak)."""
        ...
