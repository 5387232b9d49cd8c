"""Calling MCP tools in tests: results that must succeed, refusals that must change
nothing, and the caller's view of the store."""

from __future__ import annotations

from typing import Any

from mcp import Client


def text_of(result: Any) -> str:
    """All text content of a tool result."""
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def ok(c: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    """Call a tool that must succeed; return its structured output."""
    result = await c.call_tool(tool, args)
    assert not result.is_error, f"{tool}({args}) failed: {text_of(result)}"
    assert isinstance(result.structured_content, dict), f"{tool} returned no structured output"
    return result.structured_content


async def state(c: Client) -> dict[str, Any]:
    """Counts of everything the caller can see (memories by status, entities, relations,
    buffer items), per namespace."""
    out = await ok(c, "list_namespaces", {})
    return {n["namespace"]: (n["memories"], n["entities"], n["relations"], n["buffer_items"])
            for n in out["namespaces"]}


async def refused(c: Client, tool: str, args: dict[str, Any], *needles: str) -> str:
    """Call a tool that must fail with a tool error naming `needles`, changing nothing."""
    before = await state(c)
    result = await c.call_tool(tool, args)
    message = text_of(result)
    assert result.is_error, f"{tool} accepted {args}: {message}"
    for needle in needles:
        assert needle in message, f"{tool} error lacks {needle!r}: {message}"
    assert await state(c) == before, f"{tool} changed the store although it failed"
    return message


async def whoami(c: Client) -> str:
    """The agent id the server sees for this client."""
    return str((await ok(c, "list_namespaces", {}))["agent_id"])
