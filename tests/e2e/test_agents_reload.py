"""The agents file of a running service (real uvicorn, REST and MCP over HTTP) is reloaded
on change: a removed key or team member stops working within 5 s, also in an MCP session
opened before; a malformed rewrite keeps the last good policy and /readyz says so."""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from fleetmem.api.app import create_app
from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.ports import Embedder
from fleetmem.memory.settings import AgentsReloadSettings, Settings
from tests.conftest import AGENTS
from tests.e2e.mcp_scenarios import ok
from tests.e2e.mcp_support import bearer, http_client, serving

pytestmark = pytest.mark.asyncio

LIMIT_S = 5.0
ATLAS = ["team:atlas"]


@dataclass
class Running:
    path: Path
    base: str
    rest: httpx.AsyncClient

    def rewrite(self, data: dict[str, Any] | str, *, atomic: bool) -> None:
        """Replace the agents file's content (see `rewrite`)."""
        rewrite(self.path, data, atomic=atomic)

    async def ready(self) -> dict[str, Any]:
        r = await self.rest.get("/readyz")
        body: dict[str, Any] = r.json()
        return body


def rewrite(path: Path, data: dict[str, Any] | str, *, atomic: bool) -> None:
    """Replace a file's content in place, or as editors do (temp file + rename)."""
    text = data if isinstance(data, str) else yaml.safe_dump(data)
    if not atomic:
        path.write_text(text)
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@pytest.fixture
async def running(tmp_path: Path, embedder: Embedder) -> AsyncIterator[Running]:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "agents.yaml"
    path.write_text(yaml.safe_dump(AGENTS))
    # A long backstop poll: the file events must do the work within LIMIT_S.
    settings = Settings(data_dir=tmp_path / "data", agents_file=path,
                        agents_reload=AgentsReloadSettings(poll_seconds=60))
    service = build_service(settings, embedder=embedder)
    await service.start()
    try:
        async with serving(create_app(settings, service)) as base, \
                httpx.AsyncClient(base_url=base, timeout=60) as rest:
            yield Running(path, base, rest)
    finally:
        await service.close()


