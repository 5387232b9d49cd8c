"""Neo4j implementation of buffers, the hash-chained audit log and namespace stats."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from fleetmem.memory.domain.audit import GENESIS, seal
from fleetmem.memory.domain.models import AuditEvent, BufferItem, NamespaceStats
from fleetmem.memory.stores.neo4j.codec import (
    audit_of,
    audit_props,
    buffer_of,
    buffer_props,
    to_db,
)
from fleetmem.memory.stores.neo4j.connection import (
    Neo4jConnection,
    Tx,
    note_audit_head,
    rows,
    run,
)


async def append_audit_tx(tx: Tx, events: Sequence[AuditEvent]) -> None:
    """Seal and append events inside the caller's transaction (chain order = seq order).

    The head node is locked (written) before it is read, so concurrent writers queue up
    behind each other and every event links to its true predecessor.
    """
    if not events:
        return
    await run(tx, "MERGE (h:AuditHead {id: 'audit'}) "
                  "ON CREATE SET h.seq = 0, h.hash = $genesis SET h._lock = true",
              genesis=GENESIS)
    head = (await rows(tx, "MATCH (h:AuditHead {id: 'audit'}) RETURN h.seq AS seq, "
                           "h.hash AS hash"))[0]
    seq, prev = int(head["seq"]), str(head["hash"])
    sealed: list[AuditEvent] = []
    for e in events:
        seq += 1
        s = seal(e, seq, prev)
        sealed.append(s)
        prev = s.hash
    await run(tx, """
        UNWIND $events AS ev
        CREATE (a:AuditEvent) SET a = ev
        WITH a
        OPTIONAL MATCH (p:AuditEvent {seq: a.seq - 1})
        FOREACH (x IN CASE WHEN p IS NULL THEN [] ELSE [p] END | CREATE (a)-[:PREV]->(x))
        """, events=[audit_props(s) for s in sealed])
    await run(tx, "MATCH (h:AuditHead {id: 'audit'}) SET h.seq = $seq, h.hash = $hash "
                  "REMOVE h._lock", seq=seq, hash=prev)
    note_audit_head(seq, prev)


class Neo4jBufferAuditOps:
    """Short-term buffers, audit log and statistics."""

    db: Neo4jConnection

    async def buffer_append(self, items: Sequence[BufferItem]) -> None:
        groups: dict[tuple[str, str], list[BufferItem]] = {}
        for i in items:
            groups.setdefault((i.agent_id, i.session_id), []).append(i)

        async def fn(tx: Tx) -> None:
            for (agent, session), group in sorted(groups.items()):
                # Lock the session's counter first; items get consecutive sequence numbers.
                await run(tx, "MERGE (s:BufferSession {agent_id: $a, session_id: $s}) "
                              "ON CREATE SET s.next_seq = 0 SET s._lock = true",
                          a=agent, s=session)
                await run(tx, """
                    MATCH (s:BufferSession {agent_id: $a, session_id: $s})
                    WITH s, s.next_seq AS base
                    SET s.next_seq = base + size($items)
                    REMOVE s._lock
                    WITH s, base
                    UNWIND range(0, size($items) - 1) AS i
                    CREATE (b:BufferItem)
                    SET b = $items[i], b.seq = base + i
                    CREATE (s)-[:HOLDS]->(b)
                    """, a=agent, s=session, items=[buffer_props(i) for i in group])
        await self.db.write(fn)

    async def buffer_read(self, agent_id: str, session_id: str, limit: int,
                          include_consolidated: bool = True) -> list[BufferItem]:
        extra = "" if include_consolidated else " AND b.consolidated_into IS NULL"

        async def fn(tx: Tx) -> list[BufferItem]:
            found = await rows(tx, f"""
                MATCH (b:BufferItem) WHERE b.agent_id = $a AND b.session_id = $s{extra}
                RETURN b {{.*}} AS b ORDER BY b.created_at DESC, b.seq DESC LIMIT $limit
                """, a=agent_id, s=session_id, limit=limit)
            return [buffer_of(r["b"]) for r in reversed(found)]
        return await self.db.read(fn)

    async def buffer_mark_consolidated(self, pairs: Sequence[tuple[str, str]]) -> None:
        async def fn(tx: Tx) -> None:
            await run(tx, "UNWIND $pairs AS p MATCH (b:BufferItem {id: p[0]}) "
                          "SET b.consolidated_into = p[1]", pairs=[list(p) for p in pairs])
        await self.db.write(fn)

    async def buffer_clear(self, agent_id: str, session_id: str) -> int:
        async def fn(tx: Tx) -> int:
            found = await rows(tx, "MATCH (b:BufferItem) WHERE b.agent_id = $a AND "
                                   "b.session_id = $s DETACH DELETE b RETURN count(*) AS n",
                               a=agent_id, s=session_id)
            return int(found[0]["n"])
        return await self.db.write(fn)

    async def buffer_sessions_older_than(self, before: datetime) -> list[tuple[str, str]]:
        async def fn(tx: Tx) -> list[tuple[str, str]]:
            found = await rows(tx, "MATCH (b:BufferItem) WHERE b.created_at < $before "
                                   "RETURN DISTINCT b.agent_id AS a, b.session_id AS s "
                                   "ORDER BY a, s", before=to_db(before))
            return [(r["a"], r["s"]) for r in found]
        return await self.db.read(fn)

    async def buffer_delete_before(self, agent_id: str, session_id: str,
                                   before: datetime) -> int:
        async def fn(tx: Tx) -> int:
            found = await rows(tx, "MATCH (b:BufferItem) WHERE b.agent_id = $a AND "
                                   "b.session_id = $s AND b.created_at < $before AND "
                                   "b.consolidated_into IS NOT NULL "
                                   "DETACH DELETE b RETURN count(*) AS n",
                               a=agent_id, s=session_id, before=to_db(before))
            return int(found[0]["n"])
        return await self.db.write(fn)

    async def append_audit(self, events: Sequence[AuditEvent]) -> None:
        if events:
            await self.db.write(append_audit_tx, events)

    def watch_audit_head(self, callback: Callable[[int, str], None] | None) -> None:
        self.db.audit_watcher = callback

    async def audit_events(self, namespaces: Sequence[str] | None, after_seq: int,
                           limit: int) -> list[AuditEvent]:
        async def fn(tx: Tx) -> list[AuditEvent]:
            if namespaces is None:
                found = await rows(tx, "MATCH (a:AuditEvent) WHERE a.seq > $after "
                                       "RETURN a {.*} AS a ORDER BY a.seq LIMIT $limit",
                                   after=after_seq, limit=limit)
            else:
                found = await rows(tx, "MATCH (a:AuditEvent) WHERE a.seq > $after AND "
                                       "a.namespace IN $ns RETURN a {.*} AS a "
                                       "ORDER BY a.seq LIMIT $limit",
                                   after=after_seq, ns=list(namespaces), limit=limit)
            return [audit_of(r["a"]) for r in found]
        return await self.db.read(fn)

    async def last_audit(self) -> AuditEvent | None:
        async def fn(tx: Tx) -> AuditEvent | None:
            found = await rows(tx, "MATCH (a:AuditEvent) RETURN a {.*} AS a "
                                   "ORDER BY a.seq DESC LIMIT 1")
            return audit_of(found[0]["a"]) if found else None
        return await self.db.read(fn)

    async def stats(self, namespaces: Sequence[str],
                    buffer_agent: str | None = None) -> list[NamespaceStats]:
        ns = list(namespaces)

        async def fn(tx: Tx) -> list[NamespaceStats]:
            by_status: dict[str, dict[str, int]] = {n: {} for n in ns}
            for r in await rows(tx, "MATCH (m:Memory) WHERE m.namespace IN $ns AND "
                                    "m.commit_state = 'committed' RETURN m.namespace AS ns, "
                                    "m.status AS status, count(*) AS n", ns=ns):
                by_status[r["ns"]][r["status"]] = int(r["n"])
            counts: dict[str, dict[str, int]] = {n: {} for n in ns}
            for key, query in (
                ("entities", "MATCH (x:Entity) WHERE x.namespace IN $ns "
                             "RETURN x.namespace AS ns, count(*) AS n"),
                ("relations", "MATCH ()-[x:RELATES]->() WHERE x.namespace IN $ns AND "
                              "x.valid_to IS NULL RETURN x.namespace AS ns, count(*) AS n"),
                ("buffer_items", "MATCH (x:BufferItem) WHERE x.namespace IN $ns AND "
                                 "($agent IS NULL OR x.agent_id = $agent) "
                                 "RETURN x.namespace AS ns, count(*) AS n"),
            ):
                for r in await rows(tx, query, ns=ns, agent=buffer_agent):
                    counts[r["ns"]][key] = int(r["n"])
            return [NamespaceStats(namespace=n, memories_by_status=dict(by_status[n]),
                                   entities=counts[n].get("entities", 0),
                                   relations=counts[n].get("relations", 0),
                                   buffer_items=counts[n].get("buffer_items", 0)) for n in ns]
        if not ns:
            return []
        return await self.db.read(fn)
