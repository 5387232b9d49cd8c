# ruff: noqa: F811  (pytest fixtures are imported from rest_support and used as arguments)
"""Memory metadata on every door (issue 18): written with remember and remember_batch,
returned with every view and hit, filtered by exact key/value in recall and listing before
ranking, refused alike on REST and MCP when it breaks a limit (nothing stored), and a
filter on an unreadable namespace refused exactly like the same read without it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client

from fleetmem.mcp_server.door import Identity
from fleetmem.mcp_server.server import build_server
from tests.e2e.mcp_scenarios import ok, refused
from tests.e2e.rest_support import (  # noqa: F401 - fixtures
    ALICE,
    RestApi,
    agents_file,
    api,
    assert_problem,
)

pytestmark = pytest.mark.asyncio


async def _listed(api: RestApi, where: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    params = {"metadata": json.dumps(where)} if where is not None else {}
    r = await api.client.get("/v1/memories", headers=ALICE, params=params)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_metadata_is_stored_returned_and_filtered_on_rest(api: RestApi) -> None:
    meta = {"source_id": "T-42", "attempt": 2, "reviewed": True, "score": 0.5, "none": None,
            "origin": {"system": "jira", "labels": ["ops", "db"]}}  # 3 levels: allowed
    mid = await api.remember("The payments database fails over to the east region", metadata=meta)
    r = await api.client.get(f"/v1/memories/{mid}", headers=ALICE)
    assert r.json()["metadata"] == meta
    # many closer matches without the pair: a filter applied after top-k would lose it
    r = await api.client.post("/v1/memories/batch", headers=ALICE, json={"memories": [
        {"text": f"The payments database fails over to region number {i}",
         "metadata": {"source_id": f"T-{i}"}} for i in range(30)]})
    assert r.status_code == 201, r.text
    r = await api.client.post("/v1/memories/recall", headers=ALICE, json={
        "query": "payments database fails over to region number 7", "k": 1,
        "metadata": {"source_id": "T-42", "reviewed": True}})
    assert r.status_code == 200, r.text
    [hit] = r.json()["hits"]
    assert hit["memory"]["id"] == mid and hit["memory"]["metadata"] == meta
    r = await api.client.post("/v1/memories/recall", headers=ALICE, json={
        "query": "payments database", "metadata": {"attempt": "2"}})
    assert r.json()["hits"] == []  # "2" is not 2
    assert [m["id"] for m in await _listed(api, {"attempt": 2})] == [mid]
    assert len(await _listed(api, {})) == 31
    assert len(await _listed(api)) == 31


@pytest.mark.parametrize(("metadata", "field", "rule", "needle"), [
    ({"blob": "x" * 9000}, "metadata", "max_bytes", "limits.max_metadata_bytes"),
    ({"a": {"b": {"c": {"d": 1}}}}, "metadata.a.b.c", "depth", "at most 3 levels"),
    ({"a": [[[1]]]}, "metadata.a[0][0]", "depth", "at most 3 levels"),
    ({f"k{i}": i for i in range(65)}, "metadata", "max_keys", "limits.max_metadata_keys"),
    ({"bad key": 1}, "metadata", "key", "letters, digits or underscores"),
    ({"1st": 1}, "metadata", "key", "not starting with a digit"),
])
async def test_bad_metadata_is_refused_alike_and_nothing_is_stored(
        api: RestApi, metadata: dict[str, Any], field: str, rule: str, needle: str) -> None:
    body = {"text": "Deploys happen on Tuesdays", "metadata": metadata}
    problem = assert_problem(await api.client.post("/v1/memories", headers=ALICE, json=body),
                             422, field=field, rule=rule)
    assert needle in problem["detail"]
    problem = assert_problem(await api.client.post(
        "/v1/memories/batch", headers=ALICE, json={"memories": [{"text": "fine"}, body]}),
        422, field=f"memories[1].{field}", rule=rule)
    async with Client(build_server(api.service, Identity("alice"))) as mcp:
        message = await refused(mcp, "remember", body, needle)
        assert "invalid_input" in message
    assert await _listed(api) == []


async def test_wrong_types_are_refused(api: RestApi) -> None:
    r = await api.client.post("/v1/memories", headers=ALICE,
                              json={"text": "Deploys happen on Tuesdays", "metadata": ["x"]})
    assert_problem(r, 422)
    for where, needle in [({"score": 0.5}, "floats"), ({"x": None}, "null"),
                          ({"x": ["a"]}, "lists"), ({"bad-key": "a"}, "letters")]:
        r = await api.client.post("/v1/memories/recall", headers=ALICE,
                                  json={"query": "deploys", "metadata": where})
        assert needle in assert_problem(r, 422)["detail"]
    r = await api.client.get("/v1/memories", headers=ALICE, params={"metadata": "{not json"})
    assert "JSON object" in assert_problem(r, 422, field="metadata")["detail"]
    r = await api.client.get("/v1/memories", headers=ALICE, params={"metadata": "[1]"})
    assert_problem(r, 422, field="metadata", rule="type")
    assert await _listed(api) == []


async def test_filter_on_unreadable_namespace_reads_like_any_refusal(api: RestApi) -> None:
    await api.remember("Atlas deploys on Tuesdays", metadata={"k": "v"})
    plain = await api.client.post("/v1/memories/recall", headers=ALICE, json={
        "query": "deploys", "namespaces": ["team:other"]})
    filtered = await api.client.post("/v1/memories/recall", headers=ALICE, json={
        "query": "deploys", "namespaces": ["team:other"], "metadata": {"k": "v"}})
    assert assert_problem(filtered, 403)["detail"] == assert_problem(plain, 403)["detail"]
    listed = await api.client.get("/v1/memories", headers=ALICE, params={
        "namespaces": "team:other", "metadata": json.dumps({"k": "v"})})
    plain_list = await api.client.get("/v1/memories", headers=ALICE,
                                      params={"namespaces": "team:other"})
    assert assert_problem(listed, 403)["detail"] == assert_problem(plain_list, 403)["detail"]


async def test_mcp_tools_write_return_and_filter_metadata(api: RestApi) -> None:
    async with Client(build_server(api.service, Identity("alice"))) as mcp:
        a = await ok(mcp, "remember", {"text": "The search cluster runs on three nodes",
                                       "metadata": {"source_id": "S-1"}})
        await ok(mcp, "remember_batch", {"memories": [
            {"text": "The search cluster was resized last week",
             "metadata": {"source_id": "S-2"}}]})
        hits = (await ok(mcp, "recall", {"query": "search cluster",
                                         "metadata": {"source_id": "S-1"}}))["hits"]
        assert [h["memory"]["id"] for h in hits] == [a["id"]]
        assert hits[0]["memory"]["metadata"] == {"source_id": "S-1"}
        page = await ok(mcp, "list_memories", {"metadata": {"source_id": "S-2"}})
        assert [m["metadata"] for m in page["items"]] == [{"source_id": "S-2"}]
        await refused(mcp, "recall", {"query": "x", "metadata": {"n": 1.5}}, "floats")
