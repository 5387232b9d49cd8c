"""The hostile-fleet tier (issue 21): every abuse the issue reproduced, at once, against a
real `fleetmem serve` child process on its shipped defaults, while a well-behaved agent
keeps working.

- `bob` (the victim) recalls over REST (k = 10, over 200 memories of his own), one after
  another: first alone (idle), then during the attack, in the same run.
- `alice` floods `remember` batches of maximum-size texts from 3 clients; `mallory` opens
  MCP sessions she never closes and connections that never finish their headers (both in
  a separate driver process, tests/hostile/driver.py).
- the vault of the human `dana` gets every hostile file of the issue and K random files
  (tests/hostile/vault_fuzz.py).

Checked: /readyz answered 200 throughout (polled every 0.5 s), bob never got a 5xx or an
error, bob could open an MCP session while mallory hoarded, nothing outside the vault was
created or changed, the crafted state deleted no entity, the watcher is syncing again at
the end (a note written then reaches REST, a REST write reaches a note), and bob's recall
p95 under attack is at most 3x his idle p95.

`run_hostile_fleet(work, sizes)` is shared by the quick test (tests/hostile, part of
`make test`) and the full tier (`python -m bench.reliability --hostile-seconds ...`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench import workload
from fleetmem.memory.settings import ApiSettings, LimitSettings, McpSettings, VaultSettings
from tests.hostile.attackers import (
    RECALL_TIMEOUT,
    VICTIM_ADDRESS,
    Calls,
    Probes,
    client,
    flood_shape,
    open_victim_session,
    poll_readyz,
    recalls,
)
from tests.hostile.driver import raise_fd_limit
from tests.hostile.vault_fuzz import (
    SEEDED,
    TEAM_FOLDER,
    VaultLayout,
    VaultOutcome,
    after_fuzz,
    fuzz,
)
from tests.reliability.serve import ServeProcess, serving

ROOT = Path(__file__).resolve().parents[2]
AGENTS = ("alice", "mallory", "bob")
HUMAN = "dana"
RATIO_LIMIT = 3.0
IDLE_P95_FLOOR = 0.025
"""Seconds: the idle p95 used as the ratio's denominator is at least this. Only a guard
against a denominator so small (a quiet machine, a tiny store) that one scheduler hiccup
of a 2-core host exceeds 3x; at the ~30-70 ms idle p95 measured here it changes nothing.
Both the raw and the floored ratio are reported."""
SETTLE_SECONDS = 120.0
"""How long the watcher may take, after the attack, to be syncing again, to carry a note
to REST and a REST write to a note (the three together); each time is reported."""
STOP_SECONDS = 15.0
"""SIGTERM, then SIGKILL after this long; the exit code and time are reported (a flood's
batches abandoned by their client are still being worked on)."""
MCP_PROBE_EVERY = 3.0


@dataclass(frozen=True)
class Sizes:
    """How long and how much; QUICK for `make test`, FULL for `make reliability`."""

    idle_seconds: float
    attack_seconds: float
    sessions: int
    slow_connections: int
    vault_files: int
    flood_clients: int = 3
    least_idle_recalls: int = 100


QUICK = Sizes(idle_seconds=8, attack_seconds=30, sessions=300, slow_connections=300,
              vault_files=100)
FULL = Sizes(idle_seconds=60, attack_seconds=120, sessions=10_000, slow_connections=3_000,
             vault_files=1_000)


def hostile_sizes(attack_seconds: float) -> Sizes:
    """The full sizes with the attack phase given (`--hostile-seconds`)."""
    return dataclasses.replace(FULL, attack_seconds=attack_seconds)


def key_of(agent: str) -> str:
    return f"key-{agent}-hostile"


def agents_file_data() -> dict[str, Any]:
    """Three writers without limits (the worst case: nothing but the scheduler and the
    caps holds the flood back), bob in team atlas with the human dana."""
    return {"roles": {"writer": {"allow": ["*"]}}, "teams": {"atlas": ["bob"]},
            "agents": {a: {"key_sha256": hashlib.sha256(key_of(a).encode()).hexdigest(),
                           "roles": ["writer"]} for a in AGENTS},
            "humans": {HUMAN: {"teams": ["atlas"]}}}


@dataclass
class HostileResult:
    """Every figure of one run, and every broken check (latency apart)."""

    sizes: Sizes
    flood_shape: tuple[int, int] = (0, 0)
    idle: Calls = field(default_factory=Calls)
    attack: Calls = field(default_factory=Calls)
    attack_seconds: float = 0.0
    mcp_probes: Calls = field(default_factory=Calls)
    hoarded_at_probe: list[int] = field(default_factory=list)
    probes: Probes = field(default_factory=Probes)
    vault: VaultOutcome = field(default_factory=VaultOutcome)
    driver: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None
    stop_seconds: float = 0.0
    log_findings: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Bob's recall p95 under attack over his idle p95 (floored, see IDLE_P95_FLOOR)."""
        return self.attack.p(95) / max(self.idle.p(95), IDLE_P95_FLOOR)

    @property
    def raw_ratio(self) -> float:
        return self.attack.p(95) / self.idle.p(95)

    @property
    def latency_ok(self) -> bool:
        return bool(self.attack.times) and self.ratio <= RATIO_LIMIT


