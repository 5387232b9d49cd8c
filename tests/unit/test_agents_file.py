"""The agents file's `act_for`: what it accepts, and the on_behalf_of rule it feeds."""

from __future__ import annotations

import pytest

from fleetmem.memory.agents import load_policy, policy_from_mapping, policy_from_text
from fleetmem.memory.errors import Forbidden, InvalidInput

FILE = {
    "roles": {"writer": {"allow": ["*"], "act_for": ["human:*"]},
              "assistant": {"allow": ["*"], "act_for": ["bob", "human:dana"]},
              "anyone": {"allow": ["*"], "act_for": ["*"]},
              "plain": {"allow": ["*"]}},
    "agents": {"alice": {"roles": ["writer"]}, "bob": {"roles": ["plain"]},
               "ivy": {"roles": ["assistant"]}, "oz": {"roles": ["anyone"]}},
    "humans": {"dana": {}, "erin": {}},
}


@pytest.mark.parametrize(("agent", "principal", "allowed"), [
    ("alice", "human:dana", True), ("alice", "human:erin", True), ("alice", "bob", False),
    ("alice", "human:ceo", False), ("ivy", "bob", True), ("ivy", "human:dana", True),
    ("ivy", "human:erin", False), ("oz", "bob", True), ("oz", "human:erin", True),
    ("oz", "human:ceo", False), ("bob", "human:dana", False), ("bob", "bob", True),
])
def test_act_for_decides_whom_an_agent_may_act_for(agent: str, principal: str,
                                                   allowed: bool) -> None:
    policy = policy_from_mapping(FILE)
    assert policy.acts_for(agent, principal) is allowed
    if not allowed:
        with pytest.raises(Forbidden) as refused:
            policy.check_on_behalf_of(agent, principal)
        assert refused.value.rule == "on_behalf_of"


def test_an_unknown_id_reads_like_a_refused_known_one() -> None:
    policy = policy_from_mapping(FILE)
    messages = []
    for principal in ("human:erin", "human:nobody"):
        with pytest.raises(Forbidden) as refused:
            policy.check_on_behalf_of("ivy", principal)
        messages.append(refused.value.message.replace(principal, "X"))
    assert messages[0] == messages[1]


def test_open_access_records_any_well_formed_id() -> None:
    policy = load_policy(None, "local")
    policy.check_on_behalf_of("local", "human:me")
    with pytest.raises(InvalidInput):
        policy.check_on_behalf_of("local", "not an id")


@pytest.mark.parametrize(("act_for", "fault"), [
    (["human:ceo"], "human:ceo"), (["bobby"], "bobby"), (["team:atlas"], "team:atlas"),
    ("human:*", "list of strings"),
])
def test_act_for_must_name_configured_principals(act_for: object, fault: str) -> None:
    data = {**FILE, "roles": {**FILE["roles"], "writer": {"allow": ["*"], "act_for": act_for}}}
    with pytest.raises(InvalidInput, match="act_for") as bad:
        policy_from_mapping(data)
    assert fault in bad.value.message and bad.value.field == "roles.writer.act_for"


def test_a_yaml_error_names_the_place_not_the_text() -> None:
    with pytest.raises(InvalidInput) as bad:
        policy_from_text("agents:\n  alice: {key_sha256: 'hunter2-secret' roles: [\n", "f.yaml")
    assert "line 2" in bad.value.message and "hunter2" not in bad.value.message
