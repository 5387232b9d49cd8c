"""The request in progress (a context variable), so cross-cutting rules (audit coverage,
usage accounting) can see what happened inside one service call without threading extra
parameters through every use case."""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass

from fleetmem.memory.domain.access import Caller


@dataclass
class RequestScope:
    """What one top-level service call did so far."""

    caller: Caller
    operation: str
    audited: bool = False
    """Whether the use case built an audit event of its own."""
    embed_calls: int = 0
    embedded_texts: int = 0
    prepaid_texts: int = 0
    """Texts charged to `texts_per_minute` ahead of the embeds that use them."""
    texts_charged: bool = False
    """Whether the request has been charged texts already (later charges are not refused)."""


_current: ContextVar[RequestScope | None] = ContextVar("fleetmem_request", default=None)


def current() -> RequestScope | None:
    """The request in progress in this task, if any."""
    return _current.get()


def enter(scope: RequestScope) -> Token[RequestScope | None]:
    """Make `scope` the current request; returns the token for `leave`."""
    return _current.set(scope)


def leave(token: Token[RequestScope | None]) -> None:
    """Restore the scope that was current before `enter`."""
    _current.reset(token)


def note_audit() -> None:
    """Record that the current request wrote (or is writing) an audit event."""
    scope = _current.get()
    if scope is not None:
        scope.audited = True


def note_embed(texts: int) -> None:
    """Count one embedding call of `texts` texts against the current request."""
    scope = _current.get()
    if scope is not None:
        scope.embed_calls += 1
        scope.embedded_texts += texts
