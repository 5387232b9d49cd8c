"""Idempotent writes, the same for every door: a retry with the same key returns the first
result; the same key with a different request is refused.

`governance.operation` calls these for every write method that is given an
`idempotency_key`: REST's `Idempotency-Key` header, the MCP tools' `idempotency_key`
argument and the service's own callers all take one path. A key belongs to its agent (not
to an operation), and its record holds a fingerprint of the method and every argument
(defaults filled in), so a key first used for one memory and then for another, for a
single write and then a batch, or over MCP and then over REST with another body, is
refused with `idempotency_key_reuse` and nothing is written. Failures are not stored: a
retry after an error runs the request again.

While the first request runs, its key is held twice: in this process (a set, the cheap
check) and in the graph store (`claim_idempotency_key`, a lease shared by every replica on
the same store), so a retry reaching another replica at the same moment gets the same 409
`idempotency_in_flight` instead of writing a second time. A replica that dies mid-request
leaves its lease to expire within `CLAIM_SECONDS`: a live request renews its lease every
`RENEW_SECONDS`, so the lease is short without bounding how long a request may run, and a
client retrying after a crash waits at most that long (409 `idempotency_in_flight`, "retry
it in a moment") before its retry runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter
from pydantic_core import to_jsonable_python

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import Conflict, InvalidInput, StorageUnavailable
from fleetmem.memory.ports import IdempotencyRecord

if TYPE_CHECKING:
    from fleetmem.memory.services.runtime.context import ServiceContext

logger = logging.getLogger(__name__)

KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
FORMAT = 2
_NOT_PART = frozenset({"self", "caller", "idempotency_key"})
# (id of the graph store, agent, key) of requests running now in this process.
_IN_FLIGHT: set[tuple[int, str, str]] = set()
CLAIM_SECONDS = 30
"""How long a keyed request's shared claim lasts unless renewed or released: after a
crash, its key can be retried within this many seconds."""
RENEW_SECONDS = 10
"""How often a running request renews its claim."""


def check_key(key: object, field: str = "idempotency_key") -> str:
    """Return the key or raise: 1-255 printable ASCII characters without spaces."""
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise InvalidInput(f"{field} must be 1 to 255 printable ASCII characters without "
                           "spaces (e.g. a UUID)", field=field, rule="idempotency_key_format")
    return key


def fingerprint(method: str, arguments: Mapping[str, Any]) -> str:
    """A stable digest of a service method and its arguments (caller and key left out)."""
    request = {k: v for k, v in arguments.items() if k not in _NOT_PART}
    canonical = json.dumps([method, to_jsonable_python(request, fallback=str)],
                           sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _reuse() -> InvalidInput:
    return InvalidInput("this idempotency key was already used for a different request; "
                        "use a new key for a new request", field="idempotency_key",
                        rule="idempotency_key_reuse")


async def once(ctx: ServiceContext, caller: Caller, key: object, method: str,
               arguments: Mapping[str, Any], adapter: TypeAdapter[Any],
               call: Callable[[], Awaitable[Any]]) -> tuple[bool, Any]:
    """Run `call` once per (caller, key): (False, its result) the first time, (True, the
    stored first result) on a replay of the same request.

    Raises:
        InvalidInput: the key is malformed (idempotency_key_format) or was used for a
            different request (idempotency_key_reuse).
        Conflict: the first request with this key is still running (idempotency_in_flight).
    """
    checked = check_key(key)
    digest = fingerprint(method, arguments)
    found, first = await replay(ctx, caller, checked, digest, adapter)
    if found:
        return True, first
    with in_flight(ctx, caller, checked):
        async with claimed(ctx, caller, checked):
            # Another replica may have finished the first request since our replay.
            found, first = await replay(ctx, caller, checked, digest, adapter)
            if found:
                return True, first
            result = await call()
            await remember_result(ctx, caller, checked, method, digest, result, adapter)
    return False, result


async def replay(ctx: ServiceContext, caller: Caller, key: str, digest: str,
                 adapter: TypeAdapter[Any]) -> tuple[bool, Any]:
    """(True, the first result) when `key` was used for this very request before; (False,
    None) when the key is new.

    Raises:
        InvalidInput: the key was used before for a different request (or by a version
            that kept no fingerprint): rule idempotency_key_reuse.
    """
    record = await ctx.upkeep.get_idempotent(caller.agent_id, key)
    if record is None:
        return False, None
    envelope = json.loads(record.response_json)
    if not isinstance(envelope, dict) or envelope.get("fingerprint") != digest:
        raise _reuse()
    logger.debug("idempotent replay of %s", record.operation,
                 extra={"agent_id": caller.agent_id, "workflow_id": caller.workflow_id})
    return True, adapter.validate_python(envelope["response"])


@contextmanager
def in_flight(ctx: ServiceContext, caller: Caller, key: str) -> Iterator[None]:
    """Hold the key while its first request runs; a concurrent retry gets a 409.

    Raises:
        Conflict: the first request with this key is still running (idempotency_in_flight).
    """
    slot = (id(ctx.graph), caller.agent_id, key)
    if slot in _IN_FLIGHT:
        raise _running()
    _IN_FLIGHT.add(slot)
    try:
        yield
    finally:
        _IN_FLIGHT.discard(slot)


def _running() -> Conflict:
    return Conflict("a request with this idempotency key is still being processed; "
                    "retry it in a moment", field="idempotency_key",
                    rule="idempotency_in_flight")


@asynccontextmanager
async def claimed(ctx: ServiceContext, caller: Caller, key: str) -> AsyncIterator[None]:
    """Hold the key in the graph store (shared by replicas) while the body runs.

    Raises:
        Conflict: another process runs the first request with this key
            (idempotency_in_flight).
    """
    holder = uuid.uuid4().hex
    now = ctx.now()
    if not await ctx.upkeep.claim_idempotency_key(caller.agent_id, key, holder, now,
                                                  now + timedelta(seconds=CLAIM_SECONDS)):
        raise _running()
    renewal = asyncio.create_task(_renew(ctx, caller.agent_id, key, holder))
    try:
        yield
    finally:
        renewal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewal  # ended before the claim is released (no renewal after it)
        try:
            await ctx.upkeep.release_idempotency_key(caller.agent_id, key, holder)
        except StorageUnavailable as exc:  # the lease then ends on its own
            logger.warning("could not release an idempotency claim (%s); it expires in "
                           "%d s", exc, CLAIM_SECONDS,
                           extra={"agent_id": caller.agent_id})


async def _renew(ctx: ServiceContext, agent_id: str, key: str, holder: str) -> None:
    """Extend a held claim every RENEW_SECONDS until cancelled (the request ended)."""
    while True:
        await asyncio.sleep(RENEW_SECONDS)
        now = ctx.now()
        try:
            await ctx.upkeep.claim_idempotency_key(agent_id, key, holder, now,
                                                   now + timedelta(seconds=CLAIM_SECONDS))
        except StorageUnavailable as exc:
            logger.warning("could not renew an idempotency claim (%s)", exc,
                           extra={"agent_id": agent_id})


async def remember_result(ctx: ServiceContext, caller: Caller, key: str, method: str,
                          digest: str, result: Any, adapter: TypeAdapter[Any]) -> None:
    """Store the first successful result of `key` with the request's fingerprint."""
    envelope = {"format": FORMAT, "fingerprint": digest,
                "response": json.loads(adapter.dump_json(result, by_alias=True))}
    await ctx.upkeep.put_idempotent(IdempotencyRecord(
        agent_id=caller.agent_id, key=key, operation=method,
        response_json=json.dumps(envelope), created_at=ctx.now()))
