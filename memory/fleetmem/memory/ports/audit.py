"""The `AuditStore` port: what oversight reads and appends (the audit chain, audit
queries, counts and usage per namespace or author, and conflicts between agents).

The cut follows the stores: the audit chain and stats sit with the buffers in the
`audit_ops` mixins, audit queries, usage and conflicts in the `governance_ops` mixins,
and their contract suites are the audit and governance ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from fleetmem.memory.domain.conflicts import ConflictRecord, ConflictStatus, Resolution
from fleetmem.memory.domain.models import AuditEvent, NamespaceStats
from fleetmem.memory.domain.witness import Anchor, WitnessLog
from fleetmem.memory.ports.values import AuditQuery


class AuditStore(Protocol):
    """The audit hash chain, its queries, per-namespace stats, usage and conflicts. Each
    method is atomic."""

    # audit chain and stats -------------------------------------------------------------
    async def append_audit(self, events: Sequence[AuditEvent]) -> None: ...

    async def audit_events(
        self, namespaces: Sequence[str] | None, after_seq: int, limit: int
    ) -> list[AuditEvent]: ...

    async def last_audit(self) -> AuditEvent | None: ...

    def watch_audit_head(self, callback: Callable[[int, str], None] | None) -> None:
        """Call `callback(seq, hash)` with the new head after every committed transaction
        that appended audit entries (None stops). It runs on the committing thread or task,
        must return at once and must not raise; heads of concurrent transactions may
        arrive out of order."""
        ...

    async def stats(self, namespaces: Sequence[str],
                    buffer_agent: str | None = None) -> list[NamespaceStats]:
        """Counts per namespace. Short-term buffers are private to their agent, so with
        `buffer_agent` only that agent's buffer items are counted (what an agent is shown);
        None counts every agent's (operator metrics, migration checks)."""
        ...

    # governance: audit queries and usage ---------------------------------------------
    async def audit_query(self, query: AuditQuery, limit: int) -> list[AuditEvent]:
        """Audit entries matching every set field of `query`, at most `limit`, ordered by
        seq (descending with `newest_first`). Entries are returned exactly as stored (the
        caller re-checks hashes)."""
        ...

    async def usage_by_author(
        self, namespaces: Sequence[str] | None
    ) -> dict[str, tuple[int, int]]:
        """Per `created_by` agent: (number of committed memories of any status, total UTF-8
        bytes of their text), over `namespaces` (None: every namespace). Agents without
        memories are absent."""
        ...

    # conflicts (two agents' incompatible facts, see fleetmem.memory.domain.conflicts) ---
    async def create_conflict(
        self, conflict: ConflictRecord, audit: Sequence[AuditEvent]
    ) -> ConflictRecord:
        """Store an open conflict and append `audit`, in one transaction.

        At most one OPEN conflict exists per `pair_key`: when one already exists, store
        nothing, append nothing and return the existing record (a resolved conflict with the
        same key does not count: the disagreement may come back after a resolution)."""
        ...

    async def list_conflicts(
        self, namespaces: Sequence[str], *, status: ConflictStatus | None = None,
        conflict_ids: Sequence[str] = (), memory_ids: Sequence[str] = (), limit: int = 100
    ) -> list[ConflictRecord]:
        """Conflicts in `namespaces` with `status` (None: any), restricted to `conflict_ids`
        and to those whose claim a or b has a memory id in `memory_ids` when those are
        non-empty; oldest first (created_at, then id), at most `limit`. Records come back
        with every field as created, plus status and resolution as last set."""
        ...

    async def resolve_conflict(
        self, conflict_id: str, resolution: Resolution, audit: Sequence[AuditEvent]
    ) -> bool:
        """Compare-and-set: when conflict `conflict_id` exists and is open, set its status
        to resolved and store `resolution`, appending `audit` in the same transaction, and
        return True. Otherwise change nothing, append nothing, and return False (a
        concurrent resolution won, or there is no such conflict)."""
        ...


class AuditWitness(Protocol):
    """A record of the audit chain's head kept outside the database (see
    `fleetmem.memory.domain.witness`), so that a cut tail is detected."""

    def start(self, head: tuple[int, str] | None) -> None:
        """Open the witness; a new one starts at `head` (the store's current head)."""
        ...

    def observe(self, seq: int, digest: str) -> None:
        """A new head was committed (quick: the write to the witness happens later)."""
        ...

    def read(self) -> WitnessLog:
        """Everything the witness holds, with its problems (anchors written so far)."""
        ...

    def last(self) -> Anchor | None:
        """The highest head anchored so far (None before the first)."""
        ...

    def close(self) -> None:
        """Anchor the last observed head, flush to disk and close."""
        ...
