"""Connection guards of `fleetmem serve` (slowloris and file-descriptor exhaustion).

uvicorn bounds an idle keep-alive connection but not a request head or body that never
finishes, and it accepts connections until the process runs out of file descriptors.
`guarded_protocol` returns uvicorn's HTTP protocol (httptools when installed, else h11)
with four additions, selected through uvicorn's `http=` setting:

- a head deadline: from a connection's start, or from the first byte of a later request
  on a kept-alive connection, the request head must be complete within
  `header_timeout_seconds`, else the client gets 408 and the connection is closed;
- a body deadline: from the end of the head, the body must be complete within
  `body_timeout_seconds`, else the connection is closed (the app sees a disconnect);
- a head size bound (`max_head_bytes`): 431 and close;
- a cap on open connections, global and per client address: a connection past it gets
  503 and is closed at once, so its descriptor is freed before the process runs out.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from fleetmem.memory.settings import ApiSettings

logger = logging.getLogger(__name__)

MAX_CONNECTIONS_CEILING = 10_000
"""The derived connection cap never exceeds this (memory per idle connection adds up)."""
FD_RESERVE = 256
"""Descriptors kept for the stores, the model, logs and the vault when a cap is set."""


@dataclass(frozen=True)
class ConnectionLimits:
    """The resolved limits one server enforces (see ApiSettings for their meaning)."""

    header_timeout: float
    body_timeout: float
    keep_alive: float
    max_head_bytes: int
    max_connections: int
    max_per_ip: int
    """0: no per-address cap."""


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65_536)
    if soft == resource.RLIM_INFINITY or target <= soft:
        return soft if soft != resource.RLIM_INFINITY else target
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        logger.warning("cannot raise the open-file limit from %d to %d (%s)", soft, target, exc)
        return soft
    return target


def resolve_limits(api: ApiSettings, fd_limit: int) -> ConnectionLimits:
    """The limits for a process allowed `fd_limit` open descriptors."""
    derived = min(MAX_CONNECTIONS_CEILING, max(32, fd_limit // 2))
    cap = api.max_connections if api.max_connections is not None else derived
    if cap > fd_limit - FD_RESERVE and cap > derived:
        logger.warning("api.max_connections %d leaves fewer than %d of the %d open-file "
                       "descriptors to the service; using %d", cap, FD_RESERVE, fd_limit,
                       derived)
        cap = derived
    per_ip = api.max_connections_per_ip
    per_ip = max(8, cap // 4) if per_ip is None else min(per_ip, cap)
    return ConnectionLimits(header_timeout=api.header_timeout_seconds,
                            body_timeout=api.body_timeout_seconds,
                            keep_alive=api.keep_alive_seconds,
                            max_head_bytes=api.max_head_bytes, max_connections=cap,
                            max_per_ip=per_ip)


REFUSAL_LOG_SECONDS = 10.0
"""Refused connections are logged once, then summed up at most this often: under a flood
of reconnects, a line per refusal would cost the event loop more than the refusal."""


@dataclass
class _Refusals:
    """Refused connections not yet logged, by reason (the reasons name caps, never who)."""

    pending: Counter[str] = field(default_factory=Counter)
    next_log: float = 0.0

    def note(self, reason: str, now: float) -> None:
        """Count one refusal; log what was counted when the summary is due."""
        self.pending[reason] += 1
        if now < self.next_log:
            return
        self.next_log = now + REFUSAL_LOG_SECONDS
        for why, n in self.pending.items():
            if n == 1:
                logger.warning("connection refused: %s", why)
            else:
                logger.warning("%d connections refused in the last %.0f s: %s", n,
                               REFUSAL_LOG_SECONDS, why)
        self.pending.clear()


@dataclass
class _Counts:
    """Open admitted connections of one server, in total and per client address."""

    total: int = 0
    per_ip: Counter[str] = field(default_factory=Counter)
    refused: _Refusals = field(default_factory=_Refusals)


def _reply(transport: asyncio.Transport, status: bytes, text: str) -> None:
    body = text.encode()
    if not transport.is_closing():
        transport.write(b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8"
                        b"\r\nconnection: close\r\ncontent-length: "
                        + str(len(body)).encode() + b"\r\n\r\n" + body)
    transport.close()


class _Watch:
    """One connection's admission and deadlines; the protocol reports head and body events.

    `busy` tells whether a response is still being produced on the connection (a
    pipelined head is then not the client's fault and its deadline waits)."""

    def __init__(self, limits: ConnectionLimits, counts: _Counts,
                 busy: Callable[[], bool]) -> None:
        self.limits = limits
        self.counts = counts
        self.busy = busy
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.host = ""
        self.admitted = False
        self.head_timer: asyncio.TimerHandle | None = None
        self.body_timer: asyncio.TimerHandle | None = None
        self.head_bytes = 0

    def admit(self, transport: asyncio.Transport, client: tuple[str, int] | None) -> bool:
        """Count the connection in, or answer 503 and close it when a cap is reached."""
        self.transport = transport
        self.host = client[0] if client else ""
        lim, counts = self.limits, self.counts
        if counts.total >= lim.max_connections:
            reason = f"the server holds its maximum of {lim.max_connections} connections"
        elif lim.max_per_ip and counts.per_ip[self.host] >= lim.max_per_ip:
            reason = (f"this client address holds the maximum of {lim.max_per_ip} "
                      "connections; close idle ones")
        else:
            counts.total += 1
            counts.per_ip[self.host] += 1
            self.admitted = True
            self.head_started()
            return True
        counts.refused.note(reason, self.loop.time())
        _reply(transport, b"503 Service Unavailable", reason + "\n")
        return False

    @property
    def in_head(self) -> bool:
        return self.head_timer is not None

    def head_started(self) -> None:
        """A request head begins (connection made, or first byte of a later request)."""
        if self.head_timer is None and self.admitted:
            self.head_bytes = 0
            self.head_timer = self.loop.call_later(self.limits.header_timeout, self._head_late)

    def head_grew(self, size: int) -> bool:
        """Count bytes read while the head is incomplete; False (431 sent) when too many."""
        if not self.in_head:
            return True
        self.head_bytes += size
        if self.head_bytes <= self.limits.max_head_bytes or self.transport is None:
            return True
        self.stop()
        _reply(self.transport, b"431 Request Header Fields Too Large",
               f"the request head exceeds {self.limits.max_head_bytes} bytes\n")
        return False

    def head_done(self) -> None:
        """The head is complete: its deadline ends, the body's begins."""
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        if self.body_timer is None and self.admitted:
            self.body_timer = self.loop.call_later(self.limits.body_timeout, self._body_late)

    def body_done(self) -> None:
        """The body is complete."""
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None

    def stop(self) -> None:
        """The connection is gone: cancel the deadlines, free its place under the caps."""
        for timer in (self.head_timer, self.body_timer):
            if timer is not None:
                timer.cancel()
        self.head_timer = self.body_timer = None
        if self.admitted:
            self.admitted = False
            self.counts.total -= 1
            self.counts.per_ip[self.host] -= 1
            if self.counts.per_ip[self.host] <= 0:
                del self.counts.per_ip[self.host]

    def _head_late(self) -> None:
        self.head_timer = None
        if self.transport is None or self.transport.is_closing():
            return
        if self.busy():
            self.head_started()
            return
        logger.info("closing a connection whose request head took over %.1f s",
                    self.limits.header_timeout)
        _reply(self.transport, b"408 Request Timeout",
               f"the request head was not complete within {self.limits.header_timeout} s\n")

    def _body_late(self) -> None:
        self.body_timer = None
        if self.transport is not None and not self.transport.is_closing():
            logger.info("closing a connection whose request body took over %.1f s",
                        self.limits.body_timeout)
            self.transport.close()


def _busy(protocol: Any) -> Callable[[], bool]:
    def busy() -> bool:
        cycle = getattr(protocol, "cycle", None)
        return cycle is not None and not cycle.response_complete
    return busy


class _Guard(asyncio.Protocol):
    """What both protocol flavours share: admit or refuse a connection as it opens,
    stop its deadlines when it closes (mixed in before uvicorn's class)."""

    limits: ConnectionLimits
    counts: _Counts
    watch: _Watch
    transport: asyncio.Transport
    made = False
    """Whether uvicorn's connection set-up ran (not for a refused connection)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Admission comes first: a refused connection is answered and closed without
        # uvicorn's per-connection set-up (address look-ups, flow control, tracking),
        # which a reconnect flood at the caps would otherwise pay for every time.
        self.watch = _Watch(self.limits, self.counts, _busy(self))
        peer = transport.get_extra_info("peername")
        client = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None
        if self.watch.admit(cast(asyncio.Transport, transport), client):
            self.made = True
            super().connection_made(transport)

    def live(self) -> bool:
        """Whether bytes received are to be parsed (admitted and not closing)."""
        return self.made and not self.transport.is_closing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.watch.stop()
        if self.made:
            super().connection_lost(exc)


def guarded_protocol(limits: ConnectionLimits, impl: str = "auto") -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class with the guards above, for one server; `impl` is
    "httptools", "h11" or "auto" (httptools when installed, like uvicorn's own choice)."""
    counts = _Counts()
    if impl == "h11":
        return _h11_guarded(limits, counts)
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - uvicorn[standard] brings httptools
        if impl == "httptools":
            raise
        return _h11_guarded(limits, counts)

    class GuardedHttpTools(_Guard, HttpToolsProtocol):
        def data_received(self, data: bytes) -> None:
            if not self.live():
                return
            super().data_received(data)
            # Whole chunks read while a head is open count towards it (a pipelined
            # chunk holding a body's tail may overcount: the bound is generous).
            self.watch.head_grew(len(data))

        def on_message_begin(self) -> None:
            self.watch.head_started()
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self.watch.head_done()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self.watch.body_done()
            super().on_message_complete()

    GuardedHttpTools.limits, GuardedHttpTools.counts = limits, counts
    return GuardedHttpTools


def _h11_guarded(limits: ConnectionLimits, counts: _Counts) -> type[asyncio.Protocol]:
    import h11  # here: with httptools (the default) serve imports neither
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11(_Guard, H11Protocol):
        def data_received(self, data: bytes) -> None:
            if not self.live():
                return
            super().data_received(data)
            state = self.conn.their_state
            if state is h11.IDLE:
                self.watch.head_started()  # h11 bounds the head size itself
            elif state is h11.SEND_BODY:
                self.watch.head_done()
            elif state is h11.DONE:
                self.watch.head_done()
                self.watch.body_done()

    GuardedH11.limits, GuardedH11.counts = limits, counts
    return GuardedH11


def server_options(api: ApiSettings) -> dict[str, Any]:
    """uvicorn.Config keyword arguments enforcing the connection limits of `api`
    (raises the process's open-file limit first)."""
    limits = resolve_limits(api, raise_fd_limit())
    logger.info("connections: at most %d (%s per client address); head %.1f s, body "
                "%.1f s, keep-alive %.1f s", limits.max_connections,
                limits.max_per_ip or "no cap", limits.header_timeout, limits.body_timeout,
                limits.keep_alive)
    return {"http": guarded_protocol(limits), "ws": "none",
            "timeout_keep_alive": limits.keep_alive,
            "h11_max_incomplete_event_size": limits.max_head_bytes}
