"""The hostile-fleet tier at quick size (issue 21): a flooding agent, a session hoarder,
connections that never finish their headers and a vault full of hostile files, all at
once against `fleetmem serve`; the service stays ready, writes nothing outside the vault,
and another agent's recall p95 stays within 3x its idle p95. FLEETMEM_HOSTILE_SECONDS
sets the attack's length (quick: 30); the full sizes run in `make reliability`."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest

from tests.hostile.fleet import QUICK, RATIO_LIMIT, run_hostile_fleet
from tests.hostile.report import hostile_lines

SIZES = dataclasses.replace(QUICK, attack_seconds=float(os.environ.get(
    "FLEETMEM_HOSTILE_SECONDS", QUICK.attack_seconds)))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(int(SIZES.attack_seconds) + 600)]


async def test_a_hostile_fleet_leaves_the_service_ready_and_others_served(
        tmp_path: Path) -> None:
    result = await run_hostile_fleet(tmp_path, SIZES)
    sys.stderr.write("\n".join(hostile_lines(result, "pytest tests/hostile")) + "\n")
    assert result.problems == [], "\n".join(result.problems)
    assert result.probes.calls.statuses.keys() == {"200"}
    assert result.mcp_probes.statuses.keys() == {"200"}
    assert result.idle.server_errors == result.attack.server_errors == 0
    # Last, so every other check above is reported even while this one fails.
    assert result.latency_ok, (
        f"bob's recall p95 under attack {result.attack.p(95) * 1000:.0f} ms is "
        f"{result.ratio:.1f}x his idle p95 {result.idle.p(95) * 1000:.0f} ms "
        f"(limit {RATIO_LIMIT:g}x)")
