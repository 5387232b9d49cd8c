"""Principals, namespaces and the access rules between them (pure).

Namespaces are a security boundary: `agent:<id>` is private to that agent, `team:<name>`
is shared by the team's members, `global` is readable and writable by every agent. A
role may further allow or deny operations.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fleetmem.memory.errors import Forbidden, InvalidInput

GLOBAL_NAMESPACE = "global"
_IDENT = r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}"
NAMESPACE_RE = re.compile(rf"^(?:agent:(?:human:)?{_IDENT}|team:{_IDENT}|global)$")
AGENT_ID_RE = re.compile(rf"^(?:human:)?{_IDENT}$")

# Every operation the service exposes, for role allow/deny lists.
READ_OPERATIONS = frozenset(
    {"recall", "get", "history", "read_graph", "search_nodes", "open_nodes", "buffer_read",
     "stats", "list_namespaces", "audit_read", "conflicts_list", "export"}
)
WRITE_OPERATIONS = frozenset(
    {"remember", "correct", "forget", "restore", "create_entities", "create_relations",
     "add_observations", "delete_entities", "delete_observations", "delete_relations",
     "buffer_append", "buffer_clear", "consolidate", "share", "conflicts_resolve", "gc",
     "import", "purge"}
)
ALL_OPERATIONS = READ_OPERATIONS | WRITE_OPERATIONS
# Per-agent limits a role may set in the agents file (0 = unlimited).
LIMIT_NAMES = ("requests_per_minute", "writes_per_day", "memories_per_namespace",
               "texts_per_minute")


def private_namespace(agent_id: str) -> str:
    """Return the private namespace of an agent."""
    return f"agent:{agent_id}"


def validate_namespace(namespace: object, field_name: str = "namespace") -> str:
    """Check a namespace's shape; raise `InvalidInput` naming the rule when it is malformed."""
    if not isinstance(namespace, str) or not NAMESPACE_RE.match(namespace):
        raise InvalidInput(
            f"{field_name} must look like 'agent:<id>', 'team:<name>' or 'global' "
            "(letters, digits, '.', '_', '-'; at most 64 characters after the prefix)",
            field=field_name,
            rule="namespace_format",
        )
    return namespace


