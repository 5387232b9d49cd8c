"""Fixtures and helpers of the REST e2e tests: the app over a real service, agent keys."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from fleetmem.api.app import create_app
from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.ports import Embedder
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import Settings
from tests.conftest import AGENTS, ServiceFactory

ALICE = {"Authorization": "Bearer alice-key"}
BOB = {"Authorization": "Bearer bob-key"}
REX = {"Authorization": "Bearer rex-key"}  # reader role, member of team atlas
NORA = {"Authorization": "Bearer nora-key"}  # may only remember
PROBLEM = "application/problem+json"


def _sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def rest_agents() -> dict[str, Any]:
    """The shared agents file plus two keyed agents with narrow roles."""
    data: dict[str, Any] = copy.deepcopy(AGENTS)
    data["roles"]["remember_only"] = {"allow": ["remember"]}
    data["agents"]["rex"] = {"key_sha256": _sha("rex-key"), "roles": ["reader"],
                             "teams": ["atlas"]}
    data["agents"]["nora"] = {"key_sha256": _sha("nora-key"), "roles": ["remember_only"]}
    return data


@pytest.fixture
def agents_file(tmp_path: Path) -> Path:
    """Overrides the shared fixture: adds rex (reader) and nora (remember only) with keys."""
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump(rest_agents()))
    return path


@dataclass
class RestApi:
    """An httpx client on the ASGI app, and the service behind it."""

    client: httpx.AsyncClient
    service: MemoryService

    async def remember(self, text: str, headers: dict[str, str] | None = None,
                       **fields: Any) -> str:
        """Write a memory over REST and return its id."""
        r = await self.client.post("/v1/memories", json={"text": text, **fields},
                                   headers=headers or ALICE)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def entity(self, name: str, entity_type: str = "service",
                     observations: list[str] | None = None,
                     headers: dict[str, str] | None = None, **fields: Any) -> None:
        """Create an entity over REST."""
        r = await self.client.post("/v1/entities", headers=headers or ALICE, json={
            "entities": [{"name": name, "entityType": entity_type,
                          "observations": observations or []}], **fields})
        assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
async def shared_api(tmp_path_factory: pytest.TempPathFactory,
                     embedder: Embedder) -> AsyncIterator[RestApi]:
    """One app and service for a whole module: for tests that change nothing (401, 403)."""
    root = tmp_path_factory.mktemp("rest")
    path = root / "agents.yaml"
    path.write_text(yaml.safe_dump(rest_agents()))
    settings = Settings(data_dir=root / "data", agents_file=path)
    service = build_service(settings, embedder=embedder)
    await service.start()
    try:
        async with build_app_client(service, settings) as client:
            yield RestApi(client, service)
    finally:
        await service.close()


@asynccontextmanager
async def open_access_client(data_dir: Path, embedder: Embedder) -> AsyncIterator[
        httpx.AsyncClient]:
    """A client of the REST app over a started service with no agents file (open access:
    requests without a key act as the local agent, or as X-Agent-Id)."""
    settings = Settings(data_dir=data_dir, agents_file=None)
    service = build_service(settings, embedder=embedder)
    await service.start()
    try:
        async with build_app_client(service, settings) as client:
            yield client
    finally:
        await service.close()


def build_app_client(service: MemoryService, settings: Settings) -> httpx.AsyncClient:
    """A client speaking to `create_app(settings, service=service)` in process."""
    app = create_app(settings, service=service)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                             base_url="http://testserver")


@pytest.fixture
async def api(make_service: ServiceFactory, tmp_path: Path,
              agents_file: Path) -> AsyncIterator[RestApi]:
    """The REST app over a started service on real embedded stores, with an agents file."""
    service = await make_service()
    settings = Settings(data_dir=tmp_path / "data", agents_file=agents_file)
    async with build_app_client(service, settings) as client:
        yield RestApi(client, service)


def assert_problem(r: httpx.Response, status: int, *, field: str | None = None,
                   rule: str | None = None) -> dict[str, Any]:
    """Check an RFC 9457 problem answer and return its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:fleetmem:problem:")
    assert body["title"] and body["detail"]
    if field is not None:
        assert body["field"] == field, body
    if rule is not None:
        assert body["rule"] == rule, body
    return body
