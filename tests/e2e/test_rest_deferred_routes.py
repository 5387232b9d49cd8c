"""`fleetmem serve` builds the REST routes agents use least once it is ready
(`fleetmem.api.v1.LATER` through `DeferredRoutes`, issue 17: a shorter start). A request
that comes before that build, and the OpenAPI document, get exactly what they get from an
app with every route built at once; the build itself follows readiness on its own."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fleetmem.api.app import create_app
from fleetmem.api.route_table import DeferredRoutes
from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.services import MemoryService
from fleetmem.memory.settings import Settings


def _routes(app: FastAPI) -> list[tuple[Any, ...]]:
    return [(type(r).__name__, getattr(r, "path", None), sorted(getattr(r, "methods", None)
             or []), getattr(r, "name", None)) for r in app.routes]


def _eager(data_dir: Path) -> FastAPI:
    """The same app with every route built at once (a caller-owned service: not started)."""
    return create_app(Settings(data_dir=data_dir), service=build_service(
        Settings(data_dir=data_dir)))


def test_the_deferred_app_documents_and_lists_the_same_routes(tmp_path: Path) -> None:
    deferred_app = create_app(Settings(data_dir=tmp_path / "deferred"))
    eager_app = _eager(tmp_path / "eager")
    deferred: DeferredRoutes = deferred_app.state.deferred_routes
    assert not deferred.built
    assert deferred_app.openapi() == eager_app.openapi()  # the document builds them first
    assert deferred.built
    assert _routes(deferred_app) == _routes(eager_app)


def test_a_request_before_the_build_is_served_by_the_real_route(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def never(self: DeferredRoutes, service: MemoryService) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(DeferredRoutes, "build_later", never)
    app = create_app(Settings(data_dir=tmp_path))
    deferred: DeferredRoutes = app.state.deferred_routes
    with TestClient(app) as client:
        assert not deferred.built
        # A method the route does not have: the real route's 405, not the stand-in's.
        r = client.put("/v1/entities")
        assert r.status_code == 405 and r.headers["allow"] == "POST", r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert deferred.built
        r = client.post("/v1/entities", json={"entities": [
            {"name": "payments", "entityType": "service", "observations": ["owned by ops"]}]})
        assert r.status_code == 201, r.text
        assert client.get("/v1/stats").status_code == 200
        metrics = client.get("/metrics").text
    assert 'method="PUT",route="/v1/entities",status="405"' in metrics
    assert _routes(app) == _routes(_eager(tmp_path / "eager"))


def test_the_routes_are_built_after_ready_without_a_request(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    deferred: DeferredRoutes = app.state.deferred_routes
    with TestClient(app) as client:
        deadline = time.monotonic() + 120
        while client.get("/readyz").status_code != 200 or not deferred.built:
            assert time.monotonic() < deadline, "not ready and built within 120 s"
            time.sleep(0.05)