async def _seed(bob: httpx.AsyncClient, probe: httpx.AsyncClient, layout: VaultLayout) -> None:
    """Bob's memories and the team's entities; wait for the vault's first export."""
    texts = workload.memories(200, seed=3)
    r = await bob.post("/v1/memories/batch", json={"memories": [{"text": t} for t in texts]})
    r.raise_for_status()
    r = await bob.post("/v1/entities", json={"namespace": "team:atlas", "entities": [
        {"name": n, "entityType": "thing", "observations": [f"{n} is seeded for the fleet"]}
        for n in SEEDED]})
    r.raise_for_status()
    state = layout.state_dir / "state.json"
    deadline = time.monotonic() + 120
    while True:
        notes = json.loads(state.read_text()).get("notes", {}) if state.exists() else {}
        body = (await probe.get("/readyz")).json()
        ready = body["vault"]["status"] if "vault" in body else "not reported"
        if ready in ("syncing", "not reported") and all(  # before issue 21: not reported
                f"{TEAM_FOLDER}/{n}.md" in notes for n in SEEDED):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the vault was not exported within 120 s ({ready}, {notes})")
        await asyncio.sleep(0.5)


async def _victim_mcp(base_url: str, stop: asyncio.Event, progress: Path,
                      result: HostileResult) -> None:
    """Bob opens (and ends) an MCP session every few seconds while mallory hoards."""
    async with client(base_url, VICTIM_ADDRESS, 60, key_of("bob")) as http:
        while not stop.is_set():
            await asyncio.sleep(MCP_PROBE_EVERY)
            try:
                result.hoarded_at_probe.append(json.loads(progress.read_text())["sessions"])
            except (OSError, ValueError, KeyError):
                result.hoarded_at_probe.append(-1)  # no progress written yet
            await open_victim_session(http, result.mcp_probes)


async def _attack(serve: ServeProcess, bob: httpx.AsyncClient, probe: httpx.AsyncClient,
                  layout: VaultLayout, log: Path, work: Path, result: HostileResult) -> None:
    """Start the hostile driver, the /readyz poller, bob's MCP probes and the vault fuzz;
    bob recalls until the attack time is over and the fuzz is done; stop everything."""
    sizes = result.sizes
    out, stop_file = work / "driver.json", work / "driver.stop"
    plan = {"base_url": serve.base_url, "port": serve.port, "flood_shape": result.flood_shape,
            "keys": {a: key_of(a) for a in AGENTS}, "flood_clients": sizes.flood_clients,
            "sessions": sizes.sessions, "slow_connections": sizes.slow_connections,
            "stop_file": str(stop_file)}
    (work / "plan.json").write_text(json.dumps(plan))
    with (work / "driver.log").open("ab") as driver_log:
        driver = subprocess.Popen([sys.executable, "-m", "tests.hostile.driver",
                                   str(work / "plan.json"), str(out)], cwd=ROOT,
                                  stdin=subprocess.DEVNULL, stdout=driver_log,
                                  stderr=driver_log)
    stop = asyncio.Event()
    side: list[asyncio.Task[None]] = []
    vault: asyncio.Task[None] | None = None
    # Before issue 21 there was no size cap: the huge files are then just big notes.
    max_note_bytes = getattr(VaultSettings(), "max_note_bytes", 1 << 20)
    try:
        side += [asyncio.create_task(poll_readyz(probe, stop, result.probes)),
                 asyncio.create_task(_victim_mcp(serve.base_url, stop,
                                                 Path(str(out) + ".progress"), result))]
        vault = asyncio.create_task(fuzz(layout, log, bob, probe, sizes.vault_files,
                                         sizes.attack_seconds, max_note_bytes, result.vault))
        fuzzing = vault
        await asyncio.sleep(1.0)  # the flood's first batches are on their way
        started = time.monotonic()
        result.attack = await recalls(bob, sizes.attack_seconds, 0,
                                      sizes.attack_seconds + 180,
                                      busy=lambda: not fuzzing.done())
        result.attack_seconds = time.monotonic() - started
        async with client(serve.base_url, VICTIM_ADDRESS, 60, key_of("bob")) as http:
            await open_victim_session(http, result.mcp_probes)  # mallory's still held
    finally:
        stop.set()
        stop_file.touch()
        await asyncio.gather(*side, return_exceptions=True)
        if vault is not None and not vault.done():
            vault.cancel()
            result.problems.append("the vault fuzz did not finish in time")
        elif vault is not None and vault.exception() is not None:
            result.problems.append(f"the vault fuzz failed: {vault.exception()!r}")
        try:
            await asyncio.to_thread(driver.wait, 120)
        except subprocess.TimeoutExpired:
            driver.kill()
            await asyncio.to_thread(driver.wait, 30)
    result.driver = json.loads(out.read_text()) if out.exists() else {"error": "no output"}


