"""The keyword search's matches of a term, kept between searches while nothing they were
read from has changed.

A recall's keyword leg reads every match of each question word in the searched
namespaces (document and length, for BM25 over those namespaces alone). Agents ask about
the same people and topics again and again, and reading the same matches again was most
of the leg: ~2,000 matches a question on LoCoMo, ~2.5 ms of CPU, beside the question's
encode. A namespace's `version` in `namespace_docs` changes with every write that changes
what its keyword search reads (schema.sql: triggers on `keyword_docs`), so an entry is
used only while the versions of the namespaces it was read from are the ones it was read
at; a write in a namespace makes its entries stale (they are replaced when next read).

The versions come from the same database, so writes of another process (the CLI, a vault
sync, a second replica on the file) are seen like this process's own. Bounded by the
number of matches held (least recently used out first); thread-safe (the store's reader
threads share it).
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from collections.abc import Hashable

KEYWORD_CACHE_MATCHES = 200_000
"""The most term matches the cache holds (16 bytes each: ~3 MB)."""

OVER_BUDGET = "over budget"
"""What a term with more matches than the search's budget is kept as."""

Versions = tuple[int | None, ...]
"""The keyword versions of the searched namespaces, in the key's order (None: no row)."""

Matches = list[tuple[int, int]]
"""A term's matches: (document, length) pairs."""


class _Entry:
    __slots__ = ("docs", "lengths", "over", "versions")

    def __init__(self, versions: Versions, matches: Matches | None) -> None:
        self.versions = versions
        self.over = matches is None
        self.docs = array("q", (d for d, _ in matches or ()))
        self.lengths = array("q", (n for _, n in matches or ()))

    @property
    def size(self) -> int:
        """What the entry counts against the cache's bound: its matches, and one."""
        return len(self.docs) + 1


class KeywordCache:
    """Term matches by (scope, term), valid at the scope's keyword versions."""

    def __init__(self, max_matches: int = KEYWORD_CACHE_MATCHES) -> None:
        self.max_matches = max_matches
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, versions: Versions) -> Matches | str | None:
        """The matches kept for `key` at `versions`, `OVER_BUDGET`, or None (not kept, or
        kept at other versions)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.versions != versions:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
        return OVER_BUDGET if entry.over else list(zip(entry.docs, entry.lengths, strict=True))

    def put(self, key: Hashable, versions: Versions, matches: Matches | None) -> None:
        """Keep a term's matches (None: over the budget) read at `versions`. The versions
        must have been read before the matches: then the matches are as new as the
        versions or newer, never older."""
        entry = _Entry(versions, matches)
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
