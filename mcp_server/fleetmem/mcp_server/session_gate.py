"""The MCP session caps at the door: an ASGI wrapper in front of the SDK's session manager.

`SessionGate` wraps the manager's `asgi_app` (inside the bearer-auth middleware, so the
caller's agent is the one the service's `authenticate()` named). It asks `SessionLedger`
(session_policy.py, the one place of the policy) before a new session opens, tracks
requests in flight per session, and closes sessions (evicted or idle) by replaying the
client's own `DELETE /mcp` through the manager: no SDK internals are touched. `sweep`
closes idle sessions in the background while the service runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetmem.mcp_server.rpc_errors import send_rpc_error
from fleetmem.mcp_server.session_policy import Evict, Refuse, SessionLedger

logger = logging.getLogger(__name__)

SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"
_KEPT_HEADERS = (b"host", b"origin")  # what the SDK's transport security checks on DELETE


class SessionGate:
    """Admits, tracks and closes the stateful MCP sessions of one session manager.

    Args:
        inner: the manager's ASGI app (its `asgi_app`).
        ledger: the session policy.
        owner: the agent a request opening a session belongs to.
        clock: monotonic seconds.
    """

    def __init__(self, inner: ASGIApp, ledger: SessionLedger, owner: Callable[[Scope], str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.inner, self.ledger, self.owner, self.clock = inner, ledger, owner, clock
        self._closers: dict[str, Scope] = {}  # session id -> the scope its DELETE reuses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request to /mcp under the session policy."""
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        headers = Headers(scope=scope)
        session_id = headers.get(SESSION_HEADER)
        if session_id is not None:
            await self._in_session(session_id, scope, receive, send)
        elif scope["method"] == "POST" and headers.get(VERSION_HEADER) in (
                None, *HANDSHAKE_PROTOCOL_VERSIONS):
            await self._opening(scope, receive, send)
        else:  # no session is opened (a stateless era request, or one the SDK refuses)
            await self.inner(scope, receive, send)

    async def _in_session(self, session_id: str, scope: Scope, receive: Receive,
                          send: Send) -> None:
        if not self.ledger.knows(session_id):  # unknown or gone: the SDK answers 404
            await self.inner(scope, receive, send)
            return
        self.ledger.busy(session_id)
        status: list[int] = []
        try:
            await self.inner(scope, receive, _watching(send, status, []))
        finally:
            self.ledger.done(session_id, self.clock())
            if scope["method"] == "DELETE" and status and status[0] < 300:
                self._forget(session_id)

    async def _opening(self, scope: Scope, receive: Receive, send: Send) -> None:
        agent = self.owner(scope)
        decision = self.ledger.admit(agent, self.clock())
        if isinstance(decision, Refuse):
            logger.warning("refused a new MCP session for agent %s: %s = %d reached", agent,
                           decision.setting, decision.limit)
            await _refusal(decision, send)
            return
        if isinstance(decision, Evict):
            logger.info("closing a least recently used idle MCP session to open one for "
                        "agent %s", agent)
            await self._close(decision.session_id)
        status: list[int] = []
        session: list[str] = []
        try:
            await self.inner(scope, receive, _watching(send, status, session))
        finally:
            if status and status[0] < 400 and session:
                self.ledger.opened(agent, session[0], self.clock())
                self._closers[session[0]] = _closer(scope, session[0])
            else:
                self.ledger.abandoned(agent)

    async def sweep(self, interval: float | None = None) -> None:
        """Close idle sessions until cancelled (every `interval` s; default a quarter of
        the idle timeout, at most 30 s)."""
        every = interval or min(self.ledger.idle_seconds / 4, 30.0)
        while True:
            await anyio.sleep(every)
            for session_id in self.ledger.expired(self.clock()):
                logger.info("closing an MCP session idle for %.0f s", self.ledger.idle_seconds)
                await self._close(session_id)

    async def _close(self, session_id: str) -> None:
        """End `session_id` as its client's DELETE would (it is already out of the ledger)."""
        self.ledger.closed(session_id)
        scope = self._closers.pop(session_id, None)
        if scope is None:
            return
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await anyio.sleep_forever()
            raise AssertionError("unreachable")  # pragma: no cover

        async def discard(message: Message) -> None:
            return None

        try:
            with anyio.CancelScope(shield=True):
                await self.inner(scope, receive, discard)
        except Exception:  # a failed close must not fail the request or the sweep
            logger.exception("closing an MCP session failed")

    def _forget(self, session_id: str) -> None:
        self.ledger.closed(session_id)
        self._closers.pop(session_id, None)


def _watching(send: Send, status: list[int], session: list[str]) -> Send:
    """`send`, noting the response status and the session id it names."""
    async def watched(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))
            value = Headers(raw=message.get("headers", [])).get(SESSION_HEADER)
            if value:
                session.append(value)
        await send(message)
    return watched


def _closer(scope: Scope, session_id: str) -> Scope:
    """The scope of a `DELETE /mcp` for `session_id` from the client that opened it (same
    authenticated user, Host and Origin)."""
    kept = [(k, v) for k, v in scope.get("headers", []) if k.lower() in _KEPT_HEADERS]
    closer = {k: v for k, v in scope.items() if k not in ("headers", "method", "state")}
    closer.update(method="DELETE", headers=[*kept, (SESSION_HEADER.encode(), session_id.encode())])
    return closer


async def _refusal(refused: Refuse, send: Send) -> None:
    """The refusal as a JSON-RPC error body (no request id), which MCP clients surface."""
    await send_rpc_error(send, refused.status, -32000, refused.message,
                         {"setting": refused.setting, "limit": refused.limit},
                         retry_after=refused.retry_after or (5 if refused.status == 503
                                                             else None))

