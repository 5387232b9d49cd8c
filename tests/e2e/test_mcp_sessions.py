"""MCP session caps over real HTTP (issue 21): one agent hoarding sessions at /mcp never
locks another agent out, and idle sessions are closed.

Agent A opens sessions with raw HTTP (an `initialize` it never ends, as the hoarder did);
agent B connects with the SDK client and calls a tool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from fleetmem.api.app import create_app
from fleetmem.memory.settings import McpSettings, Settings
from tests.conftest import ServiceFactory
from tests.e2e.mcp_scenarios import whoami
from tests.e2e.mcp_support import bearer, http_client, serving

CAP = 5
VERSION = "2025-11-25"  # the stateful era: sessions exist only there
BASE_HEADERS = {"Accept": "application/json, text/event-stream",
                "Content-Type": "application/json"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": VERSION, "capabilities": {},
                         "clientInfo": {"name": "hoarder", "version": "1"}}}

Serve = Callable[..., Awaitable[str]]


@pytest.fixture
async def serve(make_service: ServiceFactory, tmp_path: Path,
                agents_file: Path) -> AsyncIterator[Serve]:
    """Start a keyed serve app with the given MCP settings; yields its /mcp URL."""
    stack = contextlib.AsyncExitStack()

    async def start(**mcp: Any) -> str:
        service = await make_service()
        settings = Settings(data_dir=tmp_path / "data", agents_file=agents_file,
                            mcp=McpSettings(**mcp))
        base = await stack.enter_async_context(serving(create_app(settings, service)))
        return f"{base}/mcp"

    async with stack:
        yield start


async def open_session(raw: httpx.AsyncClient, url: str, key: str) -> str:
    """Initialize a session as `key`'s agent and never end it; its session id."""
    response = await raw.post(url, json=INITIALIZE, headers={**BASE_HEADERS, **bearer(key)})
    assert response.status_code == 200, response.text
    session = response.headers["mcp-session-id"]
    headers = session_headers(session, key)
    note = await raw.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                          headers=headers)
    assert note.status_code == 202, note.text
    return session


def session_headers(session: str, key: str) -> dict[str, str]:
    return {**BASE_HEADERS, **bearer(key), "mcp-session-id": session,
            "mcp-protocol-version": VERSION}


async def alive(raw: httpx.AsyncClient, url: str, session: str, key: str) -> bool:
    """Whether `session` still answers (a ping); False once the server ended it (404)."""
    response = await raw.post(url, json={"jsonrpc": "2.0", "id": 2, "method": "ping"},
                              headers=session_headers(session, key))
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


def leaves(group: BaseExceptionGroup[BaseException], kind: type[Exception]) -> list[str]:
    """The messages of the `kind` errors nested anywhere in `group`."""
    found: list[str] = []
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            found += leaves(error, kind)
        elif isinstance(error, kind):
            found.append(str(error))
    return found


async def test_agent_at_its_cap_loses_its_oldest_idle_session(serve: Serve) -> None:
    url = await serve(sessions_per_agent=CAP, max_sessions=4 * CAP)
    async with httpx.AsyncClient(timeout=30) as raw:
        hoard = [await open_session(raw, url, "alice-key") for _ in range(CAP)]
        assert await alive(raw, url, hoard[0], "alice-key")  # now hoard[1] is the oldest idle
        newest = await open_session(raw, url, "alice-key")
        assert not await alive(raw, url, hoard[1], "alice-key")
        for session in (hoard[0], *hoard[2:], newest):
            assert await alive(raw, url, session, "alice-key")
        async with http_client(url, bearer("bob-key"), "legacy") as bob:
            assert await whoami(bob) == "bob"


async def test_agent_at_its_cap_with_no_idle_session_is_refused_clearly(serve: Serve) -> None:
    url = await serve(sessions_per_agent=CAP, max_sessions=4 * CAP)
    async with httpx.AsyncClient(timeout=30) as raw, contextlib.AsyncExitStack() as streams:
        for _ in range(CAP):  # each session busy: an open GET stream
            session = await open_session(raw, url, "alice-key")
            stream = await streams.enter_async_context(raw.stream(
                "GET", url, headers={**session_headers(session, "alice-key"),
                                     "Accept": "text/event-stream"}))
            assert stream.status_code == 200
        refused = await raw.post(url, json=INITIALIZE,
                                 headers={**BASE_HEADERS, **bearer("alice-key")})
        assert refused.status_code == 429, refused.text
        error = json.loads(refused.text)["error"]
        assert "mcp.sessions_per_agent = 5" in error["message"]
        assert "FLEETMEM_MCP__SESSIONS_PER_AGENT" in error["message"]
        assert error["data"] == {"setting": "mcp.sessions_per_agent", "limit": CAP}
        # The SDK client surfaces the same message; another agent is not affected.
        with pytest.raises(BaseExceptionGroup) as raised:
            async with http_client(url, bearer("alice-key"), "legacy"):
                pass
        assert "sessions_per_agent" in str(leaves(raised.value, MCPError))
        async with http_client(url, bearer("bob-key"), "legacy") as bob:
            assert await whoami(bob) == "bob"


async def test_idle_sessions_are_swept(serve: Serve) -> None:
    url = await serve(sessions_per_agent=CAP, max_sessions=4 * CAP, session_idle_seconds=1.0)
    async with httpx.AsyncClient(timeout=30) as raw:
        hoard = [await open_session(raw, url, "alice-key") for _ in range(CAP)]
        deadline = time.monotonic() + 8
        while await alive(raw, url, hoard[-1], "alice-key"):
            assert time.monotonic() < deadline, "an idle session outlived its timeout"
            await asyncio.sleep(1.5)  # pinging resets the idle clock: pause longer
        for session in hoard:
            assert not await alive(raw, url, session, "alice-key")
        # Their slots are free again: a full set of new sessions opens without eviction.
        fresh = [await open_session(raw, url, "alice-key") for _ in range(CAP)]
        for session in fresh:
            assert await alive(raw, url, session, "alice-key")


def test_one_agent_cap_must_stay_below_the_global_cap() -> None:
    with pytest.raises(ValueError, match="FLEETMEM_MCP__MAX_SESSIONS"):
        McpSettings(sessions_per_agent=64, max_sessions=64)


async def test_agent_opening_sessions_in_a_loop_is_refused_with_retry_after(
        serve: Serve) -> None:
    url = await serve(sessions_per_agent=CAP, max_sessions=4 * CAP, sessions_per_minute=3)
    async with httpx.AsyncClient(timeout=30) as raw:
        opened = [await open_session(raw, url, "alice-key") for _ in range(3)]
        refused = await raw.post(url, json=INITIALIZE,
                                 headers={**BASE_HEADERS, **bearer("alice-key")})
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 20
        error = json.loads(refused.text)["error"]
        assert error["data"] == {"setting": "mcp.sessions_per_minute", "limit": 3}
        assert "FLEETMEM_MCP__SESSIONS_PER_MINUTE" in error["message"]
        for session in opened:  # the refusal closed nothing
            assert await alive(raw, url, session, "alice-key")
        async with http_client(url, bearer("bob-key"), "legacy") as bob:
            assert await whoami(bob) == "bob"