async def within_limit(check: Callable[[], Awaitable[bool]]) -> float:
    """Poll `check` until it holds; return the seconds it took (fails past 3x the limit)."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < 3 * LIMIT_S, "the change never took effect"
        await asyncio.sleep(0.1)
    return time.monotonic() - start


def without(path: list[str]) -> dict[str, Any]:
    """The shared agents file without the entry at `path` (e.g. agents.bob.key_sha256)."""
    data: dict[str, Any] = copy.deepcopy(AGENTS)
    node = data
    for part in path[:-1]:
        node = node[part]
    if isinstance(node, list):
        node.remove(path[-1])
    else:
        del node[path[-1]]
    return data


async def test_a_removed_key_stops_working_on_rest_and_in_an_open_mcp_session(
        running: Running) -> None:
    assert (await running.rest.get("/v1/stats", headers=bearer("bob-key"))).status_code == 200
    async with http_client(f"{running.base}/mcp", bearer("bob-key")) as mcp:
        await ok(mcp, "list_namespaces", {})
        running.rewrite(without(["agents", "bob", "key_sha256"]), atomic=True)

        async def rest_refuses() -> bool:
            r = await running.rest.get("/v1/stats", headers=bearer("bob-key"))
            return r.status_code == 401

        async def mcp_refuses() -> bool:
            try:
                result = await mcp.call_tool("list_namespaces", {},
                                             read_timeout_seconds=LIMIT_S)
            except Exception:  # noqa: BLE001 - the SDK raises on the 401 of its POST
                return True
            return result.is_error

        assert await within_limit(rest_refuses) < LIMIT_S
        assert await within_limit(mcp_refuses) < LIMIT_S
    r = await running.rest.get("/v1/stats", headers=bearer("alice-key"))
    assert r.status_code == 200  # the other keys still work


async def test_a_removed_team_member_loses_the_team_on_rest_and_mcp(running: Running) -> None:
    r = await running.rest.post("/v1/memories", headers=bearer("alice-key"), json={
        "text": "Atlas deploys are frozen on Fridays", "namespace": "team:atlas"})
    assert r.status_code == 201, r.text
    recall = {"query": "atlas deploys", "namespaces": ATLAS}
    async with http_client(f"{running.base}/mcp", bearer("bob-key")) as mcp:
        assert (await ok(mcp, "recall", recall))["hits"]
        r = await running.rest.post("/v1/memories/recall", headers=bearer("bob-key"),
                                    json=recall)
        assert r.status_code == 200 and r.json()["hits"], r.text
        running.rewrite(without(["teams", "atlas", "bob"]), atomic=False)

        async def rest_refuses() -> bool:
            r = await running.rest.post("/v1/memories/recall", headers=bearer("bob-key"),
                                        json=recall)
            return r.status_code == 403 and r.json()["rule"] == "namespace_read"

        async def mcp_refuses() -> bool:
            return (await mcp.call_tool("recall", recall)).is_error

        assert await within_limit(rest_refuses) < LIMIT_S
        assert await within_limit(mcp_refuses) < LIMIT_S
        assert (await ok(mcp, "list_namespaces", {}))["agent_id"] == "bob"  # still bob


async def test_a_malformed_rewrite_keeps_the_last_good_policy(
        running: Running, caplog: pytest.LogCaptureFixture) -> None:
    first = (await running.ready())["agents_file"]
    assert first["sha256"] and first["reload_failed"] is False
    caplog.set_level(logging.INFO, logger="fleetmem")
    running.rewrite("agents:\n  alice: {key_sha256: 'not-a-real-key-9f8e7d' roles: [\n",
                    atomic=True)

    async def failed() -> bool:
        return bool((await running.ready())["agents_file"]["reload_failed"])

    assert await within_limit(failed) < LIMIT_S
    state = await running.ready()
    assert state["status"] == "ready"
    assert state["agents_file"]["sha256"] == first["sha256"]  # the last good one
    assert state["agents_file"]["failed_at"]
    for key in ("alice-key", "bob-key"):  # still in force: nobody was locked out
        r = await running.rest.get("/v1/stats", headers=bearer(key))
        assert r.status_code == 200, r.text
    logged = [r.getMessage() for r in caplog.records if "did not reload" in r.getMessage()]
    assert logged and "line 2" in logged[0]
    assert not any("not-a-real-key" in r.getMessage() for r in caplog.records)
    # An invalid but well-formed file (an undefined role) is kept out too.
    bad = copy.deepcopy(AGENTS)
    bad["agents"]["bob"]["roles"] = ["no-such-role"]
    running.rewrite(bad, atomic=False)
    await within_limit(lambda: _logged(caplog, "undefined roles"))
    assert (await running.rest.get("/v1/stats", headers=bearer("bob-key"))).status_code == 200
    # A good file again: in force, the failure cleared.
    running.rewrite(without(["agents", "bob", "key_sha256"]), atomic=True)

    async def recovered() -> bool:
        now = (await running.ready())["agents_file"]
        return now["sha256"] != first["sha256"] and now["reload_failed"] is False

    assert await within_limit(recovered) < LIMIT_S
    assert (await running.rest.get("/v1/stats", headers=bearer("bob-key"))).status_code == 401


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in r.getMessage() for r in caplog.records)


async def test_readyz_without_an_agents_file_names_none(tmp_path: Path,
                                                        embedder: Embedder) -> None:
    settings = Settings(data_dir=tmp_path / "open", agents_file=None)
    service = build_service(settings, embedder=embedder)
    await service.start()
    try:
        async with serving(create_app(settings, service)) as base, \
                httpx.AsyncClient(base_url=base) as rest:
            body = (await rest.get("/readyz")).json()
        assert body["agents_file"] is None
    finally:
        await service.close()


async def test_the_watcher_restarts_after_an_error(tmp_path: Path, embedder: Embedder,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "agents.yaml"
    path.write_text(yaml.safe_dump(AGENTS))
    service = build_service(Settings(data_dir=tmp_path / "data", agents_file=path),
                            embedder=embedder)
    await service.start()
    source, stop = service.ctx.agents_file, asyncio.Event()
    assert source is not None
    folder.rename(tmp_path / "away")  # the watch cannot start: the folder is gone
    task = asyncio.create_task(source.watch(service.ctx, 60, stop))
    try:
        await within_limit(lambda: _logged(caplog, "watcher failed; restarting"))
        assert service.authenticate("bob-key") == "bob"  # the last good policy
        (tmp_path / "away").rename(folder)
        rewrite(path, without(["agents", "bob", "key_sha256"]), atomic=True)

        async def reloaded() -> bool:
            return service.authenticate("bob-key") is None

        await within_limit(reloaded)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await service.close()
