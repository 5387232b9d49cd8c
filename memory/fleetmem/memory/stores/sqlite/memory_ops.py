"""SQLite implementation of the memory half of the GraphStore port (search in memory_search)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime

from fleetmem.memory.domain.models import AuditEvent, Memory, MemoryStatus
from fleetmem.memory.ports import IdempotencyRecord, Vector
from fleetmem.memory.stores.sqlite.audit_ops import append_audit_sync
from fleetmem.memory.stores.sqlite.connection import (
    MEMORY_COLUMNS,
    ROW_WIDTH,
    SqliteConnection,
    blob_to_vec,
    dt_req,
    memory_row,
    placeholders,
    row_memory,
    ts,
)
from fleetmem.memory.stores.sqlite.memory_search import SqliteMemorySearchOps
from fleetmem.memory.stores.sqlite.turn_ops import SqliteTurnOps

_INDEXABLE = ("SELECT id FROM memories WHERE commit_state = 'committed' "
              "AND status IN ('active', 'superseded')")


class SqliteMemoryOps(SqliteMemorySearchOps, SqliteTurnOps):
    """Memories, idempotency records and their links to entity names."""

    db: SqliteConnection

    async def insert_memories(self, memories: Sequence[Memory], vectors: Sequence[Vector],
                              audit: Sequence[AuditEvent] = (),
                              contexts: Mapping[str, str] | None = None) -> None:
        def fn(c: sqlite3.Connection) -> None:
            c.executemany(
                f"INSERT INTO memories ({MEMORY_COLUMNS}, vector) VALUES "
                f"({','.join('?' * ROW_WIDTH)})",
                [memory_row(m, v) for m, v in zip(memories, vectors, strict=True)],
            )
            c.executemany(
                "INSERT OR IGNORE INTO memory_mentions (memory_id, namespace, name_lower) "
                "VALUES (?, ?, ?)",
                [(m.id, m.namespace, n.lower()) for m in memories for n in m.entity_names],
            )
            if contexts:
                given = [(contexts[m.id], m.id) for m in memories if contexts.get(m.id)]
                c.executemany(
                    "INSERT INTO memories_context_fts (rowid, context) "
                    "SELECT rowid, ? FROM memories WHERE id = ?", given)
                c.executemany("UPDATE keyword_docs SET context_len = length(?) WHERE doc = "
                              "(SELECT rowid FROM memories WHERE id = ?)", given)
            append_audit_sync(c, audit)
        await self.db.tx(fn)

    async def mark_committed(self, ids: Sequence[str], audit: Sequence[AuditEvent]) -> None:
        def fn(c: sqlite3.Connection) -> None:
            c.execute(f"UPDATE memories SET commit_state = 'committed' WHERE id IN "
                      f"({placeholders(list(ids))})", list(ids))
            append_audit_sync(c, audit)
        await self.db.tx(fn)

    async def delete_pending(self, ids: Sequence[str]) -> None:
        def fn(c: sqlite3.Connection) -> None:
            c.execute(f"DELETE FROM memories WHERE commit_state = 'pending' AND id IN "
                      f"({placeholders(list(ids))})", list(ids))
        await self.db.tx(fn)

    async def pending_memories(self, limit: int) -> list[tuple[Memory, Vector | None]]:
        def fn(c: sqlite3.Connection) -> list[tuple[Memory, Vector | None]]:
            rows = c.execute(f"SELECT {MEMORY_COLUMNS}, vector FROM memories "
                             "WHERE commit_state = 'pending' LIMIT ?", (limit,)).fetchall()
            return [(row_memory(r), blob_to_vec(r["vector"])) for r in rows]
        return await self.db.read(fn)

    async def get_memories(self, ids: Sequence[str], namespaces: Sequence[str]) -> list[Memory]:
        if not ids or not namespaces:
            return []
        id_list, ns = list(dict.fromkeys(ids)), list(namespaces)

        def fn(c: sqlite3.Connection) -> list[Memory]:
            rows = c.execute(
                f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id IN ({placeholders(id_list)}) "
                # `+` keeps the planner on the primary key (see filter_sql)
                f"AND +namespace IN ({placeholders(ns)}) AND +commit_state = 'committed'",
                [*id_list, *ns]).fetchall()
            found = {r["id"]: row_memory(r) for r in rows}
            return [found[i] for i in id_list if i in found]
        return await self.db.read(fn)

    async def get_vectors(self, ids: Sequence[str]) -> dict[str, Vector]:
        id_list = list(ids)

        def fn(c: sqlite3.Connection) -> dict[str, Vector]:
            out: dict[str, Vector] = {}
            for start in range(0, len(id_list), 500):
                chunk = id_list[start:start + 500]
                for r in c.execute(f"SELECT id, vector FROM memories WHERE id IN "
                                   f"({placeholders(chunk)})", chunk):
                    vec = blob_to_vec(r["vector"])
                    if vec is not None:
                        out[r["id"]] = vec
            return out
        return await self.db.read(fn)

    async def find_by_hash(self, namespace: str, content_hash: str) -> Memory | None:
        def fn(c: sqlite3.Connection) -> Memory | None:
            # `+` keeps the planner on (namespace, content_hash): without statistics it
            # prefers (namespace, status, commit_state) for its three equalities, which
            # scans every active memory of the namespace (29 ms per call at 35k).
            r = c.execute(f"SELECT {MEMORY_COLUMNS} FROM memories WHERE namespace = ? AND "
                          "content_hash = ? AND +status = 'active' AND "
                          "+commit_state = 'committed' LIMIT 1",
                          (namespace, content_hash)).fetchone()
            return None if r is None else row_memory(r)
        return await self.db.read(fn)

    async def find_by_hashes(self, namespace: str,
                             content_hashes: Sequence[str]) -> dict[str, str]:
        hashes = list(dict.fromkeys(content_hashes))
        if not hashes:
            return {}

        def fn(c: sqlite3.Connection) -> dict[str, str]:
            out: dict[str, str] = {}
            for start in range(0, len(hashes), 500):
                chunk = hashes[start:start + 500]
                # `+`: see find_by_hash
                for r in c.execute(f"SELECT content_hash, min(id) AS id FROM memories WHERE "
                                   f"namespace = ? AND content_hash IN ({placeholders(chunk)}) "
                                   "AND +status = 'active' AND +commit_state = 'committed' "
                                   "GROUP BY content_hash", [namespace, *chunk]):
                    out[r["content_hash"]] = r["id"]
            return out
        return await self.db.read(fn)

    async def reinforce(self, ids: Sequence[str], at: datetime, count: int = 1) -> None:
        if not ids:
            return
        id_list = list(ids)

        def fn(c: sqlite3.Connection) -> None:
            c.execute(f"UPDATE memories SET access_count = access_count + ?, last_accessed_at = ? "
                      f"WHERE id IN ({placeholders(id_list)})", [count, ts(at), *id_list])
        await self.db.tx(fn)

    async def set_status(self, ids: Sequence[str], status: MemoryStatus, at: datetime,
                         audit: Sequence[AuditEvent]) -> list[str]:
        id_list = list(ids)

        def fn(c: sqlite3.Connection) -> list[str]:
            rows = c.execute(f"SELECT id FROM memories WHERE id IN ({placeholders(id_list)}) AND "
                             "commit_state = 'committed' AND status != ?",
                             [*id_list, status.value]).fetchall()
            changed = [r["id"] for r in rows]
            if changed:
                c.execute(f"UPDATE memories SET status = ?, updated_at = ? WHERE id IN "
                          f"({placeholders(changed)})", [status.value, ts(at), *changed])
                append_audit_sync(c, audit)
            return changed
        return await self.db.tx(fn)

    async def supersede(self, old_id: str, new: Memory, vector: Vector, at: datetime,
                        audit: Sequence[AuditEvent]) -> bool:
        def fn(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "UPDATE memories SET status = 'superseded', valid_to = ?, superseded_by = ?, "
                "updated_at = ? WHERE id = ? AND status = 'active' AND commit_state = 'committed'",
                (ts(at), new.id, ts(at), old_id))
            if cur.rowcount != 1:
                return False
            c.execute(f"INSERT INTO memories ({MEMORY_COLUMNS}, vector) VALUES "
                      f"({','.join('?' * ROW_WIDTH)})", memory_row(new, vector))
            c.executemany(
                "INSERT OR IGNORE INTO memory_mentions (memory_id, namespace, name_lower) "
                "VALUES (?, ?, ?)", [(new.id, new.namespace, n.lower()) for n in new.entity_names])
            append_audit_sync(c, audit)
            return True
        return await self.db.tx(fn)

    async def history(self, memory_id: str, namespaces: Sequence[str]) -> list[Memory]:
        ns = list(namespaces)

        def fn(c: sqlite3.Connection) -> list[Memory]:
            rows = c.execute(
                f"""WITH RECURSIVE
                  back(id) AS (SELECT ? UNION SELECT m.supersedes FROM memories m
                               JOIN back ON m.id = back.id WHERE m.supersedes IS NOT NULL),
                  fwd(id) AS (SELECT ? UNION SELECT m.superseded_by FROM memories m
                              JOIN fwd ON m.id = fwd.id WHERE m.superseded_by IS NOT NULL)
                SELECT {MEMORY_COLUMNS} FROM memories WHERE id IN
                  (SELECT id FROM back UNION SELECT id FROM fwd)
                  AND +namespace IN ({placeholders(ns)}) AND +commit_state = 'committed'
                ORDER BY valid_from, created_at""", [memory_id, memory_id, *ns]).fetchall()
            return [row_memory(r) for r in rows]
        return await self.db.read(fn)

    async def count_indexable(self) -> int:
        def fn(c: sqlite3.Connection) -> int:
            return int(c.execute(_INDEXABLE.replace("id", "COUNT(*)", 1)).fetchone()[0])
        return await self.db.read(fn)

    async def indexable_ids(self) -> set[str]:
        def fn(c: sqlite3.Connection) -> set[str]:
            return {r[0] for r in c.execute(_INDEXABLE)}
        return await self.db.read(fn)

    async def all_namespaces(self) -> list[str]:
        def fn(c: sqlite3.Connection) -> list[str]:
            rows = c.execute("SELECT namespace FROM memories UNION SELECT namespace FROM entities "
                             "UNION SELECT namespace FROM buffer_items ORDER BY 1")
            return [r[0] for r in rows]
        return await self.db.read(fn)

    async def purge_memories(self, ids: Sequence[str], audit: Sequence[AuditEvent]) -> list[str]:
        id_list = list(ids)

        def fn(c: sqlite3.Connection) -> list[str]:
            rows = c.execute(f"SELECT id FROM memories WHERE id IN ({placeholders(id_list)}) "
                             "AND status = 'archived'", id_list).fetchall()
            gone = [r["id"] for r in rows]
            if gone:
                c.execute(f"DELETE FROM memories WHERE id IN ({placeholders(gone)})", gone)
                append_audit_sync(c, audit)
            return gone
        return await self.db.tx(fn)

    async def get_idempotent(self, agent_id: str, key: str) -> IdempotencyRecord | None:
        def fn(c: sqlite3.Connection) -> IdempotencyRecord | None:
            r = c.execute("SELECT * FROM idempotency WHERE agent_id = ? AND key = ?",
                          (agent_id, key)).fetchone()
            if r is None:
                return None
            return IdempotencyRecord(agent_id=r["agent_id"], key=r["key"],
                                     operation=r["operation"], response_json=r["response_json"],
                                     created_at=dt_req(r["created_at"]))
        return await self.db.read(fn)

    async def put_idempotent(self, record: IdempotencyRecord) -> None:
        def fn(c: sqlite3.Connection) -> None:
            c.execute("INSERT OR IGNORE INTO idempotency VALUES (?, ?, ?, ?, ?)",
                      (record.agent_id, record.key, record.operation, record.response_json,
                       ts(record.created_at)))
        await self.db.tx(fn)

