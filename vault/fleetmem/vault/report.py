"""What a vault sync did, for the CLI, the watcher's log and tests."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SyncReport(BaseModel):
    """Outcome of one export, import or sync run."""

    mode: str
    vault: str
    viewer: str
    human: str
    namespaces: list[str] = Field(default_factory=list)
    created: list[str] = Field(default_factory=list)
    """Entities and memories created from notes."""
    updated: list[str] = Field(default_factory=list)
    renamed: list[str] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)
    """Entities deleted and memories forgotten (archived: restorable)."""
    written: list[str] = Field(default_factory=list)
    """Note files written from the graph."""
    trashed: list[str] = Field(default_factory=list)
    """Note files moved to `.fleetmem/trash/`."""
    conflicts: list[str] = Field(default_factory=list)
    pending: list[str] = Field(default_factory=list)
    """Edits not applied (export only, or waiting for a conflict to be resolved)."""
    errors: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    """Files not read (no regular file, outside the vault, too large); left untouched."""
    warnings: list[str] = Field(default_factory=list)

    @property
    def graph_changed(self) -> bool:
        """Whether the run changed the graph."""
        return bool(self.created or self.updated or self.renamed or self.deleted)

    def changes(self) -> dict[str, int]:
        """How many of each change the run made: to the graph (created, updated, renamed,
        deleted) and to the notes (written, trashed)."""
        return {k: len(v) for k, v in (
            ("created", self.created), ("updated", self.updated), ("renamed", self.renamed),
            ("deleted", self.deleted), ("written", self.written), ("trashed", self.trashed))}

    def summary(self) -> str:
        """One line for logs and the CLI."""
        parts = [f"{len(v)} {k}" for k, v in (
            ("created", self.created), ("updated", self.updated), ("renamed", self.renamed),
            ("deleted", self.deleted), ("written", self.written), ("trashed", self.trashed),
            ("conflicts", self.conflicts), ("pending", self.pending), ("errors", self.errors),
            ("skipped", self.skipped))
            if v]
        return f"vault {self.mode}: " + (", ".join(parts) or "nothing to do")
