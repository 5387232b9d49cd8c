"""Who may resolve a conflict: anyone who may write its namespace (`any`, the default), or
only a third party (`third_party`, as a setting or a team's policy in the agents file).
Over REST on real embedded stores, plus the agents-file rules."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from fleetmem.memory.agents import policy_from_mapping
from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.ports import Embedder
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import Settings
from tests.e2e.rest_support import ALICE, BOB, _sha, assert_problem, build_app_client, rest_agents

TEAM = "team:atlas"
REVIEWER = {"Authorization": "Bearer rev-key"}  # member of atlas, made no claim
Rest = tuple[httpx.AsyncClient, MemoryService]
Client = Callable[..., Awaitable[Rest]]


def _agents(team_policy: str | None) -> dict[str, Any]:
    data = rest_agents()
    # rev may act for alice, so that acting for a party is refused by the conflict rule
    data["roles"]["delegate"] = {"allow": ["*"], "act_for": ["alice"]}
    data["agents"]["rev"] = {"key_sha256": _sha("rev-key"), "roles": ["delegate"],
                             "teams": ["atlas"]}
    if team_policy is not None:
        data["team_policies"] = {"atlas": {"conflict_resolution": team_policy}}
    return data


@pytest.fixture
async def rest(embedder: Embedder, tmp_path: Path) -> AsyncIterator[Client]:
    """Builds the REST app over a service with a given setting and team policy."""
    made: list[tuple[httpx.AsyncClient, MemoryService]] = []

    async def build(setting: str = "any", team_policy: str | None = None) -> Rest:
        path = tmp_path / f"agents-{len(made)}.yaml"
        path.write_text(yaml.safe_dump(_agents(team_policy)))
        settings = Settings(data_dir=tmp_path / f"data-{len(made)}", agents_file=path,
                            governance={"conflict_resolution": setting})  # type: ignore[arg-type]
        service = build_service(settings, embedder=embedder)
        await service.start()
        client = build_app_client(service, settings)
        made.append((client, service))
        return client, service

    yield build
    for client, service in made:
        await client.aclose()
        await service.close()


async def _denials(service: MemoryService) -> list[Any]:
    """The denied conflicts_resolve entries in the audit."""
    await service.flush()
    return [e for e in await service.ctx.graph.audit_events(None, 0, 10_000)
            if e.operation == "conflicts_resolve" and e.outcome == "denied"]


async def _conflict(client: httpx.AsyncClient) -> str:
    """alice says the owner is alice, bob says bob: one open attribute conflict."""
    r = await client.post("/v1/entities", headers=ALICE, json={"namespace": TEAM, "entities": [
        {"name": "Payments", "entityType": "service", "observations": ["owner: alice"]}]})
    assert r.status_code == 201, r.text
    r = await client.post("/v1/entities/observations", headers=BOB, json={
        "namespace": TEAM, "observations": [{"entityName": "Payments",
                                             "contents": ["owner: bob"]}]})
    assert r.status_code == 201, r.text
    (item,) = (await client.get("/v1/conflicts", headers=ALICE)).json()["items"]
    assert (item["a"]["agent_id"], item["b"]["agent_id"]) == ("alice", "bob")
    return str(item["id"])


async def _resolve(client: httpx.AsyncClient, conflict: str, headers: dict[str, str],
                   keep: str = "a") -> httpx.Response:
    return await client.post(f"/v1/conflicts/{conflict}/resolve", headers=headers,
                             json={"keep": keep, "note": "checked the runbook"})


async def test_default_any_lets_a_party_resolve(rest: Client) -> None:
    client, _ = await rest()
    conflict = await _conflict(client)
    r = await _resolve(client, conflict, BOB, keep="b")  # in its own favour: allowed
    assert r.status_code == 200, r.text
    assert r.json()["resolution"]["resolved_by"] == "bob"


async def test_third_party_refuses_the_parties_and_admits_a_reviewer(rest: Client) -> None:
    client, service = await rest("third_party")
    conflict = await _conflict(client)
    for headers in (ALICE, BOB, {**REVIEWER, "X-On-Behalf-Of": "alice"}):
        body = assert_problem(await _resolve(client, conflict, headers), 403,
                              field="conflict_id", rule="conflict_party")
        assert "(alice vs bob)" in body["detail"]
        assert "FLEETMEM_GOVERNANCE__CONFLICT_RESOLUTION" in body["detail"]
        assert "is 'third_party'" in body["detail"]
        assert "own favour" in body["detail"]
        assert "a reviewer, a human or an operator" in body["detail"]
    still = (await client.get("/v1/conflicts", headers=ALICE)).json()["items"]
    assert [c["status"] for c in still] == ["open"]
    denied = await _denials(service)
    assert len(denied) == 3 and all("conflict_party" in e.detail for e in denied)

    r = await _resolve(client, conflict, REVIEWER, keep="b")
    assert r.status_code == 200, r.text
    assert r.json()["resolution"]["resolved_by"] == "rev"


async def test_a_team_policy_overrides_the_setting_both_ways(rest: Client) -> None:
    strict_team, _ = await rest("any", team_policy="third_party")
    conflict = await _conflict(strict_team)
    body = assert_problem(await _resolve(strict_team, conflict, ALICE), 403,
                          rule="conflict_party")
    assert "team atlas's policy (team_policies.atlas.conflict_resolution" in body["detail"]
    assert (await _resolve(strict_team, conflict, REVIEWER)).status_code == 200

    relaxed_team, _ = await rest("third_party", team_policy="any")
    conflict = await _conflict(relaxed_team)
    assert (await _resolve(relaxed_team, conflict, ALICE)).status_code == 200


def test_agents_file_team_policies_are_checked() -> None:
    policy = policy_from_mapping(_agents("third_party"))
    assert dict(policy.team_conflict_resolution) == {"atlas": "third_party"}
    assert dict(policy_from_mapping(_agents(None)).team_conflict_resolution) == {}
    bad = _agents("nobody")
    with pytest.raises(InvalidInput) as refused:
        policy_from_mapping(bad)
    assert refused.value.field == "team_policies.atlas.conflict_resolution"
    assert "any, third_party" in refused.value.message
    bad["team_policies"] = {"atlas": {"resolvers": "rev"}}
    with pytest.raises(InvalidInput, match="only conflict_resolution"):
        policy_from_mapping(bad)
    bad["team_policies"] = ["atlas"]
    with pytest.raises(InvalidInput, match="team_policies must map"):
        policy_from_mapping(bad)
