"""Neo4j plumbing: one async driver, managed transactions, driver errors -> StorageUnavailable.

Every port method runs as one managed transaction (`execute_read`/`execute_write`), which
the driver retries on transient errors (deadlocks, leader changes, lost connections). All
sessions share one bookmark manager so that, on a cluster, a read sees this process's
earlier writes (causal consistency across sessions).

Two scopes bundle several port calls into one transaction (issue 22: one round trip per
recall and per write, not one per call): `reading()` lets every read made inside it (by
the task and the tasks it starts) share one read transaction, begun at the first read and
begun afresh after any write of the scope commits (so a read after a write sees it, as
before); `write_together(block)` runs `block` in one managed write transaction in which
every read and write of the store runs, retried as a whole on transient errors. See
`scopes`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from neo4j import (
    READ_ACCESS,
    WRITE_ACCESS,
    AsyncDriver,
    AsyncGraphDatabase,
    AsyncManagedTransaction,
    AsyncSession,
)
from neo4j.exceptions import DriverError, Neo4jError, TransientError

from fleetmem.memory.errors import StorageUnavailable
from fleetmem.memory.stores.audit_head import report_audit_head
from fleetmem.memory.stores.keyword_cache import KeywordCache
from fleetmem.memory.stores.neo4j.scopes import ReadScope, WriteScope, shared_read, shared_write

logger = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")
Tx = AsyncManagedTransaction
Row = dict[str, Any]
TxFn = Callable[Concatenate[Tx, P], Awaitable[T]]
_SCHEMES = {"bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc"}

POOL_SIZE = 32
"""Bolt connections per server one process may hold. A transaction holds one; a recall
or a write holds one at a time (its reads share one transaction, see `scopes`), so 32
covers a replica's concurrent requests with room to spare, and several replicas stay
well inside the server's Bolt worker threads (400 by default). The driver's default of
100 per process only adds idle sockets."""
FETCH_SIZE = -1
"""Records per PULL: all of them. Every statement here is bounded (LIMIT, a page, or a
result the caller needs whole, like the ids the reconciler compares), so a statement is
always one RUN+PULL exchange; the driver's default of 1,000 added a round trip per
further 1,000 records."""


_written: ContextVar[tuple[int, str] | None] = ContextVar("fleetmem_audit_head", default=None)
"""The audit head the current write transaction appended (the transaction function runs
in the caller's task, so `write` sees what it noted; a retried attempt notes it again)."""


def note_audit_head(seq: int, digest: str) -> None:
    """Record the head the current transaction appended (reported once it commits)."""
    _written.set((seq, digest))


def _noting(fn: TxFn[P, T]) -> TxFn[P, T]:
    """`fn`, forgetting the head an earlier, failed attempt of the same write noted (a
    retried attempt may append nothing, e.g. a conflict another writer created first)."""
    async def attempt(tx: Tx, /, *args: P.args, **kwargs: P.kwargs) -> T:
        _written.set(None)
        return await fn(tx, *args, **kwargs)
    return attempt


def translate(exc: Neo4jError | DriverError) -> StorageUnavailable:
    """A driver or server error as the store-neutral StorageUnavailable."""
    retryable = bool(exc.is_retryable())
    detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return StorageUnavailable("neo4j", retryable=retryable, detail=str(detail)[:500])


async def rows(tx: Tx, query: str, **params: Any) -> list[Row]:
    """Run one parameterised statement and return its records as dicts of plain values
    (statements return maps and scalars, never nodes: `Record.data()`'s recursive
    conversion cost ~1.8 ms per 384-float vector, dict() ~0.1 ms)."""
    result = await tx.run(query, params)
    return [dict(zip(record.keys(), record.values(), strict=True)) async for record in result]


async def run(tx: Tx, query: str, **params: Any) -> None:
    """Run one parameterised statement, discarding its records."""
    result = await tx.run(query, params)
    await result.consume()


class Neo4jConnection:
    """Owns the driver; runs transaction functions with retries and error translation."""

    def __init__(self, uri: str, user: str, password: str, database: str) -> None:
        self.uri = uri
        self.database = database or None
        self._auth = (user, password) if password else None
        self._driver: AsyncDriver | None = None
        self._bookmarks = AsyncGraphDatabase.bookmark_manager()
        self.audit_watcher: Callable[[int, str], None] | None = None
        """Told the new audit head after each commit that appended entries."""
        self.keyword_cache = KeywordCache()
        """Term matches of the keyword search, valid while their namespaces' keyword
        versions are unchanged (`search_ops`)."""
        self.transactions: Counter[str] = Counter()
        """Transactions begun, by access ("read", "write"): each is a session, a BEGIN
        and a COMMIT besides its statements (for tests and profiles)."""

    @property
    def driver(self) -> AsyncDriver:
        """The live driver (after `open`)."""
        if self._driver is None:
            raise StorageUnavailable("neo4j", retryable=False,
                                     detail="the store is not open (call open() first)")
        return self._driver

    async def open(self) -> None:
        """Create the driver and check that the server answers."""
        if self._driver is not None:
            return
        if self.uri.split("://", 1)[0] not in _SCHEMES:
            raise StorageUnavailable("neo4j", retryable=False, detail=(
                f"bad neo4j_uri {self.uri!r}: use bolt://host:7687 (one server) or "
                "neo4j://host:7687 (a cluster), with +s or +ssc for TLS"))
        try:
            # Server notifications (e.g. "property key does not exist yet" on an empty
            # database) are advice for interactive use; here they would only flood logs.
            self._driver = AsyncGraphDatabase.driver(
                self.uri, auth=self._auth, notifications_min_severity="OFF",
                max_connection_pool_size=POOL_SIZE, fetch_size=FETCH_SIZE)
            await self._driver.verify_connectivity()
        except (Neo4jError, DriverError) as exc:
            await self.close()
            raise translate(exc) from exc
        except ValueError as exc:  # malformed URI
            await self.close()
            raise StorageUnavailable("neo4j", retryable=False,
                                     detail=f"bad neo4j_uri {self.uri!r}: {exc}") from exc

    async def close(self) -> None:
        """Close the driver and its connection pool."""
        driver, self._driver = self._driver, None
        if driver is not None:
            await driver.close()

    async def read(self, fn: TxFn[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(tx, ...)` in a managed read transaction, or on the shared transaction
        inside `write_together` or `reading` (see `scopes`)."""
        write_scope = shared_write(self)
        if write_scope is not None:
            return cast(T, await write_scope.run(fn, *args, **kwargs))
        scope = shared_read(self)
        if scope is not None:
            done, result = await scope.run(fn, *args, **kwargs)
            if done:
                return cast(T, result)
        return await self.read_alone(fn, *args, **kwargs)

    async def read_alone(self, fn: TxFn[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(tx, ...)` in its own managed read transaction, even inside `reading`
        (so it runs beside the scope's reads, not after them)."""
        self.transactions["read"] += 1
        try:
            async with self.driver.session(database=self.database,
                                           default_access_mode=READ_ACCESS,
                                           bookmark_manager=self._bookmarks) as session:
                return await session.execute_read(fn, *args, **kwargs)
        except (Neo4jError, DriverError) as exc:
            raise translate(exc) from exc

    async def write(self, fn: TxFn[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(tx, ...)` in a managed write transaction (retried on transient errors),
        or on the block's inside `write_together` (which commits and reports it)."""
        write_scope = shared_write(self)
        if write_scope is not None:
            return cast(T, await write_scope.run(fn, *args, **kwargs))
        self.transactions["write"] += 1
        token = _written.set(None)
        try:
            async with self.driver.session(database=self.database,
                                           default_access_mode=WRITE_ACCESS,
                                           bookmark_manager=self._bookmarks) as session:
                result = await session.execute_write(_noting(fn), *args, **kwargs)
            report_audit_head(self.audit_watcher, _written.get())
            return result
        except (Neo4jError, DriverError) as exc:
            raise translate(exc) from exc
        finally:
            _written.reset(token)
            scope = shared_read(self)
            if scope is not None:
                scope.stale()  # a read after this write begins a new transaction

    async def write_together(self, block: Callable[[], Awaitable[T]]) -> T:
        """Run `block` with every read and write it makes on this store in one managed
        write transaction, committed when it returns; retried as a whole on transient
        errors, so `block` must be safe to run again. Inside another block, just runs it."""
        if shared_write(self) is not None:
            return await block()

        async def fn(tx: Tx) -> T:
            scope = WriteScope(self, tx)
            token = scope.bind()
            try:
                return await block()
            finally:
                scope.unbind(token)
        return await self.write(fn)

    def reading(self) -> ReadScope:
        """The scope in which reads share one read transaction (see `scopes`)."""
        return ReadScope(self)

    async def session(self, access_mode: str) -> AsyncSession:
        """A new session on the store's database with the shared bookmark manager (the
        caller closes it)."""
        return self.driver.session(database=self.database, default_access_mode=access_mode,
                                   bookmark_manager=self._bookmarks)

    async def schema(self, statements: list[str]) -> None:
        """Run schema statements one by one in auto-commit transactions (idempotent DDL)."""
        try:
            async with self.driver.session(database=self.database,
                                           bookmark_manager=self._bookmarks) as session:
                for statement in statements:
                    await _run_schema_statement(session, statement)
        except (Neo4jError, DriverError) as exc:
            raise translate(exc) from exc


_SCHEMA_ATTEMPTS = 8


async def _run_schema_statement(session: AsyncSession, statement: str) -> None:
    """One idempotent DDL statement. Replicas starting together on a fresh database run the
    same statements at once: one may find the rule already made ("AlreadyExists"), or
    Neo4j may pick one as a deadlock victim (TransientError), which is retried."""
    for attempt in range(_SCHEMA_ATTEMPTS):
        try:
            result = await session.run(statement)
            await result.consume()
            return
        except TransientError:
            if attempt == _SCHEMA_ATTEMPTS - 1:
                raise
            await asyncio.sleep(min(1.0, 0.05 * 2 ** attempt))
        except Neo4jError as exc:
            # Another replica created the same rule between our check and ours.
            if "AlreadyExists" not in (exc.code or ""):
                raise
            return
