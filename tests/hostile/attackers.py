"""The clients of the hostile-fleet tier: a victim's sequential recalls, a flooding agent,
an MCP session hoarder, connections that never finish their headers, and a /readyz poller.

Each hostile client uses its own loopback source address (127.0.0.x all reach a
127.0.0.1 listener), as separate machines of a fleet would: the victim `bob` and the
/readyz probe come from 127.0.0.1, so the per-address connection cap of `serve` is not
what keeps them in; the global caps and the scheduler are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench import workload
from bench.report import pct

VICTIM_ADDRESS = "127.0.0.1"
SLOW_ADDRESS = "127.0.0.2"
HOARD_ADDRESS = "127.0.0.3"
FLOOD_ADDRESS = "127.0.0.4"
PARTIAL_HEAD = b"GET /healthz HTTP/1.1\r\nHost: fleetmem\r\nX-Never-Ends: "
MCP_VERSION = "2025-11-25"  # the stateful protocol era: sessions exist only there
MCP_HEADERS = {"Accept": "application/json, text/event-stream",
               "Content-Type": "application/json"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": MCP_VERSION, "capabilities": {},
                         "clientInfo": {"name": "hostile-fleet", "version": "1"}}}
RECALL_TIMEOUT = 120.0
"""A recall of the victim still unanswered after this long is an error (and counted)."""


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def client(base_url: str, address: str, timeout: float, key: str = "",
           connections: int = 10) -> httpx.AsyncClient:
    """An HTTP client whose connections leave from `address`."""
    transport = httpx.AsyncHTTPTransport(local_address=address, limits=httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections))
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout,
                             headers=bearer(key) if key else None)


@dataclass
class Calls:
    """Latencies (seconds) and outcomes of one client's requests."""

    times: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def record(self, seconds: float, status: int | str, ok: bool, detail: str = "") -> None:
        self.times.append(seconds)
        self.statuses[str(status)] += 1
        if not ok:
            self.errors.append(f"{status} after {seconds:.2f} s {detail}".strip())

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code.startswith("5"))

    def p(self, q: float) -> float:
        return pct(self.times, q)


async def recalls(http: httpx.AsyncClient, seconds: float, least: int, most_seconds: float,
                  busy: Callable[[], bool] = lambda: False, seed: int = 11) -> Calls:
    """The victim's recalls (k = 10), one after another, for `seconds`, at least `least`
    of them and while `busy()` (but never past `most_seconds`)."""
    rng = random.Random(seed)
    questions = workload.queries(200, seed=seed)
    out = Calls()
    start = time.monotonic()
    while True:
        spent = time.monotonic() - start
        if spent >= most_seconds or (spent >= seconds and len(out.times) >= least
                                     and not busy()):
            return out
        t0 = time.monotonic()
        try:
            r = await http.post("/v1/memories/recall", timeout=RECALL_TIMEOUT, json={
                "query": rng.choice(questions), "k": 10})
        except httpx.HTTPError as exc:
            out.record(time.monotonic() - t0, type(exc).__name__, False)
            continue
        out.record(time.monotonic() - t0, r.status_code, r.status_code == 200, r.text[:200])


@dataclass
class Flood:
    """What the flooding agent sent and got."""

    batches: Calls = field(default_factory=Calls)
    unanswered_at_stop: list[float] = field(default_factory=list)
    """Seconds each batch still in flight at the end had been waiting (the server goes
    on with it after the client has gone)."""
    texts_stored: int = 0
    batch_size: int = 0
    text_chars: int = 0


