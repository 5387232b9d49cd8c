"""A fresh fleetmem for one security example: a started service on real embedded stores in a
temporary folder, the REST app over it (httpx ASGI transport) and one in-memory MCP client
per agent, all sharing the session's MiniLM embedder."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from mcp import Client

from fleetmem.api.app import create_app
from fleetmem.mcp_server.door import Identity
from fleetmem.mcp_server.server import build_server
from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.ports import Embedder
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import Settings
from tests.conftest import AGENTS

# The conftest agents, each with an API key so that every one of them can use REST.
AGENT_IDS = ("alice", "bob", "carol", "rita", "human:dana")
KEYS = {a: f"{a.removeprefix('human:')}-key" for a in AGENT_IDS}
TEAM = "team:atlas"
TEAM_MEMBERS = frozenset({"alice", "bob", "rita", "human:dana"})
READ_ONLY = frozenset({"rita"})  # reader role: every write is refused


def agents_data() -> dict[str, Any]:
    """The shared agents file plus keys for carol, rita and human:dana."""
    data: dict[str, Any] = copy.deepcopy(AGENTS)
    for agent in ("carol", "rita"):
        data["agents"][agent]["key_sha256"] = hashlib.sha256(KEYS[agent].encode()).hexdigest()
    data["humans"]["dana"]["key_sha256"] = hashlib.sha256(KEYS["human:dana"].encode()) \
        .hexdigest()
    return data


def private(agent: str) -> str:
    """The private namespace of an agent."""
    return f"agent:{agent}"


def readers(namespace: str) -> frozenset[str]:
    """Who may read a namespace under the agents file above."""
    if namespace == "global":
        return frozenset(AGENT_IDS)
    if namespace == TEAM:
        return TEAM_MEMBERS
    return frozenset({namespace.removeprefix("agent:")})


def may_write(agent: str, namespace: str) -> bool:
    """Whether `agent` may write `namespace` (role and namespace rules)."""
    return agent not in READ_ONLY and agent in readers(namespace)


def bearer(agent: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[agent]}"}


@dataclass
class World:
    """One service, its REST client, and an MCP client per agent."""

    root: Path
    settings: Settings
    service: MemoryService
    rest: httpx.AsyncClient
    mcp: dict[str, Client] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def open_world(embedder: Embedder, *, raise_app_exceptions: bool = True,
                     **overrides: Any) -> AsyncIterator[World]:
    """Build, start and finally close a fresh service with both doors in front of it
    (`raise_app_exceptions=False`: a server error is a 500 answer, not an exception)."""
    with tempfile.TemporaryDirectory(prefix="fleetmem-sec-") as tmp:
        root = Path(tmp)
        agents = root / "agents.yaml"
        agents.write_text(yaml.safe_dump(agents_data()))
        settings = Settings(data_dir=root / "data", agents_file=agents, **overrides)
        service = build_service(settings, embedder=embedder)
        await service.start()
        try:
            app = create_app(settings, service=service)
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
            async with contextlib.AsyncExitStack() as stack:
                rest = await stack.enter_async_context(httpx.AsyncClient(
                    transport=transport, base_url="http://testserver", timeout=120))
                world = World(root, settings, service, rest)
                for agent in AGENT_IDS:
                    world.mcp[agent] = await stack.enter_async_context(
                        Client(build_server(service, Identity(agent))))
                yield world
        finally:
            await service.close()
