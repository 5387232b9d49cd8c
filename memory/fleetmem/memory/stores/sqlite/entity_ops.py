"""SQLite implementation of the entity/relation half of the GraphStore port."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from fleetmem.memory.domain.models import Attribution, Entity, GraphPage, Observation, Relation
from fleetmem.memory.domain.text import decode_cursor, encode_cursor, occurs, word_starts
from fleetmem.memory.ports import EntityRef
from fleetmem.memory.stores.sqlite.connection import (
    SqliteConnection,
    dt_req,
    placeholders,
    row_relation,
    ts,
)

_WORD = re.compile(r"\w+")
_ENTITY_COLS = ("id, namespace, name, entity_type, aliases, tags, created_by, on_behalf_of, "
                "workflow_id, created_at, updated_at")




def _load_entities(c: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[Entity]:
    ids = [r["id"] for r in rows]
    obs: dict[str, list[Observation]] = {i: [] for i in ids}
    if ids:
        for o in c.execute(f"SELECT entity_id, text, created_by, created_at FROM observations "
                           f"WHERE entity_id IN ({placeholders(ids)}) ORDER BY entity_id, seq",
                           ids):
            obs[o["entity_id"]].append(Observation(o["text"], o["created_by"],
                                                   dt_req(o["created_at"])))
    return [
        Entity(id=r["id"], namespace=r["namespace"], name=r["name"],
               entity_type=r["entity_type"],
               attribution=Attribution(created_by=r["created_by"],
                                       created_at=dt_req(r["created_at"]),
                                       on_behalf_of=r["on_behalf_of"],
                                       workflow_id=r["workflow_id"]),
               updated_at=dt_req(r["updated_at"]), aliases=tuple(json.loads(r["aliases"])),
               tags=tuple(json.loads(r["tags"])), observations=tuple(obs[r["id"]]))
        for r in rows
    ]


def _entity_id(c: sqlite3.Connection, ref: EntityRef) -> str | None:
    r = c.execute("SELECT id FROM entities WHERE namespace = ? AND name_lower = ?",
                  (ref.namespace, ref.name.lower())).fetchone()
    return None if r is None else str(r["id"])


def _insert_observations(c: sqlite3.Connection, entity_id: str,
                         observations: Sequence[Observation]) -> list[Observation]:
    seq = c.execute("SELECT COALESCE(MAX(seq), 0) FROM observations WHERE entity_id = ?",
                    (entity_id,)).fetchone()[0]
    added: list[Observation] = []
    for o in observations:
        seq += 1
        cur = c.execute("INSERT OR IGNORE INTO observations VALUES (?, ?, ?, ?, ?)",
                        (entity_id, seq, o.text, o.created_by, ts(o.created_at)))
        if cur.rowcount == 1:
            added.append(o)
    return added


class SqliteEntityOps:
    """Entities, observations and temporal relations."""

    db: SqliteConnection

    async def create_entities(self, entities: Sequence[Entity]) -> list[Entity]:
        def fn(c: sqlite3.Connection) -> list[Entity]:
            created: list[Entity] = []
            for e in entities:
                a = e.attribution
                cur = c.execute(
                    f"INSERT OR IGNORE INTO entities ({_ENTITY_COLS}, name_lower) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (e.id, e.namespace, e.name, e.entity_type, json.dumps(list(e.aliases)),
                     json.dumps(list(e.tags)), a.created_by, a.on_behalf_of, a.workflow_id,
                     ts(a.created_at), ts(e.updated_at), e.name.lower()))
                if cur.rowcount == 1:
                    _insert_observations(c, e.id, e.observations)
                    index_terms(c, e.id, e.namespace, e.name, e.aliases)
                    created.append(e)
            return created
        return await self.db.tx(fn)

    async def add_observations(self, ref: EntityRef, observations: Sequence[Observation],
                               at: datetime) -> list[Observation] | None:
        def fn(c: sqlite3.Connection) -> list[Observation] | None:
            eid = _entity_id(c, ref)
            if eid is None:
                return None
            added = _insert_observations(c, eid, observations)
            if added:
                c.execute("UPDATE entities SET updated_at = ? WHERE id = ?", (ts(at), eid))
            return added
        return await self.db.tx(fn)

    async def update_entity(self, entity: Entity) -> None:
        def fn(c: sqlite3.Connection) -> None:
            c.execute("UPDATE entities SET entity_type = ?, aliases = ?, tags = ?, updated_at = ? "
                      "WHERE id = ?", (entity.entity_type, json.dumps(list(entity.aliases)),
                                       json.dumps(list(entity.tags)), ts(entity.updated_at),
                                       entity.id))
            row = c.execute("SELECT namespace, name FROM entities WHERE id = ?",
                            (entity.id,)).fetchone()
            if row is not None:
                index_terms(c, entity.id, row["namespace"], row["name"], entity.aliases)
        await self.db.tx(fn)

    async def delete_entities(self, refs: Sequence[EntityRef], at: datetime) -> list[str]:
        def fn(c: sqlite3.Connection) -> list[str]:
            deleted: list[str] = []
            for ref in refs:
                r = c.execute("SELECT id, name FROM entities WHERE namespace = ? AND "
                              "name_lower = ?", (ref.namespace, ref.name.lower())).fetchone()
                if r is None:
                    continue
                c.execute("DELETE FROM entities WHERE id = ?", (r["id"],))
                c.execute("DELETE FROM relations WHERE namespace = ? AND (from_lower = ? OR "
                          "to_lower = ?)", (ref.namespace, ref.name.lower(), ref.name.lower()))
                deleted.append(r["name"])
            return deleted
        return await self.db.tx(fn)

    async def delete_observations(self, ref: EntityRef, observations: Sequence[str],
                                  at: datetime) -> int:
        def fn(c: sqlite3.Connection) -> int:
            eid = _entity_id(c, ref)
            if eid is None or not observations:
                return 0
            obs = list(observations)
            cur = c.execute(f"DELETE FROM observations WHERE entity_id = ? AND text IN "
                            f"({placeholders(obs)})", [eid, *obs])
            if cur.rowcount:
                c.execute("UPDATE entities SET updated_at = ? WHERE id = ?", (ts(at), eid))
            return cur.rowcount
        return await self.db.tx(fn)

    async def create_relations(self, relations: Sequence[Relation]) -> list[Relation]:
        def fn(c: sqlite3.Connection) -> list[Relation]:
            created: list[Relation] = []
            for r in relations:
                ends = [_entity_id(c, EntityRef(r.namespace, n))
                        for n in (r.from_entity, r.to_entity)]
                if None in ends:
                    continue
                dup = c.execute("SELECT 1 FROM relations WHERE namespace = ? AND from_lower = ? "
                                "AND to_lower = ? AND relation_type = ? AND valid_to IS NULL",
                                (r.namespace, r.from_entity.lower(), r.to_entity.lower(),
                                 r.relation_type)).fetchone()
                if dup:
                    continue
                a = r.attribution
                c.execute("INSERT INTO relations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                          (r.id, r.namespace, r.from_entity, r.to_entity, r.from_entity.lower(),
                           r.to_entity.lower(), r.relation_type, a.created_by, a.on_behalf_of,
                           a.workflow_id, ts(a.created_at), ts(r.valid_from), ts(r.valid_to)))
                created.append(r)
            return created
        return await self.db.tx(fn)

    async def delete_relations(self, relations: Sequence[Relation], at: datetime) -> int:
        def fn(c: sqlite3.Connection) -> int:
            n = 0
            for r in relations:
                n += c.execute("DELETE FROM relations WHERE namespace = ? AND from_lower = ? AND "
                               "to_lower = ? AND relation_type = ?",
                               (r.namespace, r.from_entity.lower(), r.to_entity.lower(),
                                r.relation_type)).rowcount
            return n
        return await self.db.tx(fn)

    async def close_relations(self, namespace: str, from_entity: str, relation_type: str,
                              at: datetime) -> int:
        def fn(c: sqlite3.Connection) -> int:
            return c.execute("UPDATE relations SET valid_to = ? WHERE namespace = ? AND "
                             "from_lower = ? AND relation_type = ? AND valid_to IS NULL",
                             (ts(at), namespace, from_entity.lower(), relation_type)).rowcount
        return await self.db.tx(fn)

    async def read_graph(self, namespaces: Sequence[str], cursor: str | None,
                         limit: int) -> GraphPage:
        ns = list(namespaces)
        after_ns, after_name = decode_cursor(cursor)

        def fn(c: sqlite3.Connection) -> GraphPage:
            if not ns:
                return GraphPage((), ())
            rows = c.execute(
                f"SELECT {_ENTITY_COLS} , name_lower FROM entities WHERE namespace IN "
                f"({placeholders(ns)}) AND (namespace > ? OR (namespace = ? AND name_lower > ?)) "
                "ORDER BY namespace, name_lower LIMIT ?",
                [*ns, after_ns, after_ns, after_name, limit + 1]).fetchall()
            more = len(rows) > limit
            rows = rows[:limit]
            entities = _load_entities(c, rows)
            rels = self._relations_from(c, [(r["namespace"], r["name_lower"]) for r in rows])
            nxt = encode_cursor(rows[-1]["namespace"], rows[-1]["name_lower"]) if more else None
            return GraphPage(tuple(entities), tuple(rels), nxt)
        return await self.db.read(fn)

    @staticmethod
    def _relations_from(c: sqlite3.Connection, keys: list[tuple[str, str]]) -> list[Relation]:
        out: list[Relation] = []
        for ns, name in keys:
            out += [row_relation(r) for r in c.execute(
                "SELECT * FROM relations WHERE namespace = ? AND from_lower = ? AND "
                "valid_to IS NULL ORDER BY relation_type, to_lower", (ns, name))]
        return out

    async def search_nodes(self, namespaces: Sequence[str], query: str,
                           limit: int) -> list[Entity]:
        ns = list(namespaces)
        escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"

        def fn(c: sqlite3.Connection) -> list[Entity]:
            if not ns:
                return []
            rows = c.execute(
                f"SELECT {_ENTITY_COLS} FROM entities e WHERE namespace IN ({placeholders(ns)}) "
                "AND (name_lower LIKE ? ESCAPE '\\' OR lower(entity_type) LIKE ? ESCAPE '\\' OR "
                "EXISTS (SELECT 1 FROM observations o WHERE o.entity_id = e.id AND "
                "lower(o.text) LIKE ? ESCAPE '\\')) ORDER BY namespace, name_lower LIMIT ?",
                [*ns, like, like, like, limit]).fetchall()
            return _load_entities(c, rows)
        return await self.db.read(fn)

    async def open_nodes(self, namespaces: Sequence[str], names: Sequence[str]) -> GraphPage:
        ns, lowered = list(namespaces), list({n.lower() for n in names})

        def fn(c: sqlite3.Connection) -> GraphPage:
            if not ns or not lowered:
                return GraphPage((), ())
            rows = c.execute(
                f"SELECT {_ENTITY_COLS} FROM entities WHERE namespace IN ({placeholders(ns)}) "
                f"AND name_lower IN ({placeholders(lowered)}) ORDER BY namespace, name_lower",
                [*ns, *lowered]).fetchall()
            entities = _load_entities(c, rows)
            keys = {(e.namespace, e.name.lower()) for e in entities}
            rels = [r for r in self._relations_from(c, sorted(keys))
                    if (r.namespace, r.to_entity.lower()) in keys]
            return GraphPage(tuple(entities), tuple(rels))
        return await self.db.read(fn)

    async def relations_of(self, namespaces: Sequence[str], names: Sequence[str],
                           as_of: datetime | None) -> list[Relation]:
        ns, lowered = list(namespaces), list({n.lower() for n in names})

        def fn(c: sqlite3.Connection) -> list[Relation]:
            if not ns or not lowered:
                return []
            valid = "valid_to IS NULL" if as_of is None else \
                "valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)"
            extra = [] if as_of is None else [ts(as_of), ts(as_of)]
            rows = c.execute(
                f"SELECT * FROM relations WHERE namespace IN ({placeholders(ns)}) AND "
                f"(from_lower IN ({placeholders(lowered)}) OR to_lower IN "
                f"({placeholders(lowered)})) AND {valid} ORDER BY created_at",
                [*ns, *lowered, *lowered, *extra])
            return [row_relation(r) for r in rows]
        return await self.db.read(fn)

    async def all_relations(self, after_id: str | None, limit: int) -> list[Relation]:
        def fn(c: sqlite3.Connection) -> list[Relation]:
            rows = c.execute("SELECT * FROM relations WHERE id > ? ORDER BY id LIMIT ?",
                             (after_id or "", limit))
            return [row_relation(r) for r in rows]
        return await self.db.read(fn)

    async def entities_in_text(self, namespaces: Sequence[str], text: str,
                               limit: int) -> list[Entity]:
        ns, lowered = list(namespaces), text.lower()
        starts = word_starts(lowered)
        words = list(starts)

        def fn(c: sqlite3.Connection) -> list[Entity]:
            if not ns or not words:
                return []
            ids: dict[str, None] = {}
            for start in range(0, len(words), 400):
                chunk = words[start:start + 400]
                for r in c.execute(
                        f"SELECT entity_id, term FROM entity_terms WHERE namespace IN "
                        f"({placeholders(ns)}) AND first_word IN ({placeholders(chunk)})",
                        [*ns, *chunk]):
                    if r["entity_id"] not in ids and occurs(lowered, r["term"], starts):
                        ids[r["entity_id"]] = None
            if not ids:
                return []
            keys = list(ids)[: limit * 4]
            rows = c.execute(f"SELECT {_ENTITY_COLS} FROM entities WHERE id IN "
                             f"({placeholders(keys)}) ORDER BY namespace, name_lower LIMIT ?",
                             [*keys, limit]).fetchall()
            return _load_entities(c, rows)
        return await self.db.read(fn)


def index_terms(c: sqlite3.Connection, entity_id: str, namespace: str, name: str,
                aliases: Sequence[str]) -> None:
    """(Re)write the first-word index rows of one entity's name and aliases."""
    c.execute("DELETE FROM entity_terms WHERE entity_id = ?", (entity_id,))
    rows = []
    for term in dict.fromkeys(t.lower() for t in (name, *aliases)):
        first = _WORD.findall(term)
        if first:
            rows.append((entity_id, namespace, first[0], term))
    c.executemany("INSERT OR IGNORE INTO entity_terms VALUES (?, ?, ?, ?)", rows)


def backfill_terms(c: sqlite3.Connection) -> int:
    """Index entities written before the term index existed (idempotent)."""
    rows = c.execute("SELECT id, namespace, name, aliases FROM entities e WHERE NOT EXISTS "
                     "(SELECT 1 FROM entity_terms t WHERE t.entity_id = e.id)").fetchall()
    for r in rows:
        index_terms(c, r["id"], r["namespace"], r["name"], json.loads(r["aliases"]))
    return len(rows)
