"""Domain values <-> Neo4j property maps, and MemoryFilter -> a fixed Cypher WHERE fragment.

Times are stored as Neo4j DateTime (exact to the microsecond, comparable in Cypher);
vectors as float lists. No value ever becomes part of a Cypher string: every fragment
built here is fixed text with `$parameters`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from fleetmem.memory.domain.metadata import canonical, pair_strings, serialise
from fleetmem.memory.domain.models import (
    Attribution,
    AuditEvent,
    BufferItem,
    CommitState,
    Entity,
    Memory,
    MemoryKind,
    MemoryStatus,
    Observation,
    Relation,
)
from fleetmem.memory.domain.text import or_query
from fleetmem.memory.ports import MemoryFilter, Vector

Row = dict[str, Any]

KEYWORD_CHANGED = ("WITH DISTINCT m.namespace AS ns MATCH (d:NamespaceDocs {namespace: ns}) "
                   "SET d.version = randomUUID()")
"""Appended to a statement that changes what the keyword search reads of the memories `m`
(their status, commit state or keyword context): their namespaces' keyword `version`
changes, so the matches cached at the old one (`stores.keyword_cache`) are read again.
Every such statement must end with it (or, for inserts and deletes, set the version with
the document count), as SQLite's triggers on `keyword_docs` do there."""

# Projections that leave the (large) vector property on the server.
MEMORY_PROJECTION = ("m {.*, vector: null, mentions: null, text_bytes: null, _lock: null, "
                     "metadata_pairs: null, keyword_context: null, keyword_length: null}")


_TIMES = ("created_at", "updated_at", "valid_from", "valid_to", "last_accessed_at")
CANDIDATE_PROJECTION = MEMORY_PROJECTION[:-1] + "".join(
    f", {t}: CASE WHEN m.{t} IS NULL THEN null "
    f"ELSE [m.{t}.epochSeconds, m.{t}.nanosecond] END" for t in _TIMES) + "}"
"""`MEMORY_PROJECTION` with its times as `[epoch seconds, nanosecond]` pairs: the driver
builds a DateTime object per value in Python (~90 us each, five per memory), which
dominated the read of recall's candidates; `from_db` reads the pairs."""


