"""Idempotent writes for any operation: a retry with the same key returns the first result.

`remember` handles its key itself; every other write a door wants to make retry-safe goes
through `once`. The first successful result is stored per agent and key (scoped by the
operation) with a fingerprint of the request, so that a key reused for a different request
is refused instead of being answered with an unrelated earlier result. Failures are not
stored: a retry after an error runs the operation again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import TypeAdapter

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import Conflict, InvalidInput
from fleetmem.memory.ports import IdempotencyRecord
from fleetmem.memory.services.runtime.context import ServiceContext

logger = logging.getLogger(__name__)

T = TypeVar("T")
KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
_FORMAT = 1
# (id of the graph store, agent, scoped key) of requests running now in this process.
_IN_FLIGHT: set[tuple[int, str, str]] = set()


def check_key(key: object, field: str = "idempotency_key") -> str:
    """Return the key or raise: 1-255 printable ASCII characters without spaces."""
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise InvalidInput(f"{field} must be 1 to 255 printable ASCII characters without "
                           "spaces (e.g. a UUID)", field=field, rule="idempotency_key_format")
    return key


def fingerprint(operation: str, request: object) -> str:
    """A stable digest of an operation and its JSON-able request."""
    canonical = json.dumps([operation, request], sort_keys=True, separators=(",", ":"),
                           default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def once(ctx: ServiceContext, caller: Caller, key: str | None, operation: str,
               request: object, call: Callable[[], Awaitable[T]],
               adapter: TypeAdapter[T]) -> T:
    """Run `call` once per (caller, key, operation); a retry returns the stored result.

    Args:
        key: the client's idempotency key; None runs `call` without any bookkeeping.
        request: the JSON-able request as received, fingerprinted to detect key reuse.
        adapter: how the result is stored and read back.

    Raises:
        InvalidInput: the key is malformed, or was used before for a different request.
        Conflict: the first request with this key is still running; retry shortly.
    """
    if key is None:
        return await call()
    # A space never occurs in a valid key, so a scoped key never equals a raw one (the
    # raw form is what `remember` stores under its own idempotency key).
    scoped = f"{operation} {check_key(key)}"
    digest = fingerprint(operation, request)
    previous = await ctx.graph.get_idempotent(caller.agent_id, scoped)
    if previous is not None:
        return _replay(previous, digest, adapter)
    slot = (id(ctx.graph), caller.agent_id, scoped)
    if slot in _IN_FLIGHT:
        raise Conflict("a request with this idempotency key is still being processed; "
                       "retry it in a moment", field="idempotency_key",
                       rule="idempotency_in_flight")
    _IN_FLIGHT.add(slot)
    try:
        result = await call()
        envelope = {"format": _FORMAT, "fingerprint": digest,
                    "response": json.loads(adapter.dump_json(result, by_alias=True))}
        await ctx.graph.put_idempotent(IdempotencyRecord(
            agent_id=caller.agent_id, key=scoped, operation=operation,
            response_json=json.dumps(envelope), created_at=ctx.now()))
    finally:
        _IN_FLIGHT.discard(slot)
    return result


def _replay(record: IdempotencyRecord, digest: str, adapter: TypeAdapter[T]) -> T:
    """The stored result, unless the key was first used for a different request."""
    envelope = json.loads(record.response_json)
    if not isinstance(envelope, dict) or envelope.get("fingerprint") != digest:
        raise InvalidInput("this idempotency key was already used for a different request; "
                           "use a new key for a new request", field="idempotency_key",
                           rule="idempotency_key_reuse")
    logger.debug("idempotent replay of %s", record.operation,
                 extra={"agent_id": record.agent_id})
    return adapter.validate_python(envelope["response"])
