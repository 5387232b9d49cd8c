"""Request guards below the routes: bodies larger than `settings.api.max_body_bytes` get a
413 problem, whether the size is declared (Content-Length) or only seen while streaming;
a URL whose percent-escapes are not UTF-8 gets a 422 problem (the framework would turn
the bad bytes into U+FFFD and hand the route a name nobody sent)."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetmem.api.problems import problem


class BodyLimitMiddleware:
    """ASGI middleware bounding the body of requests under `prefix`."""

    def __init__(self, app: ASGIApp, max_bytes: int, prefix: str = "/v1",
                 exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.prefix = prefix
        self.exempt = exempt
        """Paths that bound their bodies themselves (/v1/import streams to disk)."""

    def _detail(self) -> str:
        return (f"the request body exceeds {self.max_bytes} bytes; send less per request "
                "(e.g. split a batch)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith(self.prefix) or path in self.exempt:
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


class Utf8UrlMiddleware:
    """ASGI middleware refusing paths and query strings under `prefix` whose
    percent-decoded bytes are not UTF-8 (e.g. `/v1/buffers/%ff`)."""

    def __init__(self, app: ASGIApp, prefix: str = "/v1") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(self.prefix):
            raw_path = scope.get("raw_path") or b""
            query = (scope.get("query_string") or b"").replace(b"+", b" ")
            for where, raw in (("path", raw_path), ("query", query)):
                try:
                    unquote_to_bytes(raw).decode("utf-8")
                except UnicodeDecodeError:
                    response = problem(
                        422, f"the URL {where} is not valid UTF-8 once percent-decoded; "
                        "percent-encode the UTF-8 bytes of each name and value",
                        code="invalid_input", instance=str(scope.get("path")), field=where,
                        rule="utf8")
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