def flood_shape(max_batch: int, max_text_chars: int, max_body_bytes: int) -> tuple[int, int]:
    """(texts per batch, characters per text): maximum-size texts, and as many as the
    batch cap and the REST body cap allow together (256 x 8,000 characters would be over
    the 2 MB body cap and refused with 413 before any work)."""
    per_text = max_text_chars + 16  # {"text":"..."}, in ASCII
    return min(max_batch, (max_body_bytes - 1024) // per_text), max_text_chars


def _batch_body(rng: random.Random, pool: list[str], tag: str, n: int, chars: int) -> bytes:
    """Distinct maximum-size texts (a unique first sentence, then sampled ones)."""
    texts = []
    for i in range(n):
        text = f"{tag}-{i}: " + " ".join(rng.sample(pool, 90))
        texts.append(text[:chars])
    return json.dumps({"memories": [{"text": t} for t in texts]}).encode()


async def flood(http: httpx.AsyncClient, n: int, stop: asyncio.Event, out: Flood,
                shape: tuple[int, int]) -> None:
    """One flooding client: batches of `shape` texts back to back until `stop`."""
    rng = random.Random(100 + n)
    pool = workload.memories(2000, seed=21 + n)
    sent = 0
    while not stop.is_set():
        body = await asyncio.to_thread(_batch_body, rng, pool, f"flood {n}-{sent}", *shape)
        sent += 1
        t0 = time.monotonic()
        try:
            r = await http.post("/v1/memories/batch", content=body,
                                headers={"Content-Type": "application/json"})
        except asyncio.CancelledError:
            out.unanswered_at_stop.append(time.monotonic() - t0)
            raise
        except httpx.HTTPError as exc:
            out.batches.record(time.monotonic() - t0, type(exc).__name__, False)
            await asyncio.sleep(0.5)
            continue
        out.batches.record(time.monotonic() - t0, r.status_code, r.status_code == 201,
                           r.text[:200])
        if r.status_code == 201:
            out.texts_stored += shape[0]


@dataclass
class Hoard:
    """The session hoarder's `initialize` answers."""

    opened: Counter[str] = field(default_factory=Counter)

    @property
    def sessions(self) -> int:
        return self.opened["200"]


async def hoard(http: httpx.AsyncClient, target: int, stop: asyncio.Event, out: Hoard,
                workers: int = 8) -> None:
    """Open `target` MCP sessions (an `initialize` each) and never close one."""

    async def worker() -> None:
        while not stop.is_set() and sum(out.opened.values()) < target:
            try:
                r = await http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
                out.opened[str(r.status_code)] += 1
            except httpx.HTTPError as exc:
                out.opened[type(exc).__name__] += 1
                await asyncio.sleep(0.2)

    await asyncio.gather(*(worker() for _ in range(workers)))


async def open_victim_session(http: httpx.AsyncClient, out: Calls) -> None:
    """The victim initializes a session (must be 200 whatever the hoarder holds), then
    ends it as a well-behaved client does."""
    t0 = time.monotonic()
    try:
        r = await http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
    except httpx.HTTPError as exc:
        out.record(time.monotonic() - t0, type(exc).__name__, False)
        return
    out.record(time.monotonic() - t0, r.status_code, r.status_code == 200, r.text[:200])
    session = r.headers.get("mcp-session-id")
    if session:
        with contextlib.suppress(httpx.HTTPError):
            await http.delete("/mcp", headers={**MCP_HEADERS, "mcp-session-id": session,
                                               "mcp-protocol-version": MCP_VERSION})


@dataclass
class SlowConnections:
    """Connections that send part of a request head and nothing more."""

    target: int = 0
    opened: int = 0
    open_now: int = 0
    most_open: int = 0
    answers: Counter[str] = field(default_factory=Counter)


async def slow_connection(port: int, stop: asyncio.Event, out: SlowConnections) -> None:
    """One slot of the slow client: open, send part of a head, wait for the server to
    answer and close, open again."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(SLOW_ADDRESS, 0))
        except OSError as exc:
            out.answers[f"connect {type(exc).__name__}"] += 1
            await asyncio.sleep(0.5)
            continue
        out.opened += 1
        out.open_now += 1
        out.most_open = max(out.most_open, out.open_now)
        try:
            writer.write(PARTIAL_HEAD)
            await writer.drain()
            reply = await reader.read()  # until the server closes it
            status = reply.split(b" ", 2)[1].decode() if reply.startswith(b"HTTP/") \
                else "closed"
            out.answers[status] += 1
            if status != "408":
                await asyncio.sleep(0.5)  # refused at once: do not spin
        except OSError as exc:
            out.answers[type(exc).__name__] += 1
        finally:
            out.open_now -= 1
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@dataclass
class Probes:
    """/readyz answers (polled every ~0.5 s) and the vault status each one gave."""

    calls: Calls = field(default_factory=Calls)
    vault: Counter[str] = field(default_factory=Counter)


async def poll_readyz(http: httpx.AsyncClient, stop: asyncio.Event, out: Probes,
                      every: float = 0.5) -> None:
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            r = await http.get("/readyz")
        except httpx.HTTPError as exc:
            out.calls.record(time.monotonic() - t0, type(exc).__name__, False)
        else:
            out.calls.record(time.monotonic() - t0, r.status_code, r.status_code == 200,
                             r.text[:200])
            body: dict[str, Any] = r.json() if r.status_code in (200, 503) else {}
            out.vault[str(body.get("vault", {}).get("status"))] += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, every - (time.monotonic() - t0)))
