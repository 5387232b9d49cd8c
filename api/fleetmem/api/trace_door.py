"""Marks REST requests for tracing: service calls made while a request is handled get
door "rest" on their span and continue the caller's trace (a W3C `traceparent` header).
The spans themselves are opened by the service; with tracing off this costs one call."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from fleetmem.memory.services import trace_door

_TRACEPARENT = b"traceparent"


class TraceDoorMiddleware:
    """ASGI middleware around every HTTP request (the service's `trace_door` hook)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        parent = next((v.decode("latin-1") for k, v in scope.get("headers", ())
                       if k == _TRACEPARENT), None)
        with trace_door("rest", parent):
            await self.app(scope, receive, send)
