"""Two doors, one service: a memory written over REST is recalled over MCP by the same
agent with identical attribution, and the reverse (both on one running serve app)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from fleetmem.api.app import create_app
from fleetmem.memory.settings import Settings
from tests.conftest import ServiceFactory
from tests.e2e.mcp_scenarios import ok
from tests.e2e.mcp_support import bearer, http_client, serving

HEADERS = {**bearer("alice-key"), "X-On-Behalf-Of": "human:dana", "X-Workflow-Id": "wf-cross"}


async def test_rest_and_mcp_share_memories_and_attribution(
        make_service: ServiceFactory, tmp_path: Path, agents_file: Path) -> None:
    service = await make_service()
    app = create_app(Settings(data_dir=tmp_path / "data", agents_file=agents_file), service)
    seen: dict[str, Any] = {}
    async with serving(app) as base:
        async with httpx.AsyncClient(base_url=base, headers=HEADERS, timeout=60) as rest:
            r = await rest.post("/v1/memories",
                                json={"text": "The billing cluster runs in eu-west-3"})
            seen["rest_write"] = (r.status_code, r.json())
        rest_id = seen["rest_write"][1]["id"]
        async with http_client(f"{base}/mcp", HEADERS) as mcp:
            seen["mcp_recall"] = await ok(mcp, "recall", {"query": "where does billing run?"})
            seen["mcp_write"] = await ok(mcp, "remember",
                                         {"text": "Feature flags live in LaunchDarkly"})
            seen["mcp_recall_2"] = await ok(mcp, "recall", {"query": "feature flags"})
        mcp_id = seen["mcp_write"]["id"]
        async with httpx.AsyncClient(base_url=base, headers=HEADERS, timeout=60) as rest:
            seen["rest_get"] = (await rest.get(f"/v1/memories/{rest_id}")).json()
            r = await rest.post("/v1/memories/recall",
                                json={"query": "where are feature flags kept"})
            seen["rest_recall"] = (r.status_code, r.json())
        async with httpx.AsyncClient(base_url=base, headers=bearer("bob-key"),
                                     timeout=60) as bob_rest:
            seen["bob_get"] = (await bob_rest.get(f"/v1/memories/{mcp_id}")).status_code
        async with http_client(f"{base}/mcp", bearer("bob-key")) as bob_mcp:
            seen["bob_recall"] = await ok(bob_mcp, "recall", {"query": "billing cluster"})

    assert seen["rest_write"][0] in (200, 201), seen["rest_write"]
    hit = next(h for h in seen["mcp_recall"]["hits"] if h["memory"]["id"] == rest_id)
    rest_view = seen["rest_get"]
    assert hit["memory"]["attribution"] == rest_view["attribution"]
    assert rest_view["attribution"]["created_by"] == "alice"
    assert rest_view["attribution"]["on_behalf_of"] == "human:dana"
    assert rest_view["attribution"]["workflow_id"] == "wf-cross"

    assert seen["rest_recall"][0] == 200, seen["rest_recall"]
    over_rest = next(h for h in seen["rest_recall"][1]["hits"] if h["memory"]["id"] == mcp_id)
    over_mcp = next(h for h in seen["mcp_recall_2"]["hits"] if h["memory"]["id"] == mcp_id)
    assert over_rest["memory"]["attribution"] == over_mcp["memory"]["attribution"]
    assert over_rest["memory"]["attribution"]["workflow_id"] == "wf-cross"

    assert seen["bob_get"] == 404
    assert all(h["memory"]["namespace"] != "agent:alice" for h in seen["bob_recall"]["hits"])
