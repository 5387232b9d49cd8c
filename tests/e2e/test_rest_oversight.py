# ruff: noqa: F811  (pytest fixtures are imported from rest_support and used as arguments)
"""REST /v1/conflicts and /v1/audit/events filters."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.rest_routes import MID
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


async def _conflict(api: RestApi) -> dict[str, Any]:
    """Alice and Bob state different owners of the same team entity."""
    await api.entity("payments", observations=["owner: alice"], namespace="team:atlas")
    r = await api.client.post("/v1/entities/observations", headers=BOB, json={
        **TEAM, "observations": [{"entityName": "payments", "contents": ["owner: bob"]}]})
    assert r.status_code == 201, r.text
    listed = (await api.client.get("/v1/conflicts", headers=ALICE)).json()
    assert len(listed["items"]) == 1, listed
    conflict: dict[str, Any] = listed["items"][0]
    return conflict


async def test_conflicts_are_listed_and_resolved_once(api: RestApi) -> None:
    conflict = await _conflict(api)
    assert conflict["status"] == "open" and conflict["namespace"] == "team:atlas"
    assert {conflict["a"]["agent_id"], conflict["b"]["agent_id"]} == {"alice", "bob"}
    assert (await api.client.get("/v1/conflicts", headers=BOB)).json()["items"] == [conflict]
    r = await api.client.post(f"/v1/conflicts/{conflict['id']}/resolve",
                              headers={**ALICE, "X-On-Behalf-Of": "human:dana"},
                              json={"keep": "b", "note": "ownership moved"})
    assert r.status_code == 200, r.text
    resolved = r.json()
    assert resolved["status"] == "resolved"
    assert resolved["resolution"]["resolved_by"] == "alice"
    assert (await api.client.get("/v1/conflicts", headers=ALICE)).json()["items"] == []
    done = (await api.client.get("/v1/conflicts", headers=ALICE,
                                 params={"status": "resolved"})).json()["items"]
    assert [c["id"] for c in done] == [conflict["id"]]
    again = await api.client.post(f"/v1/conflicts/{conflict['id']}/resolve", headers=ALICE,
                                  json={"keep": "a"})
    assert_problem(again, 409, rule="already_resolved")


async def test_resolve_retried_with_a_key_returns_the_original(api: RestApi) -> None:
    conflict = await _conflict(api)
    key = {**ALICE, "Idempotency-Key": "resolve-1"}
    first = await api.client.post(f"/v1/conflicts/{conflict['id']}/resolve", headers=key,
                                  json={"keep": "both"})
    retry = await api.client.post(f"/v1/conflicts/{conflict['id']}/resolve", headers=key,
                                  json={"keep": "both"})
    assert first.status_code == retry.status_code == 200 and first.json() == retry.json()


async def test_conflict_errors(shared_api: RestApi) -> None:
    missing = await shared_api.client.post(f"/v1/conflicts/{MID}/resolve", headers=ALICE,
                                           json={"keep": "a"})
    assert_problem(missing, 404, field="conflict_id")
    assert_problem(await shared_api.client.post(f"/v1/conflicts/{MID}/resolve", headers=ALICE,
                                                json={"keep": "mine"}), 422, field="keep")
    assert_problem(await shared_api.client.get("/v1/conflicts", headers=ALICE,
                                               params={"status": "maybe"}), 422,
                   field="status")
    assert_problem(await shared_api.client.get("/v1/conflicts", headers=BOB,
                                               params={"namespace": "agent:alice"}), 403)


async def test_audit_filters_by_operation_and_workflow(api: RestApi) -> None:
    wf = {**ALICE, "X-Workflow-Id": "wf-audit"}
    mid = await api.remember("The audit trail records who wrote what", headers=wf)
    await api.client.delete(f"/v1/memories/{mid}", headers=ALICE)
    events = (await api.client.get("/v1/audit/events", headers=ALICE,
                                   params={"workflow": "wf-audit"})).json()["items"]
    assert [e["operation"] for e in events] == ["remember"]
    forgets = (await api.client.get("/v1/audit/events", headers=ALICE,
                                    params={"operation": "forget", "memory_id": mid})).json()
    assert [e["target_ids"] for e in forgets["items"]] == [[mid]]
    assert (await api.client.get("/v1/audit/events", headers=BOB,
                                 params={"memory_id": mid})).json()["items"] == []


async def test_a_rest_workflow_id_is_on_every_audit_entry_of_its_request(api: RestApi) -> None:
    """One request that makes several audit entries (entities + their observation
    memories): each entry written during it carries the request's workflow id."""
    before = (await api.client.get("/v1/audit/events", headers=ALICE,
                                   params={"limit": 1000})).json()["items"]
    last = max((e["seq"] for e in before), default=0)
    r = await api.client.post("/v1/entities", headers={**ALICE, "X-Workflow-Id": "wf-many"},
                              json={"entities": [
                                  {"name": "Ledger", "entityType": "service",
                                   "observations": ["Ledger settles payments nightly"]},
                                  {"name": "Vault Team", "entityType": "team",
                                   "observations": ["Vault Team owns the secrets store"]}]})
    assert r.status_code in (200, 201), r.text
    after = (await api.client.get("/v1/audit/events", headers=ALICE,
                                  params={"after_seq": last, "limit": 1000})).json()["items"]
    made = [e for e in after if e["agent_id"] == "alice"]
    assert len(made) >= 2, made  # the entities and their observation memories
    assert {e["workflow_id"] for e in made} == {"wf-many"}
    assert {e["operation"] for e in made} >= {"create_entities"}
