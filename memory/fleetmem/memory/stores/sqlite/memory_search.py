"""SQLite memory search: filters, keyword (FTS5) search and recall's row fetch."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from fleetmem.memory.domain.models import Memory
from fleetmem.memory.domain.ranking import (
    KEYWORD_POSTING_BUDGET,
    Postings,
    best_of,
    bm25_arrays,
    postings_of,
)
from fleetmem.memory.domain.text import keyword_terms, or_query
from fleetmem.memory.ports import MemoryFilter, RecallRow, Vector
from fleetmem.memory.stores.keyword_cache import cache_scope
from fleetmem.memory.stores.sqlite.connection import (
    MEMORY_COLUMNS,
    ROW_WIDTH,
    SqliteConnection,
    placeholders,
    row_memory,
    ts,
)

_COLS = ", ".join(f"m.{c.strip()}" for c in MEMORY_COLUMNS.split(","))


def filter_sql(flt: MemoryFilter, *, keyed: bool = False,
               alias: str = "m") -> tuple[str, list[object]]:
    """Translate a MemoryFilter into a WHERE fragment over `alias` (`memories`, or a table
    with the same column names for what the filter names) and its parameters.

    `keyed=True` is for queries that already name the rows (by id, rowid or a join): the
    filter columns are then written `+m.col`, which keeps SQLite's planner from driving
    the query through the (namespace, status) index. Without statistics it prefers that
    index, and then scans a whole namespace (18 ms at 10k memories instead of 0.2 ms).
    """
    m = f"+{alias}" if keyed else alias
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
            f"EXISTS (SELECT 1 FROM json_each({alias}.tags) "
            f"WHERE value IN ({placeholders(flt.tags)}))")
        params += list(flt.tags)
    for key, value in flt.metadata:
        clauses.append(_metadata_sql(m, value))
        path = f"$.{key}"  # keys match domain.metadata.KEY_PATTERN; passed as a parameter
        params += [path] if isinstance(value, bool) else [path, path, value]
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


def _metadata_sql(m: str, value: object) -> str:
    """One metadata pair as SQL: the same JSON type and value (json_extract gives 1 for
    `true` and '1' for "1", so the type is compared too)."""
    if isinstance(value, bool):
        return f"json_type({m}.metadata, ?) = '{'true' if value else 'false'}'"
    kind = "text" if isinstance(value, str) else "integer"
    return f"(json_type({m}.metadata, ?) = '{kind}' AND json_extract({m}.metadata, ?) = ?)"


def fts_query(text: str) -> str:
    """Free text as a safe FTS5 OR-query (see `keyword_terms`)."""
    return or_query(text)


def _renumber(where: str, first: int) -> str:
    """A filter fragment's `?` placeholders as ?first, ?first+1, ... (to mix with
    numbered ones)."""
    parts = where.split("?")
    return "".join(p + (f"?{first + i}" if i < len(parts) - 1 else "")
                   for i, p in enumerate(parts))


_FTS = ("memories_fts", "memories_context_fts")
"""The full-text tables a term is looked up in: a memory's text, its keyword context
(rowid = memories.rowid in both)."""


def _term_sql(fts: str, where: str) -> str:
    """Rowids of the filtered namespaces' memories whose text (or keyword context: `fts`)
    holds the term ?1, with their lengths (text and context together), at most ?2 of them. The
    full-text matches stream in rowid order and the statement stops at ?2 rows that pass
    the filter, so a term common in the searched namespaces costs ?2 rows, not all of its
    matches."""
    return (f"SELECT m.rowid, length(m.text) + coalesce(length(c.context), 0) AS n "
            f"FROM {fts} f JOIN memories m ON m.rowid = f.rowid "
            f"LEFT JOIN memories_context_fts c ON c.rowid = m.rowid "
            f"WHERE f.{fts} MATCH ?1 AND {where} LIMIT ?2")


def _narrow(flt: MemoryFilter) -> tuple[str, list[object]] | None:
    """The filter over `keyword_docs` (alias k) when it names only what that table holds
    (namespaces, statuses: a recall's default), else None (the search then reads
    `memories`). The same rows pass either way: it is `filter_sql` over that table."""
    return filter_sql(flt, alias="k") if flt.scope_only else None


def _narrow_sql(fts: str, where: str) -> str:
    """`_term_sql` over the narrow `keyword_docs` table."""
    return (f"SELECT k.doc, k.text_len + k.context_len AS n FROM {fts} f "
            f"JOIN keyword_docs k ON k.doc = f.rowid WHERE f.{fts} MATCH ?1 AND {where} "
            f"LIMIT ?2")


_PROOF_SCOPE = 8
"""`_over_budget_test` applies to scopes of at least this many times the budget. Below
that few words match so many memories, and counting every term's matches was pure cost
(10k memories in one namespace: 0 of 497 question words over the budget, +0.5 ms a
question; at 100k, 431 of 497)."""

_OUTSIDE_CAP = 2 * KEYWORD_POSTING_BUDGET
"""The most memories outside a keyword search's scope for which `_over_budget_test`
still applies (it then counts up to budget + this many full-text matches of a term)."""


def _over_budget_test(cur: sqlite3.Cursor, flt: MemoryFilter, budget: int,
                      held: Mapping[str, int]) -> Callable[[str], bool] | None:
    """A cheap proof that a term (as an FTS5 phrase) has more than `budget` matches in
    the search's scope (the namespaces and statuses of a narrow filter; `held`: the
    memories of each of its namespaces, from `namespace_docs`), or None when none can be
    had.

    A term with more matches than that is left out of the search (`keyword_search`), but
    finding out by reading its matches costs `budget` row lookups for each such term: in a
    store of 100k memories, most of a question's words, ~13 ms a question. Counting a
    term's matches in the full-text index alone, with no lookup, costs a fraction of that;
    if more than `budget` + (memories outside the scope) match, more than `budget` of them
    are in scope. Memories outside the scope: those of other namespaces
    (`namespace_docs`, every status), plus those of the searched namespaces whose status
    or commit state the filter excludes (counted on `memories_ns_status` over the
    ranges around the filter's statuses, so any other value counts: `_outside_ranges`).
    None when the scope holds fewer than `_PROOF_SCOPE` x `budget` memories (few terms
    exceed it) or more than `_OUTSIDE_CAP` lie outside it (the count would cost as much
    as reading the matches).
    """
    inside = sum(held.values())
    if inside < _PROOF_SCOPE * budget:
        return None
    outside = cur.execute("SELECT sum(docs) FROM namespace_docs").fetchone()[0] - inside
    ranges = _outside_ranges(sorted({s.value for s in flt.statuses}))
    for n in (n for n, docs in held.items() if docs > 0):
        for where, params in ranges:
            if outside > _OUTSIDE_CAP:
                return None
            outside += cur.execute(f"SELECT count(*) FROM (SELECT 1 FROM memories WHERE "
                                   f"namespace = ? AND {where} LIMIT ?)",
                                   [n, *params, _OUTSIDE_CAP + 1]).fetchone()[0]
    if outside > _OUTSIDE_CAP:
        return None
    bound = budget + outside

    def over(phrase: str) -> bool:
        return any(cur.execute(f"SELECT count(*) FROM (SELECT 1 FROM {fts} WHERE {fts} "
                               f"MATCH ? LIMIT ?)", [phrase, bound + 1]).fetchone()[0]
                   > bound for fts in _FTS)
    return over


def _outside_ranges(statuses: Sequence[str]) -> list[tuple[str, list[str]]]:
    """The rows of a namespace outside a scope of `statuses` (committed only), as index
    ranges of `memories_ns_status` (namespace, status, commit_state): every status
    before, between and after the scope's, and the other commit states within each.
    Explicit ranges, because SQLite walks a row-value range such as
    `(status, commit_state) < (?, ?)` over the whole of its first column's range."""
    out = [("status < ?", [statuses[0]]), ("status > ?", [statuses[-1]])]
    out += [("status > ? AND status < ?", [a, b]) for a, b in pairwise(statuses)]
    for status in statuses:
        out += [("status = ? AND commit_state < 'committed'", [status]),
                ("status = ? AND commit_state > 'committed'", [status])]
    return out


def _term_matches(cur: sqlite3.Cursor, sqls: Sequence[str], phrase: str, budget: int,
                  params: Sequence[object], common: Callable[[str], bool] | None
                  ) -> list[tuple[int, int]] | None:
    """A term's (document, length) matches in the search's scope (its text, then its
    keyword context: one memory counts once); None when more than `budget` match (the
    term is left out of the search), proved by `common` when it can."""
    if common is not None and common(phrase):
        return None
    docs: dict[int, int] = {}
    for sql in sqls:
        docs.update(cur.execute(sql, [phrase, budget + 1, *params]).fetchall())
        if len(docs) > budget:
            return None
    return list(docs.items())


def _best(cur: sqlite3.Cursor, docs: npt.NDArray[np.int64], scores: npt.NDArray[np.float64],
          limit: int) -> list[tuple[str, float]]:
    """The `limit` best of the row numbers' scores as (memory id, score), ties by memory
    id: only the best and those tied with the last of them are looked up."""
    ranked = best_of(docs, scores, limit)
    if not ranked:
        return []
    rowids = [d for d, _ in ranked]
    ids = dict(cur.execute(f"SELECT doc, id FROM keyword_docs WHERE doc IN "
                           f"({placeholders(rowids)})", rowids).fetchall())
    named = [(ids[d], score) for d, score in ranked if d in ids]
    return sorted(named, key=lambda kv: (-kv[1], kv[0]))[:limit]


def _similarities(rows: Mapping[str, tuple[Any, ...]],
                  query: Vector | None) -> dict[str, float]:
    """The dot product of each row's stored vector (the column after MEMORY_COLUMNS) with
    `query`; rows without a vector, or every row without a query, have none."""
    if query is None:
        return {}
    return {i: float(np.dot(np.frombuffer(r[ROW_WIDTH - 1], dtype=np.float32), query))
            for i, r in rows.items() if r[ROW_WIDTH - 1] is not None}


def _mentioning(names: Sequence[str], flt: MemoryFilter) -> tuple[str, list[object]]:
    """The memories (id, created_at) linked to entities named `names` (lower-cased) that
    pass the filter, and the statement's parameters.

    The mentions drive the query, through their (namespace, name) index (a mention has
    its memory's namespace); the filter is keyed (`filter_sql`). Driven by the memories'
    (namespace, status) index instead, the query read a whole namespace: 1.0-1.2 s a
    question at 1M memories, against 0.3-1.6 ms."""
    where, params = filter_sql(flt, keyed=True)
    ns = list(flt.namespaces)
    return (f"SELECT DISTINCT m.id, m.created_at FROM memory_mentions mm "
            f"JOIN memories m ON m.id = mm.memory_id "
            # linked to an entity that exists now (as Neo4j's MENTIONS edges are)
            f"JOIN entities e ON e.namespace = mm.namespace AND e.name_lower = mm.name_lower "
            f"WHERE mm.namespace IN ({placeholders(ns)}) "
            f"AND mm.name_lower IN ({placeholders(names)}) AND {where}",
            [*ns, *names, *params])


def candidate_rows(c: sqlite3.Connection, ids: Sequence[str], flt: MemoryFilter,
                   query: Vector | None) -> list[RecallRow]:
    """The candidates' rows of `recall_read`, on a reader connection: the rows of `ids`
    (distinct, non-empty) that pass the filter, in their order. The rows stay rows: a
    Memory is built only for the candidates recall scores."""
    id_list = list(ids)
    where, params = filter_sql(flt, keyed=True)
    ns = list(flt.namespaces)
    vector = "m.vector" if query is not None else "NULL AS vector"
    cur = c.cursor()
    cur.row_factory = None  # plain tuples (by position): a third of the read's time
    found: dict[str, tuple[Any, ...]] = {r[0]: r for r in cur.execute(
        f"SELECT {_COLS}, {vector} FROM memories m WHERE m.id IN "
        f"({placeholders(id_list)}) AND {where}", [*id_list, *params])}
    keys = list(found)
    disputed: set[str] = set()
    if keys:
        q = placeholders(keys)
        for r in c.execute(
                f"SELECT a_memory_id, b_memory_id FROM conflicts WHERE status = 'open' "
                f"AND namespace IN ({placeholders(ns)}) AND (a_memory_id IN ({q}) "
                f"OR b_memory_id IN ({q}))", [*ns, *keys, *keys]):
            disputed.update((r["a_memory_id"], r["b_memory_id"]))
    similarity = _similarities(found, query)
    return [RecallRow(i, i in disputed, similarity.get(i), partial(row_memory, found[i]))
            for i in id_list if i in found]


class SqliteMemorySearchOps:
    """Reading memories by filter, keyword and entity mention."""

    db: SqliteConnection

    async def keyword_search(self, query: str, flt: MemoryFilter,
                             limit: int) -> list[tuple[str, float]]:
        terms = keyword_terms(query)
        if not terms or not flt.namespaces:
            return []
        narrow = _narrow(flt)
        where, params = narrow or filter_sql(flt, keyed=True)
        # Numbered parameters: ?1 the term, ?2 the budget, then the filter's.
        where = _renumber(where, 3)
        sqls = [(_narrow_sql if narrow else _term_sql)(fts, where) for fts in _FTS]
        budget = KEYWORD_POSTING_BUDGET

        scope = cache_scope(flt, budget)  # None exactly when `narrow` is (`scope_only`)
        cache = self.db.keyword_cache if scope is not None else None

        def fn(c: sqlite3.Connection) -> list[tuple[str, float]]:
            # BM25 over the searched namespaces alone (FTS5's own bm25() counts every
            # namespace of the store: a ranking moved when another namespace changed).
            matches: list[Postings] = []
            cur = c.cursor()
            cur.row_factory = None  # plain tuples of ints: thousands of rows per question
            ns = list(flt.namespaces)
            # read before any match: cached matches are then never older than these
            counted = cur.execute(
                f"SELECT namespace, docs, version FROM namespace_docs WHERE namespace IN "
                f"({placeholders(ns)})", ns).fetchall()
            held: dict[str, int] = {n: docs for n, docs, _ in counted}
            version = {n: v for n, _, v in counted}
            versions = tuple(version.get(n) for n in scope[0]) if scope is not None else ()
            # each term as an FTS5 phrase (word characters only), and what the cache kept
            phrases = {term: f'"{term}"' for term in terms}
            kept = {term: cache.get((scope, phrase), versions) if cache is not None else None
                    for term, phrase in phrases.items()}
            # the proof costs a few counts: made only when a term has to be read
            common = _over_budget_test(cur, flt, budget, held) \
                if narrow and None in kept.values() else None
            for term, phrase in phrases.items():
                found = kept[term]
                if found is None:
                    read = _term_matches(cur, sqls, phrase, budget, params, common)
                    found = postings_of(read) if read is not None else None
                    if cache is not None:
                        cache.put((scope, phrase), versions, found)
                if isinstance(found, tuple) and len(found[0]):
                    matches.append(found)
            if not matches:
                return []
            return _best(cur, *bm25_arrays(matches, sum(held.values())), limit)
        return await self.db.read(fn)

    async def namespaces_in_use(self, namespaces: Sequence[str]) -> list[str]:
        ns = list(dict.fromkeys(namespaces))
        if not ns:
            return []

        def fn(c: sqlite3.Connection) -> list[str]:
            held = {r[0] for r in c.execute(
                f"SELECT namespace FROM namespace_docs WHERE docs > 0 AND namespace IN "
                f"({placeholders(ns)})", ns)}
            return [n for n in ns if n in held]
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
        if not names or not flt.namespaces:
            return []
        sql, params = _mentioning(names, flt)

        def fn(c: sqlite3.Connection) -> list[str]:
            rows = c.execute(sql + " ORDER BY m.created_at DESC, m.id LIMIT ?",
                             [*params, limit])
            return [r["id"] for r in rows]
        return await self.db.read(fn)

    async def memories_mentioning_few(self, entity_names: Sequence[str], flt: MemoryFilter,
                                      at_most: int) -> list[str] | None:
        names = list({n.lower() for n in entity_names})
        if not names or not flt.namespaces:
            return []
        sql, params = _mentioning(names, flt)

        def fn(c: sqlite3.Connection) -> list[str] | None:
            # No ORDER BY: the statement stops at at_most + 1 rows instead of sorting all
            rows = c.execute(sql + " LIMIT ?", [*params, at_most + 1]).fetchall()
            if len(rows) > at_most:
                return None
            return [r["id"] for r in sorted(rows, key=lambda r: (-r["created_at"], r["id"]))]
        return await self.db.read(fn)
