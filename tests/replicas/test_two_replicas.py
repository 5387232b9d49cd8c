"""Two `fleetmem serve` replicas on one Neo4j (issue 22, Deliver 3).

Both processes keep the graph and the vectors in the same Neo4j (`vector.backend=neo4j`,
Neo4j's native vector index: Qdrant's server cannot run on this machine and Qdrant Edge is
one process's embedded store). Writers on both replicas at once, then:
- every acknowledged write is readable from BOTH replicas, by id, by listing (no
  duplicate) and by a dense-only recall (so the other replica's vector is there);
- one idempotency key sent to both replicas at once makes one memory;
- two replicas correcting one memory at once: one success and one 409, never two
  successors;
- each scheduled GC slot runs on exactly one replica (the other logs it as skipped).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from neo4j import GraphDatabase

from tests.neo4j_fixtures import Neo4jTarget, wipe
from tests.replicas.support import GC_EVERY, Replica, start_replicas

pytestmark = [pytest.mark.neo4j, pytest.mark.timeout(300)]
WRITERS = 2
"""Writers per replica (each alternates between the replicas)."""
WRITES = 6


@pytest.fixture(scope="module")
def replicas(neo4j_server: Neo4jTarget,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Replica]]:
    wipe(neo4j_server)
    started = start_replicas(neo4j_server, tmp_path_factory.mktemp("replicas"))
    try:
        yield started
    finally:
        for r in started:
            r.stop()


@pytest.fixture
async def clients(replicas: list[Replica]) -> AsyncIterator[list[httpx.AsyncClient]]:
    made = [httpx.AsyncClient(base_url=r.url, timeout=60) for r in replicas]
    try:
        yield made
    finally:
        for c in made:
            await c.aclose()


def agent(name: str) -> dict[str, str]:
    return {"X-Agent-Id": name}


async def _all_ids(client: httpx.AsyncClient, who: str) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/v1/memories", headers=agent(who), params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        ids += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


async def test_concurrent_writers_on_both_replicas_lose_and_duplicate_nothing(
        clients: list[httpx.AsyncClient]) -> None:
    async def writer(w: int) -> dict[str, str]:
        written: dict[str, str] = {}
        for i in range(WRITES):
            text = f"Writer {w} records fact number {w * 100 + i} about service {i + 7}"
            client = clients[(w + i) % len(clients)]  # alternate replicas
            r = await client.post("/v1/memories", headers=agent(f"writer-{w}"),
                                  json={"text": text})
            assert r.status_code == 201, r.text
            assert not r.json()["deduplicated"]
            written[r.json()["id"]] = text
        return written

    results = await asyncio.gather(*(writer(w) for w in range(WRITERS * len(clients))))

    async def check(w: int, written: dict[str, str]) -> None:
        who = f"writer-{w}"
        assert len(written) == WRITES
        for client in clients:
            assert sorted(await _all_ids(client, who)) == sorted(written)  # nothing lost/extra
            for mid, text in written.items():
                got = await client.get(f"/v1/memories/{mid}", headers=agent(who))
                assert got.status_code == 200 and got.json()["text"] == text
                # The dense leg alone finds it on each replica, whichever wrote it.
                r = await client.post("/v1/memories/recall", headers=agent(who),
                                      json={"query": text, "k": 3, "modes": ["dense"]})
                assert r.status_code == 200, r.text
                hits = r.json()["hits"]
                assert hits and hits[0]["memory"]["id"] == mid, (text, hits)
                assert hits[0]["sources"] == ["dense"]
    await asyncio.gather(*(check(w, written) for w, written in enumerate(results)))


async def test_one_idempotency_key_on_both_replicas_makes_one_memory(
        clients: list[httpx.AsyncClient]) -> None:
    who = "idem-agent"
    for n in range(5):
        key = f"replica-key-{n}"
        body = {"text": f"Release train {n} leaves at {n + 10}:00 from platform {n + 3}"}

        async def send(client: httpx.AsyncClient, body: dict[str, str] = body,
                       key: str = key) -> httpx.Response:
            return await client.post("/v1/memories", json=body,
                                     headers={**agent(who), "Idempotency-Key": key})
        answers = await asyncio.gather(*(send(c) for c in clients))
        ids = set()
        for a in answers:
            if a.status_code == 409:
                assert a.json()["rule"] == "idempotency_in_flight", a.text
                a = await send(clients[0])  # the retry the 409 asks for
            assert a.status_code in (200, 201), a.text
            ids.add(a.json()["id"])
        assert len(ids) == 1, answers
    listed = await _all_ids(clients[1], who)
    assert len(listed) == 5


async def test_concurrent_corrections_on_two_replicas_one_wins_one_conflicts(
        clients: list[httpx.AsyncClient]) -> None:
    who = agent("editor")
    for n in range(4):
        r = await clients[n % 2].post("/v1/memories", headers=who, json={
            "text": f"The cache cluster {n} has {n + 4} nodes"})
        assert r.status_code == 201, r.text
        old = r.json()["id"]
        answers = await asyncio.gather(*(
            c.post(f"/v1/memories/{old}/correct", headers=who,
                   json={"text": f"The cache cluster {n} has {n + 4 + k} nodes now"})
            for k, c in enumerate(clients, start=1)))
        codes = sorted(a.status_code for a in answers)
        assert codes == [201, 409], [a.text for a in answers]
        lost = next(a for a in answers if a.status_code == 409).json()
        assert lost["rule"] in ("not_active", "concurrent_update"), lost
        won = next(a for a in answers if a.status_code == 201).json()
        for c in clients:
            hist = (await c.get(f"/v1/memories/{old}/history", headers=who)).json()["items"]
            assert [v["id"] for v in hist] == [old, won["id"]]


def _slot_outcomes(replicas: list[Replica]) -> dict[str, list[tuple[str, str]]]:
    by_slot: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in replicas:
        for e in r.events("gc_run"):
            if e.get("job") == "buffers" and e.get("slot"):
                by_slot[e["slot"]].append((r.name, e["outcome"]))
    return by_slot


def test_each_gc_slot_runs_on_one_replica_only(replicas: list[Replica],
                                               neo4j_server: Neo4jTarget) -> None:
    deadline = time.monotonic() + 10 * GC_EVERY + 20
    while True:
        by_slot = _slot_outcomes(replicas)
        both = [s for s, seen in by_slot.items() if len({name for name, _ in seen}) == 2]
        if len(both) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(GC_EVERY / 2)
    assert len(both) >= 3, dict(by_slot)
    for slot, seen in by_slot.items():
        ran = [name for name, outcome in seen if outcome == "ok"]
        assert len(ran) <= 1, (slot, seen)
        assert all(outcome in ("ok", "skipped") for _, outcome in seen), (slot, seen)
    for slot in both:
        assert sorted(o for _, o in by_slot[slot]) == ["ok", "skipped"], by_slot[slot]
    auth = (neo4j_server.user, neo4j_server.password) if neo4j_server.password else None
    with GraphDatabase.driver(neo4j_server.uri, auth=auth) as driver, driver.session() as s:
        claims = {r["slot"]: r["owner"] for r in s.run(
            "MATCH (j:JobSlot {job: 'buffers'}) RETURN j.slot_key AS slot, j.owner AS owner")}
    for slot in both:
        assert slot in claims  # the one claim the winner made
