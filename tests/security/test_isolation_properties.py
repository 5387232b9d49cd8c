"""Isolation as a property: random sequences of operations by random agents (alice, bob,
carol, rita the reader, human dana) over private, team and global namespaces, through REST
and MCP; after every step no agent is shown, counted or told (in an answer, a problem
detail, a tool error, an audit entry or a vault file) anything it may not read.

Every write plants unique canary tokens (memory texts, tags, entity names, observations,
relation types, buffer items, memory ids); `canaries.Ledger` knows who may read each one.
Run more examples with `FLEETMEM_HYPOTHESIS_PROFILE=full`.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetmem.memory.ports import Embedder
from tests.security.canaries import Ledger
from tests.security.doors import Door
from tests.security.isolation_checks import check_vault, check_views, probe_all
from tests.security.isolation_ops import OPS, TARGETS, Step, run_step, seed
from tests.security.tally import TALLY
from tests.security.world import AGENT_IDS, TEAM, open_world

settings.register_profile("fleetmem-quick", max_examples=15, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])
settings.register_profile("fleetmem-full", parent=settings.get_profile("fleetmem-quick"),
                          max_examples=150)
FULL = os.environ.get("FLEETMEM_HYPOTHESIS_PROFILE", "quick") == "full"
PROFILE = settings.get_profile("fleetmem-full" if FULL else "fleetmem-quick")

steps = st.builds(Step, op=st.sampled_from(OPS), actor=st.sampled_from(AGENT_IDS),
                  target=st.sampled_from(TARGETS), door=st.sampled_from(("rest", "mcp")),
                  pick=st.integers(0, 1000))
PROGRAMS = st.lists(steps, min_size=3, max_size=14 if FULL else 8)


@pytest.mark.timeout(4 * 3600 if FULL else 600)  # the full profile runs ~30 minutes
@settings(PROFILE)
@given(program=PROGRAMS, salt=st.integers(0, 16**4 - 1))
async def test_no_operation_reveals_what_the_caller_may_not_read(
        embedder: Embedder, program: list[Step], salt: int) -> None:
    async with open_world(embedder) as world:
        ledger = Ledger(salt)
        TALLY["isolation_examples"] += 1
        try:
            await seed(world, ledger)
            await probe_all(world, ledger, list(ledger.secrets), "mcp")
            ledger.assert_no_leaks()
            for step in program:
                TALLY["isolation_steps"] += 1
                planted = await run_step(world, ledger, step)
                for agent in AGENT_IDS:
                    await check_views(world, ledger, agent, step.door)
                await probe_all(world, ledger, planted, step.door)
                ledger.assert_no_leaks()
            # At the end: the other door's views and every agent's vault export.
            other = "mcp" if program[-1].door == "rest" else "rest"
            for agent in AGENT_IDS:
                await check_views(world, ledger, agent, other)
                await check_vault(world, ledger, agent)
            ledger.assert_no_leaks()
        finally:
            TALLY["isolation_canaries"] += len(ledger.secrets)
            TALLY["isolation_leaks"] += bool(ledger.leaks)  # examples (shrinking repeats)


async def test_buffer_counts_include_only_the_callers_own_items(embedder: Embedder) -> None:
    async with open_world(embedder) as world:
        alice, bob = Door(world, "alice", "rest"), Door(world, "bob", "rest")
        out = await alice.buffer_append("s-1", "the rollout plan for the next release", TEAM)
        assert out.ok, out.text
        for door in (bob, Door(world, "bob", "mcp")):
            listed = (await door.namespaces()).body
            team = next(n for n in listed.get("items") or listed["namespaces"]
                        if n["namespace"] == TEAM)
            assert team["buffer_items"] == 0, f"bob is told alice has buffer items: {team}"
        assert (await bob.buffer_read("s-1")).body["items"] == []
