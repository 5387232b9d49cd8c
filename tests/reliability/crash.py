"""Crash cycles against `fleetmem serve`: concurrent REST writes, SIGKILL at a random
moment, restart; then every acknowledged write must be retrievable and recallable exactly
once, and nothing half-written may be visible. Used by the tests (quick sizes) and by
`python -m bench.reliability` (full sizes)."""

from __future__ import annotations

import asyncio
import random
import string
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from fleetmem.memory.ports import Embedder
from tests.reliability.serve import ServeProcess, serving
from tests.reliability.stores import StoreReport, inspect, settings_for

WRITERS = 4
# uvicorn re-raises the SIGTERM it handled after a clean shutdown, hence -15
GRACEFUL_EXIT = (0, -15)
SUBJECTS = ("billing", "search", "payments", "auth", "ingest", "alerts", "cache", "reports")


@dataclass
class Write:
    """One write request (single or batch) and its idempotency key, for a retry."""

    key: str
    path: str
    body: dict[str, Any]
    texts: list[str]


@dataclass
class CrashLedger:
    """Everything the clients saw: acknowledged writes, unanswered ones, statuses."""

    acked: dict[str, str] = field(default_factory=dict)
    in_flight: dict[str, Write] = field(default_factory=dict)
    attempted: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    cycles: int = 0
    early_kills: int = 0
    retried: int = 0

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code >= 500)

    def record(self, write: Write, response: httpx.Response) -> None:
        """Book a response: acknowledged ids, or an unexpected status as a problem."""
        self.statuses[response.status_code] += 1
        if response.status_code != 201:
            self.problems.append(f"{write.path} answered {response.status_code}: "
                                 f"{response.text[:300]}")
            self.in_flight.pop(write.key, None)
            return
        data = response.json()
        results = data.get("results", [data])
        if len(results) != len(write.texts):
            self.problems.append(f"{write.path} acknowledged {len(results)} of "
                                 f"{len(write.texts)} memories")
        for result, text in zip(results, write.texts, strict=False):
            known = self.acked.get(result["id"])
            if known is not None and known != text:
                self.problems.append(f"id {result['id']} acknowledged for two texts: "
                                     f"{known!r} and {text!r}")
            self.acked[result["id"]] = text
        self.in_flight.pop(write.key, None)


def _text(rng: random.Random, cycle: int, writer: int, n: int) -> str:
    # Unique numbers make every text a different fact (near-duplicates must share numbers);
    # a random codename makes it findable among thousands of texts of the same template.
    subject = rng.choice(SUBJECTS)
    codename = "".join(rng.choices(string.ascii_lowercase, k=8))
    return (f"crash cycle {cycle} writer {writer} note {n}: the {subject} service "
            f"{codename} keeps {rng.randint(2, 99)} replicas and rotates logs every "
            f"{n * 7 + writer} hours")


def _next_write(rng: random.Random, cycle: int, writer: int, n: int) -> Write:
    if rng.random() < 0.5:
        text = _text(rng, cycle, writer, n)
        return Write(str(uuid.uuid4()), "/v1/memories", {"text": text}, [text])
    texts = [_text(rng, cycle, writer, n * 100 + i) for i in range(rng.randint(2, 8))]
    return Write(str(uuid.uuid4()), "/v1/memories/batch",
                 {"memories": [{"text": t} for t in texts]}, texts)


async def _send(client: httpx.AsyncClient, ledger: CrashLedger, write: Write) -> bool:
    """POST a write; False when the connection broke (the server died: no answer)."""
    ledger.in_flight[write.key] = write
    ledger.attempted.update(write.texts)
    try:
        response = await client.post(write.path, json=write.body,
                                     headers={"Idempotency-Key": write.key})
    except httpx.TransportError:
        return False
    ledger.record(write, response)
    return True


async def _writer(client: httpx.AsyncClient, ledger: CrashLedger, cycle: int, writer: int,
                  rng: random.Random, first_ack: asyncio.Event) -> None:
    n = 0
    while await _send(client, ledger, _next_write(rng, cycle, writer, n)):
        first_ack.set()
        n += 1


RETRY_WAIT_S = 60
"""How long a retry keeps trying while the key's claim from before the crash lasts (the
service's lease is 30 s: idempotency.CLAIM_SECONDS)."""


async def _retry_in_flight(client: httpx.AsyncClient, ledger: CrashLedger) -> None:
    """What a client does after an outage: resend unanswered writes with the same key,
    again after a moment while the answer is 409 `idempotency_in_flight` (the killed
    process's claim on the key has not expired yet)."""
    for write in list(ledger.in_flight.values()):
        ledger.retried += 1
        deadline = time.monotonic() + RETRY_WAIT_S
        while True:
            try:
                response = await client.post(write.path, json=write.body,
                                             headers={"Idempotency-Key": write.key})
            except httpx.TransportError as exc:
                raise RuntimeError(f"retry of {write.path} failed: the restarted service "
                                   "died") from exc
            if response.status_code == 409 and "idempotency_in_flight" in response.text \
                    and time.monotonic() < deadline:
                await asyncio.sleep(1.0)
                continue
            ledger.record(write, response)
            break


