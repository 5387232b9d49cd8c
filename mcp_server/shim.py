"""`fleetmem mcp` over stdio: a thin proxy to the service's streamable HTTP endpoint.

The embedded stores belong to one process (`fleetmem serve`), so the stdio server owns no
store and defines no tool of its own: it relays tools, resources and prompts, with their
schemas, annotations, results and errors, to /mcp through the SDK client, presenting the
configured identity (a bearer agent key, or `X-Agent-Id` where no agents file is
configured). Any number of shims can share one service.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import anyio
import httpx
import httpx2
from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.shared._httpx_utils import create_mcp_http_client

from fleetmem.mcp_server.door import AGENT_HEADER
from fleetmem.mcp_server.launcher import LaunchError
from fleetmem.mcp_server.server import INSTRUCTIONS
from fleetmem.memory.settings import Settings

logger = logging.getLogger(__name__)

Ctx = ServerRequestContext[Client, Any]
WATCH_INTERVAL = 2.0
WATCH_MISSES = 3
EXIT_SERVICE_LOST = 3


def identity_headers(settings: Settings, agent: str | None = None) -> dict[str, str]:
    """Headers carrying the stdio identity: the agent key when configured, else the agent id."""
    if settings.mcp.api_key:
        return {"Authorization": f"Bearer {settings.mcp.api_key}"}
    return {AGENT_HEADER: agent or settings.mcp.agent or settings.default_agent}


def preflight(url: str, headers: dict[str, str]) -> None:
    """Fail fast, with the fix, when the service is unreachable or refuses our identity.

    Raises:
        LaunchError: the endpoint cannot be reached, or answers 401.
    """
    try:
        status = httpx.post(url, headers=headers, json={}, timeout=10.0).status_code
    except httpx.HTTPError as exc:
        raise LaunchError(f"cannot reach the MCP endpoint {url}: {exc}") from exc
    if status == 401:
        hint = "FLEETMEM_MCP__API_KEY matches no agent of the service's agents file" \
            if "Authorization" in headers else \
            "the service has an agents file: set FLEETMEM_MCP__API_KEY to this agent's key"
        raise LaunchError(f"{url} refused this client (401): {hint}")


def build_proxy(url: str, headers: dict[str, str]) -> Server[Client]:
    """A low-level MCP server relaying every request to the MCP endpoint at `url`."""

    @asynccontextmanager
    async def upstream(_: Server[Client]) -> AsyncIterator[Client]:
        try:
            async with create_mcp_http_client(headers=headers) as http, \
                    Client(streamable_http_client(url, http_client=http)) as client, \
                    anyio.create_task_group() as watchers:
                watchers.start_soon(watch, http, url)
                yield client
                watchers.cancel_scope.cancel()
        except BaseException:  # noqa: BLE001 - the upstream failed: leave now (see `lost`)
            logger.exception("the connection to %s failed", url)
            lost(url)

    async def list_tools(ctx: Ctx, params: types.PaginatedRequestParams | None
                         ) -> types.ListToolsResult:
        return await ctx.lifespan_context.list_tools(cursor=params.cursor if params else None)

    async def call_tool(ctx: Ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await ctx.lifespan_context.call_tool(params.name, params.arguments or {})

    async def list_resources(ctx: Ctx, params: types.PaginatedRequestParams | None
                             ) -> types.ListResourcesResult:
        return await ctx.lifespan_context.list_resources(
            cursor=params.cursor if params else None)

    async def list_templates(ctx: Ctx, params: types.PaginatedRequestParams | None
                             ) -> types.ListResourceTemplatesResult:
        return await ctx.lifespan_context.list_resource_templates(
            cursor=params.cursor if params else None)

    async def read_resource(ctx: Ctx, params: types.ReadResourceRequestParams
                            ) -> types.ReadResourceResult:
        return await ctx.lifespan_context.read_resource(str(params.uri))

    async def list_prompts(ctx: Ctx, params: types.PaginatedRequestParams | None
                           ) -> types.ListPromptsResult:
        return await ctx.lifespan_context.list_prompts(cursor=params.cursor if params else None)

    async def get_prompt(ctx: Ctx, params: types.GetPromptRequestParams
                         ) -> types.GetPromptResult:
        return await ctx.lifespan_context.get_prompt(params.name, params.arguments)

    return Server(
        "fleetmem", title="fleetmem memory (stdio)", instructions=INSTRUCTIONS, lifespan=upstream,
        on_list_tools=list_tools, on_call_tool=call_tool, on_list_resources=list_resources,
        on_list_resource_templates=list_templates, on_read_resource=read_resource,
        on_list_prompts=list_prompts, on_get_prompt=get_prompt)


async def watch(http: httpx2.AsyncClient, url: str) -> None:
    """Leave when the service stops answering /healthz (calls in flight would hang)."""
    health = url.removesuffix("/").removesuffix("/mcp") + "/healthz"
    misses = 0
    while misses < WATCH_MISSES:
        await anyio.sleep(WATCH_INTERVAL)
        try:
            misses = 0 if (await http.get(health, timeout=2.0)).status_code == 200 \
                else misses + 1
        except httpx2.HTTPError:
            misses += 1
    lost(url)


def lost(url: str) -> NoReturn:
    """Exit at once: waiting for the stdin reader (a thread that cannot be interrupted)
    would leave the client hanging; an exited stdio server is what MCP clients restart."""
    logger.error("lost the fleetmem service at %s; exiting so that the MCP client restarts "
                 "`fleetmem mcp` (which starts the service again)", url)
    logging.shutdown()
    os._exit(EXIT_SERVICE_LOST)


async def serve_stdio(server: Server[Any]) -> None:
    """Serve one MCP connection over this process's stdin/stdout (both protocol eras)."""
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def run_until_lost(server: Server[Any]) -> NoReturn:
    """Serve stdio until the client leaves (exit 0) or the service is lost (exit 3).

    The process always ends through `os._exit`: stdin is read by a thread that cannot be
    interrupted, and a stdio server that lingers after its upstream died hangs its client.
    """
    code = EXIT_SERVICE_LOST
    try:
        anyio.run(serve_stdio, server)
        code = 0
    except BaseException:  # noqa: BLE001 - the process boundary: report whatever ended it
        logger.exception("fleetmem mcp lost its connection to the service")
    finally:
        logging.shutdown()
        os._exit(code)
