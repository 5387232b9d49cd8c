"""Several port calls in one Neo4j transaction (issue 22): each managed transaction costs a
session, a BEGIN and a COMMIT on top of its statements, and recall or a write made one
per port call.

- `ReadScope` (`Neo4jConnection.reading()`, the port's `MemoryStore.reading`): the reads
  made inside it, by the task and the tasks it starts (they copy its context), run one
  after another on one explicit read transaction, begun at the first read. A write made
  in the scope marks it stale: the next read commits the old transaction and begins a new
  one, with the write's bookmark, so it sees the write as a read of its own would. When a
  statement fails, the scope stops sharing (its transaction is rolled back) and that read
  and every later one run as their own managed transactions, retried by the driver as
  before: the scope never turns a transient error into a failure.
- `WriteScope` (`Neo4jConnection.write_together`): every read and write of the store made
  by a block runs on the block's one managed write transaction, committed at its end and
  retried as a whole on transient errors (the block must be safe to run again).
"""

from __future__ import annotations

import asyncio
import logging
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from neo4j import READ_ACCESS, AsyncManagedTransaction, AsyncSession, AsyncTransaction
from neo4j.exceptions import DriverError, Neo4jError

if TYPE_CHECKING:
    from fleetmem.memory.stores.neo4j.connection import Neo4jConnection

logger = logging.getLogger(__name__)

_reading: ContextVar[ReadScope | None] = ContextVar("fleetmem_neo4j_read", default=None)
_writing: ContextVar[WriteScope | None] = ContextVar("fleetmem_neo4j_write", default=None)


def shared_read(conn: Neo4jConnection) -> ReadScope | None:
    """The read scope the current context is in, on this connection."""
    scope = _reading.get()
    return scope if scope is not None and scope.conn is conn else None


def shared_write(conn: Neo4jConnection) -> WriteScope | None:
    """The write block the current context runs in, on this connection (a task started
    inside a block copies it, and must not use it once the block's attempt ended)."""
    scope = _writing.get()
    return scope if scope is not None and scope.conn is conn and scope.open else None


class ReadScope:
    """See the module docstring. Nested scopes share the outermost one."""

    def __init__(self, conn: Neo4jConnection) -> None:
        self.conn = conn
        self._lock = asyncio.Lock()
        self._session: AsyncSession | None = None
        self._tx: AsyncTransaction | None = None
        self._token: Token[ReadScope | None] | None = None
        self._stale = False
        self._done = False

    async def __aenter__(self) -> ReadScope:
        if _reading.get() is None:
            self._token = _reading.set(self)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._token is None:
            return
        _reading.reset(self._token)
        async with self._lock:
            self._done = True
            await self._end()

    def stale(self) -> None:
        """A write of the scope committed (or is running): the next read begins anew."""
        self._stale = True

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> tuple[bool, Any]:
        """`(True, fn(tx, ...))` on the shared transaction, or `(False, None)` when the
        scope no longer shares (ended, or a statement failed): the caller runs its own."""
        async with self._lock:
            if self._done:
                return False, None
            try:
                if self._stale:
                    self._stale = False
                    await self._end()
                if self._tx is None:
                    self._session = await self.conn.session(READ_ACCESS)
                    self._tx = await self._session.begin_transaction()
                    self.conn.transactions["read"] += 1
                tx = cast(AsyncManagedTransaction, self._tx)
                return True, await fn(tx, *args, **kwargs)
            except (Neo4jError, DriverError) as exc:
                logger.debug("shared read transaction failed, reads go on alone: %s", exc)
                self._done = True
                await self._end(failed=True)
                return False, None
            except BaseException:  # a cancelled read leaves the transaction undefined
                self._done = True
                await self._end(failed=True)
                raise

    async def _end(self, failed: bool = False) -> None:
        """Commit (reads: it only passes the bookmark on) or roll back, and close."""
        tx, session = self._tx, self._session
        self._tx = self._session = None
        try:
            if tx is not None and not tx.closed():
                await (tx.rollback() if failed else tx.commit())
        except (Neo4jError, DriverError) as exc:
            logger.debug("ending a shared read transaction: %s", exc)
        finally:
            if session is not None:
                await session.close()


class WriteScope:
    """The transaction of one `write_together` attempt; calls run on it in turn."""

    def __init__(self, conn: Neo4jConnection, tx: AsyncManagedTransaction) -> None:
        self.conn = conn
        self.tx = tx
        self.open = True
        self._lock = asyncio.Lock()

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """`fn(tx, ...)` on the block's transaction (errors end the attempt)."""
        async with self._lock:
            return await fn(self.tx, *args, **kwargs)

    def bind(self) -> Token[WriteScope | None]:
        """Make the calls of the current context run on this transaction."""
        return _writing.set(self)

    def unbind(self, token: Token[WriteScope | None]) -> None:
        """Undo `bind`; the attempt is over."""
        self.open = False
        _writing.reset(token)