def hash_key(key: str) -> str:
    """The stored form of an API key (keys are random, so a plain SHA-256 suffices)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Role:
    """A named set of allowed and denied operations. Deny wins over allow; `*` allows all."""

    name: str
    allow: frozenset[str] = frozenset({"*"})
    deny: frozenset[str] = frozenset()
    limits: tuple[tuple[str, int], ...] = ()
    """(name, value) pairs from LIMIT_NAMES; they replace the configured defaults."""
    act_for: frozenset[str] = frozenset()
    """Whom a holder may name in on_behalf_of: configured ids, `human:*` (every configured
    human) or `*` (every configured principal). Empty: nobody but itself."""

    def permits(self, operation: str) -> bool:
        """Return whether this role lets its holder perform `operation`."""
        if operation in self.deny:
            return False
        return "*" in self.allow or operation in self.allow


@dataclass(frozen=True, slots=True)
class Principal:
    """A configured agent or human: identity, roles and team memberships."""

    id: str
    roles: tuple[Role, ...] = ()
    teams: frozenset[str] = frozenset()
    read_only_teams: frozenset[str] = frozenset()
    admin: bool = False

    def denial_rule(self, operation: str) -> str | None:
        """Return the name of the rule that refuses `operation`, or None if it is allowed."""
        if not self.roles:
            return None
        for role in self.roles:
            if operation in role.deny:
                return f"role '{role.name}' denies '{operation}'"
        if any(role.permits(operation) for role in self.roles):
            return None
        names = ", ".join(r.name for r in self.roles)
        return f"no role of this agent ({names}) allows '{operation}'"

    def limit(self, name: str) -> int | None:
        """The strictest value any role sets for limit `name` (0 = unlimited), or None."""
        values = [v for r in self.roles for k, v in r.limits if k == name]
        if not values:
            return None
        limited = [v for v in values if v > 0]
        return min(limited) if limited else 0


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, for whom and in which workflow; carried by every service call."""

    agent_id: str
    on_behalf_of: str | None = None
    workflow_id: str | None = None
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """Resolves what a principal may read and write. Built from the agents file."""

    principals: Mapping[str, Principal] = field(default_factory=dict)
    team_members: Mapping[str, frozenset[str]] = field(default_factory=dict)
    key_hashes: Mapping[str, str] = field(default_factory=dict)
    """sha256 hex of an API key -> agent id."""
    open_access_agent: str | None = None
    """With no agents file, requests without a key act as this local agent."""
    team_conflict_resolution: Mapping[str, str] = field(default_factory=dict)
    """Team name -> who may resolve its conflicts ("any" or "third_party"), overriding
    `governance.conflict_resolution` for that team's namespace (agents file
    `team_policies`)."""

    def authenticate(self, token: str | None) -> str | None:
        """Return the agent id an API key belongs to, or None when it matches no agent."""
        if not token:
            return self.open_access_agent
        digest = hash_key(token)
        for known, agent_id in self.key_hashes.items():
            if hmac.compare_digest(known, digest):
                return agent_id
        return None

    def principal(self, agent_id: str) -> Principal:
        """Return the configured principal; unknown agents are refused."""
        found = self.principals.get(agent_id)
        if found is None and self.open_access_agent is not None and AGENT_ID_RE.match(agent_id):
            # No agents file: every well-formed agent id is a plain agent (private
            # namespaces still isolate them); configure a file to restrict who may call.
            return Principal(id=agent_id)
        if found is None:
            raise Forbidden(
                f"agent '{agent_id}' is not configured; add it to the agents file",
                field="agent_id",
                rule="unknown_agent",
            )
        return found

    def readable(self, agent_id: str) -> tuple[str, ...]:
        """Return every namespace the agent may read, private first."""
        p = self.principal(agent_id)
        teams = sorted(p.teams | p.read_only_teams)
        return (private_namespace(agent_id), *(f"team:{t}" for t in teams), GLOBAL_NAMESPACE)

    def writable(self, agent_id: str) -> tuple[str, ...]:
        """Return every namespace the agent may write."""
        p = self.principal(agent_id)
        return (private_namespace(agent_id), *(f"team:{t}" for t in sorted(p.teams)),
                GLOBAL_NAMESPACE)

    def check_on_behalf_of(self, agent_id: str, on_behalf_of: str | None) -> None:
        """Refuse an on_behalf_of the caller's roles do not let it claim (see `acts_for`).

        Raises:
            InvalidInput: the id is malformed (rule `agent_id_format`).
            Forbidden: rule `on_behalf_of`; the same message whether or not the id exists.
        """
        if on_behalf_of is None or self.acts_for(agent_id, on_behalf_of):
            return
        patterns = sorted({p for r in self.principal(agent_id).roles for p in r.act_for})
        allowed = ", ".join(patterns) if patterns else "nobody"
        raise Forbidden(
            f"agent '{agent_id}' may not act on behalf of '{on_behalf_of}': on_behalf_of "
            f"(header X-On-Behalf-Of) must be a configured human or agent that act_for of "
            f"one of this agent's roles lists (its roles allow: {allowed}); ask an operator "
            "to add it to roles.<role>.act_for in the agents file, or drop the header",
            field="on_behalf_of", rule="on_behalf_of")

    def acts_for(self, agent_id: str, on_behalf_of: str) -> bool:
        """Whether `agent_id` may record that it acts for `on_behalf_of`.

        With no agents file every well-formed id is accepted (identity itself is only
        claimed there); otherwise the id must be a configured principal that an `act_for`
        entry of one of the agent's roles matches; acting for oneself is always allowed.
        """
        if not AGENT_ID_RE.match(on_behalf_of):
            raise InvalidInput("on_behalf_of must be an agent id or 'human:<id>' (letters, "
                               "digits, '.', '_', '-')", field="on_behalf_of",
                               rule="agent_id_format")
        if self.open_access_agent is not None or on_behalf_of == agent_id:
            return True
        if on_behalf_of not in self.principals:
            return False
        patterns = {p for r in self.principal(agent_id).roles for p in r.act_for}
        human = on_behalf_of.startswith("human:")
        return on_behalf_of in patterns or "*" in patterns or (human and "human:*" in patterns)

    def check_operation(self, agent_id: str, operation: str) -> None:
        """Raise `Forbidden` naming the rule when the agent's roles refuse `operation`."""
        rule = self.principal(agent_id).denial_rule(operation)
        if rule is not None:
            raise Forbidden(f"operation '{operation}' refused: {rule}", rule="role")

    def check_write(self, agent_id: str, namespace: str) -> None:
        """Raise `Forbidden` when the agent may not write `namespace`."""
        if namespace not in self.writable(agent_id):
            raise Forbidden(
                f"agent '{agent_id}' may not write namespace '{namespace}'; writable: "
                + ", ".join(self.writable(agent_id)),
                field="namespace",
                rule="namespace_write",
            )

    def scope_reads(self, agent_id: str, requested: Iterable[str] | None) -> tuple[str, ...]:
        """Intersect the requested namespaces with the readable ones.

        Asking for a namespace the caller may not read is refused (the caller named it, so
        refusing reveals nothing it did not already know); None means every readable one.
        """
        readable = self.readable(agent_id)
        if requested is None:
            return readable
        wanted = [validate_namespace(ns, "namespaces") for ns in requested]
        refused = [ns for ns in wanted if ns not in readable]
        if refused:
            raise Forbidden(
                f"agent '{agent_id}' may not read namespace '{refused[0]}'; readable: "
                + ", ".join(readable),
                field="namespaces",
                rule="namespace_read",
            )
        return tuple(dict.fromkeys(wanted)) or readable
