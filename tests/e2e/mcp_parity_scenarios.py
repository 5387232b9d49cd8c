"""MCP scenarios for the tools added for parity with REST (issue 19): restore, get_memory,
list_memories, remember_batch, the per-entity tools, buffer_clear, stats,
namespace_summary, audit_events and the conflict tools. Called from `mcp_scenarios` and
`mcp_isolation`, so every transport runs them."""

from __future__ import annotations

from typing import Any

from mcp import Client

from tests.e2e.mcp_calls import ok, refused, state, whoami

PARITY_TOOLS = frozenset({
    "restore", "get_memory", "list_memories", "remember_batch", "get_entity", "neighbours",
    "update_entity", "rename_entity", "buffer_clear", "stats", "namespace_summary",
    "audit_events", "conflicts_list", "conflicts_resolve",
})
PARITY_READ_ONLY = frozenset({"get_memory", "list_memories", "get_entity", "neighbours",
                              "stats", "namespace_summary", "audit_events", "conflicts_list"})
PARITY_DESTRUCTIVE = frozenset({"buffer_clear"})


async def exercise_parity_tools(c: Client, tag: str) -> set[str]:
    """Each parity tool's happy path and a bad-input path; returns the tools exercised."""
    me = await whoami(c)
    private = f"agent:{me}"
    done: set[str] = set()

    batch = await ok(c, "remember_batch", {"memories": [
        {"text": f"The {tag} ledger service writes to Postgres"},
        {"text": f"The {tag} ledger team meets on Wednesdays", "kind": "episode"}]})
    first, second = (r["id"] for r in batch["results"])
    await refused(c, "remember_batch", {"memories": [{"text": "fine"}, {"text": ""}]},
                  "memories[1].text")
    done.add("remember_batch")

    got = await ok(c, "get_memory", {"id": first})
    assert got["id"] == first and got["attribution"]["created_by"] == me
    await refused(c, "get_memory", {"id": "not-an-id"}, "invalid_input", "id")
    done.add("get_memory")

    page = await ok(c, "list_memories", {"namespaces": [private], "limit": 1})
    assert len(page["items"]) == 1 and page["next_cursor"] == page["items"][0]["id"]
    following = await ok(c, "list_memories", {"namespaces": [private], "limit": 1000,
                                              "cursor": page["next_cursor"]})
    assert page["next_cursor"] not in [m["id"] for m in following["items"]]
    await refused(c, "list_memories", {"limit": 0}, "limit")
    done.add("list_memories")

    assert (await ok(c, "forget", {"id": second}))["status"] == "archived"
    back = await ok(c, "restore", {"id": second})
    assert back["id"] == second and back["status"] == "active"
    await refused(c, "restore", {"id": second}, "conflict", "not archived")
    done.add("restore")

    # per-entity tools -----------------------------------------------------------------------
    svc, db = f"{tag}-Ledger", f"{tag}-Postgres"
    await ok(c, "relate", {"from_entity": svc, "relation_type": "writes_to", "to_entity": db})
    entity = await ok(c, "get_entity", {"name": svc})
    assert entity["name"] == svc and entity["namespace"] == private
    await refused(c, "get_entity", {"name": f"{tag}-Nobody"}, "not_found", f"{tag}-Nobody")
    done.add("get_entity")

    near = await ok(c, "neighbours", {"name": svc})
    assert {e["name"] for e in near["entities"]} == {svc, db}
    assert [(r["from"], r["to"]) for r in near["relations"]] == [(svc, db)]
    await refused(c, "neighbours", {"name": ""}, "name")
    done.add("neighbours")

    updated = await ok(c, "update_entity", {"name": svc, "entityType": "service",
                                            "tags": ["tier-1"]})
    assert updated["entityType"] == "service" and updated["tags"] == ["tier-1"]
    await refused(c, "update_entity", {"name": svc, "entityType": ""}, "entityType")
    done.add("update_entity")

    renamed = await ok(c, "rename_entity", {"name": svc, "newName": f"{svc}-api"})
    assert renamed["name"] == f"{svc}-api" and svc in renamed["aliases"]
    await refused(c, "rename_entity", {"name": f"{svc}-api", "newName": db}, "conflict", db)
    done.add("rename_entity")

    # buffer, counts, audit, conflicts -------------------------------------------------------
    session = f"{tag}-clear-session"
    await ok(c, "buffer_append", {"session_id": session, "text": f"{tag}: wrap up the docs"})
    assert (await ok(c, "buffer_clear", {"session_id": session}))["count"] == 1
    assert (await ok(c, "buffer_read", {"session_id": session}))["items"] == []
    await refused(c, "buffer_clear", {"session_id": ""}, "session_id")
    done.add("buffer_clear")

    stats = await ok(c, "stats", {})
    assert stats["agent_id"] == me and stats["total_memories"] >= 2
    assert private in [n["namespace"] for n in stats["namespaces"]]
    done.add("stats")  # takes no input, so it has no bad-input path

    summary = await ok(c, "namespace_summary", {"namespace": private})
    assert summary["namespace"]["namespace"] == private
    assert f"{svc}-api" in [e["name"] for e in summary["entities"]]
    await refused(c, "namespace_summary", {"namespace": "team:no-such-team"}, "forbidden")
    done.add("namespace_summary")

    events = await ok(c, "audit_events", {"memory_id": second})
    assert [e["operation"] for e in events["items"]][-2:] == ["forget", "restore"]
    assert events["next_cursor"] is None
    await refused(c, "audit_events", {"limit": 0}, "limit")
    done.add("audit_events")

    assert (await ok(c, "conflicts_list", {"namespace": private}))["items"] == []
    await refused(c, "conflicts_list", {"limit": 0}, "limit")
    done.add("conflicts_list")

    await refused(c, "conflicts_resolve", {"conflict_id": f"{tag}-none", "keep": "a"},
                  "not_found")
    await refused(c, "conflicts_resolve", {"conflict_id": f"{tag}-none", "keep": "neither"},
                  "keep")
    done.add("conflicts_resolve")  # the happy path needs two agents: test_door_parity
    return done