async def _cycle(serve: ServeProcess, ledger: CrashLedger, cycle: int, rng: random.Random,
                 early: bool) -> None:
    """One start: retry what the last crash left unanswered, write concurrently, SIGKILL."""
    if early:  # kill during startup (model load, repair pass) or just after it
        serve.spawn()
        await asyncio.sleep(rng.uniform(0.3, 6.0))
        serve.kill()
        ledger.early_kills += 1
        ledger.cycles += 1
        return
    await asyncio.to_thread(serve.start)
    async with httpx.AsyncClient(base_url=serve.base_url, timeout=180) as client:
        await _retry_in_flight(client, ledger)
        first_ack = asyncio.Event()
        writers = [asyncio.create_task(_writer(client, ledger, cycle, w,
                                               random.Random(rng.random()), first_ack))
                   for w in range(WRITERS)]
        try:
            await asyncio.wait_for(first_ack.wait(), timeout=180)
            await asyncio.sleep(rng.uniform(0.1, 3.0))
        finally:
            serve.kill()
            await asyncio.gather(*writers, return_exceptions=True)
    ledger.cycles += 1


async def _page_active(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100_000):
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        r = await client.get("/v1/memories", params=params)
        r.raise_for_status()
        page = r.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    return items


async def verify_over_rest(client: httpx.AsyncClient, ledger: CrashLedger,
                           rng: random.Random, recall_samples: int = 10) -> list[str]:
    """Every acknowledged write: GET returns it; listed exactly once; recall finds it once;
    no visible text that was never written (nothing half-written or garbled)."""
    lost: list[str] = []
    sem = asyncio.Semaphore(8)

    async def check(memory_id: str, text: str) -> None:
        async with sem:
            r = await client.get(f"/v1/memories/{memory_id}")
        if r.status_code != 200 or r.json()["text"] != text or r.json()["status"] != "active":
            lost.append(f"GET {memory_id} -> {r.status_code} {r.text[:200]}")

    await asyncio.gather(*(check(i, t) for i, t in ledger.acked.items()))
    active = await _page_active(client)
    seen = Counter(m["text"] for m in active)
    by_id = {m["id"]: m["text"] for m in active}
    lost += [f"text listed {n} times: {t!r}" for t, n in seen.items() if n > 1]
    lost += [f"acknowledged {i} not listed" for i, t in ledger.acked.items() if by_id.get(i) != t]
    lost += [f"visible text never written: {t!r}" for t in seen if t not in ledger.attempted]
    sample = rng.sample(sorted(ledger.acked.items()), min(recall_samples, len(ledger.acked)))
    for memory_id, text in sample:
        r = await client.post("/v1/memories/recall", json={"query": text, "k": 5})
        ledger.statuses[r.status_code] += 1
        hits = [h["memory"] for h in r.json()["hits"]] if r.status_code == 200 else []
        if [h["id"] for h in hits].count(memory_id) != 1 or \
                [h["text"] for h in hits].count(text) != 1:
            lost.append(f"recall of {text!r} returned it {[h['id'] for h in hits]}")
    return lost


@dataclass
class CrashResult:
    """A crash run's figures and everything that went wrong."""

    ledger: CrashLedger
    lost: list[str]
    stores: StoreReport

    @property
    def problems(self) -> list[str]:
        return [*self.ledger.problems, *self.lost, *self.stores.problems()]

    @property
    def lost_writes(self) -> int:
        """Acknowledged writes the stores do not hold as written (active, same text)."""
        held = self.stores.memories
        return sum(1 for i, t in self.ledger.acked.items()
                   if i not in held or held[i].text != t or held[i].status.value != "active")


async def run_crash(data_dir: Path, cycles: int, embedder: Embedder, *,
                    env: Mapping[str, str] | None = None, seed: int = 0) -> CrashResult:
    """`cycles` kill -9 cycles (every fourth one during startup), then a last clean start:
    retry, verify over REST, stop gracefully and inspect the stores without repair."""
    rng = random.Random(seed)
    ledger = CrashLedger()
    extra = dict(env or {})
    with serving(data_dir, data_dir.parent / f"{data_dir.name}-serve.log", env=extra,
                 start=False) as serve:
        for cycle in range(cycles):
            await _cycle(serve, ledger, cycle, rng, early=cycle % 4 == 2)
        await asyncio.to_thread(serve.start)
        async with httpx.AsyncClient(base_url=serve.base_url, timeout=180) as client:
            await _retry_in_flight(client, ledger)
            lost = await verify_over_rest(client, ledger, rng)
        code = await asyncio.to_thread(serve.stop)
        if code not in GRACEFUL_EXIT:
            ledger.problems.append(f"serve exited with {code} on SIGTERM:\n{serve.log_tail()}")
    stores = await inspect(settings_for(data_dir, extra), embedder)
    return CrashResult(ledger, lost, stores)
