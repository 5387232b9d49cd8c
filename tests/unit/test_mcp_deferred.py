"""The MCP door of `fleetmem serve` loads after the service is ready: a request that comes
earlier waits for it and is then served; one that comes after a failed load gets 503
naming the error; /readyz's `mcp` field says which."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from fleetmem.mcp_server.deferred import PATHS, DeferredMcp, mount_deferred


async def _inner(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse(f"mcp app at {scope['path']}")(scope, receive, send)


def _client() -> tuple[Starlette, httpx.AsyncClient]:
    app = Starlette()
    mount_deferred(app)
    return app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                  base_url="http://test")


async def test_a_request_before_the_app_is_built_waits_and_is_served() -> None:
    app, client = _client()
    door: DeferredMcp = app.state.mcp_door
    async with client:
        early = asyncio.create_task(client.post("/mcp", json={}))
        await asyncio.sleep(0.1)
        assert not early.done()
        assert app.state.mcp_status() == "starting"
        door.ready(_inner)
        response = await asyncio.wait_for(early, 5)
        assert (response.status_code, response.text) == (200, "mcp app at /mcp")
        assert app.state.mcp_status() == "ready"
        late = await client.get(PATHS[1])
        assert late.text == f"mcp app at {PATHS[1]}"


async def test_a_failed_load_answers_503_naming_the_error() -> None:
    app, client = _client()
    door: DeferredMcp = app.state.mcp_door
    async with client:
        early = asyncio.create_task(client.post("/mcp", json={}))
        await asyncio.sleep(0.05)
        door.failed("ImportError: no module named mcp")
        for response in (await asyncio.wait_for(early, 5), await client.post("/mcp")):
            assert response.status_code == 503
            assert response.headers["retry-after"] == "5"
            message = response.json()["error"]["message"]
            assert "ImportError: no module named mcp" in message and "REST" in message
    assert app.state.mcp_status() == "failed"
    door.ready(_inner)  # a late success after a failure is still taken
    assert door.status == "ready"