async def parity_isolation(a: Client, b: Client, tag: str, sid: str, project: str,
                           session: str) -> set[str]:
    """Agent B reaches nothing of A's private namespace through the parity tools (A wrote
    memory `sid`, entity `project` and buffer `session` there); returns the tools tried."""
    ns_a = f"agent:{await whoami(a)}"
    before_a = await state(a)
    tried: set[str] = set()

    async def denied(tool: str, args: dict[str, Any], *needles: str) -> None:
        await refused(b, tool, args, *needles)
        tried.add(tool)

    await denied("get_memory", {"id": sid}, "not_found")
    await denied("restore", {"id": sid}, "not_found")
    await denied("list_memories", {"namespaces": [ns_a]}, "forbidden")
    assert all(m["namespace"] != ns_a
               for m in (await ok(b, "list_memories", {"limit": 1000}))["items"])
    await denied("remember_batch", {"memories": [{"text": "planted", "namespace": ns_a}]},
                 "forbidden")
    await denied("get_entity", {"name": project}, "not_found")
    await denied("get_entity", {"name": project, "namespace": ns_a}, "forbidden")
    await denied("neighbours", {"name": project}, "not_found")
    await denied("update_entity", {"name": project, "namespace": ns_a, "tags": ["x"]},
                 "forbidden")
    await denied("rename_entity", {"name": project, "newName": f"{tag}-x", "namespace": ns_a},
                 "forbidden")
    await denied("namespace_summary", {"namespace": ns_a}, "forbidden")
    await denied("conflicts_list", {"namespace": ns_a}, "forbidden")
    await denied("conflicts_resolve", {"conflict_id": f"{tag}-c", "keep": "a"}, "not_found")
    assert (await ok(b, "buffer_clear", {"session_id": session}))["count"] == 0
    tried.add("buffer_clear")
    stats = await ok(b, "stats", {})
    assert ns_a not in [n["namespace"] for n in stats["namespaces"]]
    tried.add("stats")
    events = (await ok(b, "audit_events", {"limit": 1000}))["items"]
    # B sees its own attempts (refused, naming what it asked for), never A's work there.
    me_b = await whoami(b)
    assert events and all(e["agent_id"] == me_b for e in events if e["namespace"] == ns_a)
    tried.add("audit_events")
    assert await state(a) == before_a
    assert (await ok(a, "buffer_read", {"session_id": session}))["items"]
    return tried
