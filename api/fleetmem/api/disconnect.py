"""Stop a REST request's work when its client goes away.

Without this a client that sends a large batch and disconnects (a timeout, a crash, an
attacker looping batches) leaves the service encoding and writing for minutes after nobody
waits for the answer, and `serve` cannot stop promptly. Once a request under `/v1` has
sent its whole body and before its response starts, a `http.disconnect` from the server
cancels the handler. The service is cancellation-safe: a batch is written chunk by chunk,
each chunk committed with its audit event, so a cancelled batch leaves what a crash part
way would (committed chunks stay, the rest is never acknowledged; reconcile drops a
vector whose memory was not committed, and a retry is deduplicated or replayed by its
idempotency key). The request is counted with status 499 (client closed request).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

CLIENT_CLOSED = 499
"""Status recorded for a request whose client left before the answer (nginx's code)."""


class DisconnectGuard:
    """ASGI middleware cancelling `/v1` handlers whose client disconnected (see module)."""

    def __init__(self, app: ASGIApp, prefix: str = "/v1") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        handler = asyncio.current_task()
        body_read = asyncio.Event()
        started = False
        gone = False

        async def tracked_receive() -> Message:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_read.set()
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def watch() -> None:
            nonlocal gone
            await body_read.wait()
            message = await receive()  # after the body only a disconnect can come
            if message["type"] == "http.disconnect" and not started and handler is not None:
                gone = True
                handler.cancel()

        watcher = asyncio.create_task(watch(), name="fleetmem-disconnect-guard")
        try:
            await self.app(scope, tracked_receive, tracked_send)
        except asyncio.CancelledError:
            if not gone:
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            logger.info("client went away: cancelled %s %s", scope.get("method"),
                        scope.get("path"))
            # Nobody reads it (the server drops it): it marks the request for the metrics.
            with contextlib.suppress(Exception):
                await send({"type": "http.response.start", "status": CLIENT_CLOSED,
                            "headers": []})
                await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()
