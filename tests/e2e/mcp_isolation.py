"""Isolation through every MCP tool: agent B reaches nothing of agent A's private namespace,
whichever transport carries the calls."""

from __future__ import annotations

from typing import Any

from mcp import Client

from tests.e2e.mcp_parity_scenarios import parity_isolation
from tests.e2e.mcp_scenarios import (
    all_entities,
    ok,
    read_resource_error,
    refused,
    resource_json,
    state,
    whoami,
)


async def isolation_through_every_tool(a: Client, b: Client, tag: str) -> set[str]:
    """Agent B reaches nothing of agent A's private namespace through any tool or resource;
    returns the tools B tried."""
    me_a, me_b = await whoami(a), await whoami(b)
    ns_a = f"agent:{me_a}"
    secret, project, owner = f"{tag} code word is heliotrope", f"{tag}-Secret", f"{tag}-Owner"
    sid = (await ok(a, "remember", {"text": secret}))["id"]
    await ok(a, "create_entities", {"entities": [
        {"name": project, "entityType": "project", "observations": ["codename heliotrope"]}]})
    await ok(a, "relate", {"from_entity": project, "relation_type": "owned_by",
                           "to_entity": owner})
    session = f"{tag}-same-session-id"
    await ok(a, "buffer_append", {"session_id": session, "text": "heliotrope plan, step one"})
    before_a = await state(a)
    tried: set[str] = set()

    async def denied(tool: str, args: dict[str, Any], *needles: str) -> None:
        await refused(b, tool, args, *needles)
        tried.add(tool)

    hits = (await ok(b, "recall", {"query": secret, "k": 100}))["hits"]
    assert all(h["memory"]["namespace"] != ns_a for h in hits)
    await denied("recall", {"query": secret, "namespaces": [ns_a]}, "forbidden")
    assert all(e["namespace"] != ns_a for e in await all_entities(b))
    tried.add("read_graph")
    await denied("read_graph", {"namespaces": [ns_a]}, "forbidden")
    assert (await ok(b, "search_nodes", {"query": "heliotrope"}))["entities"] == []
    tried.add("search_nodes")
    assert (await ok(b, "open_nodes", {"names": [project, owner]}))["entities"] == []
    tried.add("open_nodes")
    for tool, args in (("history", {"id": sid}), ("forget", {"id": sid}),
                       ("correct", {"id": sid, "text": "the code word is gone"}),
                       ("share", {"id": sid, "namespace": "global"})):
        await denied(tool, args, "not_found")
    for tool, args in (
            ("remember", {"text": "planted", "namespace": ns_a}),
            ("create_entities", {"entities": [{"name": "Planted", "entityType": "x"}],
                                 "namespace": ns_a}),
            ("create_relations", {"relations": [{"from": project, "to": owner,
                                                 "relationType": "x"}], "namespace": ns_a}),
            ("add_observations", {"observations": [{"entityName": project,
                                                    "contents": ["planted"]}],
                                  "namespace": ns_a}),
            ("delete_entities", {"entityNames": [project], "namespace": ns_a}),
            ("delete_observations", {"deletions": [{"entityName": project, "observations":
                                                    ["codename heliotrope"]}],
                                     "namespace": ns_a}),
            ("delete_relations", {"relations": [{"from": project, "to": owner,
                                                 "relationType": "owned_by"}],
                                  "namespace": ns_a}),
            ("relate", {"from_entity": project, "relation_type": "x", "to_entity": owner,
                        "namespace": ns_a}),
            ("buffer_append", {"session_id": session, "text": "planted", "namespace": ns_a})):
        await denied(tool, args, "forbidden")
    # Same names in B's own namespace never touch A's entities.
    await denied("add_observations", {"observations": [{"entityName": project,
                                                        "contents": ["planted"]}]},
                 "not_found")
    assert (await ok(b, "delete_entities", {"entityNames": [project]}))["deleted"] == 0
    assert (await ok(b, "buffer_read", {"session_id": session}))["items"] == []
    tried.add("buffer_read")
    assert (await ok(b, "consolidate", {"session_id": session}))["promoted"] == []
    tried.add("consolidate")
    listed = [n["namespace"] for n in (await ok(b, "list_namespaces", {}))["namespaces"]]
    assert ns_a not in listed and f"agent:{me_b}" in listed
    tried.add("list_namespaces")
    assert "heliotrope" not in await read_resource_error(b, f"memory://entity/{project}")
    await read_resource_error(b, f"memory://namespace/{ns_a}")

    # A's memory is intact and still A's.
    assert await state(a) == before_a
    hits = (await ok(a, "recall", {"query": secret, "k": 3}))["hits"]
    assert hits[0]["memory"]["id"] == sid and hits[0]["memory"]["status"] == "active"
    entity = await resource_json(a, f"memory://entity/{project}")
    assert "codename heliotrope" in entity["entities"][[e["name"] for e in
                                                        entity["entities"]].index(project)][
        "observations"]
    return tried | await parity_isolation(a, b, tag, sid, project, session)
