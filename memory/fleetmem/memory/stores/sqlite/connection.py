"""SQLite plumbing: one writer connection owned by one worker thread, a small pool of
reader connections, rows <-> domain values.

SQLite serialises writers anyway; giving the write connection to a single thread keeps
the event loop free and avoids cross-thread connection sharing. WAL with
synchronous=FULL makes every committed transaction durable. WAL also lets readers run
beside the writer and beside each other, each on the last committed snapshot: the legs
of one recall (keyword search, entity lookup) and the reads of concurrent requests do
not queue behind one another or behind a commit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from fleetmem.memory.domain.metadata import serialise
from fleetmem.memory.domain.models import (
    Attribution,
    AuditEvent,
    BufferItem,
    CommitState,
    Memory,
    MemoryKind,
    MemoryStatus,
    Relation,
)
from fleetmem.memory.errors import StorageUnavailable
from fleetmem.memory.ports import Vector
from fleetmem.memory.stores.audit_head import report_audit_head
from fleetmem.memory.stores.keyword_cache import KeywordCache

logger = logging.getLogger(__name__)
T = TypeVar("T")


def ts(value: datetime | None) -> float | None:
    """Datetime -> UTC epoch seconds (None stays None)."""
    return None if value is None else value.timestamp()


def dt(value: float | None) -> datetime | None:
    """UTC epoch seconds -> aware datetime (None stays None)."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


def dt_req(value: float) -> datetime:
    """UTC epoch seconds -> aware datetime."""
    return datetime.fromtimestamp(value, UTC)


def placeholders(items: object) -> str:
    """Return '?,?,?' for a sized collection (never user text: only question marks)."""
    assert isinstance(items, list | tuple | set | frozenset)
    return ",".join("?" * len(items))


def vec_to_blob(vector: Vector | None) -> bytes | None:
    """Serialise a float32 vector."""
    return None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()


def blob_to_vec(blob: bytes | None) -> Vector | None:
    """Deserialise a float32 vector."""
    return None if blob is None else np.frombuffer(blob, dtype=np.float32).copy()


MEMORY_COLUMNS = (
    "id, namespace, text, kind, importance, tags, created_by, on_behalf_of, workflow_id, "
    "session_id, created_at, updated_at, valid_from, valid_to, status, pinned, access_count, "
    "last_accessed_at, supersedes, superseded_by, content_hash, commit_state, entity_names, "
    "metadata"
)
ROW_WIDTH = MEMORY_COLUMNS.count(",") + 2
"""Values of one `memory_row`: the columns and the vector."""


def memory_row(m: Memory, vector: Vector | None) -> tuple[object, ...]:
    """A Memory as the tuple inserted in `memories` (MEMORY_COLUMNS + vector)."""
    a = m.attribution
    return (
        m.id, m.namespace, m.text, m.kind.value, m.importance, json.dumps(list(m.tags)),
        a.created_by, a.on_behalf_of, a.workflow_id, a.session_id, ts(a.created_at),
        ts(m.updated_at), ts(m.valid_from), ts(m.valid_to), m.status.value, int(m.pinned),
        m.access_count, ts(m.last_accessed_at), m.supersedes, m.superseded_by,
        m.content_hash, m.commit_state.value, json.dumps(list(m.entity_names)),
        serialise(m.metadata), vec_to_blob(vector),
    )


_KINDS = {k.value: k for k in MemoryKind}
_STATUSES = {s.value: s for s in MemoryStatus}
_STATES = {s.value: s for s in CommitState}


def _strings(text: str) -> tuple[str, ...]:
    """A JSON list of strings as a tuple ('[]', the common case, without parsing)."""
    return () if text == "[]" else tuple(json.loads(text))


