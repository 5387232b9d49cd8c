"""SQLite implementation of buffers, the hash-chained audit log and namespace stats."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime

from fleetmem.memory.domain.audit import GENESIS, seal
from fleetmem.memory.domain.models import AuditEvent, BufferItem, NamespaceStats
from fleetmem.memory.stores.sqlite.connection import (
    SqliteConnection,
    note_audit_head,
    placeholders,
    row_audit,
    row_buffer,
    ts,
)


def append_audit_sync(c: sqlite3.Connection, events: Sequence[AuditEvent]) -> None:
    """Seal and append events inside the caller's transaction (chain order = seq order)."""
    if not events:
        return
    last = c.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (0, GENESIS) if last is None else (last["seq"], last["hash"])
    for e in events:
        seq += 1
        s = seal(e, seq, prev)
        c.execute("INSERT INTO audit VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                  (s.seq, ts(s.at), s.at.isoformat(), s.agent_id, s.operation, s.outcome,
                   s.namespace, json.dumps(list(s.target_ids)), s.on_behalf_of, s.workflow_id,
                   s.detail, s.prev_hash, s.hash))
        prev = s.hash
    note_audit_head(seq, prev)


class SqliteBufferAuditOps:
    """Short-term buffers, audit log and statistics."""

    db: SqliteConnection

    async def buffer_append(self, items: Sequence[BufferItem]) -> None:
        def fn(c: sqlite3.Connection) -> None:
            c.executemany("INSERT INTO buffer_items VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                          [(i.id, i.agent_id, i.session_id, i.namespace, i.role, i.text,
                            ts(i.created_at), i.importance, i.consolidated_into, i.workflow_id,
                            i.on_behalf_of) for i in items])
        await self.db.tx(fn)

    async def buffer_read(self, agent_id: str, session_id: str, limit: int,
                          include_consolidated: bool = True) -> list[BufferItem]:
        def fn(c: sqlite3.Connection) -> list[BufferItem]:
            extra = "" if include_consolidated else " AND consolidated_into IS NULL"
            rows = c.execute(f"SELECT * FROM (SELECT rowid AS r, * FROM buffer_items WHERE "
                             f"agent_id = ? AND session_id = ?{extra} ORDER BY created_at DESC, "
                             "r DESC LIMIT ?) ORDER BY created_at, r",
                             (agent_id, session_id, limit))
            return [row_buffer(r) for r in rows]
        return await self.db.read(fn)

    async def buffer_mark_consolidated(self, pairs: Sequence[tuple[str, str]]) -> None:
        def fn(c: sqlite3.Connection) -> None:
            c.executemany("UPDATE buffer_items SET consolidated_into = ? WHERE id = ?",
                          [(mid, bid) for bid, mid in pairs])
        await self.db.tx(fn)

    async def buffer_clear(self, agent_id: str, session_id: str) -> int:
        def fn(c: sqlite3.Connection) -> int:
            return c.execute("DELETE FROM buffer_items WHERE agent_id = ? AND session_id = ?",
                             (agent_id, session_id)).rowcount
        return await self.db.tx(fn)

    async def buffer_sessions_older_than(self, before: datetime) -> list[tuple[str, str]]:
        def fn(c: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = c.execute("SELECT DISTINCT agent_id, session_id FROM buffer_items WHERE "
                             "created_at < ? ORDER BY agent_id, session_id", (ts(before),))
            return [(r["agent_id"], r["session_id"]) for r in rows]
        return await self.db.read(fn)

    async def buffer_delete_before(self, agent_id: str, session_id: str,
                                   before: datetime) -> int:
        def fn(c: sqlite3.Connection) -> int:
            return c.execute("DELETE FROM buffer_items WHERE agent_id = ? AND session_id = ? AND "
                             "created_at < ? AND consolidated_into IS NOT NULL",
                             (agent_id, session_id, ts(before))).rowcount
        return await self.db.tx(fn)

    async def append_audit(self, events: Sequence[AuditEvent]) -> None:
        await self.db.tx(lambda c: append_audit_sync(c, events))

    def watch_audit_head(self, callback: Callable[[int, str], None] | None) -> None:
        self.db.audit_watcher = callback

    async def audit_events(self, namespaces: Sequence[str] | None, after_seq: int,
                           limit: int) -> list[AuditEvent]:
        def fn(c: sqlite3.Connection) -> list[AuditEvent]:
            if namespaces is None:
                rows = c.execute("SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
                                 (after_seq, limit))
            else:
                ns = list(namespaces)
                rows = c.execute(f"SELECT * FROM audit WHERE seq > ? AND namespace IN "
                                 f"({placeholders(ns)}) ORDER BY seq LIMIT ?",
                                 [after_seq, *ns, limit])
            return [row_audit(r) for r in rows]
        return await self.db.read(fn)

    async def last_audit(self) -> AuditEvent | None:
        def fn(c: sqlite3.Connection) -> AuditEvent | None:
            r = c.execute("SELECT * FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            return None if r is None else row_audit(r)
        return await self.db.read(fn)

    async def stats(self, namespaces: Sequence[str],
                    buffer_agent: str | None = None) -> list[NamespaceStats]:
        ns = list(namespaces)

        def fn(c: sqlite3.Connection) -> list[NamespaceStats]:
            out = {n: NamespaceStats(namespace=n, memories_by_status={}) for n in ns}
            if not ns:
                return []
            q = placeholders(ns)
            for r in c.execute(f"SELECT namespace, status, COUNT(*) n FROM memories WHERE "
                               f"namespace IN ({q}) AND commit_state = 'committed' "
                               "GROUP BY namespace, status", ns):
                out[r["namespace"]].memories_by_status[r["status"]] = r["n"]
            counts: dict[str, dict[str, int]] = {n: {} for n in ns}
            for table, key in (("entities", "entities"), ("relations", "relations"),
                               ("buffer_items", "buffer_items")):
                extra, params = "", list(ns)
                if table == "relations":
                    extra = " AND valid_to IS NULL"
                elif table == "buffer_items" and buffer_agent is not None:
                    extra, params = " AND agent_id = ?", [*ns, buffer_agent]
                for r in c.execute(f"SELECT namespace, COUNT(*) n FROM {table} WHERE namespace "
                                   f"IN ({q}){extra} GROUP BY namespace", params):
                    counts[r["namespace"]][key] = r["n"]
            return [NamespaceStats(namespace=n, memories_by_status=out[n].memories_by_status,
                                   entities=counts[n].get("entities", 0),
                                   relations=counts[n].get("relations", 0),
                                   buffer_items=counts[n].get("buffer_items", 0)) for n in ns]
        return await self.db.read(fn)
