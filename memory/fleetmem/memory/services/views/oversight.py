"""Views of conflicts, namespace summaries, relate results and audit verification."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from fleetmem.memory.domain.conflicts import Claim, ConflictRecord
from fleetmem.memory.services.views.records import AuditEventView, NamespaceView, RelationView


class ClaimView(BaseModel):
    """One side of a conflict."""

    value: str
    text: str
    agent_id: str
    at: datetime
    memory_id: str | None = None
    relation_id: str | None = None


class ResolutionView(BaseModel):
    """Who resolved a conflict, how, when and why."""

    keep: str
    resolved_by: str
    resolved_at: datetime
    on_behalf_of: str | None = None
    workflow_id: str | None = None
    note: str = ""


class ConflictView(BaseModel):
    """A conflict between two agents' facts: `a` was current, `b` contradicted it."""

    id: str
    namespace: str
    kind: str
    subject: str
    attribute: str
    a: ClaimView
    b: ClaimView
    status: str
    created_at: datetime
    workflow_id: str | None = None
    resolution: ResolutionView | None = None

    @classmethod
    def of(cls, c: ConflictRecord) -> ConflictView:
        """Build the view of a conflict record."""
        def claim(x: Claim) -> ClaimView:
            return ClaimView(value=x.value, text=x.text, agent_id=x.agent_id, at=x.at,
                             memory_id=x.memory_id, relation_id=x.relation_id)
        r = c.resolution
        return cls(id=c.id, namespace=c.namespace, kind=c.kind.value, subject=c.subject,
                   attribute=c.attribute, a=claim(c.a), b=claim(c.b), status=c.status.value,
                   created_at=c.created_at, workflow_id=c.workflow_id,
                   resolution=None if r is None else ResolutionView(
                       keep=r.keep, resolved_by=r.resolved_by, resolved_at=r.resolved_at,
                       on_behalf_of=r.on_behalf_of, workflow_id=r.workflow_id, note=r.note))


class EntityBrief(BaseModel):
    """An entity's name and type only."""

    name: str
    entityType: str  # noqa: N815 - the reference server's field name


class NamespaceSummaryView(BaseModel):
    """One readable namespace: its counts and access, and its first entities."""

    namespace: NamespaceView
    entities: list[EntityBrief] = Field(default_factory=list)
    more_entities: bool = False


class RelateResult(BaseModel):
    """The current relation, whether this call created it, and entities it had to create."""

    relation: RelationView
    created: bool
    created_entities: list[str] = Field(default_factory=list)


class WitnessView(BaseModel):
    """The audit witness: the last head it anchored outside the store."""

    enabled: bool
    seq: int | None = None
    hash: str | None = None
    at: str | None = None
    anchors: int | None = None
    """Anchors in the witness (after a verification; None otherwise)."""
    anchors_checked: int | None = None
    """Anchors compared with the store's entries (after a verification)."""


class AuditHeadView(BaseModel):
    """The audit chain's head in the store, and the last head the witness anchored."""

    seq: int
    """The store's last seq (0: no entries)."""
    hash: str | None = None
    witness: WitnessView


class AuditVerification(BaseModel):
    """Result of checking the whole audit chain, and the store against the witness."""

    ok: bool
    checked: int
    """Entries whose hash and link verified before the first bad one (all when intact)."""
    first_bad: AuditEventView | None = None
    """The first entry whose hash or link fails (None when the chain itself is intact)."""
    reason: str = ""
    """Why `first_bad` fails."""
    first_bad_seq: int | None = None
    """The first seq that fails any check: a broken entry, an anchored entry missing or
    different, or for a cut tail the first removed seq."""
    head_seq: int = 0
    head_hash: str | None = None
    witness: WitnessView = WitnessView(enabled=False)
    problems: list[str] = Field(default_factory=list)
    """Everything that fails, in words (empty when ok)."""
    warnings: list[str] = Field(default_factory=list)
    """Reported, not failing (a torn last witness line, no witness configured)."""