def to_db(value: datetime | None) -> datetime | None:
    """An aware datetime for the driver (naive values are taken as UTC)."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def from_db(value: Any) -> datetime | None:
    """A Neo4j DateTime, an `[epoch seconds, nanosecond]` pair (`EPOCH`), or None, as an
    aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, list):
        seconds, nanos = value
        return datetime.fromtimestamp(seconds, UTC).replace(microsecond=nanos // 1000)
    native = value.to_native() if hasattr(value, "to_native") else value
    assert isinstance(native, datetime)
    return native.astimezone(UTC)


def from_db_req(value: Any) -> datetime:
    """Like `from_db` for a property that is always set."""
    out = from_db(value)
    assert out is not None
    return out


def vec_to_db(vector: Vector | None) -> list[float] | None:
    """A vector as a float list property."""
    return None if vector is None else np.asarray(vector, dtype=np.float32).tolist()


def vec_from_db(value: Any) -> Vector | None:
    """A float list property as a float32 vector."""
    return None if value is None else np.asarray(value, dtype=np.float32)


def lowered(names: Sequence[str]) -> list[str]:
    """Distinct lower-cased names, in first-seen order."""
    return list(dict.fromkeys(n.lower() for n in names))


def memory_props(m: Memory, vector: Vector | None) -> Row:
    """A Memory as the property map of its :Memory node."""
    a = m.attribution
    return {
        "id": m.id, "namespace": m.namespace, "text": m.text, "kind": m.kind.value,
        "importance": float(m.importance), "tags": list(m.tags), "created_by": a.created_by,
        "on_behalf_of": a.on_behalf_of, "workflow_id": a.workflow_id,
        "session_id": a.session_id, "created_at": to_db(a.created_at),
        "updated_at": to_db(m.updated_at), "valid_from": to_db(m.valid_from),
        "valid_to": to_db(m.valid_to), "status": m.status.value, "pinned": m.pinned,
        "access_count": m.access_count, "last_accessed_at": to_db(m.last_accessed_at),
        "supersedes": m.supersedes, "superseded_by": m.superseded_by,
        "content_hash": m.content_hash, "commit_state": m.commit_state.value,
        "entity_names": list(m.entity_names), "mentions": lowered(m.entity_names),
        "text_bytes": len(m.text.encode()), "keyword_length": len(m.text),
        "vector": vec_to_db(vector),
        "metadata": serialise(m.metadata), "metadata_pairs": pair_strings(m.metadata),
    }


def memory_of(p: Row) -> Memory:
    """A :Memory property map as a Memory."""
    return Memory(
        id=p["id"], namespace=p["namespace"], text=p["text"], kind=MemoryKind(p["kind"]),
        importance=float(p["importance"]), tags=tuple(p.get("tags") or ()),
        attribution=Attribution(
            created_by=p["created_by"], created_at=from_db_req(p["created_at"]),
            on_behalf_of=p.get("on_behalf_of"), workflow_id=p.get("workflow_id"),
            session_id=p.get("session_id")),
        updated_at=from_db_req(p["updated_at"]), valid_from=from_db_req(p["valid_from"]),
        valid_to=from_db(p.get("valid_to")), status=MemoryStatus(p["status"]),
        pinned=bool(p.get("pinned", False)), access_count=int(p.get("access_count") or 0),
        last_accessed_at=from_db(p.get("last_accessed_at")), supersedes=p.get("supersedes"),
        superseded_by=p.get("superseded_by"), content_hash=p.get("content_hash") or "",
        commit_state=CommitState(p["commit_state"]),
        entity_names=tuple(p.get("entity_names") or ()),
        metadata=_metadata_of(p.get("metadata")),
    )


def _metadata_of(text: str | None) -> dict[str, object]:
    """Stored metadata JSON (absent on memories written before metadata existed)."""
    if not text or text == "{}":
        return {}
    value: dict[str, object] = json.loads(text)
    return value


def entity_props(e: Entity) -> Row:
    """An Entity as the property map of its :Entity node (observations as parallel lists,
    deduplicated by text like the reference server)."""
    a = e.attribution
    obs = unique_observations(e.observations, ())
    return {
        "id": e.id, "namespace": e.namespace, "name": e.name, "name_lower": e.name.lower(),
        "entity_type": e.entity_type, "aliases": list(e.aliases),
        "aliases_lower": [x.lower() for x in e.aliases], "tags": list(e.tags),
        "created_by": a.created_by, "on_behalf_of": a.on_behalf_of,
        "workflow_id": a.workflow_id, "created_at": to_db(a.created_at),
        "updated_at": to_db(e.updated_at), **observation_lists(obs),
    }


def observation_lists(observations: Sequence[Observation]) -> Row:
    """Observations as the three parallel list properties of an :Entity node."""
    return {"obs_text": [o.text for o in observations],
            "obs_by": [o.created_by for o in observations],
            "obs_at": [to_db(o.created_at) for o in observations]}


def unique_observations(new: Sequence[Observation], existing: Sequence[str]) -> list[Observation]:
    """Those of `new` whose text is neither in `existing` nor earlier in `new`."""
    seen = set(existing)
    out: list[Observation] = []
    for o in new:
        if o.text not in seen:
            seen.add(o.text)
            out.append(o)
    return out


def observations_of(p: Row) -> list[Observation]:
    """The observations held by an :Entity property map."""
    return [Observation(t, b, from_db_req(a)) for t, b, a in
            zip(p.get("obs_text") or (), p.get("obs_by") or (), p.get("obs_at") or (),
                strict=True)]


def entity_of(p: Row) -> Entity:
    """An :Entity property map as an Entity."""
    return Entity(
        id=p["id"], namespace=p["namespace"], name=p["name"], entity_type=p["entity_type"],
        attribution=Attribution(created_by=p["created_by"],
                                created_at=from_db_req(p["created_at"]),
                                on_behalf_of=p.get("on_behalf_of"),
                                workflow_id=p.get("workflow_id")),
        updated_at=from_db_req(p["updated_at"]), aliases=tuple(p.get("aliases") or ()),
        tags=tuple(p.get("tags") or ()), observations=tuple(observations_of(p)))


def relation_props(r: Relation) -> Row:
    """A Relation as the property map of its :RELATES relationship."""
    a = r.attribution
    return {
        "id": r.id, "namespace": r.namespace, "from_name": r.from_entity,
        "to_name": r.to_entity, "from_lower": r.from_entity.lower(),
        "to_lower": r.to_entity.lower(), "relation_type": r.relation_type,
        "created_by": a.created_by, "on_behalf_of": a.on_behalf_of,
        "workflow_id": a.workflow_id, "created_at": to_db(a.created_at),
        "valid_from": to_db(r.valid_from), "valid_to": to_db(r.valid_to),
    }


def relation_of(p: Row) -> Relation:
    """A :RELATES property map as a Relation."""
    return Relation(
        id=p["id"], namespace=p["namespace"], from_entity=p["from_name"],
        to_entity=p["to_name"], relation_type=p["relation_type"],
        attribution=Attribution(created_by=p["created_by"],
                                created_at=from_db_req(p["created_at"]),
                                on_behalf_of=p.get("on_behalf_of"),
                                workflow_id=p.get("workflow_id")),
        valid_from=from_db_req(p["valid_from"]), valid_to=from_db(p.get("valid_to")))


def buffer_props(i: BufferItem) -> Row:
    """A BufferItem as the property map of its :BufferItem node."""
    return {
        "id": i.id, "agent_id": i.agent_id, "session_id": i.session_id,
        "namespace": i.namespace, "role": i.role, "text": i.text,
        "created_at": to_db(i.created_at), "importance": float(i.importance),
        "consolidated_into": i.consolidated_into, "workflow_id": i.workflow_id,
        "on_behalf_of": i.on_behalf_of,
    }


def buffer_of(p: Row) -> BufferItem:
    """A :BufferItem property map as a BufferItem."""
    return BufferItem(
        id=p["id"], agent_id=p["agent_id"], session_id=p["session_id"],
        namespace=p["namespace"], role=p["role"], text=p["text"],
        created_at=from_db_req(p["created_at"]), importance=float(p["importance"]),
        consolidated_into=p.get("consolidated_into"), workflow_id=p.get("workflow_id"),
        on_behalf_of=p.get("on_behalf_of"))


def audit_props(e: AuditEvent) -> Row:
    """A sealed AuditEvent as the property map of its :AuditEvent node (the exact ISO time
    is kept as text so that the hash verifies byte for byte)."""
    return {
        "seq": e.seq, "at": to_db(e.at), "at_iso": e.at.isoformat(), "agent_id": e.agent_id,
        "operation": e.operation, "outcome": e.outcome, "namespace": e.namespace,
        "target_ids": list(e.target_ids), "on_behalf_of": e.on_behalf_of,
        "workflow_id": e.workflow_id, "detail": e.detail, "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


def audit_of(p: Row) -> AuditEvent:
    """An :AuditEvent property map as an AuditEvent."""
    return AuditEvent(
        seq=int(p["seq"]), at=datetime.fromisoformat(p["at_iso"]), agent_id=p["agent_id"],
        operation=p["operation"], outcome=p["outcome"], namespace=p.get("namespace"),
        target_ids=tuple(p.get("target_ids") or ()), on_behalf_of=p.get("on_behalf_of"),
        workflow_id=p.get("workflow_id"), detail=p.get("detail") or "",
        prev_hash=p["prev_hash"], hash=p["hash"])


def memory_where(flt: MemoryFilter) -> tuple[str, Row]:
    """A MemoryFilter as a WHERE fragment over variable `m` and its parameters (`f_*`)."""
    clauses = ["m.namespace IN $f_ns", "m.commit_state = 'committed'"]
    params: Row = {"f_ns": list(flt.namespaces)}
    if flt.as_of is not None:
        clauses.append("m.status <> 'archived' AND m.valid_from <= $f_as_of "
                       "AND (m.valid_to IS NULL OR m.valid_to > $f_as_of)")
        params["f_as_of"] = to_db(flt.as_of)
    elif flt.statuses:
        clauses.append("m.status IN $f_statuses")
        params["f_statuses"] = [s.value for s in flt.statuses]
    if flt.kinds:
        clauses.append("m.kind IN $f_kinds")
        params["f_kinds"] = list(flt.kinds)
    if flt.tags:
        clauses.append("any(t IN m.tags WHERE t IN $f_tags)")
        params["f_tags"] = list(flt.tags)
    if flt.metadata:  # every pair, as `key=canonical value` strings (pair_strings)
        clauses.append("all(p IN $f_meta WHERE p IN coalesce(m.metadata_pairs, []))")
        params["f_meta"] = [f"{k}={canonical(v)}" for k, v in flt.metadata]
    if flt.created_by:
        clauses.append("m.created_by = $f_created_by")
        params["f_created_by"] = flt.created_by
    if flt.created_after:
        clauses.append("m.created_at >= $f_after")
        params["f_after"] = to_db(flt.created_after)
    if flt.created_before:
        clauses.append("m.created_at < $f_before")
        params["f_before"] = to_db(flt.created_before)
    return " AND ".join(clauses), params




def lucene_query(text: str) -> str:
    """Free text as a Lucene OR-query, the same terms as the embedded store's keyword
    search (see `keyword_terms`)."""
    return or_query(text)

