"""Loads the agents file (YAML): agents, API-key hashes, roles, teams and humans.

Example::

    roles:
      writer: {allow: ["*"], act_for: ["human:*"]}
      assistant: {allow: ["*"], act_for: ["human:dana", "bob"]}
      reviewer: {allow: [recall, get, history, read_graph, search_nodes, open_nodes]}
      crawler: {allow: ["*"], deny: [forget, purge],
                limits: {requests_per_minute: 120, writes_per_day: 5000}}
    teams:
      atlas: [alice, bob]
    agents:
      alice: {key_sha256: "<sha256 hex of the key>", roles: [writer]}
      bob: {key_sha256: "...", roles: [reviewer], read_only_teams: [ops]}
    humans:
      dana: {teams: [atlas]}

`act_for` lists whom a role's holders may name in `X-On-Behalf-Of` (MCP: the same
header): configured ids, `human:*` (every human of `humans`) or `*` (every configured
agent and human). Without it an agent may act only for itself; naming anyone else, or
anyone the file does not configure, is refused (403, rule `on_behalf_of`).

The file is re-read when it changes (`fleetmem.memory.services.runtime.agents_reload`);
a file that does not load keeps the last good policy in force.

With no file, one local agent (`default_agent`) with every permission is configured and
requests without a key act as it, so the embedded default just works on a laptop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fleetmem.memory.domain.access import (
    AGENT_ID_RE,
    ALL_OPERATIONS,
    LIMIT_NAMES,
    AccessPolicy,
    Principal,
    Role,
)
from fleetmem.memory.domain.conflicts import RESOLUTION_POLICIES
from fleetmem.memory.errors import InvalidInput


def _strings(value: object, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"agents file: {where} must be a list of strings", field=where,
                           rule="agents_file")
    return list(value)


def _role(name: str, spec: Any) -> Role:
    if not isinstance(spec, dict):
        raise InvalidInput(f"agents file: roles.{name} must be a mapping with allow/deny",
                           field=f"roles.{name}", rule="agents_file")
    allow = _strings(spec.get("allow", ["*"]), f"roles.{name}.allow")
    deny = _strings(spec.get("deny", []), f"roles.{name}.deny")
    unknown = [op for op in allow + deny if op != "*" and op not in ALL_OPERATIONS]
    if unknown:
        raise InvalidInput(f"agents file: roles.{name} names unknown operations {unknown}; "
                           f"known: {sorted(ALL_OPERATIONS)}", field=f"roles.{name}",
                           rule="agents_file")
    return Role(name=name, allow=frozenset(allow), deny=frozenset(deny),
                limits=_limits(name, spec.get("limits")),
                act_for=_act_for(name, spec.get("act_for")))


def _limits(role: str, spec: Any) -> tuple[tuple[str, int], ...]:
    where = f"roles.{role}.limits"
    if spec is None:
        return ()
    if not isinstance(spec, dict) or any(k not in LIMIT_NAMES for k in spec) or any(
            not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in spec.values()):
        raise InvalidInput(f"agents file: {where} must map {', '.join(LIMIT_NAMES)} to "
                           "non-negative integers (0 = unlimited)", field=where,
                           rule="agents_file")
    return tuple(sorted(spec.items()))


def team_policies(data: dict[str, Any]) -> dict[str, str]:
    """Per-team policies (`team_policies: {atlas: {conflict_resolution: third_party}}`):
    team name -> conflict resolution policy, for the teams that set one."""
    spec = data.get("team_policies") or {}
    if not isinstance(spec, dict):
        raise InvalidInput("agents file: team_policies must map team names to policies",
                           field="team_policies", rule="agents_file")
    out: dict[str, str] = {}
    for team, policy in spec.items():
        where = f"team_policies.{team}"
        if not isinstance(team, str) or not AGENT_ID_RE.match(team) or team.startswith(
                "human:"):
            raise InvalidInput(f"agents file: {where}: a team name is letters, digits, '.', "
                               "'_' or '-'", field="team_policies", rule="agents_file")
        if not isinstance(policy, dict) or set(policy) - {"conflict_resolution"}:
            raise InvalidInput(f"agents file: {where} must be a mapping with only "
                               "conflict_resolution", field=where, rule="agents_file")
        value = policy.get("conflict_resolution")
        if value is not None and value not in RESOLUTION_POLICIES:
            raise InvalidInput(f"agents file: {where}.conflict_resolution must be one of "
                               f"{', '.join(RESOLUTION_POLICIES)} (got {value!r})",
                               field=f"{where}.conflict_resolution", rule="agents_file")
        if value is not None:
            out[team] = value
    return out


def _act_for(role: str, spec: Any) -> frozenset[str]:
    """A role's `act_for` list: `*`, `human:*` or well-formed principal ids."""
    where = f"roles.{role}.act_for"
    entries = _strings(spec, where)
    bad = [e for e in entries if e not in ("*", "human:*") and not AGENT_ID_RE.match(e)]
    if bad:
        raise InvalidInput(f"agents file: {where} entries must be '*', 'human:*' or an agent "
                           f"id such as 'bob' or 'human:dana' (got {bad})", field=where,
                           rule="agents_file")
    return frozenset(entries)


