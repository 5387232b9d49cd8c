"""Eight agent processes writing, recalling, correcting and forgetting in overlapping
namespaces against one `fleetmem serve`; afterwards every invariant holds.
FLEETMEM_CONCURRENCY_SECONDS sets how long the agents run (quick: 20)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleetmem.memory.ports import Embedder
from tests.reliability.concurrency import run_concurrency

SECONDS = float(os.environ.get("FLEETMEM_CONCURRENCY_SECONDS", "20"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(int(SECONDS) + 420)]


async def test_eight_agents_keep_every_invariant(tmp_path: Path, embedder: Embedder) -> None:
    result = await run_concurrency(tmp_path, SECONDS, embedder)
    figures = result.figures()
    assert result.problems == [], "\n".join(result.problems[:30])
    assert result.server_errors == 0, dict(result.statuses)
    assert all(o["ops"] > 0 for o in result.outputs), "an agent did nothing"
    # the races really raced: concurrent corrections of one version met, and one lost
    assert figures["race_rounds"] > 0 and figures["race_conflicts"] > 0, figures
    assert result.count("forget_own", 200) + result.count("forget_team", 200) > 0, figures
    assert figures["acknowledged_writes"] > 0 and len(result.stores.memories) >= \
        figures["acknowledged_writes"]
