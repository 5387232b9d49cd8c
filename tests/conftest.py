"""Shared fixtures: the real MiniLM embedder (loaded once) and services on real embedded
stores in a temporary data dir."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from fleetmem.memory.bootstrap import build_embedder, build_service
from fleetmem.memory.ports import Embedder
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import Settings
from tests.neo4j_fixtures import neo4j_clean, neo4j_server  # noqa: F401  (fixtures)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# One ONNX graph cache for the session and every process it starts (`fleetmem serve`,
# CLI calls), so the graph is built from the packaged weights once per test run rather
# than once per data folder (tests/integration/test_onnx_embedder.py covers the default
# <data_dir>/models location and the rebuild).
if "FLEETMEM_EMBEDDING__CACHE_DIR" not in os.environ:
    _MODELS = tempfile.mkdtemp(prefix="fleetmem-test-models-")
    atexit.register(shutil.rmtree, _MODELS, True)
    os.environ["FLEETMEM_EMBEDDING__CACHE_DIR"] = _MODELS
# No GC scheduler in apps built by tests (its interval jobs fire on the wall clock);
# tests/gc starts schedulers explicitly.
os.environ.setdefault("FLEETMEM_GC__ENABLED", "false")

AGENTS = {
    "roles": {
        "writer": {"allow": ["*"], "act_for": ["human:*"]},
        "reader": {"allow": ["recall", "get", "history", "read_graph", "search_nodes",
                             "open_nodes", "stats", "list_namespaces", "buffer_read"]},
    },
    "teams": {"atlas": ["alice", "bob"]},
    "agents": {
        "alice": {"key_sha256": "72ee9d4355ccb9d3a4c9dbf37382e38e75c1b1a225b5bd1f729ee91bbda30c20",
                  "roles": ["writer"]},  # key: "alice-key"
        "bob": {"key_sha256": "9b94dc1a51a38769f135edf04033ad7f2f487b6c25929be7a861cfc1ab10cf98",
                "roles": ["writer"]},  # key: "bob-key"
        "carol": {"roles": ["writer"]},
        "rita": {"roles": ["reader"], "teams": ["atlas"]},
    },
    "humans": {"dana": {"teams": ["atlas"]}},
}


class ManualClock:
    """A clock tests move by hand (no sleeping)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **kw: float) -> None:
        self.current += timedelta(**kw)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real all-MiniLM-L6-v2 model (ONNX Runtime), loaded once per test session."""
    return build_embedder(Settings(data_dir=Path("/nonexistent")))


@pytest.fixture
def agents_file(tmp_path: Path) -> Path:
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump(AGENTS))
    return path


ServiceFactory = Callable[..., Awaitable[MemoryService]]


@pytest.fixture
async def make_service(tmp_path: Path, embedder: Embedder,
                       agents_file: Path) -> AsyncIterator[ServiceFactory]:
    """Build started services on real embedded stores; all closed at teardown."""
    made: list[MemoryService] = []

    async def factory(data_dir: Path | None = None, clock: ManualClock | None = None,
                      **overrides: object) -> MemoryService:
        settings = Settings(data_dir=data_dir or tmp_path / "data", agents_file=agents_file,
                            **overrides)  # type: ignore[arg-type]
        service = build_service(settings, embedder=embedder, clock=clock)
        await service.start()
        made.append(service)
        return service

    yield factory
    for s in made:
        await s.close()


@pytest.fixture
async def service(make_service: ServiceFactory) -> MemoryService:
    return await make_service()
