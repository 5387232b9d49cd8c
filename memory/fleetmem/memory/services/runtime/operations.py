"""What a service method declares about itself: the operation it performs (as named in
the agents file's role allow/deny lists), whether it reads or writes, and how governance
counts and audits it. Declared with `governance.operation`, never inferred from names."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

GC_AGENT = "system:gc"
"""The system principal scheduled jobs run as (exempt from limits; may run GC)."""
SYSTEM_PREFIX = "system:"


class Access(StrEnum):
    """How a request is counted: a read, a write, or neither (bookkeeping about the caller)."""

    READ = "read"
    WRITE = "write"
    META = "meta"


READ = Access.READ
WRITE = Access.WRITE
META = Access.META


@dataclass(frozen=True, slots=True)
class Operation:
    """One declared operation.

    Attributes:
        name: the operation role lists allow or deny (e.g. "recall", "create_entities").
        access: read, write or meta; decides quota, usage and audit handling.
        also: further operations the caller must also be allowed (a rename deletes too).
        cost: the parameter holding a batch; a write costs its length (default 1 item).
        audit_ids: reads: record the ids a result returned (off for searches and counts).
        bulk: reads: paged whole-namespace reads record one summary entry per page.
        admin: only the system principal or an agent with `admin: true` may call it.
    """

    name: str
    access: Access
    also: tuple[str, ...] = ()
    cost: str | None = None
    audit_ids: bool = True
    bulk: bool = False
    admin: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """Every operation the caller must be allowed."""
        return (self.name, *self.also)
