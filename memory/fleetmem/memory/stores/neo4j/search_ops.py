"""Neo4j implementation of the GraphStore's read paths of recall: the keyword leg, entity
mentions and the candidates' rows, each ONE Cypher statement (one Bolt round trip).

The keyword leg runs Neo4j's full-text index with the namespace filter inside the same
statement (rows of other namespaces never reach the scoring) and computes BM25 on the
server (`domain.ranking.bm25`, term frequency one, statistics of the searched namespaces
only: their document count from the `NamespaceDocs` counters, each term's matches and
lengths within them), so only the top `limit` ids travel back, not every posting.

A recall's default filter (namespaces and statuses alone) is answered from the connection's
`KeywordCache` instead while the searched namespaces' keyword versions
(`NamespaceDocs.version`, see `codec.KEYWORD_CHANGED`) are the ones its terms' matches
were read at: one small statement reads the versions, and only the terms not cached are
read from the full-text index (their matches, for BM25 in the client:
`domain.ranking.bm25_arrays`, the same function as SQLite's).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import partial

import numpy as np

from fleetmem.memory.domain.ranking import (
    BM25_B,
    BM25_K1,
    KEYWORD_POSTING_BUDGET,
    best_of,
    bm25_arrays,
)
from fleetmem.memory.domain.text import keyword_terms
from fleetmem.memory.ports import MemoryFilter, RecallRow, Vector
from fleetmem.memory.stores.keyword_cache import OVER_BUDGET, KeywordCache, Scope, cache_scope
from fleetmem.memory.stores.neo4j.codec import (
    CANDIDATE_PROJECTION,
    Row,
    memory_of,
    memory_where,
    vec_to_db,
)
from fleetmem.memory.stores.neo4j.connection import Neo4jConnection, Tx, rows
from fleetmem.memory.stores.neo4j.schema import FULLTEXT_INDEX

_LUCENE_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')


def lucene_term(term: str) -> str:
    """One term as a quoted Lucene phrase with every query-syntax character escaped
    (keyword terms are word characters already; this keeps any other text inert too)."""
    return '"' + _LUCENE_SPECIAL.sub(r"\\\1", term) + '"'


KEYWORD_LENGTH = "coalesce(m.keyword_length, 0)"
"""A memory's length for BM25 (text and keyword context), stored at insert and kept by
`link_turns`; filled at open for nodes written before it was (`schema.FILL_KEYWORD_LENGTH`).
Computing it here from the text and the context read both strings of every posting."""


def _per_term(where: str, collected: str) -> str:
    """For each term `i` of `$terms`: its full-text matches that pass the filter, at most
    `$probe` of them, collected as `collected` (over `m`)."""
    return f"""
        UNWIND range(0, size($terms) - 1) AS i
        CALL (i) {{
            CALL db.index.fulltext.queryNodes($index, $terms[i]) YIELD node
            WITH node AS m WHERE {where}
            WITH m LIMIT $probe
            RETURN {collected}
        }}"""


def keyword_cypher(where: str) -> str:
    """The whole keyword leg as one statement: per term, the matches of the filtered
    namespaces (at most the posting budget + 1, so an over-common term is recognised and
    dropped, as `bm25`'s callers do); then BM25 over those, best `$limit` first."""
    return _per_term(where, f"collect({{id: m.id, n: {KEYWORD_LENGTH}}}) AS docs") + """
        WITH i, docs WHERE 0 < size(docs) <= $budget
        WITH collect({i: i, docs: docs}) AS matched
        WHERE size(matched) > 0
        OPTIONAL MATCH (d:NamespaceDocs) WHERE d.namespace IN $f_ns
        WITH matched, coalesce(sum(d.docs), 0) AS total,
             reduce(mx = 0, t IN matched | CASE WHEN size(t.docs) > mx
                                                THEN size(t.docs) ELSE mx END) AS maxdf
        WITH matched, toFloat(CASE WHEN total > maxdf THEN total ELSE maxdf END) AS n
        UNWIND matched AS t
        UNWIND t.docs AS doc
        WITH matched, n, collect(DISTINCT doc) AS docs
        WITH matched, n, reduce(s = 0.0, x IN docs | s + x.n) / size(docs) AS avg
        UNWIND matched AS t
        WITH n, avg, size(t.docs) AS df, t.docs AS docs
        WITH avg, log(1.0 + (n - df + 0.5) / (df + 0.5)) AS idf, docs
        UNWIND docs AS doc
        WITH doc.id AS id, sum(idf * ($k1 + 1.0) / (1.0 + CASE WHEN avg > 0
            THEN $k1 * (1.0 - $b + $b * doc.n / avg) ELSE $k1 END)) AS score
        RETURN id, score ORDER BY score DESC, id LIMIT $limit
        """


def postings_cypher(where: str) -> str:
    """Each term's matches in the filter (memory ids and BM25 lengths, two lists), at most
    the posting budget + 1 of them (more: the term is over the budget), for the cache."""
    return _per_term(where, f"collect(m.id) AS ids, collect({KEYWORD_LENGTH}) AS lengths") \
        + """
        RETURN i, ids, lengths
        """


_VERSIONS = ("UNWIND $ns AS ns OPTIONAL MATCH (d:NamespaceDocs {namespace: ns}) "
             "RETURN ns, coalesce(d.docs, 0) AS docs, d.version AS version")
"""The searched namespaces' memory counts and keyword versions (null: none yet)."""


async def cached_keyword_search(tx: Tx, cache: KeywordCache, scope: Scope,
                                terms: Sequence[str],
                                where: str, params: Row, limit: int) -> list[tuple[str, float]]:
    """`keyword_search` for a filter of namespaces and statuses alone: the versions first
    (cached matches are then never older than them), then the matches of the terms the
    cache does not hold at those versions, then BM25 over the searched namespaces."""
    counted = {r["ns"]: r for r in await rows(tx, _VERSIONS, ns=list(scope[0]))}
    versions = tuple(counted[ns]["version"] for ns in scope[0])
    total = sum(int(r["docs"]) for r in counted.values())
    kept = {t: cache.get((scope, t), versions) for t in terms}
    missing = [t for t in terms if kept[t] is None]
    if missing:
        budget = scope[2]
        for r in await rows(tx, postings_cypher(where), terms=[lucene_term(t) for t in missing],
                            index=FULLTEXT_INDEX, probe=budget + 1, **params):
            term, ids = missing[int(r["i"])], r["ids"]
            found = None if len(ids) > budget else (
                np.array(ids, dtype=str), np.array(r["lengths"], dtype=np.int64))
            cache.put((scope, term), versions, found)
            kept[term] = found if found is not None else OVER_BUDGET
    matches = [found for found in kept.values() if isinstance(found, tuple) and len(found[0])]
    ranked = best_of(*bm25_arrays(matches, total), limit)
    return sorted(((str(d), score) for d, score in ranked), key=lambda kv: (-kv[1], kv[0]))[:limit]


async def candidate_rows(tx: Tx, ids: Sequence[str], flt: MemoryFilter,
                         query: Vector | None) -> list[RecallRow]:
    """The candidates' rows of `recall_read`, in a read transaction: the memories of `ids`
    (distinct, non-empty) that pass the filter, in their order."""
    id_list = list(ids)
    where, params = memory_where(flt)
    # the similarity on the server: shipping the stored vectors cost the client
    # ~1.8 ms of CPU per 384-float vector in the driver's decoding. Neo4j's cosine
    # is (1 + cos) / 2 and the vectors are normalised, so 2s - 1 is the dot product.
    similarity = ("2.0 * vector.similarity.cosine(m.vector, $question) - 1.0"
                  if query is not None else "null")
    extra = {"question": vec_to_db(query)} if query is not None else {}
    # The open conflicts of the namespaces are read once, not looked up per candidate
    # (that per-row OR lookup was a third of the statement at 100 candidates).
    found = await rows(tx, f"""
        OPTIONAL MATCH (c:Conflict) WHERE c.namespace IN $f_ns AND c.status = 'open'
        WITH collect(c.a_memory_id) + collect(c.b_memory_id) AS claims
        UNWIND $ids AS id MATCH (m:Memory {{id: id}}) WHERE {where}
        WITH m, m.id IN claims AS disputed
        RETURN {CANDIDATE_PROJECTION} AS m, disputed,
               CASE WHEN m.vector IS NULL THEN null ELSE {similarity} END AS s
        """, ids=id_list, **params, **extra)
    by_id = {r["m"]["id"]: RecallRow(
        r["m"]["id"], bool(r["disputed"]), None if r["s"] is None else float(r["s"]),
        partial(memory_of, r["m"])) for r in found}
    return [by_id[i] for i in id_list if i in by_id]


class Neo4jMemorySearchOps:
    """Recall's reads: keyword search, entity mentions and candidate rows."""

    db: Neo4jConnection
    keyword_alone: bool = True
    """Run the keyword leg in its own read transaction, beside a recall's shared one
    (`reading`), instead of in it: one transaction more, but the server runs it at the
    same time as the graph leg's statements (the shared transaction runs its statements
    one after another). On: recall p50 474 against 526 ms in the shared transaction, p95
    1,036 against 1,106 ms (`python -m bench.neo4j_keyword_ab --size 600 --queries 60`,
    alternating, load 13-22; bench/OTHER_RUNS.md, issue 22)."""

    async def keyword_search(self, query: str, flt: MemoryFilter,
                             limit: int) -> list[tuple[str, float]]:
        terms = keyword_terms(query)
        if not terms or not flt.namespaces or limit < 1:
            return []
        where, params = memory_where(flt)
        scope = cache_scope(flt, KEYWORD_POSTING_BUDGET)
        statement = keyword_cypher(where)

        async def fn(tx: Tx) -> list[tuple[str, float]]:
            if scope is not None:
                return await cached_keyword_search(tx, self.db.keyword_cache, scope, terms,
                                                   where, params, limit)
            found = await rows(tx, statement, terms=[lucene_term(t) for t in terms],
                               index=FULLTEXT_INDEX, probe=KEYWORD_POSTING_BUDGET + 1,
                               budget=KEYWORD_POSTING_BUDGET, k1=BM25_K1, b=BM25_B,
                               limit=limit, **params)
            return [(str(r["id"]), float(r["score"])) for r in found]
        if self.keyword_alone:
            return await self.db.read_alone(fn)
        return await self.db.read(fn)

    async def namespaces_in_use(self, namespaces: Sequence[str]) -> list[str]:
        ns = list(dict.fromkeys(namespaces))
        if not ns:
            return []

        async def fn(tx: Tx) -> list[str]:
            found = await rows(tx, "MATCH (d:NamespaceDocs) WHERE d.namespace IN $ns "
                                   "AND d.docs > 0 RETURN d.namespace AS ns", ns=ns)
            held = {str(r["ns"]) for r in found}
            return [n for n in ns if n in held]
        return await self.db.read(fn)

    async def memories_mentioning(self, entity_names: Sequence[str], flt: MemoryFilter,
                                  limit: int) -> list[str]:
        names = sorted({n.lower() for n in entity_names})
        if not names or not flt.namespaces:
            return []
        where, params = memory_where(flt)

        async def fn(tx: Tx) -> list[str]:
            found = await rows(tx, f"""
                MATCH (e:Entity)<-[:MENTIONS]-(m:Memory)
                WHERE e.namespace IN $f_ns AND e.name_lower IN $names AND {where}
                WITH DISTINCT m
                RETURN m.id AS id ORDER BY m.created_at DESC, id LIMIT $limit
                """, names=names, limit=limit, **params)
            return [r["id"] for r in found]
        return await self.db.read(fn)

    async def memories_mentioning_few(self, entity_names: Sequence[str], flt: MemoryFilter,
                                      at_most: int) -> list[str] | None:
        names = sorted({n.lower() for n in entity_names})
        if not names or not flt.namespaces:
            return []
        where, params = memory_where(flt)

        async def fn(tx: Tx) -> list[str] | None:
            # No ORDER BY: the query stops at at_most + 1 memories instead of sorting all
            found = await rows(tx, f"""
                MATCH (e:Entity)<-[:MENTIONS]-(m:Memory)
                WHERE e.namespace IN $f_ns AND e.name_lower IN $names AND {where}
                WITH DISTINCT m LIMIT $limit
                RETURN m.id AS id, m.created_at AS created_at
                """, names=names, limit=at_most + 1, **params)
            if len(found) > at_most:
                return None
            ordered = sorted(found, key=lambda r: str(r["id"]))
            ordered.sort(key=lambda r: r["created_at"], reverse=True)
            return [str(r["id"]) for r in ordered]
        return await self.db.read(fn)
