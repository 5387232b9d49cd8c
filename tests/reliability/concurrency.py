"""Eight agent processes against one `fleetmem serve` for a bounded time, then the
invariants on the stopped service's stores: every acknowledged write exists and nothing
else does, at most one correction wins per version, forgotten stays forgotten, chains are
linear, the audit chain verifies, graph and vector tiers agree, no 5xx, no leak."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from fleetmem.memory.domain.models import MemoryStatus
from fleetmem.memory.ports import Embedder
from tests.reliability.agent_driver import ROUND_SECONDS
from tests.reliability.crash import GRACEFUL_EXIT
from tests.reliability.serve import ServeProcess, serving
from tests.reliability.stores import StoreReport, inspect, settings_for

ROOT = Path(__file__).resolve().parents[2]
AGENTS = [f"a{i}" for i in range(8)]
TEAMS = {"red": AGENTS[:5], "blue": AGENTS[3:]}  # a3 and a4 are in both
CONTESTED_PER_TEAM = 3
START_MARGIN = 6.0


def key_of(agent: str) -> str:
    return f"key-{agent}-reliability"


def agents_file_data() -> dict[str, Any]:
    """Eight writers with API keys, two overlapping teams."""
    return {
        "roles": {"writer": {"allow": ["*"]}},
        "teams": TEAMS,
        "agents": {a: {"key_sha256": hashlib.sha256(key_of(a).encode()).hexdigest(),
                       "roles": ["writer"]} for a in AGENTS},
    }


@dataclass
class ConcurrencyResult:
    """What the agents saw, what the stores hold, and every broken invariant."""

    outputs: list[dict[str, Any]]
    stores: StoreReport
    seeded: dict[str, str]
    problems: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code.startswith("5"))

    def count(self, op: str, status: int) -> int:
        return sum(o["statuses"].get(op, {}).get(str(status), 0) for o in self.outputs)

    def figures(self) -> dict[str, int]:
        return {"ops": sum(o["ops"] for o in self.outputs),
                "acknowledged_writes": sum(len(o["acked"]) for o in self.outputs),
                "race_rounds": sum(o["rounds"] for o in self.outputs),
                "race_wins": self.count("race_correct", 201),
                "race_conflicts": self.count("race_correct", 409),
                "race_forgets": self.count("race_forget", 200),
                "server_errors": self.server_errors}


async def _seed(serve: ServeProcess, per_team_victims: int) -> tuple[dict[str, Any],
                                                                        dict[str, str]]:
    """Contested and victim memories per team, written by a member (loads the model)."""
    plan: dict[str, Any] = {"contested": {}, "victims": {}}
    seeded: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=serve.base_url, timeout=180) as client:
        for n, (team, members) in enumerate(sorted(TEAMS.items())):
            texts = [f"contested {team} {i}: the {team} release train leaves at {10 + i}:{n}5"
                     for i in range(CONTESTED_PER_TEAM)]
            texts += [f"victim {team} {i}: rollback drill {i * 37 + n} on host {i + 100}"
                      for i in range(per_team_victims)]
            r = await client.post("/v1/memories/batch", headers={
                "Authorization": f"Bearer {key_of(members[0])}"},
                json={"memories": [{"text": t, "namespace": f"team:{team}"} for t in texts]})
            r.raise_for_status()
            ids = [res["id"] for res in r.json()["results"]]
            seeded.update(zip(ids, texts, strict=True))
            plan["contested"][team] = ids[:CONTESTED_PER_TEAM]
            plan["victims"][team] = ids[CONTESTED_PER_TEAM:]
    return plan, seeded


def _run_agents(plan_path: Path, work: Path, seconds: float) -> list[dict[str, Any]]:
    """Start the eight agent processes, wait for them (bounded), always reap them."""
    procs: list[subprocess.Popen[bytes]] = []
    log = (work / "agents.log").open("ab")
    try:
        for agent in AGENTS:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "tests.reliability.agent_driver", str(plan_path), agent,
                 str(work / f"{agent}.json")], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                stderr=log))
        deadline = time.monotonic() + seconds + START_MARGIN + 180
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
        log.close()
    return [json.loads((work / f"{a}.json").read_text()) for a in AGENTS]


async def run_concurrency(work: Path, seconds: float, embedder: Embedder) -> ConcurrencyResult:
    """Serve, seed, run the agents for `seconds`, stop serve, inspect the stores."""
    work.mkdir(parents=True, exist_ok=True)
    agents_file = work / "agents.yaml"
    agents_file.write_text(yaml.safe_dump(agents_file_data()))
    data_dir = work / "data"
    rounds_per_team = int(seconds / ROUND_SECONDS / len(TEAMS)) + 1
    with serving(data_dir, work / "serve.log", start=False,
                 env={"FLEETMEM_AGENTS_FILE": str(agents_file)}) as serve:
        await asyncio.to_thread(serve.start)
        plan, seeded = await _seed(serve, rounds_per_team // 3 + 2)
        plan.update({"base_url": serve.base_url, "seconds": seconds, "teams": TEAMS,
                     "team_order": sorted(TEAMS), "start_at": time.time() + START_MARGIN,
                     "agents": {a: {"key": key_of(a), "seed": i,
                                    "teams": [t for t, m in TEAMS.items() if a in m]}
                                for i, a in enumerate(AGENTS)}})
        plan_path = work / "plan.json"
        plan_path.write_text(json.dumps(plan))
        outputs = await asyncio.to_thread(_run_agents, plan_path, work, seconds)
        code = await asyncio.to_thread(serve.stop)
    stores = await inspect(settings_for(data_dir, {}, agents_file), embedder)
    result = ConcurrencyResult(outputs, stores, seeded)
    if code not in GRACEFUL_EXIT:
        result.problems.append(f"serve exited with {code} on SIGTERM")
    check(result)
    return result


def check(result: ConcurrencyResult) -> None:
    """Fill `result.problems` with every broken invariant."""
    problems, memories = result.problems, result.stores.memories
    acked: dict[str, tuple[str, str]] = {}
    for o in result.outputs:
        if "error" in o:
            problems.append(f"agent {o['agent']} crashed:\n{o['error']}")
        problems += [f"agent {o['agent']}: unexpected {u}" for u in o["unexpected"][:10]]
        problems += [f"agent {o['agent']} saw a memory it may not read: {x}" for x in o["leaks"]]
        for codes in o["statuses"].values():
            result.statuses.update(codes)
        acked.update({i: (t, ns) for i, t, ns in o["acked"]})
    for memory_id, (text, ns) in acked.items():
        m = memories.get(memory_id)
        if m is None or m.text != text or m.namespace != ns:
            problems.append(f"acknowledged write {memory_id} ({text!r} in {ns}) is "
                            f"{'missing' if m is None else 'different: ' + repr(m.text)}")
    extra = set(memories) - set(acked) - set(result.seeded)
    if extra:
        problems.append(f"{len(extra)} memories nobody was told about, e.g. {sorted(extra)[:3]}")
    wins: dict[str, list[str]] = defaultdict(list)
    raced: set[str] = set()
    for o in result.outputs:
        for old, new, status, op in o["corrections"]:
            if status == 201:
                wins[old].append(new)
            if op == "race_correct":
                raced.add(old)
    forgotten = {i for o in result.outputs for i, status, _op in o["forgets"] if status == 200}
    # correct vs correct: the version everyone raced for was current, so exactly one won
    problems += [f"nobody won the race for {old}" for old in sorted(raced - forgotten)
                 if not wins.get(old)]
    for old, news in wins.items():
        if len(news) > 1:
            problems.append(f"lost update: {len(news)} corrections of {old} all succeeded")
        elif old in memories and memories[old].superseded_by != news[0]:
            problems.append(f"correction {old} -> {news[0]} acknowledged but the store says "
                            f"{old} is superseded by {memories[old].superseded_by}")
    restored = {i for o in result.outputs for i, status in o["restores"] if status == 200}
    for o in result.outputs:
        for memory_id, status, _op in o["forgets"]:
            m = memories.get(memory_id)
            if memory_id in restored:
                continue
            if status == 200 and (m is None or m.status is not MemoryStatus.ARCHIVED):
                problems.append(f"forgotten memory {memory_id} is "
                                f"{'missing' if m is None else m.status.value}")
    problems += result.stores.problems()
