"""Audit chain rules (pure): each entry's hash covers its content and the previous hash,
so changing any byte of an entry breaks the chain from that entry on."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime

from fleetmem.memory.domain.models import AuditEvent

GENESIS = "0" * 64


def audit_payload(event: AuditEvent) -> str:
    """Return the canonical JSON the hash covers (everything but the hash itself)."""
    return json.dumps(
        {
            "seq": event.seq, "at": event.at.isoformat(), "agent_id": event.agent_id,
            "operation": event.operation, "outcome": event.outcome,
            "namespace": event.namespace, "target_ids": list(event.target_ids),
            "on_behalf_of": event.on_behalf_of, "workflow_id": event.workflow_id,
            "detail": event.detail, "prev_hash": event.prev_hash,
        },
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )


def seal(event: AuditEvent, seq: int, prev_hash: str) -> AuditEvent:
    """Give an event its place in the chain: sequence number, previous hash, own hash."""
    placed = replace(event, seq=seq, prev_hash=prev_hash, hash="")
    digest = hashlib.sha256(audit_payload(placed).encode()).hexdigest()
    return replace(placed, hash=digest)


def first_broken(events: list[AuditEvent], prev_hash: str = GENESIS) -> int | None:
    """Return the seq of the first entry whose hash or link does not verify, else None."""
    for event in events:
        if event.prev_hash != prev_hash or seal(event, event.seq, prev_hash).hash != event.hash:
            return event.seq
        prev_hash = event.hash
    return None


def event(operation: str, agent_id: str, at: datetime, *, outcome: str = "ok",
          namespace: str | None = None, target_ids: tuple[str, ...] = (),
          on_behalf_of: str | None = None, workflow_id: str | None = None,
          detail: str = "") -> AuditEvent:
    """Build an unsealed audit event (the store seals it when it appends)."""
    return AuditEvent(seq=0, at=at, agent_id=agent_id, operation=operation, outcome=outcome,
                      namespace=namespace, target_ids=target_ids, on_behalf_of=on_behalf_of,
                      workflow_id=workflow_id, detail=detail)
