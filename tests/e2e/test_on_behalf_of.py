"""X-On-Behalf-Of on the served app (REST and MCP over HTTP): accepted only for principals
the agents file configures and an `act_for` of the caller's roles names; anything else is
a 403 / tool error that reads the same whether or not the named id exists."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from fleetmem.api.app import create_app
from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.ports import Embedder
from fleetmem.memory.settings import Settings
from tests.conftest import AGENTS
from tests.e2e.mcp_scenarios import ok, text_of
from tests.e2e.mcp_support import bearer, http_client, serving
from tests.e2e.rest_support import assert_problem

pytestmark = pytest.mark.asyncio


def _agents() -> dict[str, Any]:
    """The shared file (writers act for `human:*`) plus ivy, who may act only for bob, and
    rex, a reader whose role names nobody."""
    data: dict[str, Any] = copy.deepcopy(AGENTS)
    data["roles"]["assistant"] = {"allow": ["*"], "act_for": ["bob"]}
    data["agents"]["ivy"] = {"key_sha256": hashlib.sha256(b"ivy-key").hexdigest(),
                             "roles": ["assistant"]}
    data["agents"]["rex"] = {"key_sha256": hashlib.sha256(b"rex-key").hexdigest(),
                             "roles": ["reader"]}
    return data


@dataclass
class Served:
    base: str
    rest: httpx.AsyncClient


@asynccontextmanager
async def _serve(settings: Settings, embedder: Embedder) -> AsyncIterator[Served]:
    """The REST+MCP app served on a free port over a started service."""
    service = build_service(settings, embedder=embedder)
    await service.start()
    try:
        async with serving(create_app(settings, service)) as base, \
                httpx.AsyncClient(base_url=base, timeout=60) as rest:
            yield Served(base, rest)
    finally:
        await service.close()


@pytest.fixture
async def served(tmp_path: Path, embedder: Embedder) -> AsyncIterator[Served]:
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump(_agents()))
    async with _serve(Settings(data_dir=tmp_path / "data", agents_file=path),
                      embedder) as app:
        yield app


async def _remember(s: Served, key: str, on_behalf_of: str) -> httpx.Response:
    return await s.rest.post("/v1/memories", json={"text": f"{key} notes for {on_behalf_of}"},
                             headers={**bearer(key), "X-On-Behalf-Of": on_behalf_of})


async def test_rest_refuses_spoofed_and_unknown_on_behalf_of(served: Served) -> None:
    before = (await served.rest.get("/v1/stats", headers=bearer("alice-key"))).json()
    spoofed = assert_problem(await _remember(served, "alice-key", "bob"), 403,
                             field="on_behalf_of", rule="on_behalf_of")
    unknown = assert_problem(await _remember(served, "alice-key", "human:ceo"), 403,
                             field="on_behalf_of", rule="on_behalf_of")
    # The answer for an id nobody configured is the answer for a configured one.
    assert unknown["detail"].replace("human:ceo", "bob") == spoofed["detail"]
    assert "act_for" in spoofed["detail"] and "agents file" in spoofed["detail"]
    assert_problem(await _remember(served, "ivy-key", "human:dana"), 403, rule="on_behalf_of")
    for principal in ("human:dana", "alice"):  # a role without act_for: nobody; reads too
        r = await served.rest.get("/v1/stats", headers={**bearer("rex-key"),
                                                        "X-On-Behalf-Of": principal})
        assert_problem(r, 403, rule="on_behalf_of")
    after = (await served.rest.get("/v1/stats", headers=bearer("alice-key"))).json()
    assert after["total_memories"] == before["total_memories"]


async def test_rest_records_an_allowed_on_behalf_of(served: Served) -> None:
    for key, principal, author in (("alice-key", "human:dana", "alice"),
                                   ("ivy-key", "bob", "ivy"), ("bob-key", "bob", "bob")):
        r = await _remember(served, key, principal)
        assert r.status_code == 201, r.text
        got = (await served.rest.get(f"/v1/memories/{r.json()['id']}",
                                     headers=bearer(key))).json()
        assert (got["attribution"]["created_by"], got["attribution"]["on_behalf_of"]) == \
            (author, principal)


async def test_mcp_refuses_spoofed_and_unknown_on_behalf_of(served: Served) -> None:
    for principal in ("bob", "human:ceo"):
        headers = {**bearer("alice-key"), "X-On-Behalf-Of": principal}
        async with http_client(f"{served.base}/mcp", headers) as c:
            result = await c.call_tool("remember", {"text": "never written"})
        assert result.is_error
        assert "on_behalf_of" in text_of(result) and "act_for" in text_of(result)
    headers = {**bearer("ivy-key"), "X-On-Behalf-Of": "bob"}
    async with http_client(f"{served.base}/mcp", headers) as c:
        written = await ok(c, "remember", {"text": "Bob asked Ivy to file the expense report"})
        hit = (await ok(c, "recall", {"query": "expense report", "k": 1}))["hits"][0]
    assert hit["memory"]["id"] == written["id"]
    got = hit["memory"]["attribution"]
    assert (got["created_by"], got["on_behalf_of"]) == ("ivy", "bob")


async def test_without_agents_file_any_well_formed_on_behalf_of_is_recorded(
        tmp_path: Path, embedder: Embedder) -> None:
    settings = Settings(data_dir=tmp_path / "open", agents_file=None)
    async with _serve(settings, embedder) as app:
        r = await app.rest.post("/v1/memories", json={"text": "laptop notes for me"},
                                headers={"X-On-Behalf-Of": "human:me"})
        assert r.status_code == 201, r.text
        got = (await app.rest.get(f"/v1/memories/{r.json()['id']}")).json()
        assert got["attribution"]["on_behalf_of"] == "human:me"
