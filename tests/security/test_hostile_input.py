"""Hostile input through REST and MCP: every malformed, oversized, badly encoded or deeply
nested request gets a 4xx problem or a tool error that says what was wrong, never a 5xx
or a server exception, and nothing stored changes; valid-but-strange text (Cypher- and
SQL-like, RTL, combining marks, emoji, FTS5 syntax) is stored and returned verbatim."""

from __future__ import annotations

import json
import logging
from typing import Any

from mcp.shared.exceptions import MCPError

from fleetmem.memory.ports import Embedder
from tests.security.doors import mcp_outcome
from tests.security.hostile_cases import MEMORY, REST_CASES, McpCase, RestCase
from tests.security.hostile_mcp_cases import MCP_CASES
from tests.security.hostile_support import (
    problem_faults,
    seed,
    snapshot,
    tool_error_faults,
)
from tests.security.tally import TALLY
from tests.security.world import World, bearer, open_world

logger = logging.getLogger(__name__)


def _fill(value: Any, memory_id: str) -> Any:
    """The case's arguments with the placeholder replaced by a real memory id."""
    if isinstance(value, str):
        return value.replace(MEMORY, memory_id)
    if isinstance(value, dict):
        return {k: _fill(v, memory_id) for k, v in value.items()}
    return value


async def _rest(world: World, case: RestCase, memory_id: str) -> tuple[int, list[str]]:
    headers = {**bearer("alice"), **case.headers}
    kwargs: dict[str, Any] = {"params": case.params, "headers": headers}
    if case.content is not None:
        kwargs["content"] = case.content
    elif case.json is not None or case.method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = case.json
    r = await world.rest.request(case.method, _fill(case.path, memory_id), **kwargs)
    if case.valid:
        return r.status_code, [] if r.is_success else [f"refused: {r.text[:300]}"]
    return r.status_code, problem_faults(r, case.blame)


async def test_rest_hostile_requests_are_refused_and_change_nothing(
        embedder: Embedder) -> None:
    failures: list[str] = []
    async with open_world(embedder, raise_app_exceptions=False) as world:
        memory_id = await seed(world.service)
        for case in REST_CASES:
            before = await snapshot(world.service)
            status, faults = await _rest(world, case, memory_id)
            TALLY["hostile_tried"] += 1
            TALLY["hostile_5xx"] += status >= 500
            if await snapshot(world.service) != before:
                faults.append("the store changed")
            failures += [f"REST {case.name}: {f}" for f in faults]
    assert not failures, "\n".join(failures)


async def _call(world: World, case: McpCase, memory_id: str) -> tuple[bool, list[str]]:
    """Call a tool; (server error?, faults)."""
    try:
        result = await world.mcp["alice"].call_tool(case.tool, _fill(case.args, memory_id))
    except MCPError as exc:
        return True, [f"protocol error instead of a tool error: {exc}"]
    out = mcp_outcome(result)
    if case.valid:
        return False, [] if out.ok else [f"refused: {out.text[:300]}"]
    faults = tool_error_faults(not out.ok, out.text, case.blame)
    return any("server exception" in f for f in faults), faults


async def test_mcp_hostile_arguments_are_tool_errors_and_change_nothing(
        embedder: Embedder) -> None:
    failures: list[str] = []
    async with open_world(embedder) as world:
        memory_id = await seed(world.service)
        for case in MCP_CASES:
            before = await snapshot(world.service)
            crashed, faults = await _call(world, case, memory_id)
            TALLY["hostile_tried"] += 1
            TALLY["hostile_5xx"] += crashed
            if await snapshot(world.service) != before:
                faults.append("the store changed")
            failures += [f"MCP {case.tool} {case.name}: {f}" for f in faults]
        # The session survived all of it.
        alive = await world.mcp["alice"].call_tool("list_namespaces", {})
        assert not alive.is_error, json.dumps(alive.structured_content)
    assert not failures, "\n".join(failures)
