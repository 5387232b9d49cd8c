# ruff: noqa: F811  (pytest fixtures are imported from rest_support and used as arguments)
"""REST platform concerns: body limit (413), rate limit (429 + Retry-After), unknown routes,
Prometheus metrics, the OpenAPI document and /docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fleetmem.memory.settings import ApiSettings, GovernanceSettings, Settings
from tests.conftest import ManualClock, ServiceFactory
from tests.e2e.rest_routes import ROUTES
from tests.e2e.rest_support import (  # noqa: F401 - fixtures
    ALICE,
    BOB,
    RestApi,
    agents_file,
    api,
    assert_problem,
    build_app_client,
    shared_api,
)

pytestmark = pytest.mark.asyncio


async def test_a_body_over_the_limit_is_413(make_service: ServiceFactory, tmp_path: Path,
                                            agents_file: Path) -> None:
    service = await make_service()
    settings = Settings(data_dir=tmp_path / "data", agents_file=agents_file,
                        api=ApiSettings(max_body_bytes=1024))
    async with build_app_client(service, settings) as client:
        big = {"text": "x" * 2000}
        assert_problem(await client.post("/v1/memories", json=big, headers=ALICE), 413,
                       rule="max_body_bytes")

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: streamed
            yield b'{"text": "'
            for _ in range(4):
                yield b"y" * 500
            yield b'"}'

        r = await client.post("/v1/memories", content=chunks(),
                              headers={**ALICE, "content-type": "application/json"})
        assert_problem(r, 413)
        ok = await client.post("/v1/memories", json={"text": "small enough"}, headers=ALICE)
        assert ok.status_code == 201
        metrics = (await client.get("/metrics")).text
        assert 'route="unmatched",status="413"} 1.0' in metrics
    assert (await service.stats(_alice())).total_memories == 1


def _alice() -> Any:
    from fleetmem.memory.domain.access import Caller

    return Caller("alice")


async def test_rate_limit_is_429_with_retry_after(make_service: ServiceFactory,
                                                  tmp_path: Path, agents_file: Path) -> None:
    service = await make_service(clock=ManualClock(),
                                 governance=GovernanceSettings(requests_per_minute=2))
    settings = Settings(data_dir=tmp_path / "data", agents_file=agents_file)
    async with build_app_client(service, settings) as client:
        for _ in range(2):
            assert (await client.get("/v1/stats", headers=ALICE)).status_code == 200
        r = await client.get("/v1/stats", headers=ALICE)
        body = assert_problem(r, 429)
        assert int(r.headers["retry-after"]) >= 1 and body["retry_after"] > 0
        assert (await client.get("/v1/stats", headers=BOB)).status_code == 200


async def test_unknown_route_and_method_are_problems(shared_api: RestApi) -> None:
    assert_problem(await shared_api.client.get("/v1/nothing", headers=ALICE), 404)
    r = await shared_api.client.put("/v1/memories", headers=ALICE, json={})
    assert_problem(r, 405)
    assert "POST" in r.headers["allow"]


async def test_url_escapes_that_are_not_utf8_are_422_and_change_nothing(
        shared_api: RestApi) -> None:
    c = shared_api.client
    before = (await c.get("/v1/buffers/s-utf8", headers=ALICE)).json()
    r = await c.post("/v1/buffers/%ff/items", headers=ALICE, json={"text": "not stored"})
    body = assert_problem(r, 422)
    assert body["field"] == "path" and "UTF-8" in body["detail"]
    r = await c.get("/v1/memories?kind=%c3%28", headers=ALICE)
    assert assert_problem(r, 422)["field"] == "query"
    # a properly escaped non-ASCII name is fine
    ok = await c.get("/v1/buffers/%C3%A9t%C3%A9", headers=ALICE)
    assert ok.status_code == 200, ok.text
    assert (await c.get("/v1/buffers/s-utf8", headers=ALICE)).json() == before


async def test_metrics_count_requests_by_route_and_memories_without_naming_anyone(
        api: RestApi) -> None:
    await api.remember("Metrics see this memory", namespace="team:atlas")
    await api.client.get("/v1/stats", headers=BOB)
    await api.client.get("/v1/stats")  # 401
    r = await api.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert ('fleetmem_http_requests_total{method="POST",route="/v1/memories",'
            'status="201"} 1.0') in text
    assert ('fleetmem_http_requests_total{method="GET",route="/v1/stats",'
            'status="200"} 1.0') in text
    assert 'method="GET",route="/v1/stats",status="401"} 1.0' in text
    assert ('fleetmem_http_request_duration_seconds_count{method="POST",'
            'route="/v1/memories"} 1.0') in text
    assert 'fleetmem_memories{status="active"} 1.0' in text
    assert "atlas" not in text and "alice" not in text and 'agent="' not in text


async def test_openapi_lists_every_route_with_docs_examples_and_problems(
        shared_api: RestApi) -> None:
    schema = (await shared_api.client.get("/openapi.json")).json()
    ops = {f"{m.upper()} {p}": op for p, item in schema["paths"].items()
           for m, op in item.items() if p.startswith("/v1/")}
    assert set(ops) == {r.id for r in ROUTES}
    components = schema["components"]["schemas"]
    assert "apiKey" in schema["components"]["securitySchemes"]
    for name, op in ops.items():
        assert op.get("summary") and op.get("description"), name
        assert op.get("security"), name
        assert _has_example(op, components), f"{name} has no example"
        for status in ("401", "422"):
            content = op["responses"][status]["content"]
            assert list(content) == ["application/problem+json"], (name, status)
    page = await shared_api.client.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()


def _has_example(op: dict[str, Any], components: dict[str, Any]) -> bool:
    """An example on a non-header parameter, the request body or the success response."""
    if any("example" in p or "examples" in p or "examples" in p.get("schema", {})
           for p in op.get("parameters", []) if p["in"] != "header"):
        return True
    contents = [op.get("requestBody", {}).get("content", {})]
    contents += [r.get("content", {}) for s, r in op["responses"].items() if s.startswith("2")]
    for content in contents:
        for media in content.values():
            if "example" in media or "examples" in media:
                return True
            ref = media.get("schema", {}).get("$ref", "")
            if ref and "examples" in components[ref.rsplit("/", 1)[-1]]:
                return True
    return False


async def test_metrics_carry_store_latency_gc_and_usage_families(
        make_service: ServiceFactory) -> None:
    from httpx import ASGITransport, AsyncClient

    from fleetmem.api.app import create_app
    from fleetmem.memory.domain.access import Caller
    from fleetmem.memory.services.inputs import MemoryInput

    service = await make_service()
    await service.remember(Caller("alice"), MemoryInput(text="metrics see this memory"))
    app = create_app(Settings(), service=service)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        text = (await client.get("/metrics")).text
    assert 'fleetmem_store_seconds_count{operation="insert_memories",store="sqlite"}' in text
    assert "fleetmem_gc_" in text or "# HELP fleetmem_gc" in text
    assert "fleetmem_usage_writes_total 1.0" in text
    assert "alice" not in text  # per-agent series need detail and an operator scrape
