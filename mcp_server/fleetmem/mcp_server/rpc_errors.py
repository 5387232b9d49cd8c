"""An HTTP answer carrying a JSON-RPC error with no request id, which MCP clients surface:
how the MCP routes refuse a request before the SDK sees it (session caps, a door that is
not loaded). Imports nothing of the MCP SDK (deferred.py uses it before the SDK loads)."""

from __future__ import annotations

import json

from starlette.types import Send


async def send_rpc_error(send: Send, status: int, code: int, message: str,
                         data: dict[str, object] | None = None,
                         retry_after: int | None = None) -> None:
    """Answer with HTTP `status` and the JSON-RPC error `code`, `message` (and `data`);
    `retry_after` seconds go into a Retry-After header."""
    error: dict[str, object] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
