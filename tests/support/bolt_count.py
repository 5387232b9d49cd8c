"""Counts what a piece of code asks of Neo4j at the driver: transactions (managed reads,
managed writes, explicit ones) and statements. Each transaction costs a session, a BEGIN
and a COMMIT besides its statements, and each statement a RUN + PULL exchange, so
`round_trips` (statements + transactions) is the count of waits on the server.

It wraps the driver's own classes (not fleetmem's), so it counts any version of the store
code alike: used by tests/contract/test_neo4j_round_trips.py and `python -m
bench.neo4j_suite` to count before and after a change. Only the calls made by the code
inside `counting()` (its task and the tasks it starts, while it lasts) count: another
service's background writes (batched access counts) landing meanwhile do not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from neo4j import AsyncSession
from neo4j._async.work.transaction import AsyncTransactionBase


@dataclass
class BoltCount:
    """Transactions by kind ("read", "write", "explicit") and statements run in them."""

    transactions: Counter[str] = field(default_factory=Counter)
    statements: int = 0
    open: bool = True

    @property
    def round_trips(self) -> int:
        """Statements plus one COMMIT per transaction (BEGIN goes with the first RUN)."""
        return self.statements + sum(self.transactions.values())


_active: ContextVar[BoltCount | None] = ContextVar("bolt_count", default=None)


@contextmanager
def counting() -> Iterator[BoltCount]:
    """Count the transactions and statements of the code run inside (see the module)."""
    count = BoltCount()
    token = _active.set(count)
    saved: dict[tuple[type, str], Any] = {}

    def wrap(owner: type, name: str, kind: str | None) -> None:
        original: Callable[..., Any] = getattr(owner, name)
        saved[(owner, name)] = original

        async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            mine = _active.get()
            if mine is not None and mine.open:
                if kind is None:
                    mine.statements += 1
                else:
                    mine.transactions[kind] += 1
            return await original(self, *args, **kwargs)
        setattr(owner, name, counted)

    wrap(AsyncSession, "execute_read", "read")
    wrap(AsyncSession, "execute_write", "write")
    wrap(AsyncSession, "begin_transaction", "explicit")
    wrap(AsyncTransactionBase, "run", None)
    try:
        yield count
    finally:
        count.open = False
        _active.reset(token)
        for (owner, name), original in saved.items():
            setattr(owner, name, original)
