# ruff: noqa: F811  (pytest fixtures are imported from rest_support and used as arguments)
"""MCP parity (issue 19): every agent operation REST offers has an MCP tool, and the
reverse, compared on the two surfaces as they are built.

An operation is the `MemoryService` method a door calls. The REST operations come from the
FastAPI app's routes (each endpoint's source names the service methods it calls); the MCP
operations from the tools the MCP server lists (each tool's source likewise). A method one
door reaches and the other does not fails the test, unless `OPERATOR_ONLY` lists it with
its reason. Routes outside /v1 must be the transport and operator routes listed below, so
an agent route added elsewhere cannot slip past the comparison.

The second test checks that a refusal reads the same on both doors: the message comes from
the service, REST puts it in the problem's `detail`, MCP in the tool error.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from mcp import Client

from fleetmem.api.app import create_app
from fleetmem.mcp_server.door import Identity
from fleetmem.mcp_server.server import build_server
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import Settings
from tests.e2e.mcp_scenarios import ok, refused
from tests.e2e.rest_support import (  # noqa: F401 - fixtures
    ALICE,
    RestApi,
    agents_file,
    api,
    assert_problem,
)

pytestmark = pytest.mark.asyncio

# Service methods REST reaches that MCP deliberately does not offer, and why.
OPERATOR_ONLY = {
    # Admin-only integrity checks of the audit chain and its witness, for the operator and
    # monitors (also `fleetmem audit verify`); no agent acts on them.
    "audit_verify": "admin integrity check",
    "audit_head": "admin monitor anchor",
    # Bulk import and export of whole files (NDJSON streams, `fleetmem import|export`):
    # migrations an operator or a user runs, not something an agent does mid-task; agents
    # write with remember_batch and page with list_memories (docs/import-export.md).
    "export_memories": "bulk export (NDJSON stream)",
    "import_check": "bulk import (NDJSON stream)",
    "import_lines": "bulk import (NDJSON stream)",
}
# Routes outside /v1: probes, metrics and the API's own documentation, not agent work.
TRANSPORT_ROUTES = {"/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect",
                    "/redoc", "/openapi.json"}


def api_routes(routes: list[Any]) -> Iterator[Any]:
    """Every route of the app, included routers flattened (Mounts are yielded as they are:
    /mcp and the docs assets are transports)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from api_routes(inner.routes)
        else:
            yield route


