"""The soak of bench/reliability.py at quick size: mixed REST load (memories, buffers,
graph) against `fleetmem serve`; every valid request succeeds and nothing answers 5xx.
Only correctness is asserted; throughput and RSS are figures for the full tier.
FLEETMEM_SOAK_SECONDS sets the duration (quick: 60)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.reliability import EXPECTED, run_soak

SECONDS = float(os.environ.get("FLEETMEM_SOAK_SECONDS", "60"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(int(SECONDS) + 300)]


async def test_soak_under_mixed_load_answers_every_valid_request(tmp_path: Path) -> None:
    result = await run_soak(tmp_path, SECONDS)
    assert result.server_errors == 0, result.statuses
    assert result.errors == [], "\n".join(result.errors[:20])
    assert result.error_rate == 0.0
    assert set(result.counts) == set(EXPECTED), f"operations never exercised: " \
        f"{set(EXPECTED) - set(result.counts)}"
    assert min(result.rss.values()) > 0, result.rss  # the serve process was measured
