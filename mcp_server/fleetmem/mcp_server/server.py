"""Builds fleetmem's MCP server: every tool, resource and prompt over one MemoryService."""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools.base import Tool
from pydantic import ValidationError

from fleetmem.mcp_server import (
    prompts,
    resources,
    tools_entities,
    tools_graph,
    tools_memories,
    tools_oversight,
    tools_session,
)
from fleetmem.mcp_server.door import Door, Identity, KeyVerifier, one_line
from fleetmem.mcp_server.errors import describe_arguments
from fleetmem.memory.services import MemoryService

logger = logging.getLogger(__name__)

INSTRUCTIONS = (
    "fleetmem is your long-term memory, shared with other agents. Recall before answering "
    "about people, projects, decisions or preferences; remember durable facts as "
    "self-contained statements; correct wrong memories instead of adding contradicting "
    "ones. Memories are private to you unless you write or share them into a team or "
    "global namespace. The prompt 'memory-protocol' has the full guidance."
)


def _version() -> str:
    try:
        return version("fleetmem")
    except PackageNotFoundError:  # running from a source tree without install
        return "0"


def build_server(service: MemoryService, identity: Identity, *,
                 auth_url: str | None = None) -> MCPServer[Any]:
    """The MCP server over `service`.

    Args:
        service: the started service every tool calls.
        identity: how a request's caller is found (see `Identity`).
        auth_url: base URL of this server when served over HTTP with agent keys: bearer
            tokens are then required and verified against the agents file.
    """
    auth: dict[str, Any] = {}
    if auth_url is not None:
        auth = {"token_verifier": KeyVerifier(service.authenticate),
                "auth": AuthSettings(issuer_url=auth_url,  # type: ignore[arg-type]
                                     resource_server_url=f"{auth_url}/mcp",  # type: ignore[arg-type]
                                     validate_token_resource=False)}
    mcp: MCPServer[Any] = MCPServer("fleetmem", title="fleetmem memory",
                                    instructions=INSTRUCTIONS, version=_version(),
                                    log_level="WARNING", **auth)
    door = Door(service, identity)
    tools_memories.register(mcp, door)
    tools_graph.register(mcp, door)
    tools_session.register(mcp, door)
    tools_entities.register(mcp, door)
    tools_oversight.register(mcp, door)
    resources.register(mcp, door)
    prompts.register(mcp)
    # Docstrings are the descriptions; models read them better without the indentation.
    for registered in mcp._tool_manager.list_tools():  # noqa: SLF001 - no public setter
        registered.description = one_line(registered.description)
        _argument_errors_in_our_format(registered)
    return mcp


def _argument_errors_in_our_format(tool: Tool) -> None:
    """The SDK reports arguments that fail the input schema (a missing field, a wrong
    type) as pydantic's multi-line text; give the model our one-line `code: message
    (field: x)` instead, like every other tool error."""
    run = tool.run

    async def checked_run(arguments: dict[str, Any], context: Any,
                          convert_result: bool = False) -> Any:
        try:
            return await run(arguments, context, convert_result=convert_result)
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                raise ToolError(f"Error executing tool {tool.name}: "
                                f"{describe_arguments(exc.__cause__)}") from exc.__cause__
            raise

    object.__setattr__(tool, "run", checked_run)  # pydantic model: plain attribute set
