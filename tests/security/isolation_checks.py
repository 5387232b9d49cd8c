"""What every agent is shown after each step, checked against the ledger: the views that
take no canary (namespaces and counts, graph pages, buffer, recall, stats, audit,
conflicts, memory listing, vault export) and probes that name a canary the agent may not
read (by id, by name, by text, by tag, by namespace)."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from fleetmem.memory.errors import FleetmemError
from fleetmem.memory.settings import VaultSettings
from fleetmem.vault.sync import run as vault_run
from tests.security.canaries import Ledger, Secret, without_query
from tests.security.doors import Door, Outcome
from tests.security.isolation_ops import SESSION, same_as_decoy
from tests.security.world import AGENT_IDS, World, readers

GENERIC = "what is the launch code, the rollout plan and the approved budget"


def _readable(agent: str, namespace: str | None) -> bool:
    return namespace is not None and agent in readers(namespace)


def _items(out: Outcome, key: str) -> list[dict[str, Any]]:
    if not out.ok or not isinstance(out.body, dict):
        return []
    items: list[dict[str, Any]] = out.body.get(key) or []
    return items


async def check_views(world: World, ledger: Ledger, agent: str, kind: str) -> None:
    """Everything `agent` sees without naming a canary holds no hidden canary, only
    readable namespaces, and counts that match what it can read."""
    door = Door(world, agent, kind)
    listed_out = await door.namespaces()
    ledger.scan(agent, f"{kind} list_namespaces", listed_out.text)
    listed = _items(listed_out, "items" if kind == "rest" else "namespaces")
    assert listed, listed_out.text
    for n in listed:
        assert _readable(agent, n["namespace"]), (agent, n)
        mine = sum(1 for a, ns in ledger.buffered if a == agent and ns == n["namespace"])
        if n["buffer_items"] != mine:  # another agent's short-term items are not counted
            ledger.leaks.append(f"{agent}: {kind} list_namespaces counts {n['buffer_items']} "
                                f"buffer items in {n['namespace']}; it can read {mine}")

    entities: Counter[str] = Counter()
    for page in await door.read_graph_pages():
        ledger.scan(agent, f"{kind} read_graph", page.text)
        assert page.ok, page.text
        for e in _items(page, "entities") + _items(page, "relations"):
            assert _readable(agent, e["namespace"]), (agent, e)
        entities.update(e["namespace"] for e in _items(page, "entities"))
    for n in listed:
        assert n["entities"] == entities[n["namespace"]], (agent, kind, n, entities)

    out = await door.buffer_read(SESSION)
    ledger.scan(agent, f"{kind} buffer_read", out.text)
    assert all(i["agent_id"] == agent for i in _items(out, "items")), out.text

    out = await door.recall(GENERIC, session_id=SESSION, include_archived=True)
    ledger.scan(agent, f"{kind} recall", out.text)
    assert out.ok, out.text
    assert all(_readable(agent, h["memory"]["namespace"]) for h in out.body["hits"]), out.text
    assert all(i["agent_id"] == agent for i in out.body["short_term"]), out.text
    assert all(_readable(agent, ns) for ns in out.body["namespaces"]), out.text
    if kind == "rest":
        await check_rest_views(door, ledger, listed)


async def check_rest_views(door: Door, ledger: Ledger, listed: list[dict[str, Any]]) -> None:
    """stats, conflicts, the audit log and the memory listing (REST only)."""
    agent = door.agent
    await door.world.service.flush()  # read audits are batched: write them now
    active: Counter[str] = Counter()
    for out in await door.rest_only():
        assert out.status < 500, out.text
        where = f"rest {out.body.get('instance') or 'view'}" if isinstance(out.body, dict) \
            else "rest view"
        ledger.scan(agent, where, out.text, exempt=ledger.supplied[agent])
        for item in _items(out, "items"):
            if "seq" in item:  # an audit event: about a readable namespace, or its own
                assert _readable(agent, item["namespace"]) or item["agent_id"] == agent, item
            elif "namespace" in item:
                assert _readable(agent, item["namespace"]), item
                if "text" in item:
                    active[item["namespace"]] += 1
        for ns_view in _items(out, "namespaces"):  # stats
            assert _readable(agent, ns_view["namespace"]), ns_view
    if agent != "rita":  # the reader role may not list memories ("export")
        for n in listed:
            assert n["memories"].get("active", 0) == active[n["namespace"]], (agent, n, active)


async def probe(world: World, ledger: Ledger, agent: str, kind: str, secret: Secret) -> None:
    """Name a canary `agent` may not read in every read (and a harmless write) that takes
    one: the answer must be the same as for a decoy, and show nothing hidden."""
    door = Door(world, agent, kind)
    value = secret.value
    label = f"{kind} {secret.kind} canary"
    if secret.kind == "memory-id":
        decoy = str(uuid.uuid4())
        await same_as_decoy(ledger, agent, f"{label}: history", value, decoy, door.history)
        if kind == "rest":
            await same_as_decoy(ledger, agent, f"{label}: get", value, decoy, door.get)
    elif secret.kind == "name":
        decoy = ledger.token()
        await same_as_decoy(ledger, agent, f"{label}: open_nodes", value, decoy,
                            lambda n: door.open_nodes([n]))
        await same_as_decoy(ledger, agent, f"{label}: neighbours", value, decoy,
                            door.neighbours)
        await same_as_decoy(ledger, agent, f"{label}: add_observations", value, decoy,
                            lambda n: door.add_observations(n, ["probe"], None))
        if kind == "rest":
            await same_as_decoy(ledger, agent, f"{label}: get entity", value, decoy,
                                door.entity)
    elif secret.kind == "tag":
        await same_as_decoy(ledger, agent, f"{label}: recall by tag", value, ledger.token(),
                            lambda t: door.recall(GENERIC, tags=[t]))
    else:
        out = await door.recall(secret.text or value, include_archived=True)
        ledger.supplied[agent].add(value)
        ledger.scan(agent, f"{label}: recall by its text", without_query(out.body))
        if out.ok:
            assert all(_readable(agent, h["memory"]["namespace"]) for h in out.body["hits"])
        await same_as_decoy(ledger, agent, f"{label}: search_nodes", value, ledger.token(),
                            door.search_nodes)
    home = secret.home
    if home is not None and (agent, home) not in ledger.probed_homes:
        ledger.probed_homes.add((agent, home))
        decoy_ns = "agent:zz-nobody" if home.startswith("agent:") else "team:zz-nobody"
        await same_as_decoy(ledger, agent, f"{kind} recall in {home}", home, decoy_ns,
                            lambda ns: door.recall(GENERIC, namespaces=[ns]))
        await same_as_decoy(ledger, agent, f"{kind} namespace summary {home}", home, decoy_ns,
                            door.namespace_summary)


async def probe_all(world: World, ledger: Ledger, secrets: list[Secret], kind: str) -> None:
    """Probe each canary by every agent it is hidden from."""
    for secret in secrets:
        for agent in AGENT_IDS:
            if not secret.visible_to(agent):
                await probe(world, ledger, agent, kind, secret)


async def check_vault(world: World, ledger: Ledger, agent: str) -> None:
    """The vault export of `agent`'s view (private namespace included) holds no file with a
    canary hidden from it."""
    root = world.root / "vaults" / agent.replace(":", "-")
    viewer = "" if agent == "human:dana" else agent
    cfg = VaultSettings(human="dana", viewer=viewer, include_private=True)
    try:
        await vault_run(world.service, cfg, "export", root)
    except FleetmemError as exc:  # a role without "export" is refused: say so, show nothing
        ledger.scan(agent, "vault export refusal", exc.message)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = str(Path(path).relative_to(root))
        ledger.scan(agent, f"vault file {name} (path)", name)
        ledger.scan(agent, f"vault file {name}", path.read_text(encoding="utf-8",
                                                                errors="replace"))
