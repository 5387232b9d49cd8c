# ruff: noqa: F811  (pytest fixtures are imported from rest_support and used as arguments)
"""Graph deletes archive only the memories written for what they really deleted, and an
archive is a `forget`: authorised (a role denying forget changes nothing) and audited as
one. REST and MCP (in memory), on real embedded stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import Client

from fleetmem.mcp_server.door import Identity
from fleetmem.mcp_server.server import build_server
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.service import MemoryService
from tests.e2e.mcp_scenarios import ok, refused
from tests.e2e.rest_support import (  # noqa: F401 - fixtures
    ALICE,
    RestApi,
    _sha,
    api,
    assert_problem,
    rest_agents,
)

pytestmark = pytest.mark.asyncio
TEAM = "team:atlas"
CRAWLY = {"Authorization": "Bearer crawly-key"}  # writer of team atlas, denied forget
VICTIM = "Deploys are frozen on Fridays for the atlas team"


@pytest.fixture
def agents_file(tmp_path: Path) -> Path:
    """The REST agents plus crawly: may do anything but forget (and purge)."""
    data = rest_agents()
    data["roles"]["crawler"] = {"allow": ["*"], "deny": ["forget", "purge"]}
    data["agents"]["crawly"] = {"key_sha256": _sha("crawly-key"), "roles": ["crawler"],
                                "teams": ["atlas"]}
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def _status(api: RestApi, memory_id: str) -> str:
    r = await api.client.get(f"/v1/memories/{memory_id}", headers=ALICE)
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


async def _events(service: MemoryService, operation: str) -> list[Any]:
    await service.flush()
    return [e for e in await service.ctx.graph.audit_events(None, 0, 10_000)
            if e.operation == operation]


async def _team_graph(api: RestApi) -> None:
    for name in ("Deploys", "Payments", "alice"):
        await api.entity(name, namespace=TEAM)
    r = await api.client.post("/v1/relations", headers=ALICE, json={
        "namespace": TEAM, "relations": [{"from": "alice", "to": "Payments",
                                          "relationType": "maintains"}]})
    assert r.status_code == 201, r.text
    r = await api.client.post("/v1/entities/observations", headers=ALICE, json={
        "namespace": TEAM, "observations": [{"entityName": "Payments",
                                             "contents": ["owner: alice"]}]})
    assert r.status_code == 201, r.text


async def _mirror_of(service: MemoryService, text: str) -> str:
    """The id of the memory a graph write made for `text` (from its audit entry)."""
    page = await service.list_memories(Caller("alice"), [TEAM])
    ids = {m.id for m in page if m.text == text}
    made = {t for op in ("create_relations", "add_observations")
            for e in await _events(service, op) for t in e.target_ids}
    (mirror,) = ids & made
    return mirror


async def test_crafted_deletes_of_records_that_do_not_exist_archive_nothing(
        api: RestApi) -> None:
    victim = await api.remember(VICTIM, namespace=TEAM)
    colon = await api.remember("Deploys: frozen on Fridays", namespace=TEAM)
    r = await api.client.post("/v1/relations/delete", headers=CRAWLY, json={
        "namespace": TEAM, "relations": [{"from": "Deploys", "relationType": "are",
                                          "to": "frozen on Fridays for the atlas team"}]})
    assert r.status_code == 200, r.text
    assert r.json() == {"count": 0}
    r = await api.client.post("/v1/entities/observations/delete", headers=CRAWLY, json={
        "namespace": TEAM, "deletions": [{"entityName": "Deploys",
                                          "observations": ["frozen on Fridays"]}]})
    assert r.status_code == 200, r.text
    assert r.json() == {"count": 0}
    assert await _status(api, victim) == "active"
    assert await _status(api, colon) == "active"
    assert await _events(api.service, "forget") == []


async def test_forget_denied_role_cannot_delete_records_with_memories(api: RestApi) -> None:
    await _team_graph(api)
    rel_mirror = await _mirror_of(api.service, "alice maintains Payments")
    obs_mirror = await _mirror_of(api.service, "Payments: owner: alice")
    r = await api.client.post("/v1/relations/delete", headers=CRAWLY, json={
        "namespace": TEAM, "relations": [{"from": "alice", "relationType": "maintains",
                                          "to": "Payments"}]})
    body = assert_problem(r, 403, rule="role")
    assert "role 'crawler' denies 'forget'" in body["detail"]
    assert "nothing was changed" in body["detail"]
    r = await api.client.post("/v1/entities/observations/delete", headers=CRAWLY, json={
        "namespace": TEAM, "deletions": [{"entityName": "Payments",
                                          "observations": ["owner: alice"]}]})
    assert_problem(r, 403, rule="role")
    r = await api.client.post("/v1/entities/delete", headers=CRAWLY, json={
        "namespace": TEAM, "entityNames": ["Payments"]})
    assert_problem(r, 403, rule="role")

    assert await _status(api, rel_mirror) == "active"
    assert await _status(api, obs_mirror) == "active"
    got = (await api.client.get("/v1/entities/Payments", headers=ALICE)).json()
    assert got["observations"] == ["owner: alice"]
    near = (await api.client.get("/v1/entities/Payments/neighbours", headers=ALICE)).json()
    assert len(near["relations"]) == 1
    denied = [e for e in await _events(api.service, "delete_relations")
              if e.outcome == "denied"]
    assert len(denied) == 1 and denied[0].agent_id == "crawly"


async def test_writer_delete_archives_exactly_the_mirror_and_audits_a_forget(
        api: RestApi) -> None:
    # The same text remembered by hand first: it is not the relation's memory.
    own = await api.remember("alice maintains Payments", namespace=TEAM)
    await _team_graph(api)
    mirror = await _mirror_of(api.service, "alice maintains Payments")
    assert mirror != own
    r = await api.client.post("/v1/relations/delete", headers=ALICE, json={
        "namespace": TEAM, "relations": [{"from": "alice", "relationType": "maintains",
                                          "to": "Payments"}]})
    assert r.status_code == 200 and r.json() == {"count": 1}, r.text
    assert await _status(api, mirror) == "archived"
    assert await _status(api, own) == "active"
    (forget,) = await _events(api.service, "forget")
    assert forget.agent_id == "alice" and forget.target_ids == (mirror,)
    assert forget.namespace == TEAM and forget.detail.startswith("delete_relations")
    assert [e.outcome for e in await _events(api.service, "delete_relations")] == ["ok"]

    obs = await _mirror_of(api.service, "Payments: owner: alice")
    r = await api.client.post("/v1/entities/observations/delete", headers=ALICE, json={
        "namespace": TEAM, "deletions": [{"entityName": "Payments",
                                          "observations": ["owner: alice"]}]})
    assert r.status_code == 200 and r.json() == {"count": 1}, r.text
    assert await _status(api, obs) == "archived"
    forgets = await _events(api.service, "forget")
    assert [e.target_ids for e in forgets] == [(mirror,), (obs,)]
    assert await api.service.operator.verify_audit() is None


async def _get(service: MemoryService, memory_id: str) -> str:
    return str((await service.get(Caller("alice"), memory_id)).status)


def _mcp(service: MemoryService, agent: str) -> Client:
    return Client(build_server(service, Identity(agent)))


async def test_mcp_graph_deletes_archive_only_mirrors_and_need_forget(
        service: MemoryService, agents_file: Path) -> None:
    async with _mcp(service, "alice") as alice, _mcp(service, "crawly") as crawly:
        victim = (await ok(alice, "remember", {"text": VICTIM, "namespace": TEAM}))["id"]
        await ok(alice, "create_entities", {"namespace": TEAM, "entities": [
            {"name": "Payments", "entityType": "service", "observations": ["owner: alice"]},
            {"name": "alice", "entityType": "person"}]})
        await ok(alice, "create_relations", {"namespace": TEAM, "relations": [
            {"from": "alice", "to": "Payments", "relationType": "maintains"}]})
        rel_mirror = await _mirror_of(service, "alice maintains Payments")

        crafted = await ok(crawly, "delete_relations", {"namespace": TEAM, "relations": [
            {"from": "Deploys", "relationType": "are",
             "to": "frozen on Fridays for the atlas team"}]})
        assert crafted["deleted"] == 0
        crafted = await ok(crawly, "delete_observations", {"namespace": TEAM, "deletions": [
            {"entityName": "Deploys are frozen on Fridays for the atlas", "observations": [
                "team"]}]})
        assert crafted["deleted"] == 0
        await refused(crawly, "delete_relations", {"namespace": TEAM, "relations": [
            {"from": "alice", "relationType": "maintains", "to": "Payments"}]},
            "forbidden", "denies 'forget'")
        await refused(crawly, "delete_observations", {"namespace": TEAM, "deletions": [
            {"entityName": "Payments", "observations": ["owner: alice"]}]},
            "forbidden", "denies 'forget'")
        assert await _get(service, victim) == "active"
        assert await _get(service, rel_mirror) == "active"
        assert await _events(service, "forget") == []

        done = await ok(alice, "delete_relations", {"namespace": TEAM, "relations": [
            {"from": "alice", "relationType": "maintains", "to": "Payments"}]})
        assert done["deleted"] == 1
        assert await _get(service, rel_mirror) == "archived"
        assert await _get(service, victim) == "active"
        (forget,) = await _events(service, "forget")
        assert forget.agent_id == "alice" and forget.target_ids == (rel_mirror,)
