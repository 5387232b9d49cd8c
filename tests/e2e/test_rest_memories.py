# ruff: noqa: F811  (pytest fixtures are imported from rest_support and used as arguments)
"""REST /v1/memories: happy paths, 404 (also for other agents' memories), 422 naming the
field, idempotent retries."""

from __future__ import annotations

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


async def test_remember_get_recall_roundtrip(api: RestApi) -> None:
    r = await api.client.post("/v1/memories", headers={**ALICE, "X-Workflow-Id": "wf-1"}, json={
        "text": "The payments service is owned by team Atlas", "namespace": "team:atlas",
        "kind": "fact", "importance": 0.8, "tags": ["ownership"]})
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["location"] == f"/v1/memories/{created['id']}"
    assert created["namespace"] == "team:atlas" and not created["deduplicated"]
    got = (await api.client.get(f"/v1/memories/{created['id']}", headers=BOB)).json()
    assert got["text"] == "The payments service is owned by team Atlas"
    assert got["attribution"]["created_by"] == "alice"
    assert got["attribution"]["workflow_id"] == "wf-1"
    assert got["tags"] == ["ownership"] and got["importance"] == 0.8
    r = await api.client.post("/v1/memories/recall", headers=BOB,
                              json={"query": "who owns payments?", "k": 3})
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert hits[0]["memory"]["id"] == created["id"]
    assert hits[0]["why"] and hits[0]["sources"]


async def test_remember_batch_keeps_input_order_and_deduplicates(api: RestApi) -> None:
    texts = ["Deploys happen on Tuesdays", "Atlas prefers Postgres for new services",
             "Deploys happen on Tuesdays"]
    r = await api.client.post("/v1/memories/batch", headers=ALICE,
                              json={"memories": [{"text": t} for t in texts]})
    assert r.status_code == 201, r.text
    results = r.json()["results"]
    assert len(results) == 3
    assert results[0]["id"] == results[2]["id"] != results[1]["id"]
    for res, text in zip(results, texts, strict=True):
        got = await api.client.get(f"/v1/memories/{res['id']}", headers=ALICE)
        assert got.json()["text"] == text


async def test_correct_keeps_history_and_refuses_a_stale_version(api: RestApi) -> None:
    old = await api.remember("The API gateway runs on port 8080")
    r = await api.client.post(f"/v1/memories/{old}/correct", headers=ALICE,
                              json={"text": "The API gateway runs on port 9090",
                                    "reason": "moved in March"})
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["supersedes"] == old and new["text"].endswith("9090")
    hist = (await api.client.get(f"/v1/memories/{new['id']}/history", headers=ALICE)).json()
    assert [v["id"] for v in hist["items"]] == [old, new["id"]]
    assert hist["items"][0]["status"] == "superseded" and hist["next_cursor"] is None
    again = await api.client.post(f"/v1/memories/{old}/correct", headers=ALICE,
                                  json={"text": "The API gateway runs on port 7070"})
    assert_problem(again, 409, rule="not_active")


async def test_forget_then_restore(api: RestApi) -> None:
    mid = await api.remember("The staging database is reset every night")
    r = await api.client.delete(f"/v1/memories/{mid}", headers=ALICE)
    assert r.status_code == 200 and r.json()["status"] == "archived"
    recall = await api.client.post("/v1/memories/recall", headers=ALICE,
                                   json={"query": "staging database reset"})
    assert mid not in [h["memory"]["id"] for h in recall.json()["hits"]]
    r = await api.client.post(f"/v1/memories/{mid}/restore", headers=ALICE)
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert_problem(await api.client.post(f"/v1/memories/{mid}/restore", headers=ALICE), 409,
                   rule="not_archived")
    recall = await api.client.post("/v1/memories/recall", headers=ALICE,
                                   json={"query": "staging database reset"})
    assert mid in [h["memory"]["id"] for h in recall.json()["hits"]]


async def test_share_copies_into_the_team(api: RestApi) -> None:
    mid = await api.remember("Rotate the signing keys every 90 days")
    r = await api.client.post(f"/v1/memories/{mid}/share", headers=ALICE,
                              json={"namespace": "team:atlas"})
    assert r.status_code == 201, r.text
    shared = r.json()
    assert shared["namespace"] == "team:atlas" and shared["id"] != mid
    got = await api.client.get(f"/v1/memories/{shared['id']}", headers=BOB)
    assert got.status_code == 200 and f"shared-from:{mid}" in got.json()["tags"]
    assert_problem(await api.client.get(f"/v1/memories/{mid}", headers=BOB), 404)


