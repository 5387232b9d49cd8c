"""The MCP session policy (issue 21): per-agent and global caps, eviction, idle expiry."""

from __future__ import annotations

import pytest

from fleetmem.mcp_server.session_policy import Admit, Evict, Refuse, SessionLedger


def fill(ledger: SessionLedger, agent: str, n: int, now: float = 0.0) -> list[str]:
    ids = []
    for i in range(n):
        assert isinstance(ledger.admit(agent, now), Admit)
        ledger.opened(agent, f"{agent}-{i}", now + i)
        ids.append(f"{agent}-{i}")
    return ids


def test_global_cap_evicts_the_biggest_holders_idle_session_for_a_newcomer() -> None:
    ledger = SessionLedger(per_agent=4, max_total=6, idle_seconds=60)
    a = fill(ledger, "a", 4)
    fill(ledger, "b", 2)
    assert ledger.admit("c", 10) == Evict(a[0])
    assert (ledger.held_by("a"), ledger.held_by("c"), ledger.total) == (3, 1, 6)


def test_global_cap_never_evicts_an_agent_holding_no_more_than_the_newcomer() -> None:
    ledger = SessionLedger(per_agent=3, max_total=4, idle_seconds=60)
    fill(ledger, "a", 2)
    fill(ledger, "b", 2)
    refused = ledger.admit("a", 10)
    assert isinstance(refused, Refuse) and refused.status == 503
    assert "mcp.max_sessions = 4" in refused.message and "'b'" not in refused.message


def test_busy_sessions_are_never_evicted_or_expired() -> None:
    ledger = SessionLedger(per_agent=2, max_total=10, idle_seconds=5)
    a = fill(ledger, "a", 2)
    for session in a:
        ledger.busy(session)
    refused = ledger.admit("a", 100)
    assert isinstance(refused, Refuse) and refused.status == 429
    assert ledger.expired(100) == []
    ledger.done(a[1], 100)
    assert ledger.admit("a", 101) == Evict(a[1])


def test_idle_expiry_frees_the_slots() -> None:
    ledger = SessionLedger(per_agent=2, max_total=10, idle_seconds=5)
    a = fill(ledger, "a", 2)
    assert ledger.expired(5.5) == [a[0]]
    assert ledger.expired(7) == [a[1]] and ledger.total == 0


def test_a_failed_opening_gives_its_slot_back() -> None:
    ledger = SessionLedger(per_agent=1, max_total=2, idle_seconds=5)
    assert isinstance(ledger.admit("a", 0), Admit)
    ledger.abandoned("a")
    assert ledger.total == 0 and isinstance(ledger.admit("a", 0), Admit)


def test_the_global_cap_must_exceed_one_agents_cap() -> None:
    with pytest.raises(ValueError, match="one agent could fill it"):
        SessionLedger(per_agent=4, max_total=4, idle_seconds=5)


def test_opening_rate_refuses_a_looping_agent_before_any_eviction() -> None:
    ledger = SessionLedger(per_agent=4, max_total=10, idle_seconds=600, per_minute=4)
    a = fill(ledger, "a", 4)  # a minute's worth at once
    refused = ledger.admit("a", 0.5)  # at the cap, idle sessions to evict, but no token
    assert isinstance(refused, Refuse) and refused.status == 429
    assert refused.setting == "mcp.sessions_per_minute" and refused.retry_after == 15
    assert "FLEETMEM_MCP__SESSIONS_PER_MINUTE" in refused.message
    assert ledger.held_by("a") == 4 and all(ledger.knows(s) for s in a)  # nothing closed
    assert ledger.admit("a", 15.5) == Evict(a[0])  # one token per 15 s at 4 a minute
    assert isinstance(ledger.admit("b", 15.5), Admit)  # another agent's bucket is its own


def test_opening_rate_zero_is_off_and_buckets_of_idle_agents_are_forgotten() -> None:
    ledger = SessionLedger(per_agent=2, max_total=10, idle_seconds=600, per_minute=0)
    for i in range(50):
        assert not isinstance(ledger.admit("a", float(i)), Refuse)
        ledger.opened("a", f"s{i}", float(i))
    ledger = SessionLedger(per_agent=2, max_total=10_000_000, idle_seconds=600,
                           per_minute=60)
    for i in range(10_005):
        ledger.admit(f"agent-{i}", 0.0)
        ledger.abandoned(f"agent-{i}")
    ledger.admit("late", 100.0)  # every earlier bucket has refilled: forgotten
    assert len(ledger._tokens) == 1
