"""The `UpkeepStore` port: what system work needs and no request does: finishing or
rolling back unfinished writes, re-aligning the vector tier, GC sweeps, scheduled-job
slots, and the records that make retried requests idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from fleetmem.memory.domain.models import AuditEvent, Entity, Memory, MemoryStatus
from fleetmem.memory.ports.values import IdempotencyRecord, Vector


class UpkeepStore(Protocol):
    """Repair, GC, job slots and idempotency records in the graph tier. Each method is
    atomic."""

    # pending writes and the vector tier (startup repair, reconcile) -------------------
    async def mark_committed(self, ids: Sequence[str], audit: Sequence[AuditEvent]) -> None:
        """Flip pending memories to committed and append the audit events, atomically."""
        ...

    async def delete_pending(self, ids: Sequence[str]) -> None:
        """Roll back pending memories (never touches committed ones)."""
        ...

    async def pending_memories(self, limit: int) -> list[tuple[Memory, Vector | None]]: ...

    async def count_indexable(self) -> int:
        """Committed memories that belong in the vector tier (active or superseded)."""
        ...

    async def indexable_ids(self) -> set[str]: ...

    async def all_namespaces(self) -> list[str]:
        """Every namespace holding memories, entities or buffers (for system jobs only)."""
        ...

    # GC sweeps (system jobs) -----------------------------------------------------------
    async def purge_memories(self, ids: Sequence[str], audit: Sequence[AuditEvent]) -> list[str]:
        """Hard-delete archived memories; return the ids removed."""
        ...

    async def transition_status(
        self, ids: Sequence[str], from_status: MemoryStatus, to_status: MemoryStatus,
        at: datetime, audit: Sequence[AuditEvent]
    ) -> list[str]:
        """Compare-and-set status: those of `ids` that are committed AND currently
        `from_status` get `to_status` and `updated_at = at`; others are left untouched (a
        concurrent correct/restore wins). In one transaction, `audit` is appended only when
        at least one memory changed. Return the changed ids in input order."""
        ...

    async def unclosed_memories(
        self, at: datetime, after_id: str | None, limit: int
    ) -> list[tuple[Memory, str | None]]:
        """Active committed memories (any namespace) that are no longer current: their
        `valid_to` is set and <= `at`, or `superseded_by` is set, or another committed memory
        names them in `supersedes`. Return (memory, successor id or None) ordered by memory
        id, only ids > `after_id`, at most `limit`. The successor is `superseded_by` when set,
        else the committed memory with `supersedes` = this id and the earliest valid_from."""
        ...

    async def close_memories(
        self, closures: Sequence[tuple[str, datetime, str | None]], at: datetime,
        audit: Sequence[AuditEvent]
    ) -> list[str]:
        """Close facts: for each (id, valid_to, successor id), a memory that is committed and
        still `active` gets status `superseded`, `valid_to = COALESCE(valid_to, given)`,
        `superseded_by = COALESCE(superseded_by, given successor)` and `updated_at = at`.
        One transaction; `audit` appended only when at least one changed. Return the ids
        closed in input order."""
        ...

    async def orphan_entities(
        self, before: datetime, after_id: str | None, limit: int
    ) -> list[Entity]:
        """Entities in any namespace with `updated_at < before`, no observations, no
        relation rows of any validity (current or closed) from or to them, and no memory
        (any status) linked to them (memory mentions, names compared case-insensitively).
        Ordered by entity id, only ids > `after_id`, at most `limit`."""
        ...

    async def delete_orphan_entities(
        self, ids: Sequence[str], before: datetime, audit: Sequence[AuditEvent]
    ) -> list[str]:
        """Delete those of the entity `ids` that still meet every `orphan_entities`
        condition for `before` (re-checked inside the transaction, so an entity that gained
        an observation, relation or memory meanwhile survives). `audit` is appended in the
        same transaction when at least one is deleted. Return the deleted ids."""
        ...

    # scheduled jobs and idempotency ------------------------------------------------------
    async def claim_job_slot(self, job: str, slot_key: str, owner: str, at: datetime) -> bool:
        """Claim one scheduled run of a job across replicas: an atomic unique insert of
        (job, slot_key). Return True for the first caller ever to claim that pair, False for
        every later one (whatever its owner; claiming is not re-entrant). `owner` and `at`
        are kept for inspection. The store may forget claims older than 30 days."""
        ...

    async def claim_idempotency_key(self, agent_id: str, key: str, holder: str,
                                    at: datetime, until: datetime) -> bool:
        """Hold (agent, key) while its first request runs, across every process sharing the
        store: atomically take the claim when nobody holds it or its lease ended before
        `at` (a runner that died), or renew it when `holder` already holds it, with the
        lease running to `until`; return False while another holder's lease is live."""
        ...

    async def release_idempotency_key(self, agent_id: str, key: str, holder: str) -> None:
        """Drop the claim on (agent, key) if `holder` still holds it."""
        ...

    async def get_idempotent(self, agent_id: str, key: str) -> IdempotencyRecord | None: ...

    async def put_idempotent(self, record: IdempotencyRecord) -> None: ...
