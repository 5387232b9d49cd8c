"""MCP over streamable HTTP at /mcp inside the serve app (real uvicorn), in both protocol
eras: agent keys through the SDK token verifier, every tool, isolation, attribution."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fleetmem.api.app import create_app
from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.ports import Embedder
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import Settings
from tests.conftest import ServiceFactory
from tests.e2e.mcp_isolation import isolation_through_every_tool
from tests.e2e.mcp_scenarios import (
    ALL_TOOLS,
    ERAS,
    check_tool_listing,
    exercise_all_tools,
    ok,
    whoami,
)
from tests.e2e.mcp_support import bearer, http_client, serving


@pytest.fixture
async def keyed_url(make_service: ServiceFactory, tmp_path: Path,
                    agents_file: Path) -> AsyncIterator[str]:
    """/mcp of a serve app whose agents file holds alice's and bob's keys."""
    service = await make_service()
    app = create_app(Settings(data_dir=tmp_path / "data", agents_file=agents_file), service)
    async with serving(app) as base:
        yield f"{base}/mcp"


@pytest.fixture
async def open_url(tmp_path: Path, embedder: Embedder) -> AsyncIterator[str]:
    """/mcp of a serve app with no agents file (a laptop: open access)."""
    settings = Settings(data_dir=tmp_path / "open", agents_file=None, default_agent="local")
    service: MemoryService = build_service(settings, embedder=embedder)
    await service.start()
    try:
        async with serving(create_app(settings, service)) as base:
            yield f"{base}/mcp"
    finally:
        await service.close()


@pytest.mark.parametrize("mode", list(ERAS))
async def test_every_tool_over_http(keyed_url: str, mode: str) -> None:
    async with http_client(keyed_url, bearer("alice-key"), mode) as c:
        assert c.protocol_version == ERAS[mode]
        check_tool_listing((await c.list_tools()).tools)
        assert await whoami(c) == "alice"
        assert await exercise_all_tools(c, f"http-{mode}") == ALL_TOOLS


@pytest.mark.parametrize("mode", list(ERAS))
async def test_isolation_between_keys(keyed_url: str, mode: str) -> None:
    async with http_client(keyed_url, bearer("alice-key"), mode) as a, \
            http_client(keyed_url, bearer("bob-key"), mode) as b:
        assert await isolation_through_every_tool(a, b, f"http-iso-{mode}") == ALL_TOOLS


@pytest.mark.parametrize("token", [None, "wrong-key"])
async def test_missing_or_wrong_key_is_refused(keyed_url: str, token: str | None) -> None:
    headers = {"Accept": "application/json, text/event-stream",
               "Content-Type": "application/json", **(bearer(token) if token else {})}
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}}}
    async with httpx.AsyncClient() as raw:
        response = await raw.post(keyed_url, json=body, headers=headers)
    assert response.status_code == 401
    assert "resource_metadata" in response.headers["www-authenticate"]
    # The SDK client cannot even connect (it raises a group around the HTTP error).
    with pytest.raises(Exception):  # noqa: B017
        async with http_client(keyed_url, bearer(token) if token else None) as c:
            await c.list_tools()


async def test_key_wins_over_a_claimed_agent_header(keyed_url: str) -> None:
    async with http_client(keyed_url, {**bearer("bob-key"), "X-Agent-Id": "alice"}) as c:
        assert await whoami(c) == "bob"


async def test_on_behalf_of_and_workflow_are_recorded(keyed_url: str) -> None:
    headers = {**bearer("alice-key"), "X-On-Behalf-Of": "human:dana", "X-Workflow-Id": "wf-42"}
    async with http_client(keyed_url, headers, "legacy") as c:
        written = await ok(c, "remember", {"text": "Dana asked for weekly deploy reports"})
        hit = (await ok(c, "recall", {"query": "weekly deploy reports", "k": 1}))["hits"][0]
    assert hit["memory"]["id"] == written["id"]
    assert hit["memory"]["attribution"] == {**hit["memory"]["attribution"],
                                            "created_by": "alice", "on_behalf_of": "human:dana",
                                            "workflow_id": "wf-42"}


async def test_open_access_takes_the_agent_header(open_url: str) -> None:
    async with http_client(open_url) as local, \
            http_client(open_url, {"X-Agent-Id": "zed"}, "legacy") as zed, \
            http_client(open_url, {"X-Agent-Id": "yan"}) as yan:
        assert (await whoami(local), await whoami(zed), await whoami(yan)) == \
            ("local", "zed", "yan")
        mine = await ok(zed, "remember", {"text": "Zed's editor is configured for vim keys"})
        assert mine["namespace"] == "agent:zed"
        hits = (await ok(yan, "recall", {"query": "editor vim keys", "k": 20}))["hits"]
        assert all(h["memory"]["namespace"] != "agent:zed" for h in hits)
        result = await zed.call_tool("remember", {"text": "x", "namespace": "agent:yan"})
        assert result.is_error


async def test_a_malformed_attribution_header_is_a_clear_tool_error(keyed_url: str) -> None:
    headers = {**bearer("alice-key"), "X-On-Behalf-Of": "not a principal!"}
    async with http_client(keyed_url, headers) as c:
        result = await c.call_tool("remember", {"text": "never written"})
    assert result.is_error
    assert "X-On-Behalf-Of".lower() in result.content[0].text.lower()  # type: ignore[union-attr]
    async with http_client(keyed_url, bearer("alice-key")) as c:
        hits = (await ok(c, "recall", {"query": "never written", "k": 5}))["hits"]
    assert all(h["memory"]["text"] != "never written" for h in hits)


async def test_a_session_keeps_one_connection_with_json_answers(open_url: str) -> None:
    """Every request of a 2025-era session is answered with one JSON body, so a client
    (the stdio shim) keeps its keep-alive connection: an SSE answer, read only up to the
    result, ended it, and the shim opened a new TCP connection for every call."""
    headers = {"Accept": "application/json, text/event-stream",
               "Content-Type": "application/json"}
    async with httpx.AsyncClient(headers=headers, timeout=120) as raw:
        init = await raw.post(open_url, json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}}})
        session = {"mcp-session-id": init.headers["mcp-session-id"],
                   "mcp-protocol-version": "2025-11-25"}
        await raw.post(open_url, headers=session, json={
            "jsonrpc": "2.0", "method": "notifications/initialized"})
        call = await raw.post(open_url, headers=session, json={
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "remember", "arguments": {"text": "Builds run on Tuesdays."}}})
        answers = [init, call]
        assert [r.status_code for r in answers] == [200, 200]
        assert all(r.headers["content-type"].startswith("application/json") for r in answers)
        assert call.json()["result"]["isError"] is False
        ports = {r.extensions["network_stream"].get_extra_info("client_addr")[1]
                 for r in answers}
        assert len(ports) == 1, "each call opened a new connection"
