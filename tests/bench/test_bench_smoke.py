"""The benchmark runs end to end at a reduced size (1k), so it cannot rot (no timing is
asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def test_import_rate_benchmark_runs_at_reduced_size(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import_rate", "--lines", "40"]) == 0
    out = capsys.readouterr().out
    assert "import (scan, check, import_lines 256 lines a call): 40 imported" in out, out
    assert "import / batch ingest = " in out


def test_tracing_benchmark_runs_at_reduced_size(capsys: pytest.CaptureFixture[str]) -> None:
    from fleetmem.memory import tracing

    assert main(["tracing", "--memories", "20", "--recalls", "6"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines()
            if line.startswith("| ") and not line.startswith("| mode")}
    assert {"baseline", "off", "on"} <= set(rows), out
    assert "spans exported per recall" in out and "verdict:" in out
    assert not tracing.enabled()  # the benchmark leaves tracing as it found it


def test_embedding_runtime_benchmark_runs_at_reduced_size(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    env = {**os.environ, "FLEETMEM_DATA_DIR": str(tmp_path)}
    env.pop("FLEETMEM_AGENTS_FILE", None)
    r = subprocess.run([str(Path(sys.executable).with_name("fleetmem")), "remember",
                        "The staging database is called pg-stage-2", "--agent", "local"],
                       env=env,
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    assert main(["embedding_runtime", "--sentences", "64", "--repeats", "1",
                 "--data-dir", str(tmp_path), "--venv", f"dev={sys.prefix}"]) == 0
    out = capsys.readouterr().out
    assert "## ONNX Runtime vectors against sentence-transformers" in out
    assert "## Cold paths: ONNX Runtime against torch (1 memories)" in out
    assert "target: one-shot `fleetmem recall` <= 2 s wall" in out
    assert "## Install size" in out
