"""The benchmark runs end to end at a reduced size (1k), so it cannot rot (no timing is
asserted)."""

from __future__ import annotations

import pytest

from bench.__main__ import main
from bench.report import RESULTS


def test_core_benchmark_runs_at_reduced_size(capsys: pytest.CaptureFixture[str]) -> None:
    before = RESULTS.read_text() if RESULTS.exists() else None
    assert main(["core", "--size", "1000", "--queries", "20", "--singles", "5",
                 "--sentences", "128", "--no-doors"]) == 0
    out = capsys.readouterr().out
    assert "## Ceiling: the embedding model alone" in out
    row = next(line for line in out.splitlines() if line.startswith("| 1000 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert float(cells[1].replace(",", "")) > 0  # ingest rate measured
    assert cells[3] == "0"  # the corpus has no near-duplicates: every memory was written
    assert not cells[-2].endswith("(failed)")  # cold start answered through the CLI
    assert cells[-1].endswith("(0)")  # 1k points: below the index threshold, nothing built
    assert "target: batch ingest >= 0.8x raw encode throughput" in out
    # only `all` rewrites RESULTS.md
    assert (RESULTS.read_text() if RESULTS.exists() else None) == before


def test_tracing_benchmark_runs_at_reduced_size(capsys: pytest.CaptureFixture[str]) -> None:
    from fleetmem.memory import tracing

    assert main(["tracing", "--memories", "20", "--recalls", "6"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines()
            if line.startswith("| ") and not line.startswith("| mode")}
    assert {"baseline", "off", "on"} <= set(rows), out
    assert "spans exported per recall" in out and "verdict:" in out
    assert not tracing.enabled()  # the benchmark leaves tracing as it found it
