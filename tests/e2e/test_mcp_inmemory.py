"""The MCP server in memory (SDK `Client(server)`), in both protocol eras, over the real
service: every tool, isolation, resources, the prompt and role enforcement."""

from __future__ import annotations

import pytest
from mcp import Client

from fleetmem.mcp_server.door import Identity
from fleetmem.mcp_server.server import build_server
from fleetmem.memory.services.service import MemoryService
from tests.e2e.mcp_isolation import isolation_through_every_tool
from tests.e2e.mcp_scenarios import (
    ALL_TOOLS,
    ERAS,
    check_tool_listing,
    exercise_all_tools,
    ok,
    read_resource_error,
    refused,
    resource_json,
)

pytestmark = pytest.mark.parametrize("mode", list(ERAS))


def client(service: MemoryService, agent: str, mode: str) -> Client:
    return Client(build_server(service, Identity(agent)), mode=mode)


async def test_tools_are_listed_with_schemas_and_annotations(service: MemoryService,
                                                             mode: str) -> None:
    async with client(service, "alice", mode) as c:
        assert c.protocol_version == ERAS[mode]
        check_tool_listing((await c.list_tools()).tools)


async def test_every_tool_happy_and_bad_input(service: MemoryService, mode: str) -> None:
    async with client(service, "alice", mode) as c:
        assert await exercise_all_tools(c, f"mem-{mode}") == ALL_TOOLS


async def test_isolation_through_every_tool(service: MemoryService, mode: str) -> None:
    async with client(service, "alice", mode) as a, client(service, "bob", mode) as b:
        assert await isolation_through_every_tool(a, b, f"iso-{mode}") == ALL_TOOLS


async def test_resources_and_prompt(service: MemoryService, mode: str) -> None:
    async with client(service, "alice", mode) as c:
        templates = {t.uri_template for t in (await c.list_resource_templates())
                     .resource_templates}
        assert templates == {"memory://entity/{name}", "memory://namespace/{ns}"}
        await ok(c, "create_entities", {"entities": [
            {"name": "Payments API", "entityType": "service",
             "observations": ["runs on port 8443"]}]})
        # A relation joins entities of one namespace: the team copy is made explicitly.
        await ok(c, "create_entities", {"entities": [
            {"name": "Payments API", "entityType": "service"}], "namespace": "team:atlas"})
        await ok(c, "relate", {"from_entity": "Payments API", "relation_type": "owned_by",
                               "to_entity": "Atlas", "namespace": "team:atlas"})
        entity = await resource_json(c, "memory://entity/Payments%20API")
        api = next(e for e in entity["entities"] if e["namespace"] == "agent:alice")
        assert api["observations"] == ["runs on port 8443"]
        assert api["observation_details"][0]["created_by"] == "alice"
        assert api["attribution"]["created_by"] == "alice"
        assert [(r["from"], r["relationType"], r["to"]) for r in entity["relations"]] == \
            [("Payments API", "owned_by", "Atlas")]
        team = await resource_json(c, "memory://namespace/team:atlas")
        assert team["namespace"]["access"] == "read-write"
        assert "bob" in team["namespace"]["members"]
        assert {e["name"] for e in team["entities"]} == {"Payments API", "Atlas"}
        assert "not_found" in await read_resource_error(c, "memory://entity/No%20Such%20Thing")
        assert "forbidden" in await read_resource_error(c, "memory://namespace/team:other")
        prompts = (await c.list_prompts()).prompts
        assert [p.name for p in prompts] == ["memory-protocol"]
        text = (await c.get_prompt("memory-protocol", {"task": "fix the deploy"})) \
            .messages[0].content.text  # type: ignore[union-attr]
        assert "recall" in text and "correct" in text and "fix the deploy" in text


async def test_denied_tool_is_refused_with_the_rule(service: MemoryService, mode: str) -> None:
    # rita's role allows reads only: the service refuses writes, the door reports why.
    async with client(service, "rita", mode) as c:
        message = await refused(c, "remember", {"text": "Rita was here"}, "forbidden")
        assert "remember" in message and "reader" in message
        await refused(c, "create_entities", {"entities": [{"name": "X", "entityType": "y"}]},
                      "forbidden", "create_entities")
        assert (await ok(c, "recall", {"query": "anything"}))["hits"] == []


async def test_unknown_agent_is_refused(service: MemoryService, mode: str) -> None:
    async with client(service, "mallory", mode) as c:
        result = await c.call_tool("recall", {"query": "secrets"})
        assert result.is_error and "not configured" in result.content[0].text  # type: ignore[union-attr]


async def test_argument_errors_are_one_line_with_the_field(service: MemoryService,
                                                           mode: str) -> None:
    """Arguments that fail the input schema come back in our format, not pydantic's."""
    async with client(service, "alice", mode) as c:
        missing = await refused(c, "remember", {"kind": "fact"}, "invalid_input: text: ",
                                "(field: text)", "send it")
        assert "\n" not in missing and "pydantic" not in missing
        wrong = await refused(c, "recall", {"query": "x", "k": "many"}, "invalid_input: k: ",
                              "(field: k)")
        assert "\n" not in wrong
