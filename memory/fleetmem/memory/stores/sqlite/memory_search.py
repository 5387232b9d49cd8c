"""SQLite memory search: filters, keyword (FTS5) search and recall's row fetch."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from fleetmem.memory.domain.models import Memory
from fleetmem.memory.domain.text import keyword_terms, or_query
from fleetmem.memory.ports import MemoryFilter
from fleetmem.memory.stores.sqlite.connection import (
    MEMORY_COLUMNS,
    SqliteConnection,
    placeholders,
    row_memory,
    ts,
)

_COLS = ", ".join(f"m.{c.strip()}" for c in MEMORY_COLUMNS.split(","))


def filter_sql(flt: MemoryFilter, *, keyed: bool = False) -> tuple[str, list[object]]:
    """Translate a MemoryFilter into a WHERE fragment over alias `m` and its parameters.

    `keyed=True` is for queries that already name the rows (by id, rowid or a join): the
    filter columns are then written `+m.col`, which keeps SQLite's planner from driving
    the query through the (namespace, status) index. Without statistics it prefers that
    index, and then scans a whole namespace (18 ms at 10k memories instead of 0.2 ms).
    """
    m = "+m" if keyed else "m"
    clauses = [f"{m}.namespace IN ({placeholders(flt.namespaces)})",
               f"{m}.commit_state = 'committed'"]
    params: list[object] = list(flt.namespaces)
    if flt.as_of is not None:
        at = ts(flt.as_of)
        clauses.append(f"{m}.status != 'archived' AND {m}.valid_from <= ? "
                       f"AND ({m}.valid_to IS NULL OR {m}.valid_to > ?)")
        params += [at, at]
    elif flt.statuses:
        clauses.append(f"{m}.status IN ({placeholders(flt.statuses)})")
        params += [s.value for s in flt.statuses]
    if flt.kinds:
        clauses.append(f"{m}.kind IN ({placeholders(flt.kinds)})")
        params += list(flt.kinds)
    if flt.tags:
        clauses.append(
            f"EXISTS (SELECT 1 FROM json_each(m.tags) WHERE value IN ({placeholders(flt.tags)}))")
        params += list(flt.tags)
    if flt.created_by:
        clauses.append(f"{m}.created_by = ?")
        params.append(flt.created_by)
    if flt.created_after:
        clauses.append(f"{m}.created_at >= ?")
        params.append(ts(flt.created_after))
    if flt.created_before:
        clauses.append(f"{m}.created_at < ?")
        params.append(ts(flt.created_before))
    return " AND ".join(clauses), params


def fts_query(text: str) -> str:
    """Free text as a safe FTS5 OR-query (see `keyword_terms`)."""
    return or_query(text)


KEYWORD_POSTING_BUDGET = 2_500
"""How many index entries one keyword search may rank. FTS5 computes BM25 for every row
that matches before it can sort, so a query term found in a tenth of a 100k store costs
tens of milliseconds while adding little to the ranking (BM25 weighs it least)."""


def _matches(c: sqlite3.Connection, terms: list[str]) -> list[str]:
    """The FTS queries to try in turn for `terms` (none when no term occurs anywhere).

    The OR of the rarest terms, the most common ones left out while their document
    counts sum past KEYWORD_POSTING_BUDGET (the rarest term always stays). When even the
    rarest term is past the budget (a first name in a large store), first the AND of the
    two rarest: the rows holding both are the best BM25 matches anyway, and there are
    few of them (3 ms instead of 8 at 100k memories).
    """
    # Counting a term's matches walks its posting list without scoring (about 0.2 ms for
    # a few thousand rows); MATCH applies the index's stemmer, so "deployment" counts the
    # rows indexed under "deploy".
    docs = {t: int(c.execute("SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?",
                             (f'"{t}"',)).fetchone()[0]) for t in terms}
    ranked = sorted((t for t in terms if docs[t]), key=lambda t: docs[t])
    kept: list[str] = []
    total = 0
    for term in ranked:
        if kept and total + docs[term] > KEYWORD_POSTING_BUDGET:
            break
        kept.append(term)
        total += docs[term]
    if not kept:
        return []
    either = " OR ".join(f'"{t}"' for t in kept)
    if len(ranked) >= 2 and docs[ranked[0]] > KEYWORD_POSTING_BUDGET:
        return [f'"{ranked[0]}" AND "{ranked[1]}"', either]
    return [either]


class SqliteMemorySearchOps:
    """Reading memories by filter, keyword and entity mention."""

    db: SqliteConnection

    async def keyword_search(self, query: str, flt: MemoryFilter,
                             limit: int) -> list[tuple[str, float]]:
        terms = keyword_terms(query)
        if not terms or not flt.namespaces:
            return []
        where, params = filter_sql(flt, keyed=True)
        # First the best `3 * limit` matches of the whole index, then the filter: when at
        # least `limit` of them pass it, they are exactly the filtered top `limit` (every
        # other passing row ranks below all of them), and the join touches 3 * limit rows
        # instead of every match. Otherwise (a caller who reads a small part of the store)
        # the filtered query over all matches answers.
        # bm25() spelled out: ordering by the `rank` column (the same function, called
        # through the table's rank setting) costs a third more (8.5 vs 6.4 ms at 100k).
        head = (f"SELECT m.id, f.rank FROM (SELECT rowid, bm25(memories_fts) AS rank FROM "
                f"memories_fts WHERE memories_fts MATCH ? ORDER BY rank LIMIT ?) f "
                f"JOIN memories m ON m.rowid = f.rowid WHERE {where} ORDER BY f.rank LIMIT ?")
        full = (f"SELECT m.id, bm25(memories_fts) AS rank FROM memories_fts "
                f"JOIN memories m ON m.rowid = memories_fts.rowid "
                f"WHERE memories_fts MATCH ? AND {where} ORDER BY rank LIMIT ?")

        def fn(c: sqlite3.Connection) -> list[tuple[str, float]]:
            rows: list[sqlite3.Row] = []
            for match in _matches(c, terms):
                rows = c.execute(head, [match, 3 * limit, *params, limit]).fetchall()
                if len(rows) < limit:
                    rows = c.execute(full, [match, *params, limit]).fetchall()
                if len(rows) >= limit:
                    break
            return [(r["id"], -float(r["rank"])) for r in rows]
        return await self.db.read(fn)

    async def recall_rows(self, ids: Sequence[str],
                          flt: MemoryFilter) -> list[tuple[Memory, bool]]:
        id_list = list(dict.fromkeys(ids))
        if not id_list or not flt.namespaces:
            return []
        where, params = filter_sql(flt, keyed=True)
        ns = list(flt.namespaces)

        def fn(c: sqlite3.Connection) -> list[tuple[Memory, bool]]:
            found = {r["id"]: row_memory(r) for r in c.execute(
                f"SELECT {_COLS} FROM memories m WHERE m.id IN ({placeholders(id_list)}) "
                f"AND {where}", [*id_list, *params])}
            keys = list(found)
            disputed: set[str] = set()
            if keys:
                q = placeholders(keys)
                for r in c.execute(
                        f"SELECT a_memory_id, b_memory_id FROM conflicts WHERE status = 'open' "
                        f"AND namespace IN ({placeholders(ns)}) AND (a_memory_id IN ({q}) "
                        f"OR b_memory_id IN ({q}))", [*ns, *keys, *keys]):
                    disputed.update((r["a_memory_id"], r["b_memory_id"]))
            return [(found[i], i in disputed) for i in id_list if i in found]
        return await self.db.read(fn)

    async def list_memories(self, flt: MemoryFilter, after_id: str | None,
                            limit: int) -> list[Memory]:
        where, params = filter_sql(flt)

        def fn(c: sqlite3.Connection) -> list[Memory]:
            rows = c.execute(f"SELECT {_COLS} FROM memories m WHERE {where} AND m.id > ? "
                             "ORDER BY m.id LIMIT ?", [*params, after_id or "", limit])
            return [row_memory(r) for r in rows]
        return await self.db.read(fn)

    async def memories_mentioning(self, entity_names: Sequence[str], flt: MemoryFilter,
                                  limit: int) -> list[str]:
        names = list({n.lower() for n in entity_names})
        if not names:
            return []
        where, params = filter_sql(flt)

        def fn(c: sqlite3.Connection) -> list[str]:
            rows = c.execute(
                f"SELECT DISTINCT m.id, m.created_at FROM memory_mentions mm "
                f"JOIN memories m ON m.id = mm.memory_id "
                # linked to an entity that exists now (as Neo4j's MENTIONS edges are)
                f"JOIN entities e ON e.namespace = mm.namespace AND e.name_lower = mm.name_lower "
                f"WHERE mm.name_lower IN ({placeholders(names)}) AND {where} "
                f"ORDER BY m.created_at DESC, m.id LIMIT ?",
                [*names, *params, limit])
            return [r["id"] for r in rows]
        return await self.db.read(fn)
