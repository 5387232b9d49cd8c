"""Human output that fits an 80-column terminal (issue 19): full, copyable ids; tables
that wrap their other columns; `remember` as one readable line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from fleetmem.cli.common import out
from fleetmem.cli.gc_cmds import print_report
from fleetmem.cli.memory_cmds import remember_line
from fleetmem.memory.services import DecayReport, GcItem, RememberResult

MEMORY_ID = "ea097eb9-bac4-4c1e-9a51-2c0e8b7d9f10"


@pytest.fixture
def narrow() -> Iterator[None]:
    width = out.width
    out.width = 80
    try:
        yield
    finally:
        out.width = width


def test_the_gc_dry_run_table_fits_80_columns_with_whole_ids(narrow: None) -> None:
    now = datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    report = DecayReport(job="decay", dry_run=True, at=now, seen=3, archived=1, items=[
        GcItem(id=MEMORY_ID, action="archive", namespace="team:atlas", kind="fact",
               score=0.0123, age_days=190.5, last_access=now,
               reason="retention 0.0123 is below the threshold 0.05 after 190 idle days")])
    with out.capture() as captured:
        print_report(report)
    lines = captured.get().splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    assert any(MEMORY_ID in line for line in lines), "the id is cut or wrapped"
    assert len(lines) <= 14, "columns squeezed to a character per line"
    assert "decay (dry run): seen 3, archived 1" in " ".join(lines)


def test_remember_prints_one_readable_line() -> None:
    assert remember_line(RememberResult(id=MEMORY_ID, namespace="agent:alice")) == \
        f"remembered {MEMORY_ID} in agent:alice"
    line = remember_line(RememberResult(id=MEMORY_ID, namespace="team:atlas",
                                        deduplicated=True, redactions=2))
    assert line == f"reinforced the existing memory {MEMORY_ID} in team:atlas " \
                   "(2 secret(s) redacted)"
