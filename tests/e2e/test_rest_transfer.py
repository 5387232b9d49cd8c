# ruff: noqa: F811  (pytest fixtures are imported from rest_support and used as arguments)
"""GET /v1/export and POST /v1/import (issue 19, deliverable 4): NDJSON streamed both ways
through the REST app over a real service, including bad input (4xx naming what is wrong)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.rest_support import (  # noqa: F401 - fixtures
    ALICE,
    BOB,
    NORA,
    REX,
    RestApi,
    agents_file,
    api,
    assert_problem,
)

pytestmark = pytest.mark.asyncio
NDJSON = {"Content-Type": "application/x-ndjson"}


async def test_export_streams_ndjson_and_import_reads_it_back(api: RestApi) -> None:
    ids = [await api.remember(f"Runbook step {i}: restart worker {i}", tags=["ops"])
           for i in range(3)]
    await api.remember("Atlas ships on Thursdays", namespace="team:atlas")
    r = await api.client.get("/v1/export", headers=ALICE,
                             params={"namespaces": ["agent:alice"]})
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "application/x-ndjson")
    lines = r.text.splitlines()
    assert sorted(json.loads(x)["id"] for x in lines) == sorted(ids)
    assert json.loads(lines[0])["attribution"]["created_by"] == "alice"
    assert all("embedding" not in json.loads(x) for x in lines)
    vectors = await api.client.get("/v1/export", headers=ALICE, params={
        "namespaces": ["agent:alice"], "with_vectors": "true"})
    assert vectors.status_code == 200
    assert all(len(json.loads(x)["embedding"]["vector"]) == 384
               for x in vectors.text.splitlines())

    # the same body again: everything is present, nothing written twice
    again = await api.client.post("/v1/import", content=r.content,
                                  headers={**ALICE, **NDJSON})
    assert again.status_code == 200, again.text
    assert again.json()["skipped"] == 3 and again.json()["imported"] == 0

    # bob's export of the team holds alice's memory; bob may not re-import her attribution
    team = await api.client.get("/v1/export", headers=BOB,
                                params={"namespaces": ["team:atlas"]})
    assert len(team.text.splitlines()) == 1
    body = "\n".join([json.dumps({"text": "Bob's own note", "namespace": "team:atlas"}),
                      "{broken", ""])
    r = await api.client.post("/v1/import", content=body.encode(), headers={**BOB, **NDJSON})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["imported"] == 1 and report["rejected"][0]["line"] == 2
    assert "not valid JSON" in report["rejected"][0]["reason"]


async def test_import_refusals(api: RestApi) -> None:
    line = json.dumps({"text": "a note"}).encode() + b"\n"
    bad = line + b"{nope\n"
    r = await api.client.post("/v1/import", params={"strict": "true"}, content=bad,
                              headers={**ALICE, **NDJSON})
    body = assert_problem(r, 422, rule="import_line")
    assert "line 2" in body["detail"] and "--strict" in body["detail"]
    r = await api.client.post("/v1/import", params={"namespace": "agent:bob"}, content=line,
                              headers={**ALICE, **NDJSON})
    assert "may not write namespace 'agent:bob'" in assert_problem(r, 403)["detail"]
    r = await api.client.post("/v1/import", content=line, headers={**REX, **NDJSON})
    assert "'import' refused" in assert_problem(r, 403)["detail"]
    r = await api.client.post("/v1/import", content=line, headers={**NORA, **NDJSON})
    assert_problem(r, 403)  # nora may remember, not import
    r = await api.client.post("/v1/import", content=b"", headers={**ALICE, **NDJSON})
    assert_problem(r, 422, rule="not_empty")
    r = await api.client.post("/v1/import", params={"format": "csv"}, content=line,
                              headers={**ALICE, **NDJSON})
    assert_problem(r, 422)
    r = await api.client.get("/v1/export", headers=ALICE,
                             params={"namespaces": ["agent:bob"]})
    assert "may not read namespace 'agent:bob'" in assert_problem(r, 403)["detail"]
    r = await api.client.get("/v1/export")
    assert_problem(r, 401)
    # nothing of the refused imports was written
    r = await api.client.get("/v1/export", headers=ALICE)
    assert r.status_code == 200 and r.text == ""


async def test_import_body_beyond_the_import_limit_is_413(api: RestApi) -> None:
    api.client._transport.app.state.settings.api.max_import_bytes = 2048  # type: ignore[attr-defined]
    body = b"\n".join(json.dumps({"text": f"note {i} " + "x" * 50}).encode()
                      for i in range(100))
    r = await api.client.post("/v1/import", content=body, headers={**ALICE, **NDJSON})
    assert "max_import_bytes" in assert_problem(r, 413)["detail"]


async def test_reference_server_lines_over_rest(api: RestApi) -> None:
    body = "\n".join(json.dumps(x) for x in [
        {"type": "entity", "name": "Payments", "entityType": "service",
         "observations": ["Owned by team Atlas"]},
        {"type": "entity", "name": "Ledger", "entityType": "service", "observations": []},
        {"type": "relation", "from": "Payments", "to": "Ledger", "relationType": "calls"},
    ])
    r = await api.client.post("/v1/import", content=body.encode(),
                              params={"namespace": "team:atlas"}, headers={**ALICE, **NDJSON})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["format"] == "mcp-memory"
    assert (report["entities"], report["relations"], report["observations"]) == (2, 1, 1)
