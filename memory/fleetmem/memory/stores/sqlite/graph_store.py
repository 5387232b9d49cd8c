"""`SqliteGraphStore`: the embedded graph, buffer and audit store (SQLite WAL + FTS5)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TypeVar

from fleetmem.memory.stores.sqlite.audit_ops import SqliteBufferAuditOps
from fleetmem.memory.stores.sqlite.connection import SqliteConnection
from fleetmem.memory.stores.sqlite.entity_ops import SqliteEntityOps, backfill_terms
from fleetmem.memory.stores.sqlite.gc_ops import SqliteGcOps
from fleetmem.memory.stores.sqlite.governance_ops import SqliteGovernanceOps
from fleetmem.memory.stores.sqlite.memory_ops import SqliteMemoryOps

T = TypeVar("T")


class SqliteGraphStore(SqliteMemoryOps, SqliteEntityOps, SqliteBufferAuditOps, SqliteGcOps,
                       SqliteGovernanceOps):
    """GraphStore on one SQLite file: durable per commit (WAL, synchronous=FULL)."""

    def __init__(self, path: Path) -> None:
        self.db = SqliteConnection(path)

    async def open(self) -> None:
        """Open the database, create the schema and index entities written before the
        entity-term index existed."""
        await self.db.open()
        await self.db.tx(backfill_terms)

    async def close(self) -> None:
        """Checkpoint the WAL and close."""
        await self.db.close()

    def reading(self) -> AbstractAsyncContextManager[object]:
        """Nothing to share: a read here is a call on a local file, no round trip."""
        return contextlib.nullcontext()

    async def write_together(self, block: Callable[[], Awaitable[T]]) -> T:
        """Runs `block`: its writes commit one by one (each atomic and durable). A write
        here has no round trip to save, and SQLite's one writer connection is taken per
        call, so holding it across a block would serialise other writers behind it."""
        return await block()

    async def ping(self) -> None:
        """Run a trivial query (raises StorageUnavailable on failure)."""
        await self.db.read(lambda c: c.execute("SELECT 1").fetchone())

    async def backup_to(self, target: Path) -> None:
        """Write a consistent online copy of the database to `target`."""
        def fn(c: sqlite3.Connection) -> None:
            dest = sqlite3.connect(target)
            try:
                c.backup(dest)
            finally:
                dest.close()
        await self.db.read(fn)
