"""SQLite implementation of the governance half of the GraphStore port: audit queries,
usage per author, and conflicts between agents' facts."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from fleetmem.memory.domain.conflicts import (
    Claim,
    ConflictKind,
    ConflictRecord,
    ConflictStatus,
    Resolution,
)
from fleetmem.memory.domain.models import AuditEvent
from fleetmem.memory.ports import AuditQuery
from fleetmem.memory.stores.sqlite.audit_ops import append_audit_sync
from fleetmem.memory.stores.sqlite.connection import (
    SqliteConnection,
    dt_req,
    placeholders,
    row_audit,
    ts,
)


def _claim_json(c: Claim) -> str:
    return json.dumps({"value": c.value, "text": c.text, "agent_id": c.agent_id,
                       "at": ts(c.at), "memory_id": c.memory_id, "relation_id": c.relation_id})


def _claim(raw: str) -> Claim:
    d: dict[str, Any] = json.loads(raw)
    return Claim(value=d["value"], text=d["text"], agent_id=d["agent_id"], at=dt_req(d["at"]),
                 memory_id=d["memory_id"], relation_id=d["relation_id"])


def _resolution_json(r: Resolution) -> str:
    return json.dumps({"keep": r.keep, "resolved_by": r.resolved_by,
                       "resolved_at": ts(r.resolved_at), "on_behalf_of": r.on_behalf_of,
                       "workflow_id": r.workflow_id, "note": r.note})


def _resolution(raw: str | None) -> Resolution | None:
    if raw is None:
        return None
    d: dict[str, Any] = json.loads(raw)
    return Resolution(keep=d["keep"], resolved_by=d["resolved_by"],
                      resolved_at=dt_req(d["resolved_at"]), on_behalf_of=d["on_behalf_of"],
                      workflow_id=d["workflow_id"], note=d["note"])


def _row_conflict(r: sqlite3.Row) -> ConflictRecord:
    return ConflictRecord(
        id=r["id"], namespace=r["namespace"], kind=ConflictKind(r["kind"]),
        subject=r["subject"], attribute=r["attribute"], a=_claim(r["a_claim"]),
        b=_claim(r["b_claim"]), created_at=dt_req(r["created_at"]), pair_key=r["pair_key"],
        workflow_id=r["workflow_id"], status=ConflictStatus(r["status"]),
        resolution=_resolution(r["resolution"]))


class SqliteGovernanceOps:
    """Audit queries, usage per author and conflicts."""

    db: SqliteConnection

    async def audit_query(self, query: AuditQuery, limit: int) -> list[AuditEvent]:
        where: list[str] = ["seq > ?"]
        args: list[object] = [query.after_seq]
        if query.visible_namespaces is not None:
            ns = list(query.visible_namespaces)
            scope = f"namespace IN ({placeholders(ns)})" if ns else "0"
            where.append(f"({scope} OR agent_id = ?)")
            args += [*ns, query.visible_agent]
        for column in ("agent_id", "workflow_id", "operation", "outcome"):
            value = getattr(query, column)
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if query.target_id is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(audit.target_ids) WHERE value = ?)")
            args.append(query.target_id)
        order = "DESC" if query.newest_first else "ASC"
        sql = f"SELECT * FROM audit WHERE {' AND '.join(where)} ORDER BY seq {order} LIMIT ?"

        def fn(c: sqlite3.Connection) -> list[AuditEvent]:
            return [row_audit(r) for r in c.execute(sql, [*args, limit])]
        return await self.db.read(fn)

    async def usage_by_author(self, namespaces: Sequence[str] | None
                              ) -> dict[str, tuple[int, int]]:
        ns = None if namespaces is None else list(namespaces)

        def fn(c: sqlite3.Connection) -> dict[str, tuple[int, int]]:
            if ns is not None and not ns:
                return {}
            scope = "" if ns is None else f" AND namespace IN ({placeholders(ns)})"
            rows = c.execute("SELECT created_by, COUNT(*) n, COALESCE(SUM(LENGTH(CAST(text AS "
                             "BLOB))), 0) b FROM memories WHERE commit_state = 'committed'"
                             f"{scope} GROUP BY created_by", ns or [])
            return {r["created_by"]: (int(r["n"]), int(r["b"])) for r in rows}
        return await self.db.read(fn)

    async def create_conflict(self, conflict: ConflictRecord,
                              audit: Sequence[AuditEvent]) -> ConflictRecord:
        k = conflict

        def fn(c: sqlite3.Connection) -> ConflictRecord:
            found = c.execute("SELECT * FROM conflicts WHERE pair_key = ? AND status = 'open'",
                              (k.pair_key,)).fetchone()
            if found is not None:
                return _row_conflict(found)
            c.execute("INSERT INTO conflicts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                      (k.id, k.namespace, k.kind.value, k.subject, k.attribute, k.pair_key,
                       _claim_json(k.a), _claim_json(k.b), k.a.memory_id, k.b.memory_id,
                       ts(k.created_at), k.workflow_id, k.status.value,
                       None if k.resolution is None else _resolution_json(k.resolution)))
            append_audit_sync(c, audit)
            return k
        return await self.db.tx(fn)

    async def list_conflicts(self, namespaces: Sequence[str], *,
                             status: ConflictStatus | None = None,
                             conflict_ids: Sequence[str] = (), memory_ids: Sequence[str] = (),
                             limit: int = 100) -> list[ConflictRecord]:
        ns, ids, mids = list(namespaces), list(conflict_ids), list(memory_ids)
        where = [f"namespace IN ({placeholders(ns)})"]
        args: list[object] = [*ns]
        if status is not None:
            where.append("status = ?")
            args.append(status.value)
        if ids:
            where.append(f"id IN ({placeholders(ids)})")
            args += ids
        if mids:
            q = placeholders(mids)
            where.append(f"(a_memory_id IN ({q}) OR b_memory_id IN ({q}))")
            args += [*mids, *mids]
        sql = (f"SELECT * FROM conflicts WHERE {' AND '.join(where)} "
               "ORDER BY created_at, id LIMIT ?")

        def fn(c: sqlite3.Connection) -> list[ConflictRecord]:
            if not ns:
                return []
            return [_row_conflict(r) for r in c.execute(sql, [*args, limit])]
        return await self.db.read(fn)

    async def resolve_conflict(self, conflict_id: str, resolution: Resolution,
                               audit: Sequence[AuditEvent]) -> bool:
        def fn(c: sqlite3.Connection) -> bool:
            changed = c.execute("UPDATE conflicts SET status = 'resolved', resolution = ? "
                                "WHERE id = ? AND status = 'open'",
                                (_resolution_json(resolution), conflict_id)).rowcount
            if changed:
                append_audit_sync(c, audit)
            return bool(changed)
        return await self.db.tx(fn)