def _check_act_for(roles: dict[str, Role], principals: dict[str, Principal]) -> None:
    """Every id an `act_for` names must be configured (a typo would silently allow none)."""
    for role in roles.values():
        unknown = sorted(e for e in role.act_for if e not in ("*", "human:*")
                         and e not in principals)
        if unknown:
            raise InvalidInput(f"agents file: roles.{role.name}.act_for names {unknown}, "
                               "which agents/humans do not configure (humans are written "
                               "'human:<name>')", field=f"roles.{role.name}.act_for",
                               rule="agents_file")


def policy_from_mapping(data: dict[str, Any]) -> AccessPolicy:
    """Build the access policy from a parsed agents file."""
    roles = {n: _role(n, s) for n, s in (data.get("roles") or {}).items()}
    teams: dict[str, set[str]] = {t: set(_strings(m, f"teams.{t}"))
                                  for t, m in (data.get("teams") or {}).items()}
    principals: dict[str, Principal] = {}
    key_hashes: dict[str, str] = {}
    entries = [(a, s or {}) for a, s in (data.get("agents") or {}).items()]
    entries += [(f"human:{h}", s or {}) for h, s in (data.get("humans") or {}).items()]
    for agent_id, spec in entries:
        if not AGENT_ID_RE.match(agent_id):
            raise InvalidInput(f"agents file: agent id {agent_id!r} must be letters, digits, "
                               "'.', '_' or '-'", field="agents", rule="agents_file")
        for team in _strings(spec.get("teams"), f"agents.{agent_id}.teams"):
            teams.setdefault(team, set()).add(agent_id)
        missing = [r for r in _strings(spec.get("roles"), f"agents.{agent_id}.roles")
                   if r not in roles]
        if missing:
            raise InvalidInput(f"agents file: agent {agent_id} has undefined roles {missing}",
                               field=f"agents.{agent_id}.roles", rule="agents_file")
        key = spec.get("key_sha256")
        if key:
            key_hashes[str(key).lower()] = agent_id
        principals[agent_id] = Principal(
            id=agent_id,
            roles=tuple(roles[r] for r in _strings(spec.get("roles"), "roles")),
            read_only_teams=frozenset(_strings(spec.get("read_only_teams"),
                                               f"agents.{agent_id}.read_only_teams")),
            admin=bool(spec.get("admin", False)),
        )
    _check_act_for(roles, principals)
    for agent_id, p in list(principals.items()):
        member_of = frozenset(t for t, m in teams.items() if agent_id in m)
        principals[agent_id] = Principal(id=p.id, roles=p.roles, teams=member_of,
                                         read_only_teams=p.read_only_teams, admin=p.admin)
    return AccessPolicy(principals=principals,
                        team_members={t: frozenset(m) for t, m in teams.items()},
                        key_hashes=key_hashes,
                        team_conflict_resolution=team_policies(data))


def load_policy(path: Path | None, default_agent: str) -> AccessPolicy:
    """Load the agents file, or configure the single local agent when there is none."""
    if path is None or not path.exists():
        if path is not None:
            raise InvalidInput(f"agents file {path} does not exist", field="agents_file",
                               rule="agents_file")
        local = Principal(id=default_agent, admin=True)
        return AccessPolicy(principals={default_agent: local}, open_access_agent=default_agent)
    return policy_from_text(path.read_text(), str(path))


def policy_from_text(text: str, source: str) -> AccessPolicy:
    """Build the access policy from the agents file's text (`source` names it in errors).

    Raises:
        InvalidInput: rule `agents_file`; a YAML error names its line and column only,
            never the offending text (it may hold a key).
    """
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise InvalidInput(f"agents file {source} is not valid YAML{where}: {problem}",
                           field="agents_file", rule="agents_file") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"agents file {source} must be a YAML mapping",
                           field="agents_file", rule="agents_file")
    return policy_from_mapping(data)
