"""The keyword search's matches of a term, kept between searches while nothing they were
read from has changed (both graph stores).

A recall's keyword leg reads every match of each question word in the searched
namespaces (document and length, for BM25 over those namespaces alone). Agents ask about
the same people and topics again and again, and reading the same matches again was most
of the leg: ~2,000 matches a question on LoCoMo, ~2.5 ms of CPU beside the question's
encode on SQLite; on Neo4j the full-text statement was ~80% of a recall. Each namespace
has a keyword `version` in the store (SQLite: `namespace_docs.version`, set by triggers on
`keyword_docs`; Neo4j: `NamespaceDocs.version`, set by every statement that changes what
the search reads) that changes with every write changing what its keyword search reads,
so an entry is used only while the versions of the namespaces it was read from are the
ones it was read at; a write in a namespace makes its entries stale (they are replaced
when next read).

The versions come from the store itself, so writes of another process (the CLI, a vault
sync, a second replica) are seen like this process's own. Bounded by the number of
matches held (least recently used out first); thread-safe (SQLite's reader threads share
it).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from fleetmem.memory.domain.ranking import Postings
from fleetmem.memory.ports import MemoryFilter

KEYWORD_CACHE_MATCHES = 200_000
"""The most term matches the cache holds (~16 bytes each for SQLite's row numbers, ~150
for Neo4j's memory ids: ~3 / ~30 MB)."""

OVER_BUDGET = "over budget"
"""What a term with more matches than the search's budget is kept as."""

Versions = tuple[int | str | None, ...]
"""The keyword versions of the searched namespaces, in the key's order (None: no row)."""


Scope = tuple[tuple[str, ...], tuple[str, ...], int]
"""What a cached search read: its namespaces and statuses (sorted), and the posting budget."""


def cache_scope(flt: MemoryFilter, budget: int) -> Scope | None:
    """The scope of a keyword search whose filter names only namespaces and statuses (a
    recall's default), or None for any other filter (kinds, tags, metadata, writer, time
    bounds, `as_of`), whose searches are not cached."""
    if not flt.scope_only:
        return None
    return (tuple(sorted(set(flt.namespaces))), tuple(sorted({s.value for s in flt.statuses})),
            budget)


class _Entry:
    __slots__ = ("postings", "versions")

    def __init__(self, versions: Versions, postings: Postings | None) -> None:
        self.versions = versions
        self.postings = postings

    @property
    def size(self) -> int:
        """What the entry counts against the cache's bound: its matches, and one."""
        return (len(self.postings[0]) if self.postings is not None else 0) + 1


class KeywordCache:
    """Term matches by (scope, term), valid at the scope's keyword versions."""

    def __init__(self, max_matches: int = KEYWORD_CACHE_MATCHES) -> None:
        self.max_matches = max_matches
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, versions: Versions) -> Postings | str | None:
        """The matches kept for `key` at `versions` (arrays the caller must not change),
        `OVER_BUDGET`, or None (not kept, or kept at other versions)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.versions != versions:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
        return OVER_BUDGET if entry.postings is None else entry.postings

    def put(self, key: Hashable, versions: Versions, postings: Postings | None) -> None:
        """Keep a term's matches (None: over the budget) read at `versions`. The versions
        must have been read before the matches: then the matches are as new as the
        versions or newer, never older."""
        entry = _Entry(versions, postings)
        if entry.size > self.max_matches:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._held -= old.size
            self._entries[key] = entry
            self._held += entry.size
            while self._held > self.max_matches:
                _, gone = self._entries.popitem(last=False)
                self._held -= gone.size

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
            self._held = 0