@pytest.mark.parametrize(("method", "suffix", "body"), [
    ("GET", "", None), ("DELETE", "", None), ("GET", "/history", None),
    ("POST", "/correct", {"text": "a corrected text"}), ("POST", "/restore", None),
    ("POST", "/share", {"namespace": "team:atlas"})])
async def test_another_agents_memory_is_404_exactly_like_a_missing_one(
        shared_api: RestApi, method: str, suffix: str, body: dict[str, str] | None) -> None:
    bobs = await shared_api.remember("Bob's private note about the reorg", headers=BOB)
    hidden = await shared_api.client.request(method, f"/v1/memories/{bobs}{suffix}", json=body,
                                      headers=ALICE)
    missing = await shared_api.client.request(method, f"/v1/memories/{MID}{suffix}", json=body,
                                       headers=ALICE)
    h = assert_problem(hidden, 404, field="id", rule="not_found")
    m = assert_problem(missing, 404, field="id", rule="not_found")
    assert h["detail"].replace(bobs, "ID") == m["detail"].replace(MID, "ID")
    assert (await shared_api.client.get(f"/v1/memories/{bobs}", headers=BOB)).status_code == 200


@pytest.mark.parametrize(("method", "path", "body", "field", "rule"), [
    ("POST", "/v1/memories", {}, "text", "missing"),
    ("POST", "/v1/memories", {"text": "x", "importance": 3}, "importance",
     "less_than_equal"),
    ("POST", "/v1/memories", {"text": "x", "kind": "rumour"}, "kind", "literal_error"),
    ("POST", "/v1/memories", {"text": "x", "namespace": "bobs stuff"}, "namespace",
     "string_pattern_mismatch"),
    ("POST", "/v1/memories", {"text": "x", "colour": "red"}, "colour", "extra_forbidden"),
    ("POST", "/v1/memories", {"text": "nul\u0000byte"}, "text", "control_characters"),
    ("POST", "/v1/memories/batch", {"memories": []}, "memories", "too_short"),
    ("POST", "/v1/memories/batch", {"memories": [{"text": "ok"}, {"text": 5}]},
     "memories[1].text", "string_type"),
    ("POST", "/v1/memories/recall", {"query": "q", "k": 0}, "k", "greater_than_equal"),
    ("POST", "/v1/memories/recall", {"query": "q", "k": 10_000}, "k", "range"),
    ("POST", "/v1/memories/recall", {"query": "q", "modes": ["psychic"]}, "modes[0]",
     "literal_error"),
    # malformed dates in a filter or an event time (issue 18): 422 naming the field
    ("POST", "/v1/memories/recall", {"query": "q", "created_after": "last tuesday"},
     "created_after", "datetime_from_date_parsing"),
    ("POST", "/v1/memories/recall", {"query": "q", "as_of": "2023-13-45T00:00:00"},
     "as_of", "datetime_from_date_parsing"),
    ("POST", "/v1/memories", {"text": "x", "valid_from": "9 June"}, "valid_from",
     "datetime_from_date_parsing"),
    ("GET", "/v1/memories/not-a-uuid", None, "id", "id_format"),
    ("POST", f"/v1/memories/{MID}/correct", {"text": ""}, "text", "string_too_short"),
    ("POST", f"/v1/memories/{MID}/share", {}, "namespace", "missing"),
])
async def test_invalid_input_is_422_naming_field_and_rule(
        shared_api: RestApi, method: str, path: str, body: object, field: str, rule: str) -> None:
    r = await shared_api.client.request(method, path, json=body, headers=ALICE)
    problem = assert_problem(r, 422, field=field, rule=rule)
    assert field in problem["detail"]


async def test_malformed_json_is_422(shared_api: RestApi) -> None:
    r = await shared_api.client.post("/v1/memories", headers={**ALICE, "content-type":
                                                       "application/json"}, content=b"{nope")
    assert_problem(r, 422, rule="json_invalid")


async def test_batch_over_the_service_limit_is_422(shared_api: RestApi) -> None:
    limit = shared_api.service.ctx.limits.max_batch
    r = await shared_api.client.post("/v1/memories/batch", headers=ALICE,
                              json={"memories": [{"text": f"m {i}"} for i in range(limit + 1)]})
    assert_problem(r, 422, field="memories", rule="max_items")


