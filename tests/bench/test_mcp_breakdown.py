"""bench/mcp_breakdown.py: spans matched to client-timed calls, and a reduced run."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import main
from bench.mcp_breakdown import breakdown
from bench.span_sink import Span

MS = 1_000_000


def _span(name: str, sid: bytes, parent: bytes, start: int, end: int) -> Span:
    return Span(name, b"t", sid, parent, start * MS, end * MS, "mcp")


def test_a_call_splits_into_its_spans() -> None:
    spans = [
        _span("fleetmem.remember", b"r", b"", 102, 140),
        _span("remember.embed", b"e", b"r", 104, 130),
        _span("remember.group", b"g", b"r", 130, 139),  # stages nest under the group
        _span("remember.dedup", b"d", b"g", 130, 132),
        _span("remember.vector_upsert", b"v", b"g", 132, 133),
        _span("remember.graph_commit", b"c", b"g", 133, 138),
        _span("fleetmem.remember", b"x", b"", 300, 310),  # another call's request
    ]
    parts = breakdown([("mcp-stdio", 100 * MS, 145 * MS)], spans)["mcp-stdio"]
    assert parts["client"] == [45.0]
    assert parts["service"] == [38.0]
    assert parts["outside the service"] == [7.0]
    assert parts["remember.embed"] == [26.0]
    assert parts["remember.graph_commit"] == [5.0]
    assert parts["service, other"] == [38.0 - 26 - 2 - 1 - 5]
    assert parts["client minus its own embed"] == [19.0]


def test_breakdown_runs_at_reduced_size(capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    assert main(["mcp_breakdown", "--data-dir", str(tmp_path / "store"), "--memories", "20",
                 "--calls", "3"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines()
            if line.startswith("| ")}
    assert "| part (p50 ms) | mcp-stdio | mcp-stdio-raw | mcp-http | rest |" in out, out
    for part in ("client", "outside the service", "remember.embed", "remember.graph_commit"):
        cells = [c.strip() for c in rows[part].strip("|").split("|")[1:]]
        assert all(c != "-" for c in cells), rows[part]  # every door's calls were matched
    assert "encode of the remembered memory text" in out
    assert "| mcp-stdio |" in out and "stdio shim" in out
