"""Typed reports of the GC jobs: what each run saw, did (or would do) and why, per item."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class GcItem(BaseModel):
    """One thing a GC run acted on (or would act on, in a dry run) and why."""

    id: str
    action: str
    """archive, purge, consolidate, expire, close, delete_entity, reindex or drop."""
    reason: str
    namespace: str | None = None
    kind: str | None = None
    score: float | None = None
    """Retention in [0, 1] when decay is the reason."""
    age_days: float | None = None
    """Days since the item's last activity (memories), archiving (purge) or creation."""
    last_access: datetime | None = None
    text: str | None = None
    """A short preview, so an operator can tell what it is."""


class GcReport(BaseModel):
    """Common part of every job report; the job-specific counts are the subclass fields."""

    job: str
    dry_run: bool
    at: datetime
    """The service clock's time the run started (cutoffs are computed from it)."""
    duration_seconds: float = 0.0
    seen: int = 0
    """Candidates examined."""
    items: list[GcItem] = Field(default_factory=list)
    items_truncated: bool = False
    skipped: str | None = None
    """Set when the run did nothing on purpose (e.g. another replica claimed this slot)."""
    slot: str | None = None
    errors: list[str] = Field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The job's action counts (archived, purged, ...) plus `seen`."""
        out = {"seen": self.seen}
        for name, value in self:
            if isinstance(value, int) and not isinstance(value, bool) and name != "seen":
                out[name] = value
        return out

    def add(self, item: GcItem, limit: int) -> None:
        """List an item unless the report already holds `limit` (then mark truncation)."""
        if len(self.items) < limit:
            self.items.append(item)
        else:
            self.items_truncated = True


class DecayReport(GcReport):
    """Decay sweep: active memories whose retention fell below the threshold."""

    threshold: float = 0.0
    archived: int = 0
    """Archived by this run (in a dry run: would be archived)."""


class PurgeReport(GcReport):
    """Purge: archived memories hard-deleted after the retention period, where allowed."""

    purged: int = 0
    kept_by_policy: int = 0
    kept_by_retention: int = 0


class BufferExpiryReport(GcReport):
    """Buffer expiry: old buffer items consolidated into long-term memory, then deleted."""

    sessions: int = 0
    consolidated: int = 0
    """Items promoted (or judged and skipped) by consolidation in this run."""
    promoted: int = 0
    """Long-term memories written or reinforced by that consolidation."""
    expired: int = 0
    blocked_sessions: int = 0
    """Sessions whose consolidation was refused (their items stay; see `errors`)."""


class CloseSupersededReport(GcReport):
    """Close superseded facts: active memories that a successor or their validity ended."""

    closed: int = 0


class OrphanReport(GcReport):
    """Orphan cleanup: entities nothing refers to, older than the grace period."""

    deleted: int = 0


class ReconcileReport(GcReport):
    """Reconcile: the vector tier re-aligned with the graph (the source of truth)."""

    reindexed: int = 0
    dropped: int = 0
    indexed: int = 0
    """Points the approximate vector index was built over in this run."""
    in_flight: int = 0
    """Differences found that were writes in flight when re-checked (left to finish)."""
