# ruff: noqa: F811  (pytest fixtures are imported from rest_support and used as arguments)
"""Recall's `neighbours` option on REST and MCP (issue 18): by default the turn after the
one that has the question's words competes and is returned as a `neighbour`; off, it is
not. Turns of one conversation: written in one batch with their session's event time."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from fleetmem.mcp_server.door import Identity
from fleetmem.mcp_server.server import build_server
from tests.e2e.mcp_scenarios import ok
from tests.e2e.rest_support import (  # noqa: F401 - fixtures
    ALICE,
    RestApi,
    agents_file,
    api,
)

pytestmark = pytest.mark.asyncio
TALK = ["Melanie: How did the meeting with the adoption agency go on Friday?",
        "Caroline: It went great, they said yes!",
        "Melanie: I am so happy for you, that is wonderful news.",
        "Caroline: Thanks! I also started pottery classes at the community centre."]
QUERY = "How did the adoption agency meeting go?"


def _sources(hits: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {h["memory"]["text"]: h["sources"] for h in hits}


async def test_neighbours_on_rest_and_mcp(api: RestApi) -> None:
    r = await api.client.post("/v1/memories/batch", headers=ALICE, json={"memories": [
        {"text": t, "valid_from": "2023-05-08T13:56:00Z"} for t in TALK]})
    assert r.status_code == 201, r.text
    r = await api.client.post("/v1/memories/recall", headers=ALICE,
                              json={"query": QUERY, "k": 3})
    assert r.status_code == 200, r.text
    assert "neighbour" in _sources(r.json()["hits"])[TALK[1]]
    r = await api.client.post("/v1/memories/recall", headers=ALICE,
                              json={"query": QUERY, "k": 3, "neighbours": False})
    assert all("neighbour" not in s for s in _sources(r.json()["hits"]).values())
    async with Client(build_server(api.service, Identity("alice"))) as mcp:
        on = await ok(mcp, "recall", {"query": QUERY, "k": 3})
        assert "neighbour" in _sources(on["hits"])[TALK[1]]
        off = await ok(mcp, "recall", {"query": QUERY, "k": 3, "neighbours": False})
        assert all("neighbour" not in s for s in _sources(off["hits"]).values())
