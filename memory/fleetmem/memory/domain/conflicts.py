"""Conflicts between agents (pure): two incompatible facts about the same subject and
attribute, both kept and surfaced for review instead of one silently overwriting the other.

Two kinds are detected:
- relation: a one-valued relation type (e.g. `works_at`) from the same entity points to a
  different target than the current relation another agent wrote;
- attribute: an observation written as `key: value` (or `key = value`) gives an entity's
  attribute a different value than a current observation by another agent.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime

from fleetmem.memory.domain.text import normalize

_ATTRIBUTE = re.compile(r"^\s*([A-Za-z][\w .\-]{0,39}?)\s*[:=]\s*(\S.*?)\s*$", re.DOTALL)
KEEP_CHOICES = ("a", "b", "both")
RESOLUTION_POLICIES = ("any", "third_party")
"""Who may resolve a conflict: any writer of its namespace, or only a third party."""


class ConflictKind(enum.StrEnum):
    """What the two facts disagree about."""

    RELATION = "relation"
    ATTRIBUTE = "attribute"


class ConflictStatus(enum.StrEnum):
    """Open conflicts mark their facts as disputed; resolved ones record the choice."""

    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Claim:
    """One side of a conflict: what one agent asserted, and where the fact lives."""

    value: str
    """The relation's target entity, or the attribute's value."""
    text: str
    """The fact as stored: the relation's memory text, or the observation text."""
    agent_id: str
    at: datetime
    memory_id: str | None = None
    """The long-term memory holding the fact (None when it has none)."""
    relation_id: str | None = None
    """For relation conflicts, the relation row."""


@dataclass(frozen=True, slots=True)
class Resolution:
    """Who chose what, when, and why."""

    keep: str
    """Which claim stays current: a, b, or both (they are compatible after all)."""
    resolved_by: str
    resolved_at: datetime
    on_behalf_of: str | None = None
    workflow_id: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class ConflictRecord:
    """An open or resolved conflict between claim `a` (the current fact) and claim `b`
    (the newer, contradicting one) about `subject`'s `attribute` in one namespace."""

    id: str
    namespace: str
    kind: ConflictKind
    subject: str
    attribute: str
    a: Claim
    b: Claim
    created_at: datetime
    pair_key: str
    """Identifies the disagreement (see `pair_key`): one open conflict per key."""
    workflow_id: str | None = None
    status: ConflictStatus = ConflictStatus.OPEN
    resolution: Resolution | None = None

    def memory_ids(self) -> tuple[str, ...]:
        """The memories of both claims (those that have one)."""
        return tuple(m for m in (self.a.memory_id, self.b.memory_id) if m)


def parties_acting(record: ConflictRecord, policy: str, resolver: str,
                   on_behalf_of: str | None) -> list[str]:
    """The authors of the conflict's claims who would be resolving it: the resolver, or
    whoever it acts for. Under `third_party` they may not; under `any` this is empty."""
    if policy != "third_party":
        return []
    parties = {record.a.agent_id, record.b.agent_id}
    return sorted(parties & {resolver, *([on_behalf_of] if on_behalf_of else [])})


def parse_attribute(observation: str) -> tuple[str, str] | None:
    """Return (key, value) when an observation states an attribute (`key: value`)."""
    found = _ATTRIBUTE.match(observation)
    if found is None or "\n" in found.group(1):
        return None
    return found.group(1).strip(), found.group(2).strip()


def same_value(x: str, y: str) -> bool:
    """Whether two values say the same thing (case, width and spacing folded)."""
    return normalize(x) == normalize(y)


def pair_key(namespace: str, kind: ConflictKind, subject: str, attribute: str,
             value_a: str, value_b: str) -> str:
    """A stable key of the disagreement, the same whichever value came first."""
    values = sorted([normalize(value_a), normalize(value_b)])
    raw = json.dumps([namespace, kind.value, normalize(subject), normalize(attribute), values])
    return hashlib.sha256(raw.encode()).hexdigest()