def row_memory(r: sqlite3.Row | tuple[Any, ...]) -> Memory:
    """A `memories` row (MEMORY_COLUMNS first, in order) as a Memory.

    Positional, with enum lookups by dict: recall converts every candidate's row, and
    access by column name made this the largest part of reading them.
    """
    (mid, namespace, text, kind, importance, tags, created_by, on_behalf_of, workflow_id,
     session_id, created_at, updated_at, valid_from, valid_to, status, pinned, access_count,
     last_accessed_at, supersedes, superseded_by, chash, commit_state, entity_names,
     metadata) = r[:24]
    return Memory(
        id=mid, namespace=namespace, text=text, kind=_KINDS[kind], importance=importance,
        tags=_strings(tags),
        attribution=Attribution(
            created_by=created_by, created_at=dt_req(created_at), on_behalf_of=on_behalf_of,
            workflow_id=workflow_id, session_id=session_id,
        ),
        updated_at=dt_req(updated_at), valid_from=dt_req(valid_from), valid_to=dt(valid_to),
        status=_STATUSES[status], pinned=bool(pinned), access_count=access_count,
        last_accessed_at=dt(last_accessed_at), supersedes=supersedes,
        superseded_by=superseded_by, content_hash=chash, commit_state=_STATES[commit_state],
        entity_names=_strings(entity_names),
        metadata={} if metadata == "{}" else json.loads(metadata),
    )


def row_relation(r: sqlite3.Row) -> Relation:
    """A `relations` row as a Relation."""
    return Relation(
        id=r["id"], namespace=r["namespace"], from_entity=r["from_name"], to_entity=r["to_name"],
        relation_type=r["relation_type"],
        attribution=Attribution(created_by=r["created_by"], created_at=dt_req(r["created_at"]),
                                on_behalf_of=r["on_behalf_of"], workflow_id=r["workflow_id"]),
        valid_from=dt_req(r["valid_from"]), valid_to=dt(r["valid_to"]),
    )


def row_buffer(r: sqlite3.Row) -> BufferItem:
    """A `buffer_items` row as a BufferItem."""
    return BufferItem(
        id=r["id"], agent_id=r["agent_id"], session_id=r["session_id"],
        namespace=r["namespace"], role=r["role"], text=r["text"],
        created_at=dt_req(r["created_at"]), importance=r["importance"],
        consolidated_into=r["consolidated_into"], workflow_id=r["workflow_id"],
        on_behalf_of=r["on_behalf_of"],
    )


def row_audit(r: sqlite3.Row) -> AuditEvent:
    """An `audit` row as an AuditEvent (time from its exact ISO text, for the hash).

    A tampered row that no longer parses is still returned (its hash then fails to
    verify), so `audit verify` names it instead of crashing on it.
    """
    try:
        at = datetime.fromisoformat(r["at_iso"])
    except (TypeError, ValueError):
        at = datetime.fromtimestamp(0, UTC)
    try:
        targets = tuple(str(t) for t in json.loads(r["target_ids"]))
    except (TypeError, ValueError):
        targets = (str(r["target_ids"]),)
    return AuditEvent(
        seq=r["seq"], at=at, agent_id=r["agent_id"],
        operation=r["operation"], outcome=r["outcome"], namespace=r["namespace"],
        target_ids=targets, on_behalf_of=r["on_behalf_of"],
        workflow_id=r["workflow_id"], detail=r["detail"], prev_hash=r["prev_hash"],
        hash=r["hash"],
    )


def _unicode_lower(value: str | bytes | int | float | None) -> str | bytes | int | float | None:
    """Unicode lower-casing for SQL (None and non-text values pass through)."""
    return value.lower() if isinstance(value, str) else value


READERS = 2
"""Reader connections (and threads): two legs of a recall at once on a 2-core host."""


def _open_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA cache_size=-65536")
    # SQLite's own lower() folds ASCII only; names are lowered by Python (Unicode), so
    # case-insensitive matches (search_nodes, aliases) must fold the same way.
    conn.create_function("lower", 1, _unicode_lower, deterministic=True)
    return conn


_written = threading.local()
"""The audit head the writer thread's open transaction appended (one writer per file)."""


def note_audit_head(seq: int, digest: str) -> None:
    """Record the head the current transaction appended (reported once it commits)."""
    _written.head = (seq, digest)


_ADDED_COLUMNS = {("memories", "metadata"): "TEXT NOT NULL DEFAULT '{}'",
                  ("namespace_docs", "version"): "INTEGER NOT NULL DEFAULT 0"}
"""Columns newer than the first schema: databases written before get them on open, with
their default (existing memories have empty metadata; a namespace's keyword version starts
at 0 and changes with its first write)."""


_FILL_KEYWORD_DOCS = """
INSERT OR IGNORE INTO keyword_docs
        (doc, id, namespace, status, commit_state, text_len, context_len)
    SELECT m.rowid, m.id, m.namespace, m.status, m.commit_state, length(m.text),
           coalesce(length(c.context), 0)
    FROM memories m LEFT JOIN memories_context_fts c ON c.rowid = m.rowid"""


