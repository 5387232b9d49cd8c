"""SQLite: the order of a writer's memories and their conversation neighbours (issue 18)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence

from fleetmem.memory.ports import MemoryFilter, PriorTurn, RecallRead, RecallRow, TurnLink, Vector
from fleetmem.memory.ports.values import new_turns
from fleetmem.memory.stores.sqlite.connection import SqliteConnection, dt_req, placeholders
from fleetmem.memory.stores.sqlite.memory_search import candidate_rows


class SqliteTurnOps:
    """`memory_turns` (seq, previous turn) and appending a later turn to a keyword context."""

    db: SqliteConnection

    async def preceding_turn(self, namespace: str, created_by: str,
                             session_id: str | None) -> PriorTurn | None:
        def fn(c: sqlite3.Connection) -> PriorTurn | None:
            r = c.execute("SELECT m.id, m.text, m.valid_from, coalesce(t.seq, -1) AS seq "
                          "FROM memories m LEFT JOIN memory_turns t ON t.memory_id = m.id "
                          "WHERE m.namespace = ? AND m.created_by = ? AND m.session_id IS ? "
                          "AND m.commit_state = 'committed' "
                          "ORDER BY m.created_at DESC, m.rowid DESC LIMIT 1",
                          (namespace, created_by, session_id)).fetchone()
            return None if r is None else PriorTurn(str(r["id"]), str(r["text"]),
                                                    dt_req(r["valid_from"]), int(r["seq"]))
        return await self.db.read(fn)

    async def link_turns(self, links: Sequence[TurnLink],
                         following: Mapping[str, str]) -> None:
        if not links and not following:
            return

        def fn(c: sqlite3.Connection) -> None:
            c.executemany("INSERT OR REPLACE INTO memory_turns (memory_id, seq, previous_id) "
                          "SELECT id, ?, ? FROM memories WHERE id = ?",
                          [(t.seq, t.previous_id, t.memory_id) for t in links])
            for mid, text in following.items():
                row = c.execute("SELECT m.rowid AS r, c.context AS context FROM memories m "
                                "LEFT JOIN memories_context_fts c ON c.rowid = m.rowid "
                                "WHERE m.id = ?", (mid,)).fetchone()
                if row is None:
                    continue
                if row["context"] is None:
                    context = text
                    c.execute("INSERT INTO memories_context_fts (rowid, context) VALUES (?, ?)",
                              (row["r"], context))
                else:
                    context = f"{row['context']}\n{text}"
                    c.execute("UPDATE memories_context_fts SET context = ? WHERE rowid = ?",
                              (context, row["r"]))
                c.execute("UPDATE keyword_docs SET context_len = ? WHERE doc = ?",
                          (len(context), row["r"]))
        await self.db.tx(fn)

    async def turn_neighbours(self, ids: Sequence[str],
                              namespaces: Sequence[str]) -> dict[str, tuple[str, ...]]:
        id_list, ns = list(dict.fromkeys(ids)), list(namespaces)
        if not id_list or not ns:
            return {}
        return await self.db.read(lambda c: _neighbours(c, id_list, ns))

    async def recall_read(self, ids: Sequence[str], flt: MemoryFilter, vector: Vector | None,
                          pick: Callable[[list[RecallRow]], Sequence[str]]) -> RecallRead:
        id_list, ns = list(dict.fromkeys(ids)), list(flt.namespaces)
        if not id_list or not ns:
            return RecallRead([], {}, [])

        def fn(c: sqlite3.Connection) -> RecallRead:
            rows = candidate_rows(c, id_list, flt, vector)
            best = list(dict.fromkeys(pick(rows)))
            near = _neighbours(c, best, ns) if best else {}
            fresh = new_turns(near, id_list)
            return RecallRead(rows, near, candidate_rows(c, fresh, flt, vector) if fresh else [])
        return await self.db.read(fn)


def _neighbours(c: sqlite3.Connection, id_list: list[str],
                ns: list[str]) -> dict[str, tuple[str, ...]]:
    """`turn_neighbours` on a reader connection (`id_list` distinct, both non-empty)."""
    where = (f"AND +m.namespace IN ({placeholders(ns)}) "
             "AND +m.commit_state = 'committed'")
    before = c.execute(
        f"SELECT t.memory_id AS of, m.id AS n FROM memory_turns t JOIN memories m "
        f"ON m.id = t.previous_id WHERE t.memory_id IN ({placeholders(id_list)}) "
        f"{where}", [*id_list, *ns]).fetchall()
    after = c.execute(
        f"SELECT t.previous_id AS of, m.id AS n FROM memory_turns t JOIN memories m "
        f"ON m.id = t.memory_id WHERE t.previous_id IN ({placeholders(id_list)}) "
        f"{where}", [*id_list, *ns]).fetchall()
    out: dict[str, list[str]] = {}
    for r in [*before, *after]:
        out.setdefault(str(r["of"]), []).append(str(r["n"]))
    return {k: tuple(v) for k, v in out.items()}
