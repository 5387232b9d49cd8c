"""One idempotency rule for every door (issue 16): the same key with the same request
returns the first result over REST and MCP alike; the same key with any other request (a
different text, a batch after a single, a single after a batch, REST after MCP) is refused
with `idempotency_key_reuse` by both doors and stores nothing.

Before, REST fingerprinted requests in its routes while MCP's `remember` returned the
first memory's id for a reused key with a new text and dropped the text; a key used for a
single remember and then for a batch answered 201 with the first id and stored neither
new text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from mcp import Client

from fleetmem.api.app import create_app
from fleetmem.memory.settings import Settings
from tests.conftest import ServiceFactory
from tests.e2e.mcp_scenarios import ok, text_of
from tests.e2e.mcp_support import bearer, http_client, serving

ALICE = bearer("alice-key")
REUSE = "idempotency_key_reuse"


async def _rest(rest: httpx.AsyncClient, key: str, *texts: str) -> httpx.Response:
    """One remember (one text) or a batch (several), with an Idempotency-Key."""
    headers = {"Idempotency-Key": key}
    if len(texts) == 1:
        return await rest.post("/v1/memories", json={"text": texts[0]}, headers=headers)
    return await rest.post("/v1/memories/batch", headers=headers,
                           json={"memories": [{"text": t} for t in texts]})


async def _mcp_refusal(mcp: Client, args: dict[str, Any]) -> str:
    result = await mcp.call_tool("remember", args)
    assert result.is_error, f"remember({args}) was not refused"
    return text_of(result)


async def _texts(rest: httpx.AsyncClient) -> list[str]:
    page = (await rest.get("/v1/memories", params={"limit": 1000})).json()
    return sorted(m["text"] for m in page["items"])


async def test_one_idempotency_rule_over_rest_and_mcp(
        make_service: ServiceFactory, tmp_path: Path, agents_file: Path) -> None:
    service = await make_service()
    app = create_app(Settings(data_dir=tmp_path / "data", agents_file=agents_file), service)
    async with serving(app) as base, \
            httpx.AsyncClient(base_url=base, headers=ALICE, timeout=60) as rest, \
            http_client(f"{base}/mcp", ALICE) as mcp:
        # Same key, same request: the first result, whichever door asks.
        first = await _rest(rest, "k-same", "The staging cluster runs in eu-north-1")
        assert first.status_code == 201, first.text
        again_rest = await _rest(rest, "k-same", "The staging cluster runs in eu-north-1")
        again_mcp = await ok(mcp, "remember", {"text": "The staging cluster runs in eu-north-1",
                                               "idempotency_key": "k-same"})
        assert again_rest.status_code == 201
        assert first.json()["id"] == again_rest.json()["id"] == again_mcp["id"]
        over_mcp = await ok(mcp, "remember", {"text": "Deploys need two approvals",
                                              "idempotency_key": "k-mcp-first"})
        replay = await _rest(rest, "k-mcp-first", "Deploys need two approvals")
        assert replay.status_code == 201 and replay.json()["id"] == over_mcp["id"]

        # Same key, different text: refused identically by both doors.
        refused_rest = await _rest(rest, "k-same", "The staging cluster moved to us-east-2")
        refused_mcp = await _mcp_refusal(mcp, {"text": "The staging cluster moved to us-east-2",
                                               "idempotency_key": "k-same"})
        problem = refused_rest.json()
        assert refused_rest.status_code == 422 and problem["rule"] == REUSE, problem
        assert problem["field"] == "idempotency_key"
        assert f"invalid_input: {problem['detail']} (field: idempotency_key)" in refused_mcp

        # A key used for a single remember, reused for a batch of two other texts.
        single = await _rest(rest, "k-single", "The on-call rotation changes on Mondays")
        assert single.status_code == 201
        batch = await _rest(rest, "k-single", "Lunch is at noon", "Standup is at 9:30")
        assert batch.status_code == 422 and batch.json()["rule"] == REUSE, batch.text
        # A batch, then a single with the same key (even the batch's first text).
        made = await _rest(rest, "k-batch", "Backups run at 02:00", "Restores are tested monthly")
        assert made.status_code == 201
        after = await _rest(rest, "k-batch", "Backups run at 02:00")
        assert after.status_code == 422 and after.json()["rule"] == REUSE, after.text
        # A key first used over MCP, reused over REST with another text, and the reverse.
        await ok(mcp, "remember", {"text": "The VPN gateway is vpn-2", "idempotency_key": "k-m"})
        cross = await _rest(rest, "k-m", "The VPN gateway is vpn-3")
        assert cross.status_code == 422 and cross.json()["rule"] == REUSE, cross.text
        assert problem["detail"] in await _mcp_refusal(mcp, {"text": "Lunch is at noon",
                                                             "idempotency_key": "k-single"})

        # Nothing refused was stored.
        assert await _texts(rest) == sorted([
            "Backups run at 02:00", "Deploys need two approvals",
            "Restores are tested monthly", "The VPN gateway is vpn-2",
            "The on-call rotation changes on Mondays",
            "The staging cluster runs in eu-north-1"])

        # Every MCP write tool takes a key: a retried forget replays instead of a 409.
        gone = await ok(mcp, "forget", {"id": over_mcp["id"], "idempotency_key": "k-forget"})
        gone_again = await ok(mcp, "forget", {"id": over_mcp["id"],
                                              "idempotency_key": "k-forget"})
        assert gone == gone_again and gone["status"] == "archived"
