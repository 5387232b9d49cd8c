"""MCP scenarios every transport must pass (in memory, streamable HTTP, stdio shim).

Each scenario drives a connected SDK `Client` only through the wire protocol, so the same
assertions hold whichever transport and protocol era carries them.
"""

from __future__ import annotations

import json
from typing import Any

from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import TextResourceContents

from tests.e2e.mcp_calls import ok, refused, state, text_of, whoami  # noqa: F401 - re-exported
from tests.e2e.mcp_parity_scenarios import (
    PARITY_DESTRUCTIVE,
    PARITY_READ_ONLY,
    PARITY_TOOLS,
    exercise_parity_tools,
)

BASE_TOOLS = frozenset({
    "remember", "recall", "forget", "correct", "relate", "buffer_append", "buffer_read",
    "consolidate", "history", "list_namespaces", "share",
    "create_entities", "create_relations", "add_observations", "delete_entities",
    "delete_observations", "delete_relations", "read_graph", "search_nodes", "open_nodes",
})
READ_ONLY_TOOLS = frozenset({"recall", "history", "buffer_read", "list_namespaces",
                             "read_graph", "search_nodes", "open_nodes"})
DESTRUCTIVE_TOOLS = frozenset({"forget", "delete_entities", "delete_observations",
                               "delete_relations"})
ALL_TOOLS = BASE_TOOLS | PARITY_TOOLS
ERAS = {"auto": "2026-07-28", "legacy": "2025-11-25"}


async def all_entities(c: Client, **args: Any) -> list[dict[str, Any]]:
    """Every entity read_graph returns, following next_cursor."""
    entities: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await ok(c, "read_graph", {**args, "limit": 500,
                                          **({"cursor": cursor} if cursor else {})})
        entities += page["entities"]
        cursor = page.get("next_cursor")
        if not cursor:
            return entities


def check_tool_listing(tools: list[Any]) -> None:
    """Names, descriptions, schemas and annotations of the published tools."""
    read_only, destructive = READ_ONLY_TOOLS | PARITY_READ_ONLY, \
        DESTRUCTIVE_TOOLS | PARITY_DESTRUCTIVE
    by_name = {t.name: t for t in tools}
    assert set(by_name) == ALL_TOOLS
    for t in tools:
        assert t.description and len(t.description) > 40 and "\n" not in t.description, t.name
        assert t.output_schema is not None, f"{t.name} has no output schema"
        assert t.annotations is not None, f"{t.name} has no annotations"
        assert t.annotations.read_only_hint is (t.name in read_only), t.name
        if t.name not in read_only:
            assert t.annotations.destructive_hint is (t.name in destructive), t.name
            assert t.annotations.idempotent_hint is not None, t.name

    def props(tool: str, *path: str) -> set[str]:
        schema = by_name[tool].input_schema
        node = schema["properties"]
        for key in path:
            node = node[key]
            if "$ref" in node.get("items", {}):
                node = schema["$defs"][node["items"]["$ref"].rsplit("/", 1)[1]]["properties"]
        return set(node)

    # The reference knowledge-graph server's argument shapes, unchanged.
    assert {"name", "entityType", "observations"} <= props("create_entities", "entities")
    assert {"from", "to", "relationType"} <= props("create_relations", "relations")
    assert {"from", "to", "relationType"} <= props("delete_relations", "relations")
    assert {"entityName", "contents"} <= props("add_observations", "observations")
    assert {"entityName", "observations"} <= props("delete_observations", "deletions")
    assert "entityNames" in props("delete_entities")
    assert "query" in props("search_nodes")
    assert "names" in props("open_nodes")
    assert not by_name["read_graph"].input_schema.get("required")
    assert {"cursor", "limit"} <= props("read_graph")
    assert "one_valued" in props("create_relations")


