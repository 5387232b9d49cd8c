"""SQLite implementation of the maintenance half of the GraphStore port (GC system jobs)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

from fleetmem.memory.domain.models import AuditEvent, Entity, Memory, MemoryStatus
from fleetmem.memory.stores.sqlite.audit_ops import append_audit_sync
from fleetmem.memory.stores.sqlite.connection import (
    MEMORY_COLUMNS,
    SqliteConnection,
    placeholders,
    row_memory,
    ts,
)
from fleetmem.memory.stores.sqlite.entity_ops import _ENTITY_COLS, _load_entities

_CLAIM_KEEP = timedelta(days=30)
_COLS = ", ".join(f"m.{c.strip()}" for c in MEMORY_COLUMNS.split(","))
# An entity is an orphan when nothing refers to it (evaluated with `e` as the entity).
_ORPHAN = (
    "e.updated_at < ? "
    "AND NOT EXISTS (SELECT 1 FROM observations o WHERE o.entity_id = e.id) "
    "AND NOT EXISTS (SELECT 1 FROM relations r WHERE r.namespace = e.namespace "
    "AND r.from_lower = e.name_lower) "
    "AND NOT EXISTS (SELECT 1 FROM relations r WHERE r.namespace = e.namespace "
    "AND r.to_lower = e.name_lower) "
    "AND NOT EXISTS (SELECT 1 FROM memory_mentions mm WHERE mm.namespace = e.namespace "
    "AND mm.name_lower = e.name_lower)"
)
_SUCCESSOR = ("(SELECT s.id FROM memories s WHERE s.supersedes = m.id AND "
              "s.commit_state = 'committed' ORDER BY s.valid_from, s.id LIMIT 1)")


class SqliteGcOps:
    """Status compare-and-set, fact closing, orphan entities and job-slot claims."""

    db: SqliteConnection

    async def transition_status(self, ids: Sequence[str], from_status: MemoryStatus,
                                to_status: MemoryStatus, at: datetime,
                                audit: Sequence[AuditEvent]) -> list[str]:
        id_list = list(dict.fromkeys(ids))
        if not id_list:
            return []

        def fn(c: sqlite3.Connection) -> list[str]:
            changed: set[str] = set()
            for start in range(0, len(id_list), 500):
                chunk = id_list[start:start + 500]
                rows = c.execute(
                    f"UPDATE memories SET status = ?, updated_at = ? WHERE id IN "
                    f"({placeholders(chunk)}) AND status = ? AND commit_state = 'committed' "
                    "RETURNING id", [to_status.value, ts(at), *chunk, from_status.value])
                changed.update(r["id"] for r in rows)
            if changed:
                append_audit_sync(c, audit)
            return [i for i in id_list if i in changed]
        return await self.db.tx(fn)

    async def unclosed_memories(self, at: datetime, after_id: str | None,
                                limit: int) -> list[tuple[Memory, str | None]]:
        def fn(c: sqlite3.Connection) -> list[tuple[Memory, str | None]]:
            rows = c.execute(
                f"SELECT {_COLS}, COALESCE(m.superseded_by, {_SUCCESSOR}) AS successor "
                "FROM memories m WHERE m.status = 'active' AND m.commit_state = 'committed' "
                "AND m.id > ? AND ((m.valid_to IS NOT NULL AND m.valid_to <= ?) "
                "OR m.superseded_by IS NOT NULL OR EXISTS (SELECT 1 FROM memories s WHERE "
                "s.supersedes = m.id AND s.commit_state = 'committed')) ORDER BY m.id LIMIT ?",
                (after_id or "", ts(at), limit)).fetchall()
            return [(row_memory(r), r["successor"]) for r in rows]
        return await self.db.read(fn)

    async def close_memories(self, closures: Sequence[tuple[str, datetime, str | None]],
                             at: datetime, audit: Sequence[AuditEvent]) -> list[str]:
        def fn(c: sqlite3.Connection) -> list[str]:
            closed: list[str] = []
            for mid, valid_to, successor in closures:
                cur = c.execute(
                    "UPDATE memories SET status = 'superseded', "
                    "valid_to = COALESCE(valid_to, ?), "
                    "superseded_by = COALESCE(superseded_by, ?), updated_at = ? "
                    "WHERE id = ? AND status = 'active' AND commit_state = 'committed'",
                    (ts(valid_to), successor, ts(at), mid))
                if cur.rowcount == 1:
                    closed.append(mid)
            if closed:
                append_audit_sync(c, audit)
            return closed
        return await self.db.tx(fn)

    async def orphan_entities(self, before: datetime, after_id: str | None,
                              limit: int) -> list[Entity]:
        def fn(c: sqlite3.Connection) -> list[Entity]:
            rows = c.execute(
                f"SELECT {_ENTITY_COLS} FROM entities e WHERE e.id > ? AND {_ORPHAN} "
                "ORDER BY e.id LIMIT ?", (after_id or "", ts(before), limit)).fetchall()
            return _load_entities(c, rows)
        return await self.db.read(fn)

    async def delete_orphan_entities(self, ids: Sequence[str], before: datetime,
                                     audit: Sequence[AuditEvent]) -> list[str]:
        id_list = list(dict.fromkeys(ids))
        if not id_list:
            return []

        def fn(c: sqlite3.Connection) -> list[str]:
            gone: list[str] = []
            for start in range(0, len(id_list), 500):
                chunk = id_list[start:start + 500]
                rows = c.execute(
                    f"DELETE FROM entities AS e WHERE e.id IN ({placeholders(chunk)}) "
                    f"AND {_ORPHAN} RETURNING id", [*chunk, ts(before)])
                gone += [r["id"] for r in rows]
            if gone:
                append_audit_sync(c, audit)
            order = {mid: i for i, mid in enumerate(id_list)}
            return sorted(gone, key=order.__getitem__)
        return await self.db.tx(fn)

    async def claim_job_slot(self, job: str, slot_key: str, owner: str, at: datetime) -> bool:
        def fn(c: sqlite3.Connection) -> bool:
            cur = c.execute("INSERT OR IGNORE INTO job_slots (job, slot_key, owner, claimed_at) "
                            "VALUES (?, ?, ?, ?)", (job, slot_key, owner, ts(at)))
            if cur.rowcount == 1:
                c.execute("DELETE FROM job_slots WHERE job = ? AND claimed_at < ?",
                          (job, ts(at - _CLAIM_KEEP)))
                return True
            return False
        return await self.db.tx(fn)

    async def claim_idempotency_key(self, agent_id: str, key: str, holder: str,
                                    at: datetime, until: datetime) -> bool:
        def fn(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "INSERT INTO idempotency_claims (agent_id, key, holder, until) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (agent_id, key) DO UPDATE SET "
                "holder = excluded.holder, until = excluded.until "
                "WHERE idempotency_claims.holder = excluded.holder "
                "OR idempotency_claims.until < ?",
                (agent_id, key, holder, ts(until), ts(at)))
            return cur.rowcount == 1
        return await self.db.tx(fn)

    async def release_idempotency_key(self, agent_id: str, key: str, holder: str) -> None:
        def fn(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM idempotency_claims WHERE agent_id = ? AND key = ? "
                      "AND holder = ?", (agent_id, key, holder))
        await self.db.tx(fn)
