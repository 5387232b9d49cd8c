# ruff: noqa: F811  (pytest fixtures are imported from rest_support and used as arguments)
"""REST /v1/entities, /v1/relations, /v1/relate, /v1/graph: happy paths, 404, 422,
idempotent retries."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.rest_support import (  # noqa: F401 - fixtures
    ALICE,
    BOB,
    RestApi,
    agents_file,
    api,
    assert_problem,
    shared_api,
)

pytestmark = pytest.mark.asyncio
TEAM = {"namespace": "team:atlas"}


async def test_entities_observations_relations_roundtrip(api: RestApi) -> None:
    r = await api.client.post("/v1/entities", headers=ALICE, json={**TEAM, "entities": [
        {"name": "payments", "entityType": "service", "observations": ["written in Go"]},
        {"name": "alice", "entityType": "person"}]})
    assert r.status_code == 201, r.text
    assert [e["name"] for e in r.json()["entities"]] == ["payments", "alice"]
    again = await api.client.post("/v1/entities", headers=ALICE, json={**TEAM, "entities": [
        {"name": "payments", "entityType": "service"}]})
    assert again.json()["entities"] == []  # existing names are skipped
    r = await api.client.post("/v1/entities/observations", headers=BOB, json={**TEAM,
                              "observations": [{"entityName": "payments",
                                                "contents": ["p99 latency is 120 ms"]}]})
    assert r.status_code == 201, r.text
    assert r.json()["results"] == [{"entityName": "payments",
                                    "addedObservations": ["p99 latency is 120 ms"]}]
    r = await api.client.post("/v1/relations", headers=ALICE, json={**TEAM, "relations": [
        {"from": "alice", "to": "payments", "relationType": "maintains"}]})
    assert r.status_code == 201, r.text
    rel = r.json()["relations"][0]
    assert (rel["from"], rel["to"], rel["relationType"]) == ("alice", "payments", "maintains")

    got = (await api.client.get("/v1/entities/payments", headers=BOB)).json()
    assert got["namespace"] == "team:atlas"
    assert got["observations"] == ["written in Go", "p99 latency is 120 ms"]
    assert [o["created_by"] for o in got["observation_details"]] == ["alice", "bob"]
    near = (await api.client.get("/v1/entities/payments/neighbours", headers=BOB)).json()
    assert {e["name"] for e in near["entities"]} == {"payments", "alice"}
    assert len(near["relations"]) == 1
    found = (await api.client.get("/v1/graph/search", headers=BOB,
                                  params={"query": "latency"})).json()
    assert [e["name"] for e in found["entities"]] == ["payments"]
    opened = (await api.client.post("/v1/graph/open", headers=BOB,
                                    json={"names": ["payments", "alice"]})).json()
    assert len(opened["entities"]) == 2 and len(opened["relations"]) == 1
    recall = (await api.client.post("/v1/memories/recall", headers=BOB,
                                    json={"query": "payments latency"})).json()
    assert any("120 ms" in h["memory"]["text"] for h in recall["hits"])


async def test_graph_reads_page_with_a_cursor(api: RestApi) -> None:
    names = [f"svc-{i:02d}" for i in range(7)]
    r = await api.client.post("/v1/entities", headers=ALICE, json={
        "entities": [{"name": n, "entityType": "service"} for n in names]})
    assert r.status_code == 201
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await api.client.get("/v1/graph", headers=ALICE, params=params)).json()
        seen += [e["name"] for e in page["entities"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == names and pages == 3
    bob_view = (await api.client.get("/v1/graph", headers=BOB)).json()
    assert bob_view["entities"] == []


async def test_relate_creates_missing_endpoints_and_exclusive_moves_on(api: RestApi) -> None:
    r = await api.client.post("/v1/relate", headers=ALICE, json={
        "from": "dana", "relationType": "works_at", "to": "Acme", "fromType": "person",
        "toType": "company", "exclusive": True})
    assert r.status_code == 201, r.text
    assert r.json()["created"] and sorted(r.json()["created_entities"]) == ["Acme", "dana"]
    r = await api.client.post("/v1/relate", headers=ALICE, json={
        "from": "dana", "relationType": "works_at", "to": "Initech", "exclusive": True})
    near = (await api.client.get("/v1/entities/dana/neighbours", headers=ALICE)).json()
    assert [x["to"] for x in near["relations"]] == ["Initech"]


async def test_deletes_archive_and_remove(api: RestApi) -> None:
    await api.entity("payments", observations=["written in Go", "owned by Atlas"])
    await api.entity("ledger")
    r = await api.client.post("/v1/relations", headers=ALICE, json={"relations": [
        {"from": "payments", "to": "ledger", "relationType": "writes_to"}]})
    assert len(r.json()["relations"]) == 1
    r = await api.client.post("/v1/entities/observations/delete", headers=ALICE, json={
        "deletions": [{"entityName": "payments", "observations": ["written in Go"]}]})
    assert r.status_code == 200 and r.json() == {"count": 1}
    r = await api.client.post("/v1/relations/delete", headers=ALICE, json={"relations": [
        {"from": "payments", "to": "ledger", "relationType": "writes_to"}]})
    assert r.json() == {"count": 1}
    r = await api.client.delete("/v1/entities/ledger", headers=ALICE)
    assert r.status_code == 200 and r.json() == {"deleted": ["ledger"]}
    r = await api.client.post("/v1/entities/delete", headers=ALICE,
                              json={"entityNames": ["payments"]})
    assert r.json() == {"deleted": ["payments"]}
    assert_problem(await api.client.get("/v1/entities/payments", headers=ALICE), 404)
    recall = (await api.client.post("/v1/memories/recall", headers=ALICE,
                                    json={"query": "payments owned by Atlas"})).json()
    assert not any("owned by Atlas" in h["memory"]["text"] for h in recall["hits"])


async def test_missing_and_hidden_entities_are_404(api: RestApi) -> None:
    await api.entity("secret-project", headers=BOB)
    for path in ("/v1/entities/secret-project", "/v1/entities/secret-project/neighbours",
                 "/v1/entities/nothing-here", "/v1/entities/nothing-here/neighbours"):
        assert_problem(await api.client.get(path, headers=ALICE), 404, field="name",
                       rule="not_found")
    r = await api.client.post("/v1/entities/observations", headers=ALICE, json={
        "observations": [{"entityName": "nothing-here", "contents": ["x"]}]})
    assert_problem(r, 404, field="entityName")
    assert (await api.client.get("/v1/entities/secret-project", headers=BOB)).status_code == 200


@pytest.mark.parametrize(("method", "path", "body", "params", "field", "rule"), [
    ("POST", "/v1/entities", {"entities": []}, None, "entities", "too_short"),
    ("POST", "/v1/entities", {"entities": [{"name": "x"}]}, None, "entities[0].entityType",
     "missing"),
    ("POST", "/v1/entities", {"entities": [{"name": "a\nb", "entityType": "t"}]}, None,
     "entities[0].name", "single_line"),
    ("POST", "/v1/entities/observations", {"observations": [{"entityName": "x"}]}, None,
     "observations[0].contents", "missing"),
    ("POST", "/v1/entities/observations/delete", {"deletions": "x"}, None, "deletions",
     "list_type"),
    ("POST", "/v1/entities/delete", {"entityNames": []}, None, "entityNames", "too_short"),
    ("POST", "/v1/relations", {"relations": [{"from": "a", "to": "b"}]}, None,
     "relations[0].relationType", "missing"),
    ("POST", "/v1/relations/delete", {}, None, "relations", "missing"),
    ("POST", "/v1/relate", {"from": "a", "to": "b"}, None, "relationType", "missing"),
    ("POST", "/v1/graph/open", {"names": []}, None, "names", "too_short"),
    ("GET", "/v1/graph", None, {"limit": 0}, "limit", "greater_than_equal"),
    ("GET", "/v1/graph", None, {"namespaces": "nope"}, "namespaces", "namespace_format"),
    ("GET", "/v1/graph/search", None, None, "query", "missing"),
    ("GET", "/v1/entities/x", None, {"namespace": "bad ns"}, "namespace",
     "string_pattern_mismatch"),
    ("DELETE", "/v1/entities/x", None, {"namespace": "bad ns"}, "namespace",
     "string_pattern_mismatch"),
    ("GET", "/v1/entities/x/neighbours", None, {"namespaces": "bad"}, "namespaces",
     "namespace_format"),
])
async def test_invalid_graph_input_is_422(shared_api: RestApi, method: str, path: str,
                                          body: object, params: dict[str, Any] | None,
                                          field: str, rule: str) -> None:
    r = await shared_api.client.request(method, path, json=body, params=params,
                                        headers=ALICE)
    assert_problem(r, 422, field=field, rule=rule)


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/entities", {"entities": [{"name": "cache", "entityType": "service",
                                    "observations": ["uses Redis"]}]}),
    ("/v1/entities/observations", {"observations": [{"entityName": "base",
                                                     "contents": ["runs nightly"]}]}),
    ("/v1/relations", {"relations": [{"from": "base", "to": "other",
                                      "relationType": "calls"}]}),
    ("/v1/relate", {"from": "base", "relationType": "feeds", "to": "sink"}),
    ("/v1/entities/observations/delete", {"deletions": [{"entityName": "base",
                                                         "observations": ["seeded"]}]}),
    ("/v1/relations/delete", {"relations": [{"from": "base", "to": "other",
                                             "relationType": "seeded_by"}]}),
    ("/v1/entities/delete", {"entityNames": ["other"]}),
])
async def test_graph_writes_retried_with_a_key_return_the_original(
        api: RestApi, path: str, body: dict[str, object]) -> None:
    await api.entity("base", observations=["seeded"])
    await api.entity("other")
    seed = await api.client.post("/v1/relations", headers=ALICE, json={"relations": [
        {"from": "base", "to": "other", "relationType": "seeded_by"}]})
    assert len(seed.json()["relations"]) == 1
    headers = {**ALICE, "Idempotency-Key": f"graph-{path}"}
    first = await api.client.post(path, headers=headers, json=body)
    retry = await api.client.post(path, headers=headers, json=body)
    assert first.status_code == retry.status_code and first.status_code in (200, 201)
    assert retry.json() == first.json()
    plain = await api.client.post(path, headers=ALICE, json=body)
    assert plain.json() != first.json()  # without the key the write is not repeated as-is


async def test_delete_one_entity_retry_with_a_key(api: RestApi) -> None:
    await api.entity("scratch")
    headers = {**ALICE, "Idempotency-Key": "del-scratch"}
    first = await api.client.delete("/v1/entities/scratch", headers=headers)
    retry = await api.client.delete("/v1/entities/scratch", headers=headers)
    assert first.json() == retry.json() == {"deleted": ["scratch"]}
    assert (await api.client.delete("/v1/entities/scratch", headers=ALICE)).json() == {
        "deleted": []}


async def test_update_and_rename_an_entity(api: RestApi) -> None:
    await api.entity("payments", observations=["links to [[ledger]]"])
    await api.entity("ledger")
    r = await api.client.patch("/v1/entities/payments", headers=ALICE,
                               json={"aliases": ["pay"], "tags": ["tier-1"]})
    assert r.status_code == 200, r.text
    assert (r.json()["aliases"], r.json()["tags"], r.json()["entityType"]) == (
        ["pay"], ["tier-1"], "service")
    r = await api.client.post("/v1/entities/ledger/rename", headers=ALICE,
                              json={"newName": "general-ledger"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "general-ledger" and "ledger" in r.json()["aliases"]
    payments = (await api.client.get("/v1/entities/payments", headers=ALICE)).json()
    assert payments["observations"] == ["links to [[general-ledger]]"]
    taken = await api.client.post("/v1/entities/payments/rename", headers=ALICE,
                                  json={"newName": "general-ledger"})
    assert_problem(taken, 409, field="newName")
    for r in (await api.client.patch("/v1/entities/nope", headers=ALICE, json={"tags": []}),
              await api.client.post("/v1/entities/nope/rename", headers=ALICE,
                                    json={"newName": "x"})):
        assert_problem(r, 404)
    hidden = await api.client.patch("/v1/entities/payments", headers=BOB, json={"tags": []})
    assert_problem(hidden, 404)  # bob's private namespace has no such entity
    assert_problem(await api.client.patch("/v1/entities/payments", headers=ALICE,
                                          json={"entityType": ""}), 422, field="entityType")


async def test_rename_retried_with_a_key_returns_the_original(api: RestApi) -> None:
    await api.entity("billing")
    key = {**ALICE, "Idempotency-Key": "rename-billing"}
    first = await api.client.post("/v1/entities/billing/rename", headers=key,
                                  json={"newName": "invoicing"})
    retry = await api.client.post("/v1/entities/billing/rename", headers=key,
                                  json={"newName": "invoicing"})
    assert first.status_code == retry.status_code == 200 and first.json() == retry.json()
    plain = await api.client.post("/v1/entities/billing/rename", headers=ALICE,
                                  json={"newName": "invoicing"})
    assert_problem(plain, 404)  # billing no longer exists: the retry did not run again
    pkey = {**ALICE, "Idempotency-Key": "patch-invoicing"}
    p1 = await api.client.patch("/v1/entities/invoicing", headers=pkey, json={"tags": ["a"]})
    p2 = await api.client.patch("/v1/entities/invoicing", headers=pkey, json={"tags": ["a"]})
    assert p1.json() == p2.json()
