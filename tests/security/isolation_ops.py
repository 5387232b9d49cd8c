"""The operations of the isolation property test: each plants canaries through a door (or
is refused), checks the refusal is right, and updates the ledger with where the canaries
now live. An operation aimed at a record the actor may not read is also a probe: its answer
must equal the answer for a decoy that never existed."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.graph.entities import EntitySpec
from tests.security.canaries import Entity, Ledger, Memory, Secret, normalise
from tests.security.doors import Door, Outcome
from tests.security.world import AGENT_IDS, TEAM, World, may_write, private, readers

SESSION = "shared-session"  # every agent uses the same session id
BOARDS = {TEAM: "Atlas Board", "global": "Global Board"}
OPS = ("remember", "entity", "relate", "claim", "buffer", "consolidate", "correct",
       "forget", "share", "delete")
TARGETS = ("default", "own", "team", "global", "other")
WORDS = ("falcon", "harbour", "juniper", "meridian", "quartz", "tundra")


@dataclass(frozen=True)
class Step:
    """One operation: what, by whom, in which namespace, through which door."""

    op: str
    actor: str
    target: str
    door: str
    pick: int

    def namespace(self) -> str | None:
        """The namespace argument the step sends (None: the actor's private default)."""
        if self.target == "default":
            return None
        if self.target == "own":
            return private(self.actor)
        if self.target == "other":
            return private(AGENT_IDS[(AGENT_IDS.index(self.actor) + 1) % len(AGENT_IDS)])
        return TEAM if self.target == "team" else "global"

    def effective(self) -> str:
        return self.namespace() or private(self.actor)


async def seed(world: World, ledger: Ledger) -> None:
    """Every writer gets a private memory and entity; the team and global get a board."""
    service = world.service
    await service.create_entities(Caller("alice"), [EntitySpec(BOARDS[TEAM], "board")], TEAM)
    await service.create_entities(Caller("alice"), [EntitySpec(BOARDS["global"], "board")],
                                  "global")
    for agent in ("alice", "bob", "carol", "human:dana"):
        door = Door(world, agent, "rest")
        await remember(door, ledger, None)
        await entity(door, ledger, None)
    for agent in ("alice", "bob"):  # two owners of the team board: an open conflict
        await claim(Door(world, agent, "rest"), ledger, Step("claim", agent, "team", "rest", 0))


def _check_refusal(step_or_label: object, out: Outcome, expected: bool) -> None:
    assert out.ok == expected, f"{step_or_label}: expected ok={expected}, got {out.text[:500]}"
    assert out.status < 500, f"{step_or_label}: server error {out.text[:500]}"


async def remember(door: Door, ledger: Ledger, namespace: str | None, pick: int = 0) -> None:
    ns = namespace or private(door.agent)
    token, tag = ledger.token(), ledger.token()
    text = f"{token} is the launch code of project {WORDS[pick % len(WORDS)]}"
    out = await door.remember(text, namespace, [tag])
    _check_refusal(("remember", door.agent, ns), out, may_write(door.agent, ns))
    if not out.ok:
        ledger.plant(token, "refused", door.agent, None, text)
        ledger.plant(tag, "refused", door.agent, None)
        return
    assert out.body["namespace"] == ns, out.text
    secrets = [ledger.plant(token, "text", door.agent, ns, text),
               ledger.plant(tag, "tag", door.agent, ns),
               ledger.plant(out.body["id"], "memory-id", door.agent, ns)]
    ledger.memories.append(Memory(out.body["id"], ns, secrets))


async def entity(door: Door, ledger: Ledger, namespace: str | None) -> None:
    ns = namespace or private(door.agent)
    name, obs = ledger.token(), ledger.token()
    observation = f"the {obs} budget was approved"
    out = await door.create_entity(name, [observation], namespace)
    _check_refusal(("create_entities", door.agent, ns), out, may_write(door.agent, ns))
    if not out.ok:
        ledger.plant(name, "refused", door.agent, None)
        ledger.plant(obs, "refused", door.agent, None)
        return
    ledger.entities.append(Entity(ledger.plant(name, "name", door.agent, ns), ns))
    ledger.plant(obs, "observation", door.agent, ns, f"{name}: {observation}")


async def relate(door: Door, ledger: Ledger, namespace: str | None) -> None:
    ns = namespace or private(door.agent)
    a, rel, b = ledger.token(), ledger.token(), ledger.token()
    out = await door.relate(a, rel, b, namespace)
    _check_refusal(("relate", door.agent, ns), out, may_write(door.agent, ns))
    if not out.ok:
        for value in (a, rel, b):
            ledger.plant(value, "refused", door.agent, None)
        return
    for value in (a, b):
        ledger.entities.append(Entity(ledger.plant(value, "name", door.agent, ns,
                                                   f"{a} {rel} {b}"), ns))
    ledger.plant(rel, "relation", door.agent, ns, f"{a} {rel} {b}")


async def claim(door: Door, ledger: Ledger, step: Step) -> None:
    """An attribute observation `owner: <canary>` (two agents on one board: a conflict)."""
    ns = step.effective()
    on = BOARDS.get(ns) or next((e.name.value for e in ledger.entities
                                 if e.namespace == ns and e.alive), None)
    if on is None:
        return
    value = ledger.token()
    out = await door.add_observations(on, [f"owner: {value}"], step.namespace())
    _check_refusal(step, out, may_write(door.agent, ns))
    if door.agent not in readers(ns):
        ledger.supplied[door.agent].add(on)
    ledger.plant(value, "observation" if out.ok else "refused", door.agent,
                 ns if out.ok else None, f"{on}: owner: {value}")


async def buffer(door: Door, ledger: Ledger, step: Step) -> None:
    ns = step.effective()
    token = ledger.token()
    text = f"{token} note about the rollout plan for the next release"
    out = await door.buffer_append(SESSION, text, step.namespace())
    _check_refusal(step, out, may_write(door.agent, ns))
    if out.ok:
        ledger.buffered.append((door.agent, ns))
        ledger.pending[door.agent].append((ledger.plant(token, "buffer", door.agent, None,
                                                        text), ns))
    else:
        ledger.plant(token, "refused", door.agent, None, text)


async def consolidate(door: Door, ledger: Ledger, step: Step) -> None:
    out = await door.consolidate(SESSION)
    _check_refusal(step, out, door.agent != "rita")
    if not out.ok:
        return
    pending = ledger.pending[door.agent]
    promoted = out.body["promoted"]
    assert len(promoted) == len(pending), (step, out.text, pending)
    for (secret, ns), result in zip(pending, promoted, strict=True):
        assert result["namespace"] == ns, (step, result)
        secret.namespaces.add(ns)
        mid = ledger.plant(result["id"], "memory-id", door.agent, ns)
        ledger.memories.append(Memory(result["id"], ns, [secret, mid]))
    pending.clear()


async def same_as_decoy(ledger: Ledger, agent: str, label: str, value: str, decoy: str,
                        call: Callable[[str], Awaitable[Outcome]]) -> Outcome:
    """Probe with a canary `agent` may not read, then with a decoy: the answers must be the
    same (with both strings, ids and times masked); neither may show another canary."""
    real, fake = await call(value), await call(decoy)
    ledger.supplied[agent].add(value)
    seen = (real.status, normalise(real.text, value, decoy))
    assert real.status < 500, f"{label}: server error {real.text[:500]}"
    if seen != (fake.status, normalise(fake.text, value, decoy)):
        ledger.leaks.append(f"{agent}: {label} with a hidden canary answers differently from "
                            f"a decoy:\n  real:  {real.status} {real.text[:400]}\n  decoy: "
                            f"{fake.status} {fake.text[:400]}")
    ledger.scan(agent, label, real.text, exempt={value})
    return real


def _pick(items: list[Memory], pick: int) -> Memory | None:
    return items[pick % len(items)] if items else None


async def on_memory(door: Door, ledger: Ledger, step: Step) -> None:
    """correct / forget / share a known memory (maybe one the actor may not read)."""
    target = _pick(ledger.memories, step.pick)
    if target is None:
        return
    agent, ns = door.agent, target.namespace
    token = ledger.token()
    text = f"{token} is the corrected launch code"
    dest = step.effective()
    calls: dict[str, Callable[[str], Awaitable[Outcome]]] = {
        "correct": lambda mid: door.correct(mid, text),
        "forget": door.forget,
        "share": lambda mid: door.share(mid, dest),
    }
    if agent not in readers(ns):
        out = await same_as_decoy(ledger, agent, f"{step.op} by id", target.id,
                                  str(uuid.uuid4()), calls[step.op])
        assert not out.ok, (step, out.text)
        ledger.plant(token, "refused", agent, None, text)
        return
    out = await calls[step.op](target.id)
    writable = may_write(agent, ns)
    if step.op == "correct":
        _check_refusal(step, out, writable and target.status == "active")
    elif step.op == "forget":
        _check_refusal(step, out, writable)
    else:
        _check_refusal(step, out, may_write(agent, dest) and agent != "rita" and dest != ns)
    if not out.ok:
        ledger.plant(token, "refused", agent, None, text)
        return
    if step.op == "correct":
        target.status = "superseded"
        new = [ledger.plant(token, "text", agent, ns, text),
               ledger.plant(out.body["id"], "memory-id", agent, ns),
               *(s for s in target.secrets if s.kind == "tag")]
        ledger.memories.append(Memory(out.body["id"], ns, new))
    elif step.op == "forget":
        target.status = "archived"
    else:
        for secret in target.secrets:
            secret.namespaces.add(dest)
        if not any(m.id == out.body["id"] for m in ledger.memories):
            copy = [*target.secrets, ledger.plant(out.body["id"], "memory-id", agent, dest)]
            ledger.memories.append(Memory(out.body["id"], dest, copy))


async def delete(door: Door, ledger: Ledger, step: Step) -> None:
    """delete_entities by name, in the entity's namespace or the actor's own."""
    if not ledger.entities:
        return
    target = ledger.entities[step.pick % len(ledger.entities)]
    agent = door.agent
    ns = target.namespace if step.target in ("team", "global", "other") else None
    where = ns or private(agent)
    name = target.name.value
    if agent not in readers(target.namespace):
        out = await same_as_decoy(ledger, agent, "delete_entities by name", name,
                                  ledger.token(), lambda n: door.delete_entities([n], ns))
        _check_refusal(step, out, may_write(agent, where))
        return
    out = await door.delete_entities([name], ns)
    _check_refusal(step, out, may_write(agent, where))
    deleted = out.body.get("deleted") if out.ok else None
    hit = where == target.namespace and target.alive
    assert bool(deleted) == (out.ok and hit), (step, out.text)
    if out.ok and hit:
        for e in ledger.entities:
            if e.namespace == where and e.name.value == name:
                e.alive = False


async def run_step(world: World, ledger: Ledger, step: Step) -> list[Secret]:
    """Run one step; return the canaries it planted (the ones to probe right away)."""
    before = len(ledger.secrets)
    door = Door(world, step.actor, step.door)
    if step.op == "remember":
        await remember(door, ledger, step.namespace(), step.pick)
    elif step.op == "entity":
        await entity(door, ledger, step.namespace())
    elif step.op == "relate":
        await relate(door, ledger, step.namespace())
    elif step.op == "claim":
        await claim(door, ledger, step)
    elif step.op == "buffer":
        await buffer(door, ledger, step)
    elif step.op == "consolidate":
        await consolidate(door, ledger, step)
    elif step.op in ("correct", "forget", "share"):
        await on_memory(door, ledger, step)
    else:
        await delete(door, ledger, step)
    return ledger.secrets[before:]