def service_calls(fn: Callable[..., Any], receiver: tuple[str, ...]) -> set[str]:
    """The methods `fn` calls on the service, found in its source: `service.x(...)` for a
    route (receiver ("service",)), `door.service.x(...)` for a tool."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            chain: list[str] = []
            target: ast.expr = node.func.value
            while isinstance(target, ast.Attribute):
                chain.insert(0, target.attr)
                target = target.value
            if isinstance(target, ast.Name) and (target.id, *chain) == receiver:
                found.add(node.func.attr)
    return found


def rest_operations(app: FastAPI) -> dict[str, set[str]]:
    """Service method -> the REST routes ("GET /v1/stats") that call it."""
    ops: dict[str, set[str]] = {}
    seen: set[tuple[str, str]] = set()
    for route in api_routes(app.routes):
        if not isinstance(route, APIRoute):
            continue
        for method in route.methods:
            seen.add((method, route.path))
        if not route.path.startswith("/v1/"):
            assert route.path in TRANSPORT_ROUTES, \
                f"{route.path} is outside /v1 and not a known transport route"
            continue
        calls = service_calls(route.endpoint, ("service",))
        assert calls, f"{route.path} calls no service method"
        for call in calls:
            ops.setdefault(call, set()).update(f"{m} {route.path}" for m in route.methods)
    documented = {(m.upper(), p) for p, item in app.openapi()["paths"].items() for m in item}
    assert documented <= seen, f"routes the walk missed: {documented - seen}"
    return ops


async def mcp_operations(service: MemoryService) -> dict[str, set[str]]:
    """Service method -> the MCP tools that call it."""
    server = build_server(service, Identity("alice"))
    ops: dict[str, set[str]] = {}
    for listed in await server.list_tools():
        tool = server._tool_manager.get_tool(listed.name)  # noqa: SLF001 - its function
        assert tool is not None, listed.name
        calls = service_calls(tool.fn, ("door", "service"))
        assert calls, f"tool {listed.name} calls no service method"
        for call in calls:
            ops.setdefault(call, set()).add(listed.name)
    return ops


async def test_every_agent_operation_is_on_both_doors(service: MemoryService) -> None:
    rest = rest_operations(create_app(Settings(), service=service))
    mcp = await mcp_operations(service)
    assert set(OPERATOR_ONLY) <= set(rest), "an allow-listed operation left REST: drop it"
    rest_only = {m: sorted(r) for m, r in rest.items() if m not in mcp and m not in OPERATOR_ONLY}
    mcp_only = {m: sorted(t) for m, t in mcp.items() if m not in rest}
    assert not rest_only, f"REST operations without an MCP tool: {rest_only}"
    assert not mcp_only, f"MCP tools without a REST route: {mcp_only}"
    assert not set(OPERATOR_ONLY) & set(mcp), "an operator-only operation is an MCP tool"


async def test_a_refusal_reads_the_same_on_both_doors(api: RestApi) -> None:
    memory_id = await api.remember("The deploy window is Tuesday morning")
    async with Client(build_server(api.service, Identity("alice"))) as c:
        cases: list[tuple[str, str, dict[str, Any] | None, str, dict[str, Any], int]] = [
            ("POST", f"/v1/memories/{memory_id}/restore", None,
             "restore", {"id": memory_id}, 409),
            ("POST", "/v1/conflicts/c-none/resolve", {"keep": "a"},
             "conflicts_resolve", {"conflict_id": "c-none", "keep": "a"}, 404),
            ("GET", "/v1/namespaces/team:other", None,
             "namespace_summary", {"namespace": "team:other"}, 403),
            ("GET", "/v1/entities/nothing-here", None, "get_entity", {"name": "nothing-here"},
             404),
        ]
        for method, path, body, tool, args, status in cases:
            r = await api.client.request(method, path, headers=ALICE, json=body)
            problem = assert_problem(r, status)
            message = await refused(c, tool, args, problem["detail"])
            assert f"{problem['code']}: {problem['detail']}" in message, (message, problem)
        assert (await ok(c, "get_memory", {"id": memory_id}))["status"] == "active"


async def test_conflicts_are_listed_and_resolved_over_mcp(service: MemoryService) -> None:
    team = "team:atlas"
    async with Client(build_server(service, Identity("alice"))) as alice, \
            Client(build_server(service, Identity("bob"))) as bob:
        await ok(alice, "create_entities", {"namespace": team, "entities": [
            {"name": n, "entityType": t} for n, t in
            (("Atlas", "team"), ("Dana", "person"), ("Erin", "person"))]})
        for c, lead in ((alice, "Dana"), (bob, "Erin")):
            await ok(c, "create_relations", {"namespace": team, "one_valued": True,
                                             "relations": [{"from": "Atlas", "to": lead,
                                                            "relationType": "led_by"}]})
        (conflict,) = (await ok(alice, "conflicts_list", {}))["items"]
        assert (conflict["a"]["agent_id"], conflict["b"]["agent_id"]) == ("alice", "bob")
        done = await ok(bob, "conflicts_resolve", {"conflict_id": conflict["id"], "keep": "b",
                                                   "note": "Erin took over in May"})
        assert done["status"] == "resolved"
        assert done["resolution"]["resolved_by"] == "bob"
        assert (await ok(alice, "conflicts_list", {}))["items"] == []
        assert [c["id"] for c in (await ok(alice, "conflicts_list",
                                           {"status": "resolved"}))["items"]] == [conflict["id"]]
        await refused(alice, "conflicts_resolve", {"conflict_id": conflict["id"], "keep": "a"},
                      "conflict", "already resolved")
