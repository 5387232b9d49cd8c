# ruff: noqa: F811  (pytest fixtures are imported from rest_support and used as arguments)
"""REST authentication and authorization: 401 on every route without a valid key, 403 for
refused operations and namespaces, open access without an agents file, attribution."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetmem.memory.ports import Embedder
from tests.e2e.rest_routes import ROUTES, RouteCase
from tests.e2e.rest_support import (  # noqa: F401 - fixtures
    ALICE,
    BOB,
    NORA,
    REX,
    RestApi,
    agents_file,
    api,
    assert_problem,
    build_app_client,
    open_access_client,
    shared_api,
)

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.id)
async def test_every_route_refuses_a_missing_or_unknown_key(shared_api: RestApi,
                                                            route: RouteCase) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-key"}, {"Authorization": "Basic eDp5"}):
        r = await shared_api.client.request(route.method, route.path, json=route.body,
                                     params=route.params, headers=headers)
        body = assert_problem(r, 401, field="Authorization")
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "alice" not in body["detail"]


@pytest.mark.parametrize("route", [r for r in ROUTES if r.template not in
                                   ("/v1/memories", "/v1/memories/batch")],
                         ids=lambda r: r.id)
async def test_every_route_refuses_an_operation_the_role_denies(shared_api: RestApi,
                                                                route: RouteCase) -> None:
    r = await shared_api.client.request(route.method, route.path, json=route.body,
                                 params=route.params, headers=NORA)
    if route.admin:  # refused before the role is looked at: nora is no admin
        assert_problem(r, 403, rule="admin_only")
        return
    body = assert_problem(r, 403, rule="role")
    assert "remember_only" in body["detail"]


@pytest.mark.parametrize("route", [r for r in ROUTES if r.write], ids=lambda r: r.id)
async def test_a_reader_may_not_write(shared_api: RestApi, route: RouteCase) -> None:
    r = await shared_api.client.request(route.method, route.path, json=route.body,
                                 params=route.params, headers=REX)
    assert_problem(r, 403, rule="role")


async def test_writing_into_another_agents_namespace_is_forbidden(api: RestApi) -> None:
    r = await api.client.post("/v1/memories", headers=ALICE,
                              json={"text": "bob's secret plan", "namespace": "agent:bob"})
    assert_problem(r, 403, field="namespace", rule="namespace_write")
    r = await api.client.post("/v1/memories/batch", headers=NORA, json={"memories": [
        {"text": "fine in my own namespace"}, {"text": "not here", "namespace": "team:atlas"}]})
    assert_problem(r, 403, field="namespace", rule="namespace_write")
    assert (await api.client.get("/v1/stats", headers=BOB)).json()["total_memories"] == 0


async def test_reading_a_namespace_you_cannot_read_is_forbidden(api: RestApi) -> None:
    r = await api.client.post("/v1/memories/recall", headers=BOB,
                              json={"query": "plans", "namespaces": ["agent:alice"]})
    assert_problem(r, 403, field="namespaces", rule="namespace_read")
    r = await api.client.get("/v1/graph", headers=BOB, params={"namespaces": "agent:alice"})
    assert_problem(r, 403, rule="namespace_read")
    r = await api.client.get("/v1/namespaces/agent:alice", headers=BOB)
    assert_problem(r, 403, rule="namespace_read")


async def test_the_key_decides_the_agent_and_headers_are_recorded(api: RestApi) -> None:
    headers = {**BOB, "X-On-Behalf-Of": "human:dana", "X-Workflow-Id": "wf-42",
               "X-Session-Id": "s-9"}
    mid = await api.remember("Bob reviewed the payments runbook", headers=headers)
    view = (await api.client.get(f"/v1/memories/{mid}", headers=BOB)).json()
    assert view["namespace"] == "agent:bob"
    assert view["attribution"] == {**view["attribution"], "created_by": "bob",
                                   "on_behalf_of": "human:dana", "workflow_id": "wf-42",
                                   "session_id": "s-9"}
    events = (await api.client.get("/v1/audit/events", headers=BOB)).json()["items"]
    mine = [e for e in events if mid in e["target_ids"]]
    assert mine and mine[0]["on_behalf_of"] == "human:dana"
    assert mine[0]["workflow_id"] == "wf-42"


async def test_malformed_attribution_headers_are_422(api: RestApi) -> None:
    r = await api.client.get("/v1/stats", headers={**ALICE, "X-On-Behalf-Of": "dana smith"})
    assert_problem(r, 422, field="X-On-Behalf-Of")


async def test_without_agents_file_requests_without_key_act_as_the_local_agent(
        tmp_path: Path, embedder: Embedder) -> None:
    async with open_access_client(tmp_path / "open", embedder) as client:
        r = await client.post("/v1/memories", json={"text": "laptop mode just works"})
        assert r.status_code == 201, r.text
        assert r.json()["namespace"] == "agent:local"
        got = await client.get(f"/v1/memories/{r.json()['id']}")
        assert got.json()["attribution"]["created_by"] == "local"
        bad = await client.get("/v1/stats", headers={"Authorization": "Bearer wrong"})
        assert_problem(bad, 401)


async def test_without_agents_file_x_agent_id_names_the_agent(
        tmp_path: Path, embedder: Embedder) -> None:
    """Open access (as MCP's trusted agent header): X-Agent-Id says who writes and reads."""
    async with open_access_client(tmp_path / "open", embedder) as client:
        alice = {"X-Agent-Id": "alice"}
        r = await client.post("/v1/memories", headers=alice,
                              json={"text": "the staging cluster is in Frankfurt"})
        assert r.status_code == 201, r.text
        assert r.json()["namespace"] == "agent:alice"
        got = await client.get(f"/v1/memories/{r.json()['id']}", headers=alice)
        assert got.json()["attribution"]["created_by"] == "alice"
        # another agent does not read alice's private namespace
        other = await client.get(f"/v1/memories/{r.json()['id']}",
                                 headers={"X-Agent-Id": "bob"})
        assert other.status_code in (403, 404), other.text
        assert_problem(await client.get("/v1/stats", headers={"X-Agent-Id": "system:gc"}),
                       422, field="X-Agent-Id")


async def test_with_agents_file_x_agent_id_must_match_the_key(api: RestApi) -> None:
    same = await api.client.get("/v1/stats", headers={**ALICE, "X-Agent-Id": "alice"})
    assert same.status_code == 200, same.text
    body = assert_problem(await api.client.get(
        "/v1/stats", headers={**ALICE, "X-Agent-Id": "bob"}), 400, field="X-Agent-Id",
        rule="agent_header")
    assert "'bob'" in body["detail"] and "'alice'" in body["detail"]
    assert "key" in body["detail"]
    # no key: the header alone is no identity where an agents file is in force
    assert_problem(await api.client.get("/v1/stats", headers={"X-Agent-Id": "alice"}), 401)
