"""`fleetmem mcp` over stdio, as Claude Code or Cursor launch it: the shim starts the data
dir's `fleetmem serve` once, forwards to it, and every tool works in both protocol eras."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from fleetmem.mcp_server.launcher import read_state, running
from tests.conftest import AGENTS
from tests.e2e.mcp_isolation import isolation_through_every_tool
from tests.e2e.mcp_scenarios import (
    ALL_TOOLS,
    ERAS,
    check_tool_listing,
    exercise_all_tools,
    ok,
    whoami,
)
from tests.e2e.mcp_support import FLEETMEM, free_port, stdio_client, stdio_env, stop_serve


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, int]]:
    """A data dir with an agents file (alice-key, bob-key); its service is stopped after."""
    root = tmp_path_factory.mktemp("stdio")
    agents = root / "agents.yaml"
    agents.write_text(yaml.safe_dump(AGENTS))
    keyed = (root / "data", agents, free_port())
    # A first shim starts the service; it is stopped once the service answers. The tests
    # below check what crosses the relay in each era, not how fast a cold service starts:
    # a cold start slower than the SDK's 10 s `server/discover` timeout makes an auto-mode
    # client fall back to the 2025 era, which is a start-up time to measure in bench/,
    # not to assert here (test_mcp_concurrency still starts the service from cold).
    first = subprocess.Popen([FLEETMEM, "mcp"], env=env_for(keyed, "alice-key"),
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while running(keyed[0]) is None and first.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.25)
        assert running(keyed[0]) is not None, "the first shim did not start the service"
    finally:
        first.kill()
        first.wait()
    yield keyed
    stop_serve(root / "data")


def env_for(keyed: tuple[Path, Path, int], key: str) -> dict[str, str]:
    data, agents, port = keyed
    return stdio_env(data, port, agents, FLEETMEM_MCP__API_KEY=key)


@pytest.mark.parametrize("mode", list(ERAS))
async def test_every_tool_over_stdio(keyed: tuple[Path, Path, int], mode: str) -> None:
    async with stdio_client(env_for(keyed, "alice-key"), mode) as c:
        assert c.protocol_version == ERAS[mode]
        check_tool_listing((await c.list_tools()).tools)
        assert await whoami(c) == "alice"
        served = read_state(keyed[0])
        assert served is not None and served.port == keyed[2]
        assert await exercise_all_tools(c, f"stdio-{mode}") == ALL_TOOLS
    # The service outlives its shims and the next shim reuses it.
    assert running(keyed[0]) == served


@pytest.mark.parametrize("mode", list(ERAS))
async def test_isolation_over_stdio(keyed: tuple[Path, Path, int], mode: str) -> None:
    async with stdio_client(env_for(keyed, "alice-key"), mode) as a, \
            stdio_client(env_for(keyed, "bob-key"), mode) as b:
        assert await isolation_through_every_tool(a, b, f"stdio-iso-{mode}") == ALL_TOOLS


async def test_resources_and_prompt_over_stdio(keyed: tuple[Path, Path, int]) -> None:
    async with stdio_client(env_for(keyed, "bob-key"), "legacy") as c:
        await ok(c, "relate", {"from_entity": "Bob", "relation_type": "maintains",
                               "to_entity": "Billing"})
        contents = (await c.read_resource("memory://entity/Billing")).contents[0]
        assert "maintains" in getattr(contents, "text", "")
        prompt = await c.get_prompt("memory-protocol", {})
        assert "recall" in getattr(prompt.messages[0].content, "text", "")


def test_a_wrong_key_is_reported(keyed: tuple[Path, Path, int]) -> None:
    # The service is up but refuses the key: the shim says so instead of serving errors.
    done = subprocess.run([FLEETMEM, "mcp"], env=env_for(keyed, "not-a-key"), input=b"",
                          capture_output=True, timeout=300, check=False)
    assert done.returncode == 2
    assert b"refused this client (401)" in done.stderr
    assert b"FLEETMEM_MCP__API_KEY" in done.stderr


def test_a_service_that_cannot_start_is_reported(tmp_path: Path) -> None:
    env = stdio_env(tmp_path / "data", free_port(), tmp_path / "missing-agents.yaml")
    done = subprocess.run([FLEETMEM, "mcp"], env=env, input=b"", capture_output=True,
                          timeout=300, check=False)
    assert done.returncode == 2
    assert b"fleetmem serve exited" in done.stderr
    assert b"does not exist" in done.stderr  # the serve log's tail names the cause


async def test_open_access_identity_from_configuration(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    try:
        async with stdio_client(stdio_env(data, port, FLEETMEM_MCP__AGENT="zed")) as zed, \
                stdio_client(stdio_env(data, port, FLEETMEM_MCP__AGENT="yan"), "legacy") as yan, \
                stdio_client(stdio_env(data, port)) as local:
            assert (await whoami(zed), await whoami(yan), await whoami(local)) == \
                ("zed", "yan", "local")
            mine = await ok(zed, "remember", {"text": "Zed deploys with blue-green switches"})
            assert mine["namespace"] == "agent:zed"
            hits = (await ok(zed, "recall", {"query": "how does zed deploy", "k": 3}))["hits"]
            assert hits[0]["memory"]["id"] == mine["id"]
            for other in (yan, local):
                hits = (await ok(other, "recall", {"query": "blue-green deploy", "k": 50}))["hits"]
                assert all(h["memory"]["namespace"] != "agent:zed" for h in hits)
    finally:
        stop_serve(data)


async def test_a_lost_service_ends_the_shim_and_the_next_one_restarts_it(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = stdio_env(data, free_port(), FLEETMEM_MCP__AGENT="zed")
    try:
        async with stdio_client(env) as c:
            kept = await ok(c, "remember", {"text": "Zed survives service restarts"})
            lost = read_state(data)
            assert lost is not None
            os.kill(lost.pid, signal.SIGKILL)
            # Without the shim's watchdog this call would hang until the read timeout.
            with pytest.raises(MCPError, match="closed"):
                await asyncio.wait_for(c.call_tool("recall", {"query": "restarts"}), 120)
        async with stdio_client(env) as c:
            hits = (await ok(c, "recall", {"query": "survives restarts", "k": 3}))["hits"]
            assert hits[0]["memory"]["id"] == kept["id"]
        restarted = read_state(data)
        assert restarted is not None and restarted.pid != lost.pid
    finally:
        stop_serve(data)


async def test_direct_mode_opens_the_store_in_process(tmp_path: Path) -> None:
    env = stdio_env(tmp_path / "data", free_port(), FLEETMEM_MCP__AGENT="zed")
    params = StdioServerParameters(command=FLEETMEM, args=["mcp", "--direct"], env=env)
    async with Client(params, mode="legacy") as c:
        assert await whoami(c) == "zed"
        written = await ok(c, "remember", {"text": "Direct mode keeps the store in process"})
        hits = (await ok(c, "recall", {"query": "direct mode store", "k": 1}))["hits"]
        assert hits[0]["memory"]["id"] == written["id"]
    assert read_state(tmp_path / "data") is None  # no service was started