async def test_remember_retry_with_the_same_key_returns_the_original(api: RestApi) -> None:
    key = {**ALICE, "Idempotency-Key": "remember-1"}
    body = {"text": "The on-call rotation changes on Mondays"}
    first = await api.client.post("/v1/memories", headers=key, json=body)
    retry = await api.client.post("/v1/memories", headers=key, json=body)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json() and not retry.json()["deduplicated"]
    plain = await api.client.post("/v1/memories", headers=ALICE, json=body)
    assert plain.json()["deduplicated"]  # without the key the same write is a duplicate
    batch_key = {**ALICE, "Idempotency-Key": "batch-1"}
    batch = {"memories": [{"text": "Incidents are reviewed on Fridays"}]}
    b1 = await api.client.post("/v1/memories/batch", headers=batch_key, json=batch)
    b2 = await api.client.post("/v1/memories/batch", headers=batch_key, json=batch)
    assert b1.json() == b2.json() and not b2.json()["results"][0]["deduplicated"]


async def test_lifecycle_retries_with_a_key_return_the_original(api: RestApi) -> None:
    mid = await api.remember("Backups are kept for 30 days")
    correct = {**ALICE, "Idempotency-Key": "correct-1"}
    c1 = await api.client.post(f"/v1/memories/{mid}/correct", headers=correct,
                               json={"text": "Backups are kept for 45 days"})
    c2 = await api.client.post(f"/v1/memories/{mid}/correct", headers=correct,
                               json={"text": "Backups are kept for 45 days"})
    assert c1.status_code == c2.status_code == 201 and c1.json() == c2.json()
    new = c1.json()["id"]
    forget = {**ALICE, "Idempotency-Key": "forget-1"}
    f1 = await api.client.delete(f"/v1/memories/{new}", headers=forget)
    f2 = await api.client.delete(f"/v1/memories/{new}", headers=forget)
    assert f1.status_code == f2.status_code == 200 and f1.json() == f2.json()
    restore = {**ALICE, "Idempotency-Key": "restore-1"}
    r1 = await api.client.post(f"/v1/memories/{new}/restore", headers=restore)
    r2 = await api.client.post(f"/v1/memories/{new}/restore", headers=restore)
    assert r1.status_code == r2.status_code == 200 and r1.json() == r2.json()
    share = {**ALICE, "Idempotency-Key": "share-1"}
    s1 = await api.client.post(f"/v1/memories/{new}/share", headers=share,
                               json={"namespace": "team:atlas"})
    s2 = await api.client.post(f"/v1/memories/{new}/share", headers=share,
                               json={"namespace": "team:atlas"})
    assert s1.status_code == s2.status_code == 201
    assert s1.json() == s2.json() and not s2.json()["deduplicated"]


async def test_a_key_reused_for_a_different_request_is_refused(api: RestApi) -> None:
    mid = await api.remember("The cache TTL is five minutes")
    key = {**ALICE, "Idempotency-Key": "reused"}
    ok = await api.client.post(f"/v1/memories/{mid}/share", headers=key,
                               json={"namespace": "team:atlas"})
    assert ok.status_code == 201
    other = await api.client.post(f"/v1/memories/{mid}/share", headers=key,
                                  json={"namespace": "global"})
    assert_problem(other, 422, field="idempotency_key", rule="idempotency_key_reuse")
    first = await api.client.post("/v1/memories", json={"text": "Keys name one request"},
                                  headers={**ALICE, "Idempotency-Key": "one-request"})
    assert first.status_code == 201
    changed = await api.client.post("/v1/memories", json={"text": "A different memory"},
                                    headers={**ALICE, "Idempotency-Key": "one-request"})
    assert_problem(changed, 422, rule="idempotency_key_reuse")
    bad = await api.client.post("/v1/memories", json={"text": "x"},
                                headers={**ALICE, "Idempotency-Key": "has space"})
    assert_problem(bad, 422, field="Idempotency-Key")


async def test_keys_are_per_agent(api: RestApi) -> None:
    body = {"text": "Each agent owns its own idempotency keys"}
    a = await api.client.post("/v1/memories", json=body,
                              headers={**ALICE, "Idempotency-Key": "k"})
    b = await api.client.post("/v1/memories", json=body, headers={**BOB, "Idempotency-Key": "k"})
    assert a.json()["namespace"] == "agent:alice" and b.json()["namespace"] == "agent:bob"
    assert a.json()["id"] != b.json()["id"]


async def test_list_memories_pages_with_a_cursor(api: RestApi) -> None:
    ids = {await api.remember(f"Listed fact number {i} about service {i}") for i in range(5)}
    await api.remember("Bob's memory is not listed for alice", headers=BOB)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.client.get("/v1/memories", headers=ALICE, params=params)).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert set(seen) == ids and seen == sorted(seen)
    assert_problem(await api.client.get("/v1/memories", headers=ALICE,
                                        params={"limit": 0}), 422, field="limit")
    assert_problem(await api.client.get("/v1/memories", headers=ALICE,
                                        params={"namespaces": "agent:bob"}), 403)
