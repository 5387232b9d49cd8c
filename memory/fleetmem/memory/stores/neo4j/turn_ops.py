"""Neo4j: the order of a writer's memories and their conversation neighbours (issue 18):
`turn_seq` and `previous_id` on :Memory (indexed), and appending a later turn to a
memory's `keyword_context` (in the full-text index)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from fleetmem.memory.ports import MemoryFilter, PriorTurn, RecallRead, RecallRow, TurnLink, Vector
from fleetmem.memory.ports.values import new_turns
from fleetmem.memory.stores.neo4j.codec import KEYWORD_CHANGED, from_db_req
from fleetmem.memory.stores.neo4j.connection import Neo4jConnection, Tx, rows, run
from fleetmem.memory.stores.neo4j.search_ops import candidate_rows


class Neo4jTurnOps:
    """A writer's sequence and a conversation's neighbours."""

    db: Neo4jConnection

    async def preceding_turn(self, namespace: str, created_by: str,
                             session_id: str | None) -> PriorTurn | None:
        # The writer's newest write time first, in the order of the index on (namespace,
        # created_by, created_at), then its newest turn among the memories of that time
        # (one batch shares it).
        async def fn(tx: Tx) -> PriorTurn | None:
            found = await rows(tx, """
                MATCH (m:Memory) WHERE m.namespace = $ns AND m.created_by = $by
                    AND m.created_at IS NOT NULL AND m.commit_state = 'committed'
                    AND coalesce(m.session_id, '') = $session
                WITH m ORDER BY m.namespace DESC, m.created_by DESC, m.created_at DESC LIMIT 1
                WITH m.created_at AS newest
                MATCH (m:Memory) WHERE m.namespace = $ns AND m.created_by = $by
                    AND m.created_at = newest AND m.commit_state = 'committed'
                    AND coalesce(m.session_id, '') = $session
                RETURN m.id AS id, m.text AS text, m.valid_from AS at,
                       coalesce(m.turn_seq, -1) AS seq
                ORDER BY seq DESC LIMIT 1""", ns=namespace, by=created_by,
                               session=session_id or "")
            if not found:
                return None
            r = found[0]
            return PriorTurn(str(r["id"]), str(r["text"]), from_db_req(r["at"]), int(r["seq"]))
        return await self.db.read(fn)

    async def link_turns(self, links: Sequence[TurnLink],
                         following: Mapping[str, str]) -> None:
        if not links and not following:
            return

        async def fn(tx: Tx) -> None:
            await run(tx, "UNWIND $rows AS row MATCH (m:Memory {id: row.id}) "
                          "SET m.turn_seq = row.seq, m.previous_id = row.previous",
                      rows=[{"id": t.memory_id, "seq": t.seq, "previous": t.previous_id}
                            for t in links])
            await run(tx, "UNWIND $rows AS row MATCH (m:Memory {id: row.id}) "
                          "SET m.keyword_context = "
                          "coalesce(m.keyword_context + $sep, '') + row.text "
                          # BM25's document length (search_ops.KEYWORD_LENGTH) follows
                          "SET m.keyword_length = size(m.text) + size(m.keyword_context) "
                          + KEYWORD_CHANGED,
                      sep="\n",
                      rows=[{"id": k, "text": v} for k, v in following.items()])
        await self.db.write(fn)

    async def turn_neighbours(self, ids: Sequence[str],
                              namespaces: Sequence[str]) -> dict[str, tuple[str, ...]]:
        if not ids or not namespaces:
            return {}
        return await self.db.read(
            lambda tx: _neighbours(tx, list(dict.fromkeys(ids)), list(namespaces)))

    async def recall_read(self, ids: Sequence[str], flt: MemoryFilter, vector: Vector | None,
                          pick: Callable[[list[RecallRow]], Sequence[str]]) -> RecallRead:
        id_list, ns = list(dict.fromkeys(ids)), list(flt.namespaces)
        if not id_list or not ns:
            return RecallRead([], {}, [])

        async def fn(tx: Tx) -> RecallRead:
            rows = await candidate_rows(tx, id_list, flt, vector)
            best = list(dict.fromkeys(pick(rows)))
            near = await _neighbours(tx, best, ns) if best else {}
            fresh = new_turns(near, id_list)
            more = await candidate_rows(tx, fresh, flt, vector) if fresh else []
            return RecallRead(rows, near, more)
        return await self.db.read(fn)


async def _neighbours(tx: Tx, ids: list[str], ns: list[str]) -> dict[str, tuple[str, ...]]:
    """`turn_neighbours` in a read transaction."""
    found = await rows(tx, """
        UNWIND $ids AS id MATCH (m:Memory {id: id})
        OPTIONAL MATCH (b:Memory {id: m.previous_id})
        WHERE b.namespace IN $ns AND b.commit_state = 'committed'
        OPTIONAL MATCH (a:Memory {previous_id: id})
        WHERE a.namespace IN $ns AND a.commit_state = 'committed'
        RETURN id, b.id AS before, collect(a.id) AS after""", ids=ids, ns=ns)
    out: dict[str, tuple[str, ...]] = {}
    for r in found:
        near = [*([r["before"]] if r["before"] else []), *r["after"]]
        if near:
            out[str(r["id"])] = tuple(str(x) for x in near)
    return out
