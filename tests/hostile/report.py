"""The hostile-fleet tier's Markdown section for bench/RESULTS.md: machine, date, commit,
every figure and the ratio to idle."""

from __future__ import annotations

import os
import statistics
from collections.abc import Mapping
from datetime import UTC, datetime

from bench.machine import cpu_model, git_commit
from tests.hostile.attackers import Calls
from tests.hostile.fleet import IDLE_P95_FLOOR, RATIO_LIMIT, STOP_SECONDS, HostileResult


def _ms(calls: Calls) -> str:
    if not calls.times:
        return "no answers"
    return (f"n = {len(calls.times)}, p50 {statistics.median(calls.times) * 1000:.0f} ms, "
            f"p95 {calls.p(95) * 1000:.0f} ms, max {max(calls.times) * 1000:.0f} ms")


def _counts(c: Mapping[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1])) or "none"


def hostile_lines(r: HostileResult, command: str) -> list[str]:
    """A heading, a paragraph and a check | result table."""
    s, v, d = r.sizes, r.vault, r.driver
    load = os.getloadavg()
    flood, hoard, slow = d.get("flood", {}), d.get("hoard", {}), d.get("slow", {})
    batch_times = flood.get("batches", {}).get("times", [])
    verdict = "**met**" if r.latency_ok else "**NOT met**"
    lines = [
        f"### Hostile fleet (issue 21): `{command}`, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "",
        f"commit {git_commit()}, {os.cpu_count()} cores ({cpu_model()}), load average at "
        f"the end {load[0]:.2f}. One `fleetmem serve` child on its defaults (agents file, "
        f"vault); `bob` recalls (k = 10, 200 memories) alone for {s.idle_seconds:g} s, then "
        f"for {r.attack_seconds:.0f} s while `alice` floods batches of "
        f"{r.flood_shape[0]} x {r.flood_shape[1]:,} characters from {s.flood_clients} "
        f"clients, `mallory` opens {s.sessions:,} MCP sessions and "
        f"{s.slow_connections:,} connections that never finish their headers, and "
        f"{s.vault_files:,} random and every hostile file are dropped in the vault.", "",
        "| check | result |", "| --- | --- |",
        f"| bob's recall, idle | {_ms(r.idle)} |",
        f"| bob's recall, under attack | {_ms(r.attack)} |",
        f"| p95 under attack / idle p95 (limit {RATIO_LIMIT:g}x; idle floored at "
        f"{IDLE_P95_FLOOR * 1000:.0f} ms) | **{r.ratio:.1f}x** (raw {r.raw_ratio:.1f}x): "
        f"{verdict} |",
        f"| bob's recall answers | idle {_counts(r.idle.statuses)}; under attack "
        f"{_counts(r.attack.statuses)} |",
        f"| /readyz every 0.5 s during the attack | {_counts(r.probes.calls.statuses)}; "
        f"max {max(r.probes.calls.times, default=0) * 1000:.0f} ms; vault status seen: "
        f"{_counts(r.probes.vault)} |",
        f"| bob's MCP `initialize` while mallory hoards | {_counts(r.mcp_probes.statuses)}; "
        f"max {max(r.mcp_probes.times, default=0) * 1000:.0f} ms; mallory had opened "
        f"{_spread(r.hoarded_at_probe)} sessions at the probes |",
        f"| alice's batches | {_counts(flood.get('batches', {}).get('statuses', {}))}; "
        f"{flood.get('texts_stored', 0):,} texts stored; median batch "
        f"{statistics.median(batch_times) if batch_times else 0:.1f} s; "
        f"{len(flood.get('unanswered_at_stop', []))} still unanswered at the end (waiting "
        f"{', '.join(f'{t:.0f}' for t in flood.get('unanswered_at_stop', []))} s) |",
        f"| mallory's `initialize` | {_counts(hoard.get('opened', {}))} |",
        f"| mallory's unfinished heads | {slow.get('target', 0):,} slots, "
        f"{slow.get('opened', 0):,} opened, at most {slow.get('most_open', 0):,} open at "
        f"once; server answers {_counts(slow.get('answers', {}))} |",
        f"| vault fuzz | {', '.join(v.hostile)}; {v.random_files:,} random files "
        f"({v.random_bytes / 1e6:.1f} MB); crafted state read: {v.crafted_state_read}; "
        f"degraded while symlinked: {v.degraded_seen} |",
        f"| written outside the vault | **{len(v.outside_changes)}** |",
        f"| entities deleted by the crafted state | **{len(v.missing_entities)}** |",
        f"| after the fuzz: syncing / note -> REST / REST -> note | "
        f"{_secs(v.syncing_after)} / {_secs(v.legit_note_seconds)} / "
        f"{_secs(v.rest_note_seconds)} (the REST write: {v.rest_write}) |",
        f"| serve log | {_counts(r.log_findings)} |",
        f"| serve stop (SIGTERM) after the attack | exit code {r.exit_code} after "
        f"{r.stop_seconds:.0f} s (-9: still busy after {STOP_SECONDS:.0f} s, killed) |",
        f"| 5xx to bob | **{r.idle.server_errors + r.attack.server_errors}** |",
        f"| other broken checks | **{len(r.problems)}** |", ""]
    lines += [f"- {p}" for p in r.problems[:30]]
    return lines


def _secs(s: float | None) -> str:
    return "never" if s is None else f"{s:.1f} s"


def _spread(values: list[int]) -> str:
    seen = [v for v in values if v >= 0]
    return f"{min(seen):,} to {max(seen):,}" if seen else "?"
