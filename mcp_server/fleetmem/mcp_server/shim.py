"""`fleetmem mcp` over stdio: a thin relay to the service's streamable HTTP endpoint.

The embedded stores belong to one process (`fleetmem serve`), so the stdio server owns no
store and defines no tool of its own: it relays every JSON-RPC message between the
client's stdio and /mcp as it is, presenting the configured identity (a bearer agent
key, or `X-Agent-Id` where no agents file is configured). Any number of shims can share
one service.

It relays messages, not requests: no MCP session runs here, so nothing is parsed into
typed results, validated and re-serialised on the way (a recall's ten hits crossed two
SDK sessions, about 25 ms of a 60 ms call). What HTTP needs beyond the message, the
relay derives from it: the routing headers of the 2026 protocol (version, method, name)
from the message itself, the session of the 2025 protocol from `initialize`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import NoReturn

import anyio
import httpx
import httpx2
from mcp.client.streamable_http import streamable_http_client
from mcp.server.stdio import stdio_server
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.inbound import (
    MCP_METHOD_HEADER,
    MCP_NAME_HEADER,
    MCP_PROTOCOL_VERSION_HEADER,
    NAME_BEARING_METHODS,
    encode_header_value,
)
from mcp.shared.message import ClientMessageMetadata, SessionMessage
from mcp.types import (
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
)

from fleetmem.mcp_server.door import AGENT_HEADER
from fleetmem.mcp_server.launcher import LaunchError
from fleetmem.memory.settings import Settings

logger = logging.getLogger(__name__)

WATCH_INTERVAL = 2.0
WATCH_MISSES = 3
EXIT_SERVICE_LOST = 3
PROTOCOL_VERSION_META = "io.modelcontextprotocol/protocolVersion"
PARSE_ERROR = -32700


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


@dataclass
class _Negotiation:
    """What the relay learns from the conversation: the id of the 2025 handshake and the
    version it settled on (sent as MCP-Protocol-Version from then on, as HTTP clients do)."""

    initialize_id: str | int | None = None
    version: str | None = None


def routing_headers(message: JSONRPCMessage, negotiation: _Negotiation) -> dict[str, str]:
    """The per-message HTTP headers of a client message: for a 2026 message (its `_meta`
    names the version) MCP-Protocol-Version, Mcp-Method and Mcp-Name as the transport
    must mirror them; for a 2025 one the version negotiated at `initialize`."""
    if not isinstance(message, JSONRPCRequest | JSONRPCNotification):
        return {MCP_PROTOCOL_VERSION_HEADER: negotiation.version} if negotiation.version else {}
    params = message.params or {}
    meta = params.get("_meta")
    version = meta.get(PROTOCOL_VERSION_META) if isinstance(meta, dict) else None
    if not isinstance(version, str):
        if message.method == "initialize":
            return {}
        return {MCP_PROTOCOL_VERSION_HEADER: negotiation.version} if negotiation.version else {}
    headers = {MCP_PROTOCOL_VERSION_HEADER: version, MCP_METHOD_HEADER: message.method}
    key = NAME_BEARING_METHODS.get(message.method)
    if key is not None and isinstance(name := params.get(key), str):
        headers[MCP_NAME_HEADER] = encode_header_value(name)
    return headers


async def _upward(client: ReadStream[SessionMessage | Exception],
                  service: WriteStream[SessionMessage], answer: WriteStream[SessionMessage],
                  negotiation: _Negotiation) -> None:
    """Client -> service, until the client closes stdin."""
    async with client:
        async for item in client:
            if isinstance(item, Exception):  # a line that is no JSON-RPC message
                logger.warning("stdio: unreadable message from the client: %s", item)
                await answer.send(SessionMessage(JSONRPCError.model_validate({
                    "jsonrpc": "2.0", "id": None,
                    "error": {"code": PARSE_ERROR, "message": f"Parse error: {item}"}})))
                continue
            message = item.message
            if isinstance(message, JSONRPCRequest) and message.method == "initialize":
                negotiation.initialize_id, negotiation.version = message.id, None
            headers = routing_headers(message, negotiation)
            await service.send(SessionMessage(message, metadata=ClientMessageMetadata(
                headers=headers or None)))


async def _downward(service: ReadStream[SessionMessage | Exception],
                    client: WriteStream[SessionMessage],
                    negotiation: _Negotiation) -> None:
    """Service -> client, as long as the service answers."""
    async for item in service:
        if isinstance(item, Exception):
            logger.warning("the service sent something unreadable: %s", item)
            continue
        message = item.message
        if isinstance(message, JSONRPCResponse) and message.id == negotiation.initialize_id \
                and isinstance(version := message.result.get("protocolVersion"), str):
            negotiation.version = version
        await client.send(SessionMessage(message))


async def relay(url: str, headers: dict[str, str]) -> None:
    """Relay one stdio MCP connection to the endpoint at `url` until the client leaves
    (closes stdin); leave the process (see `lost`) when the service does.

    stdio is entered first and left last: its stdin reader waits in a thread that cannot
    be cancelled, so a failing upstream must end the process from inside it rather than
    unwind through it.
    """
    negotiation = _Negotiation()
    async with stdio_server() as (from_client, to_client):
        try:
            async with create_mcp_http_client(headers=headers) as http, \
                    streamable_http_client(url, http_client=http) as (from_service,
                                                                      to_service), \
                    anyio.create_task_group() as tasks:
                tasks.start_soon(watch, http, url)
                tasks.start_soon(_downward, from_service, to_client, negotiation)
                await _upward(from_client, to_service, to_client, negotiation)
                tasks.cancel_scope.cancel()
        except Exception:  # noqa: BLE001 - the upstream failed: leave now (see `lost`)
            logger.exception("the connection to %s failed", url)
            lost(url)
        # The client closed stdin: close our side of stdout too, or stdio_server's writer
        # waits for more messages forever and the process never exits.
        await to_client.aclose()


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


def run_until_lost(url: str, headers: dict[str, str]) -> NoReturn:
    """Relay stdio until the client leaves (exit 0) or the service is lost (exit 3).

    The process always ends through `os._exit`: stdin is read by a thread that cannot be
    interrupted, and a stdio server that lingers after its upstream died hangs its client.
    """
    code = EXIT_SERVICE_LOST
    try:
        anyio.run(relay, url, headers)
        code = 0
    except BaseException:  # noqa: BLE001 - the process boundary: report whatever ended it
        logger.exception("fleetmem mcp lost its connection to the service")
    finally:
        logging.shutdown()
        os._exit(code)