async def exercise_all_tools(c: Client, tag: str) -> set[str]:
    """Every tool's happy path and a bad-input path; returns the tools exercised."""
    me = await whoami(c)
    private = f"agent:{me}"
    done: set[str] = set()

    # remember / recall ------------------------------------------------------------------
    fact = f"The {tag} payments API is owned by team Atlas"
    r = await ok(c, "remember", {"text": fact, "kind": "fact", "importance": 0.7,
                                 "tags": ["ownership"]})
    assert r["namespace"] == private and not r["deduplicated"]
    first = r["id"]
    await refused(c, "remember", {"text": ""}, "invalid_input", "text")
    await refused(c, "remember", {"text": "fine", "kind": "rumour"}, "kind", "fact")
    done.add("remember")

    hits = (await ok(c, "recall", {"query": f"who owns the {tag} payments API", "k": 5}))["hits"]
    assert hits and hits[0]["memory"]["id"] == first
    assert hits[0]["memory"]["attribution"]["created_by"] == me
    await refused(c, "recall", {"query": "payments", "k": 0}, "invalid_input", "k")
    done.add("recall")

    # correct / history / share / forget --------------------------------------------------
    fixed = f"The {tag} payments API is owned by team Borealis"
    new = await ok(c, "correct", {"id": first, "text": fixed, "reason": "reorg"})
    assert new["supersedes"] == first and new["text"] == fixed
    await refused(c, "correct", {"id": new["id"], "text": ""}, "text")
    done.add("correct")

    versions = (await ok(c, "history", {"id": new["id"]}))["versions"]
    assert [v["id"] for v in versions] == [first, new["id"]]
    assert versions[0]["status"] == "superseded"
    await refused(c, "history", {"id": "not-an-id"}, "invalid_input", "id")
    done.add("history")

    shared = await ok(c, "share", {"id": new["id"], "namespace": "global"})
    assert shared["namespace"] == "global"
    await refused(c, "share", {"id": new["id"], "namespace": "no such namespace"},
                  "namespace")
    done.add("share")

    gone = await ok(c, "forget", {"id": new["id"]})
    assert gone["status"] == "archived"
    hits = (await ok(c, "recall", {"query": fixed, "k": 10}))["hits"]
    assert new["id"] not in [h["memory"]["id"] for h in hits]
    await refused(c, "forget", {"id": "12"}, "invalid_input", "id")
    done.add("forget")

    # the reference server's graph tools ---------------------------------------------------
    alice, acme, paris = f"{tag}-Alice", f"{tag}-Acme", f"{tag}-Paris"
    made = await ok(c, "create_entities", {"entities": [
        {"name": alice, "entityType": "person", "observations": ["likes green tea"]},
        {"name": acme, "entityType": "company", "observations": []}]})
    assert [e["name"] for e in made["entities"]] == [alice, acme]
    assert made["entities"][0]["attribution"]["created_by"] == me
    await refused(c, "create_entities", {"entities": [{"name": "", "entityType": "x"}]},
                  "name")
    await refused(c, "create_entities", {"entities": [{"name": "Nameless type"}]},
                  "entityType")
    done.add("create_entities")

    rel = await ok(c, "create_relations", {"relations": [
        {"from": alice, "to": acme, "relationType": "works_at"}]})
    assert rel["relations"][0]["from"] == alice and rel["relations"][0]["to"] == acme
    await refused(c, "create_relations", {"relations": []}, "relations")
    done.add("create_relations")

    obs = await ok(c, "add_observations", {"observations": [
        {"entityName": alice, "contents": ["speaks French"]}]})
    assert obs["results"] == [{"entityName": alice, "addedObservations": ["speaks French"]}]
    await refused(c, "add_observations", {"observations": [
        {"entityName": f"{tag}-Nobody", "contents": ["x"]}]}, "not_found", f"{tag}-Nobody")
    done.add("add_observations")

    opened = await ok(c, "open_nodes", {"names": [alice, acme]})
    assert {e["name"] for e in opened["entities"]} == {alice, acme}
    assert [(r["from"], r["relationType"], r["to"]) for r in opened["relations"]] == \
        [(alice, "works_at", acme)]
    await refused(c, "open_nodes", {"names": [""]}, "names")
    done.add("open_nodes")

    found = await ok(c, "search_nodes", {"query": "speaks french"})
    assert alice in [e["name"] for e in found["entities"]]
    await refused(c, "search_nodes", {"query": ""}, "query")
    done.add("search_nodes")

    page = await ok(c, "read_graph", {"limit": 1})
    assert len(page["entities"]) == 1 and page["next_cursor"]
    following = await ok(c, "read_graph", {"limit": 1, "cursor": page["next_cursor"]})
    assert following["entities"][0]["id"] != page["entities"][0]["id"]
    assert {alice, acme} <= {e["name"] for e in await all_entities(c)}
    await refused(c, "read_graph", {"limit": 0}, "limit")
    done.add("read_graph")

    related = await ok(c, "relate", {"from_entity": alice, "relation_type": "lives_in",
                                     "to_entity": paris, "to_type": "city"})
    assert related["created"] and related["created_entities"] == [paris]
    again = await ok(c, "relate", {"from_entity": alice, "relation_type": "lives_in",
                                   "to_entity": paris})
    assert not again["created"] and again["relation"]["id"] == related["relation"]["id"]
    await refused(c, "relate", {"from_entity": "", "relation_type": "x", "to_entity": paris},
                  "from")
    done.add("relate")

    n = await ok(c, "delete_observations", {"deletions": [
        {"entityName": alice, "observations": ["speaks French"]}]})
    assert n["deleted"] == 1
    await refused(c, "delete_observations", {"deletions": []}, "deletions")
    done.add("delete_observations")

    n = await ok(c, "delete_relations", {"relations": [
        {"from": alice, "to": acme, "relationType": "works_at"}]})
    assert n["deleted"] == 1
    await refused(c, "delete_relations", {"relations": []}, "relations")
    done.add("delete_relations")

    n = await ok(c, "delete_entities", {"entityNames": [paris]})
    assert n["deleted"] == 1 and n["success"]
    assert not (await ok(c, "open_nodes", {"names": [paris]}))["entities"]
    await refused(c, "delete_entities", {"entityNames": []}, "entityNames")
    done.add("delete_entities")

    # short-term buffer ---------------------------------------------------------------------
    session = f"{tag}-session"
    item = await ok(c, "buffer_append", {"session_id": session, "role": "user",
                                         "text": f"{tag}: the user wants the deploy on Friday",
                                         "importance": 0.8})
    assert item["agent_id"] == me and item["session_id"] == session
    await refused(c, "buffer_append", {"session_id": "", "text": "x"}, "session_id")
    await refused(c, "buffer_append", {"session_id": session, "text": "x", "role": "robot"},
                  "role")
    done.add("buffer_append")

    items = (await ok(c, "buffer_read", {"session_id": session}))["items"]
    assert [i["id"] for i in items] == [item["id"]]
    await refused(c, "buffer_read", {"session_id": session, "limit": 0}, "limit")
    done.add("buffer_read")

    promoted = await ok(c, "consolidate", {"session_id": session})
    assert len(promoted["promoted"]) == 1
    assert (await ok(c, "consolidate", {"session_id": session}))["promoted"] == []
    await refused(c, "consolidate", {"session_id": ""}, "session_id")
    done.add("consolidate")

    names = [n["namespace"] for n in (await ok(c, "list_namespaces", {}))["namespaces"]]
    assert private in names and "global" in names
    done.add("list_namespaces")  # takes no input, so it has no bad-input path
    return done | await exercise_parity_tools(c, tag)


async def resource_json(c: Client, uri: str) -> Any:
    """A JSON resource's content."""
    contents = (await c.read_resource(uri)).contents[0]
    assert isinstance(contents, TextResourceContents), uri
    assert contents.mime_type == "application/json"
    return json.loads(contents.text)


async def read_resource_error(c: Client, uri: str) -> str:
    """Read a resource that must fail; return the error message."""
    try:
        result = await c.read_resource(uri)
    except MCPError as exc:
        return str(exc)
    raise AssertionError(f"{uri} was readable: {result.contents}")
