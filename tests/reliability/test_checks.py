"""The reliability checks themselves catch what they claim to (a check that cannot fail
proves nothing): broken supersede chains and inconsistent tiers are reported."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from fleetmem.memory.domain.models import Attribution, Memory, MemoryKind, MemoryStatus
from tests.reliability.stores import StoreReport, chain_problems

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _memory(mid: str, **kw: object) -> Memory:
    base = Memory(id=mid, namespace="team:red", text=f"text {mid}", kind=MemoryKind.FACT,
                  importance=0.5, tags=(), attribution=Attribution(created_by="a0",
                                                                   created_at=NOW),
                  updated_at=NOW, valid_from=NOW)
    return replace(base, **kw)  # type: ignore[arg-type]


def test_a_linear_chain_passes_and_every_break_is_reported() -> None:
    a = _memory("a", status=MemoryStatus.SUPERSEDED, superseded_by="b")
    b = _memory("b", supersedes="a")
    assert chain_problems({"a": a, "b": b}) == []
    c = _memory("c", supersedes="a")  # a second successor of "a": a lost update
    assert any("2 successors" in p for p in chain_problems({"a": a, "b": b, "c": c}))
    still_active = replace(a, status=MemoryStatus.ACTIVE)
    assert any("still active" in p for p in chain_problems({"a": still_active, "b": b}))
    one_way = replace(b, supersedes=None)
    assert any("does not point back" in p for p in chain_problems({"a": a, "b": one_way}))
    loop_a = _memory("x", supersedes="y", superseded_by="y", status=MemoryStatus.SUPERSEDED)
    loop_b = _memory("y", supersedes="x", superseded_by="x", status=MemoryStatus.SUPERSEDED)
    assert any("cycle" in p for p in chain_problems({"x": loop_a, "y": loop_b}))


def test_store_report_flags_half_written_and_tier_drift() -> None:
    assert StoreReport(vector_count=3, indexable_count=3).problems() == []
    problems = StoreReport(pending=1, vector_count=2, indexable_count=3,
                           vectors_missing=["m1"], vectors_extra=["m9"],
                           audit_first_bad=7).problems()
    assert len(problems) == 5
