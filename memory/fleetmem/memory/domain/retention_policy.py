"""Which namespaces the GC may purge or must never decay (pure; patterns are fnmatch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase


def first_match(namespace: str, patterns: Sequence[str]) -> str | None:
    """The first pattern (fnmatch, case-sensitive) that matches the namespace, or None."""
    return next((p for p in patterns if fnmatchcase(namespace, p)), None)


@dataclass(frozen=True, slots=True)
class PurgeDecision:
    """Whether archived memories of a namespace may be hard-deleted, and the rule why."""

    allowed: bool
    rule: str


def purge_decision(namespace: str, allow: Sequence[str], keep: Sequence[str]) -> PurgeDecision:
    """Purge is allowed only where an allow pattern matches and no keep pattern does."""
    kept = first_match(namespace, keep)
    if kept is not None:
        return PurgeDecision(False, f"kept by gc.keep_namespaces pattern {kept!r}")
    allowed = first_match(namespace, allow)
    if allowed is None:
        return PurgeDecision(False, "no gc.purge_namespaces pattern matches")
    return PurgeDecision(True, f"allowed by gc.purge_namespaces pattern {allowed!r}")
