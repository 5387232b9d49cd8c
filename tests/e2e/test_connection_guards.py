"""The connection guards of `fleetmem serve` on both of uvicorn's HTTP implementations
(httptools is what `serve` picks; h11 is the fallback), on a real uvicorn in the test
loop with a small app that reads the body and answers: head and body deadlines (also
for a later request on a kept-alive connection), the head size bound and the caps."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from fleetmem.api.connections import ConnectionLimits, guarded_protocol

LIMITS = ConnectionLimits(header_timeout=0.6, body_timeout=0.6, keep_alive=5,
                          max_head_bytes=8192, max_connections=12, max_per_ip=6)
MARGIN = 1.5
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

pytestmark = pytest.mark.parametrize("impl", ["httptools", "h11"])


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = f"read {size}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def serving(impl: str) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none",
                            http=guarded_protocol(LIMITS, impl),
                            h11_max_incomplete_event_size=LIMITS.max_head_bytes)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connect(port: int, send: bytes = b"", source: str = "127.0.0.1") -> Conn:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    if send:
        writer.write(send)
        await writer.drain()
    return reader, writer


async def reply_then_eof(conn: Conn, within: float) -> bytes:
    """Everything the server sends until it closes; fails if it does not close in time."""
    try:
        return await asyncio.wait_for(conn[0].read(), within)
    except ConnectionResetError:
        return b""
    finally:
        conn[1].close()


async def test_partial_and_empty_heads_get_408_and_others_are_served(impl: str) -> None:
    async with serving(impl) as port:
        started = time.monotonic()
        held = [await connect(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-a: "),
                await connect(port)]
        ok = await connect(port, GET)
        assert b"200 OK" in await asyncio.wait_for(ok[0].read(100), 1)
        ok[1].close()
        replies = await asyncio.gather(*(reply_then_eof(c, LIMITS.header_timeout + MARGIN)
                                         for c in held))
        assert time.monotonic() - started >= LIMITS.header_timeout * 0.8
        assert all(b" 408 " in r for r in replies), replies


async def test_a_later_partial_head_on_a_kept_alive_connection_gets_408(impl: str) -> None:
    async with serving(impl) as port:
        conn = await connect(port, GET)
        assert b"read 0" in await asyncio.wait_for(conn[0].readuntil(b"read 0"), 1)
        conn[1].write(b"GET / HTTP/1.1\r\nHo")  # the keep-alive timer (5 s) stops here
        assert b" 408 " in await reply_then_eof(conn, LIMITS.header_timeout + MARGIN)


async def test_a_trickling_body_is_cut_and_a_prompt_one_is_read(impl: str) -> None:
    async with serving(impl) as port:
        fast = await connect(port, b"POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 5000"
                             b"\r\n\r\n" + b"x" * 5000)
        assert b"read 5000" in await asyncio.wait_for(fast[0].readuntil(b"read 5000"), 2)
        fast[1].close()
        slow = await connect(port, b"POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 5000"
                             b"\r\n\r\nxx")
        started = time.monotonic()

        async def trickle() -> None:
            with contextlib.suppress(OSError):
                while time.monotonic() - started < 10:
                    slow[1].write(b"x")
                    await slow[1].drain()
                    await asyncio.sleep(0.05)

        feeder = asyncio.create_task(trickle())
        try:
            assert b"read" not in await reply_then_eof(slow, LIMITS.body_timeout + MARGIN)
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder


async def test_an_oversized_head_is_refused(impl: str) -> None:
    async with serving(impl) as port:
        conn = await connect(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-big: " + b"a" * 20_000)
        reply = await reply_then_eof(conn, 1)
        assert (b" 431 " if impl == "httptools" else b" 400 ") in reply, reply


async def test_connections_past_the_caps_get_503_at_once(impl: str) -> None:
    async with serving(impl) as port:
        mine = [await connect(port, b"GET / HTTP/1.1\r\n") for _ in range(LIMITS.max_per_ip)]
        refused = await reply_then_eof(await connect(port), 0.5)
        assert b" 503 " in refused and b"client address" in refused
        others = [await connect(port, b"GET / HTTP/1.1\r\n", "127.0.0.2")
                  for _ in range(LIMITS.max_connections - LIMITS.max_per_ip)]
        refused = await reply_then_eof(await connect(port, source="127.0.0.3"), 0.5)
        assert b" 503 " in refused and b"maximum of 12 connections" in refused
        for _, writer in mine[:2]:
            writer.close()
        await asyncio.sleep(0.2)  # closing frees places under both caps
        ok = await connect(port, GET, "127.0.0.3")
        assert b"200 OK" in await asyncio.wait_for(ok[0].read(100), 1)
        for _, writer in [ok, *mine, *others]:
            writer.close()
