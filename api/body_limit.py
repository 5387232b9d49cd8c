"""Refuses request bodies larger than `settings.api.max_body_bytes` with a 413 problem,
whether the size is declared (Content-Length) or only seen while streaming."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetmem.api.problems import problem


class BodyLimitMiddleware:
    """ASGI middleware bounding the body of requests under `prefix`."""

    def __init__(self, app: ASGIApp, max_bytes: int, prefix: str = "/v1") -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.prefix = prefix

    def _detail(self) -> str:
        return (f"the request body exceeds {self.max_bytes} bytes; send less per request "
                "(e.g. split a batch)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = problem(413, self._detail(), code="payload_too_large",
                               instance=str(scope.get("path")), rule="max_body_bytes")
            await response(scope, receive, send)
            return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, self._detail())
            return message

        await self.app(scope, bounded, send)
