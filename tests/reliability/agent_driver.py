"""One agent process of the concurrency test: for a bounded time it writes, recalls,
corrects and forgets over REST in its private namespace and its teams, and at fixed
wall-clock slots races its team mates on the same memory (correct vs correct, correct vs
forget). Writes everything it saw to a JSON file at the end. Only httpx and the standard
library, so eight of them start fast.

Usage: python -m tests.reliability.agent_driver PLAN.json AGENT OUT.json
"""

from __future__ import annotations

import json
import random
import sys
import time
import traceback
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

ROUND_SECONDS = 2.0
PREPARE_SECONDS = 0.6
MAX_OPS = 100_000
OK = {"remember": {201}, "batch": {201}, "recall": {200}, "get": {200}, "history": {200},
      "list": {200}, "correct_own": {201}, "forget_own": {200}, "correct_team": {201, 409},
      "forget_team": {200}, "restore": {200, 409}, "race_correct": {201, 409}, "race_forget": {200}}


class Driver:
    """The agent's client, its own bookkeeping and what it observed."""

    def __init__(self, plan: dict[str, Any], agent: str) -> None:
        self.plan, self.agent = plan, agent
        spec = plan["agents"][agent]
        self.teams: list[str] = spec["teams"]
        self.readable = {f"agent:{agent}", "global", *(f"team:{t}" for t in self.teams)}
        self.rng = random.Random(spec["seed"])
        self.http = httpx.Client(base_url=plan["base_url"], timeout=60, headers={
            "Authorization": f"Bearer {spec['key']}", "X-Workflow-Id": f"concurrency-{agent}"})
        self.n = 0
        self.mine: dict[str, list[str]] = defaultdict(list)  # namespace -> active own ids
        self.texts: list[str] = []
        self.forgotten: list[tuple[str, str]] = []  # (id, namespace) this agent forgot
        self.out: dict[str, Any] = {
            "agent": agent, "acked": [], "corrections": [], "forgets": [], "restores": [],
            "unexpected": [],
            "leaks": [], "statuses": defaultdict(lambda: defaultdict(int)), "ops": 0,
            "rounds": 0, "rounds_skipped": 0}

    # bookkeeping ----------------------------------------------------------------------
    def call(self, op: str, method: str, path: str, **kw: Any) -> httpx.Response | None:
        """One request; the status is counted, anything unexpected recorded."""
        try:
            r = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            self.out["unexpected"].append([op, path, "transport", repr(exc)])
            return None
        self.out["statuses"][op][str(r.status_code)] += 1
        self.out["ops"] += 1
        if r.status_code not in OK[op]:
            self.out["unexpected"].append([op, path, r.status_code, r.text[:300]])
        return r

    def text(self, topic: str, prefix: str = "") -> str:
        self.n += 1
        t = (f"{prefix}{self.agent} {topic} note {self.n}: deploy window "
             f"{self.rng.randint(1, 10**6)} uses {self.rng.randint(2, 64)} workers")
        self.texts.append(t)
        return t

    def acked(self, memory_id: str, text: str, namespace: str) -> None:
        self.out["acked"].append([memory_id, text, namespace])
        self.mine[namespace].append(memory_id)

    # operations -----------------------------------------------------------------------
    def remember(self, namespace: str) -> None:
        text = self.text("remember")
        r = self.call("remember", "POST", "/v1/memories", json={"text": text, "namespace":
                      namespace}, headers={"Idempotency-Key": str(uuid.uuid4())})
        if r is not None and r.status_code == 201:
            self.acked(r.json()["id"], text, namespace)

    def batch(self) -> None:
        spaces = [self.rng.choice(sorted(self.readable - {"global"}))
                  for _ in range(self.rng.randint(2, 4))]
        texts = [self.text("batch") for _ in spaces]
        r = self.call("batch", "POST", "/v1/memories/batch", json={"memories": [
            {"text": t, "namespace": ns} for t, ns in zip(texts, spaces, strict=True)]})
        if r is not None and r.status_code == 201:
            for res, t, ns in zip(r.json()["results"], texts, spaces, strict=True):
                self.acked(res["id"], t, ns)

    def recall(self) -> None:
        query = self.rng.choice(self.texts) if self.texts else "deploy window workers"
        r = self.call("recall", "POST", "/v1/memories/recall", json={"query": query, "k": 8})
        if r is not None and r.status_code == 200:
            for hit in r.json()["hits"]:
                if hit["memory"]["namespace"] not in self.readable:
                    self.out["leaks"].append(["recall", hit["memory"]["id"],
                                              hit["memory"]["namespace"]])

    def get_or_history(self) -> None:
        ids = [i for ids in self.mine.values() for i in ids]
        if not ids:
            return
        mid = self.rng.choice(ids)
        if self.rng.random() < 0.5:
            self.call("get", "GET", f"/v1/memories/{mid}")
            return
        r = self.call("history", "GET", f"/v1/memories/{mid}/history")
        if r is not None and r.status_code == 200:
            items = r.json()["items"]
            for a, b in zip(items, items[1:], strict=False):
                if a["superseded_by"] != b["id"] or b["supersedes"] != a["id"]:
                    self.out["unexpected"].append(["history", mid, "not linear", items])

    def correct(self, op: str, memory_id: str, namespace: str, prefix: str = "") -> int | None:
        text = self.text("correction", prefix)
        r = self.call(op, "POST", f"/v1/memories/{memory_id}/correct",
                      json={"text": text, "reason": "concurrency test"})
        if r is None:
            return None
        new = r.json()["id"] if r.status_code == 201 else None
        self.out["corrections"].append([memory_id, new, r.status_code, op])
        if new is not None:
            self.acked(new, text, namespace)
        return r.status_code

    def forget(self, op: str, memory_id: str, namespace: str = "") -> None:
        r = self.call(op, "DELETE", f"/v1/memories/{memory_id}")
        if r is not None:
            self.out["forgets"].append([memory_id, r.status_code, op])
            if r.status_code == 200 and namespace:
                self.forgotten.append((memory_id, namespace))

    def restore(self) -> None:
        """Bring back something this agent forgot (a team mate may have been first)."""
        if not self.forgotten:
            return
        memory_id, ns = self.forgotten.pop(self.rng.randrange(len(self.forgotten)))
        r = self.call("restore", "POST", f"/v1/memories/{memory_id}/restore")
        if r is not None:
            self.out["restores"].append([memory_id, r.status_code])
            if r.status_code == 200 and r.json()["status"] == "active":
                self.mine[ns].append(memory_id)

    def own_private(self, action: str) -> None:
        ids = self.mine[f"agent:{self.agent}"]
        if not ids:
            return
        mid = ids.pop(self.rng.randrange(len(ids)))
        if action == "correct":
            self.correct("correct_own", mid, f"agent:{self.agent}")
        else:
            self.forget("forget_own", mid, f"agent:{self.agent}")

    def team_member(self) -> None:
        """Correct or forget someone's team memory (found by listing a random page)."""
        ns = f"team:{self.rng.choice(self.teams)}"
        r = self.call("list", "GET", "/v1/memories", params={
            "namespaces": ns, "limit": 20, "cursor": str(uuid.uuid4())})
        if r is None or r.status_code != 200:
            return
        items = [m for m in r.json()["items"] if not m["text"].startswith(("contested",
                                                                            "victim"))]
        for m in items:
            if m["namespace"] not in self.readable:
                self.out["leaks"].append(["list", m["id"], m["namespace"]])
        if not items:
            return
        target = self.rng.choice(items)
        if self.rng.random() < 0.6:
            self.correct("correct_team", target["id"], ns)
        else:
            self.forget("forget_team", target["id"], ns)

    def random_op(self) -> None:
        roll = self.rng.random()
        private, teams = f"agent:{self.agent}", [f"team:{t}" for t in self.teams]
        if roll < 0.20:
            self.remember(private)
        elif roll < 0.35:
            self.remember(self.rng.choice(teams))
        elif roll < 0.40:
            self.batch()
        elif roll < 0.60:
            self.recall()
        elif roll < 0.72:
            self.get_or_history()
        elif roll < 0.80:
            self.own_private("correct")
        elif roll < 0.85:
            self.own_private("forget")
        elif roll < 0.88:
            self.restore()
        else:
            self.team_member()

    # races ----------------------------------------------------------------------------
    def head(self, root: str) -> str | None:
        """The current (active) version of a contested memory, by its history."""
        r = self.call("history", "GET", f"/v1/memories/{root}/history")
        if r is None or r.status_code != 200:
            return None
        items = {m["id"]: m for m in r.json()["items"]}
        cur = items.get(root)
        while cur is not None and cur["superseded_by"] in items:
            cur = items[cur["superseded_by"]]
        return cur["id"] if cur is not None and cur["status"] == "active" else None

    def race(self, r: int, slot: float) -> None:
        """Round r: everyone in the round's team hits the same memory at `slot`."""
        order: list[str] = self.plan["team_order"]
        team = order[r % len(order)]
        if team not in self.teams:
            return
        turn = r // len(order)
        members: list[str] = self.plan["teams"][team]
        ns = f"team:{team}"
        if turn % 3 == 2:  # correct vs forget on a fresh memory
            victims = self.plan["victims"][team]
            target: str | None = victims[turn // 3 % len(victims)]
            forgetter = members[turn % len(members)] == self.agent
            prefix = "victim "
        else:  # correct vs correct on the current version of a contested memory
            roots = self.plan["contested"][team]
            target, forgetter = self.head(roots[turn % len(roots)]), False
            prefix = "contested "
        if target is None:
            return
        time.sleep(max(0.0, slot - time.time()))
        self.out["rounds"] += 1
        if forgetter:
            self.forget("race_forget", target)
        else:
            self.correct("race_correct", target, ns, prefix)

    def run(self) -> None:
        start, end = self.plan["start_at"], self.plan["start_at"] + self.plan["seconds"]
        time.sleep(max(0.0, start - time.time()))
        r = 0
        while time.time() < end and self.out["ops"] < MAX_OPS:
            slot = start + ROUND_SECONDS * (r + 1)
            if slot < end and time.time() >= slot - PREPARE_SECONDS:
                if time.time() > slot + ROUND_SECONDS / 2:
                    self.out["rounds_skipped"] += 1  # too late to race fairly
                else:
                    self.race(r, slot)
                r += 1
                continue
            self.random_op()


def main(plan_path: str, agent: str, out_path: str) -> int:
    plan = json.loads(Path(plan_path).read_text())
    driver = Driver(plan, agent)
    try:
        driver.run()
    except Exception:  # the orchestrator reports it; the JSON must still be written
        driver.out["error"] = traceback.format_exc()
    finally:
        driver.http.close()
        tmp = Path(out_path + ".tmp")
        tmp.write_text(json.dumps(driver.out))
        tmp.replace(out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