def _fill_keyword_docs(conn: sqlite3.Connection) -> None:
    """Fill `keyword_docs` for a store made before it (once: its triggers keep it after)."""
    if conn.execute("SELECT NOT EXISTS (SELECT 1 FROM keyword_docs) "
                    "AND EXISTS (SELECT 1 FROM memories)").fetchone()[0]:
        conn.execute(_FILL_KEYWORD_DOCS)
        logger.info("filled keyword_docs from the memories of %s", conn)


def _add_columns(conn: sqlite3.Connection) -> None:
    for (table, name), decl in _ADDED_COLUMNS.items():  # constants, never input
        if name not in {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
            logger.info("added column %s.%s to %s", table, name, conn)


class SqliteConnection:
    """Owns the database file: the write connection with the thread that uses it, and
    the reader connections (one per reader thread, opened on first use)."""

    def __init__(self, path: Path, readers: int = READERS) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleetmem-sqlite")
        self._readers = ThreadPoolExecutor(max_workers=readers,
                                           thread_name_prefix="fleetmem-sqlite-read")
        self._conn: sqlite3.Connection | None = None
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._trace: Callable[[str], object] | None = None
        self.audit_watcher: Callable[[int, str], None] | None = None
        """Told the new audit head after each commit that appended entries."""
        self.keyword_cache = KeywordCache()
        """Term matches of the keyword search, kept while their namespaces are unchanged."""

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = _open_connection(self.path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        schema = resources.files("fleetmem.memory.stores.sqlite").joinpath("schema.sql")
        conn.executescript(schema.read_text())
        _add_columns(conn)
        _fill_keyword_docs(conn)
        self._conn = conn

    def _reader(self) -> sqlite3.Connection:
        """This reader thread's connection (read-only: a write through it is an error)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _open_connection(self.path)
            conn.execute("PRAGMA query_only=ON")
            conn.set_trace_callback(self._trace)
            with self._reader_lock:
                self._reader_conns.append(conn)
            self._local.conn = conn
        return conn

    async def open(self) -> None:
        """Open the file and create the schema (idempotent)."""
        await self.run(lambda c: None)

    async def trace(self, callback: Callable[[str], object] | None) -> None:
        """Pass every statement any connection runs to `callback` (None stops; tests)."""
        self._trace = callback
        await self.run(lambda c: c.set_trace_callback(callback))
        with self._reader_lock:
            for reader in self._reader_conns:
                reader.set_trace_callback(callback)

    @property
    def conn(self) -> sqlite3.Connection:
        """The live connection (only valid on the worker thread)."""
        if self._conn is None:
            self._connect()
        assert self._conn is not None
        return self._conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on the writer thread; driver errors become StorageUnavailable."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, _translated, fn, lambda: self.conn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run the read-only `fn` on a reader thread, over the last committed snapshot
        (every transaction committed before the call is visible)."""
        if self._conn is None:  # the writer creates the file and its schema first
            await self.open()
        return await asyncio.get_running_loop().run_in_executor(
            self._readers, _translated, fn, self._reader)

    async def tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` inside one IMMEDIATE transaction (committed durably, or rolled back)."""
        def wrapped(conn: sqlite3.Connection) -> T:
            _written.head = None
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            report_audit_head(self.audit_watcher, _written.head)
            return result

        return await self.run(wrapped)

    async def close(self) -> None:
        """Close the readers, checkpoint and close the writer, then stop the threads."""
        def shut(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
            self._conn = None

        self._readers.shutdown(wait=True)
        with self._reader_lock:
            for reader in self._reader_conns:
                reader.close()
            self._reader_conns.clear()
        if self._conn is not None:
            await self.run(shut)
        self._executor.shutdown(wait=True)


def _translated(fn: Callable[[sqlite3.Connection], T],
                connection: Callable[[], sqlite3.Connection]) -> T:
    """Call `fn` on a connection; driver errors become StorageUnavailable."""
    try:
        return fn(connection())
    except sqlite3.OperationalError as exc:
        raise StorageUnavailable("sqlite", retryable="locked" in str(exc),
                                 detail=str(exc)) from exc
    except sqlite3.DatabaseError as exc:
        raise StorageUnavailable("sqlite", retryable=False, detail=str(exc)) from exc
