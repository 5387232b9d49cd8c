"""Decay math with an injected clock: monotonic in idle time, reinforced by access,
pinned never decays, per-kind half-lives, and the sweep's safe lower bound."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetmem.memory.domain.models import Attribution, Memory, MemoryKind
from fleetmem.memory.domain.retention_policy import purge_decision
from fleetmem.memory.domain.scoring import (
    DEFAULT_HALF_LIFE_DAYS,
    half_lives_with,
    min_idle_days_to_decay,
    retention,
    strength,
)
from fleetmem.memory.errors import InvalidInput

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def mem(kind: MemoryKind = MemoryKind.FACT, importance: float = 0.5, access_count: int = 0,
        last_access: datetime | None = None, pinned: bool = False) -> Memory:
    return Memory(id="m1", namespace="agent:alice", text="x", kind=kind, importance=importance,
                  tags=(), attribution=Attribution(created_by="alice", created_at=T0),
                  updated_at=T0, valid_from=T0, pinned=pinned, access_count=access_count,
                  last_accessed_at=last_access)


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def test_fresh_memory_is_fully_retained() -> None:
    assert retention(mem(), T0) == 1.0


def test_one_half_life_at_unit_strength_halves_retention() -> None:
    m = mem(importance=0.5)  # strength (0.5 + 0.5) * (1 + log1p(0)) = 1
    assert strength(m) == 1.0
    assert retention(m, at(90)) == pytest.approx(0.5)
    assert retention(m, at(180)) == pytest.approx(0.25)


@given(st.floats(0, 3650), st.floats(0, 3650), st.floats(0, 1), st.integers(0, 1000))
def test_retention_is_monotonic_in_age(a: float, b: float, importance: float,
                                       count: int) -> None:
    m = mem(importance=importance, access_count=count)
    early, late = sorted((a, b))
    assert retention(m, at(late)) <= retention(m, at(early))


def test_access_reinforces_by_resetting_idle_time_and_raising_strength() -> None:
    never = mem()
    used = mem(access_count=5, last_access=at(100))
    assert retention(used, at(200)) > retention(never, at(200))
    # the count alone (same idle time) also slows decay
    counted = mem(access_count=5)
    assert strength(counted) > strength(never)
    assert retention(counted, at(200)) > retention(never, at(200))


def test_importance_slows_decay() -> None:
    assert retention(mem(importance=0.9), at(120)) > retention(mem(importance=0.1), at(120))


def test_restore_counts_as_activity() -> None:
    restored = replace(mem(), updated_at=at(300))
    assert retention(restored, at(301)) > 0.99
    assert retention(mem(), at(301)) < 0.2


@given(st.floats(0, 100_000))
def test_pinned_never_decays(days: float) -> None:
    assert retention(mem(pinned=True, importance=0.0), at(days)) == 1.0


def test_per_kind_half_lives() -> None:
    when = at(60)
    by_kind = {k: retention(mem(kind=k), when) for k in MemoryKind}
    assert by_kind[MemoryKind.PREFERENCE] > by_kind[MemoryKind.FACT] > by_kind[MemoryKind.EPISODE]
    assert by_kind[MemoryKind.PROCEDURE] > by_kind[MemoryKind.OBSERVATION]
    faster = half_lives_with({"preference": 7})
    assert retention(mem(kind=MemoryKind.PREFERENCE), when, faster) < by_kind[MemoryKind.EPISODE]
    assert faster[MemoryKind.FACT] == DEFAULT_HALF_LIFE_DAYS[MemoryKind.FACT]


def test_half_life_overrides_are_validated() -> None:
    with pytest.raises(InvalidInput, match="unknown kind"):
        half_lives_with({"feeling": 3})
    with pytest.raises(InvalidInput, match="positive"):
        half_lives_with({"fact": 0})


@given(st.floats(0.001, 0.99), st.floats(0, 1), st.integers(0, 50), st.sampled_from(MemoryKind))
def test_nothing_younger_than_the_bound_falls_below_the_threshold(
        threshold: float, importance: float, count: int, kind: MemoryKind) -> None:
    bound = min_idle_days_to_decay(DEFAULT_HALF_LIFE_DAYS, threshold)
    m = mem(kind=kind, importance=importance, access_count=count)
    assert retention(m, at(bound * 0.999)) >= threshold * 0.999
    assert math.isinf(min_idle_days_to_decay(DEFAULT_HALF_LIFE_DAYS, 0.0))


def test_purge_policy_needs_an_allow_pattern_and_keep_wins() -> None:
    assert not purge_decision("agent:alice", [], []).allowed
    assert purge_decision("agent:alice", ["agent:*"], []).allowed
    kept = purge_decision("agent:alice", ["agent:*"], ["agent:alice"])
    assert not kept.allowed and "keep_namespaces" in kept.rule
    assert not purge_decision("team:atlas", ["agent:*"], []).allowed
