# ruff: noqa: F811  (pytest fixtures are imported from rest_support and used as arguments)
"""REST /v1/buffers, /v1/namespaces, /v1/stats, /v1/audit/events."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.rest_support import (  # noqa: F401 - fixtures
    ALICE,
    BOB,
    REX,
    RestApi,
    agents_file,
    api,
    assert_problem,
    shared_api,
)

pytestmark = pytest.mark.asyncio


async def test_buffer_append_read_recall_consolidate_clear(api: RestApi) -> None:
    for text, role in [("The user wants the migration finished by Friday", "user"),
                       ("ok", "assistant")]:
        r = await api.client.post("/v1/buffers/s-1/items", headers=ALICE,
                                  json={"text": text, "role": role, "importance": 0.8})
        assert r.status_code == 201, r.text
        assert r.json()["session_id"] == "s-1" and r.json()["agent_id"] == "alice"
    items = (await api.client.get("/v1/buffers/s-1", headers=ALICE)).json()["items"]
    assert [i["role"] for i in items] == ["user", "assistant"]
    assert (await api.client.get("/v1/buffers/s-1", headers=BOB)).json()["items"] == []
    recall = (await api.client.post("/v1/memories/recall", headers={**ALICE,
                                    "X-Session-Id": "s-1"},
                                    json={"query": "when is the migration due?"})).json()
    assert [i["text"] for i in recall["short_term"]] == [
        "The user wants the migration finished by Friday"]
    r = await api.client.post("/v1/buffers/s-1/consolidate", headers=ALICE,
                              json={"min_importance": 0.5})
    assert r.status_code == 200, r.text
    result = r.json()
    assert len(result["promoted"]) == 1 and result["skipped"] == 1  # "ok" is too short
    memory = (await api.client.get(f"/v1/memories/{result['promoted'][0]['id']}",
                                   headers=ALICE)).json()
    assert memory["kind"] == "episode" and memory["attribution"]["session_id"] == "s-1"
    r = await api.client.delete("/v1/buffers/s-1", headers=ALICE)
    assert r.status_code == 200 and r.json() == {"count": 2}
    assert (await api.client.get("/v1/buffers/s-1", headers=ALICE)).json()["items"] == []


async def test_consolidate_without_body_uses_defaults(api: RestApi) -> None:
    await api.client.post("/v1/buffers/s-2/items", headers=ALICE,
                          json={"text": "Remember that staging uses eu-west-1"})
    r = await api.client.post("/v1/buffers/s-2/consolidate", headers=ALICE)
    assert r.status_code == 200 and len(r.json()["promoted"]) == 1


async def test_buffer_writes_retried_with_a_key_happen_once(api: RestApi) -> None:
    key = {**ALICE, "Idempotency-Key": "append-1"}
    body = {"text": "The user prefers answers in German"}
    a = await api.client.post("/v1/buffers/s-3/items", headers=key, json=body)
    b = await api.client.post("/v1/buffers/s-3/items", headers=key, json=body)
    assert a.status_code == b.status_code == 201 and a.json() == b.json()
    assert len((await api.client.get("/v1/buffers/s-3", headers=ALICE)).json()["items"]) == 1
    ckey = {**ALICE, "Idempotency-Key": "consolidate-1"}
    c1 = await api.client.post("/v1/buffers/s-3/consolidate", headers=ckey, json={})
    c2 = await api.client.post("/v1/buffers/s-3/consolidate", headers=ckey, json={})
    assert c1.json() == c2.json() and len(c1.json()["promoted"]) == 1
    dkey = {**ALICE, "Idempotency-Key": "clear-1"}
    d1 = await api.client.delete("/v1/buffers/s-3", headers=dkey)
    d2 = await api.client.delete("/v1/buffers/s-3", headers=dkey)
    assert d1.json() == d2.json() == {"count": 1}


@pytest.mark.parametrize(("method", "path", "body", "params", "field", "rule"), [
    ("POST", "/v1/buffers/s/items", {}, None, "text", "missing"),
    ("POST", "/v1/buffers/s/items", {"text": "x", "role": "boss"}, None, "role",
     "literal_error"),
    ("POST", "/v1/buffers/s/items", {"text": "x", "importance": -1}, None, "importance",
     "greater_than_equal"),
    ("GET", "/v1/buffers/s", None, {"limit": 0}, "limit", "greater_than_equal"),
    ("GET", "/v1/buffers/s", None, {"limit": 100_000}, "limit", "range"),
    ("POST", "/v1/buffers/s/consolidate", {"min_importance": 2}, None, "min_importance",
     "less_than_equal"),
    ("GET", "/v1/audit/events", None, {"cursor": -1}, "cursor", "greater_than_equal"),
    ("GET", "/v1/audit/events", None, {"limit": 5000}, "limit", "less_than_equal"),
    ("GET", "/v1/namespaces/everything", None, None, "namespace", "string_pattern_mismatch"),
])
async def test_invalid_input_is_422(shared_api: RestApi, method: str, path: str,
                                    body: object, params: dict[str, Any] | None,
                                    field: str, rule: str) -> None:
    r = await shared_api.client.request(method, path, json=body, params=params,
                                        headers=ALICE)
    assert_problem(r, 422, field=field, rule=rule)


async def test_namespaces_and_stats_show_only_what_the_caller_sees(api: RestApi) -> None:
    await api.remember("Atlas ships on Thursdays", namespace="team:atlas")
    await api.remember("Bob keeps his own notes", headers=BOB)
    items = (await api.client.get("/v1/namespaces", headers=ALICE)).json()
    assert items["next_cursor"] is None
    by_name = {n["namespace"]: n for n in items["items"]}
    assert "agent:bob" not in by_name
    assert by_name["team:atlas"]["access"] == "read-write"
    assert "alice" in by_name["team:atlas"]["members"]
    assert by_name["team:atlas"]["memories"] == {"active": 1}
    rex = {n["namespace"]: n for n in
           (await api.client.get("/v1/namespaces", headers=REX)).json()["items"]}
    assert rex["team:atlas"]["memories"] == {"active": 1}
    summary = (await api.client.get("/v1/namespaces/team:atlas", headers=BOB)).json()
    assert summary["namespace"]["namespace"] == "team:atlas"
    stats = (await api.client.get("/v1/stats", headers=ALICE)).json()
    assert stats["agent_id"] == "alice" and stats["total_memories"] == 1


async def test_audit_events_page_with_a_cursor_and_stay_in_scope(api: RestApi) -> None:
    for i in range(5):
        await api.remember(f"Audit test fact number {i}: the {i}th service")
    await api.remember("Bob's own fact stays out of alice's audit", headers=BOB)
    seen: list[int] = []
    cursor = 0
    while True:
        page = (await api.client.get("/v1/audit/events", headers=ALICE,
                                     params={"cursor": cursor, "limit": 2})).json()
        seen += [e["seq"] for e in page["items"]]
        assert all(e["agent_id"] == "alice" for e in page["items"])
        if page["next_cursor"] is None:
            break
        cursor = int(page["next_cursor"])
    assert seen == sorted(seen) and len(seen) >= 5
    assert len(set(seen)) == len(seen)
