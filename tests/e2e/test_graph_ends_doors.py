# ruff: noqa: F811  (pytest fixtures are imported from rest_support and used as arguments)
"""Graph writes never skip silently, on every door (issue 19): REST answers a relation to
a missing entity with 404 and a cross-namespace `relate` with 409; MCP reports the same
refusals as tool errors in the same words (the message comes from the service), and
neither door writes anything."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from fleetmem.mcp_server.door import Identity
from fleetmem.mcp_server.server import build_server
from tests.e2e.mcp_scenarios import refused
from tests.e2e.rest_support import (  # noqa: F401 - fixtures
    ALICE,
    BOB,
    RestApi,
    agents_file,
    api,
    assert_problem,
)

pytestmark = pytest.mark.asyncio


async def _both_refuse(api: RestApi, mcp: Client, path: str, body: dict[str, Any],
                       tool: str, args: dict[str, Any], status: int, field: str,
                       rule: str) -> str:
    """The REST route and the MCP tool refuse the same write with the same message."""
    problem = assert_problem(await api.client.post(path, headers=ALICE, json=body), status,
                             field=field, rule=rule)
    message = await refused(mcp, tool, args, problem["detail"], f"(field: {field})")
    assert f"{problem['code']}: {problem['detail']} (field: {field})" in message, \
        (message, problem)
    return str(problem["detail"])


async def test_missing_and_cross_namespace_ends_are_refused_alike(api: RestApi) -> None:
    await api.entity("payments")
    await api.entity("Acme", "company", headers=BOB, namespace="team:atlas")
    async with Client(build_server(api.service, Identity("alice"))) as mcp:
        detail = await _both_refuse(
            api, mcp, "/v1/relations",
            {"relations": [{"from": "payments", "to": "kafka", "relationType": "reads"}]},
            "create_relations",
            {"relations": [{"from": "payments", "to": "kafka", "relationType": "reads"}]},
            404, "relations[0].to", "not_found")
        assert "kafka" in detail and "create_entities" in detail
        detail = await _both_refuse(
            api, mcp, "/v1/relations",
            {"relations": [{"from": "payments", "to": "Acme", "relationType": "uses"}]},
            "create_relations",
            {"relations": [{"from": "payments", "to": "Acme", "relationType": "uses"}]},
            404, "relations[0].to", "not_found")
        assert "Acme is an entity of team:atlas" in detail
        detail = await _both_refuse(
            api, mcp, "/v1/relate", {"from": "payments", "relationType": "uses", "to": "Acme"},
            "relate", {"from_entity": "payments", "relation_type": "uses", "to_entity": "Acme"},
            409, "to", "other_namespace")
        assert "would create a second Acme" in detail
    graph = (await api.client.get("/v1/graph", headers=ALICE,
                                  params={"namespaces": "agent:alice"})).json()
    assert [e["name"] for e in graph["entities"]] == ["payments"] and not graph["relations"]