def _stop(serve: ServeProcess) -> tuple[int | None, float]:
    """SIGTERM, SIGKILL after STOP_SECONDS; (exit code, seconds)."""
    started = time.monotonic()
    proc = serve.proc
    assert proc is not None
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        serve.kill()
    return proc.returncode, time.monotonic() - started


async def run_hostile_fleet(work: Path, sizes: Sizes) -> HostileResult:
    """Serve with an agents file and a vault, seed, measure bob idle, attack, check."""
    work.mkdir(parents=True, exist_ok=True)
    raise_fd_limit()
    layout = VaultLayout(work)
    layout.prepare()
    agents = work / "agents.yaml"
    agents.write_text(yaml.safe_dump(agents_file_data()))
    limits = LimitSettings()
    result = HostileResult(sizes, flood_shape(limits.max_batch, limits.max_text_chars,
                                              ApiSettings().max_body_bytes))
    log = work / "serve.log"
    env = {"FLEETMEM_AGENTS_FILE": str(agents), "FLEETMEM_VAULT__PATH": str(layout.vault),
           "FLEETMEM_VAULT__HUMAN": HUMAN}
    with serving(work / "data", log, env=env, start=False) as serve:
        await asyncio.to_thread(serve.start)
        async with client(serve.base_url, VICTIM_ADDRESS, RECALL_TIMEOUT,
                          key_of("bob")) as bob, \
                client(serve.base_url, VICTIM_ADDRESS, 30) as probe:
            await _seed(bob, probe, layout)
            before = layout.snapshot()
            await recalls(bob, 0, 5, 60)  # warm-up
            result.idle = await recalls(bob, sizes.idle_seconds, sizes.least_idle_recalls,
                                        sizes.idle_seconds * 4 + 60)
            await _attack(serve, bob, probe, layout, log, work, result)
            await after_fuzz(layout, bob, probe, result.vault, SETTLE_SECONDS)
            result.vault.outside_changes = layout.changes(before, result.vault.written_by_test)
        result.exit_code, result.stop_seconds = await asyncio.to_thread(_stop, serve)
    text = log.read_text(errors="replace")
    result.log_findings = {k: text.count(k) for k in (
        "Too many open files", "Traceback", "RecursionError", "dropped the entry",
        "symlink", "the vault watcher failed")}
    check(result)
    return result


def check(r: HostileResult) -> None:
    """Fill `r.problems` with every broken check except the latency ratio."""
    p = r.problems
    if not r.probes.calls.times:
        p.append("/readyz was never polled")
    p += [f"/readyz: {e}" for e in r.probes.calls.errors[:5]]
    for phase, calls in (("idle", r.idle), ("under attack", r.attack)):
        if calls.errors:
            p.append(f"bob's recall {phase}: {len(calls.errors)} failed "
                     f"({dict(calls.statuses)}), e.g. {calls.errors[:3]}")
    if not r.attack.times:
        p.append("bob's recall was never answered under attack")
    if not r.mcp_probes.times:
        p.append("bob never tried to open an MCP session during the attack")
    p += [f"bob's MCP initialize: {e}" for e in r.mcp_probes.errors[:5]]
    if "error" in r.driver:
        p.append(f"the hostile driver failed: {r.driver['error']}")
    else:
        sessions = r.driver["hoard"]["opened"].get("200", 0)
        # (before issue 21 there was no per-agent cap: any number shows the hoarding)
        if r.sizes.sessions and sessions <= getattr(McpSettings(), "sessions_per_agent", 0):
            p.append(f"mallory opened only {sessions} MCP sessions: the per-agent cap was "
                     "never reached, the case was not exercised")
        if r.sizes.slow_connections and not r.driver["slow"]["most_open"]:
            p.append("no slow connection was ever open: the case was not exercised")
    v = r.vault
    p += [f"written outside the vault: {c}" for c in v.outside_changes]
    p += [f"entity gone after the fuzz: {m}" for m in v.missing_entities]
    if not v.crafted_state_read:
        p.append("the crafted state entry was never read: the case was not exercised")
    if v.symlink_trash_deleted != 200:
        p.append(f"deleting an entity while trash was symlinked answered "
                 f"{v.symlink_trash_deleted}")
    for what, seconds in (("the watcher syncing again", v.syncing_after),
                          ("a note written after the fuzz reaching REST", v.legit_note_seconds),
                          ("a REST write reaching a note", v.rest_note_seconds)):
        if seconds is None:
            p.append(f"{what}: not within {SETTLE_SECONDS:.0f} s")
    if not v.degraded_seen:
        p.append("/readyz never showed the vault degraded while trash and state were "
                 "symlinked: the case was not exercised")
    if r.log_findings.get("Too many open files"):
        p.append("serve ran out of file descriptors")
