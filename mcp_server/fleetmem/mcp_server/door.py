"""What every MCP tool needs: the service, who is calling, and the tool annotations.

Identity depends on the transport: over HTTP with agent keys the bearer token names the
agent (verified by `KeyVerifier`); in an open deployment (no agents file) an HTTP client
may name itself with the `X-Agent-Id` header, as the stdio shim does; in process (stdio
`--direct`, tests) the configured agent is used.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import Field

from fleetmem.mcp_server.errors import resource_errors, tool_errors
from fleetmem.memory.errors import InvalidInput, Unauthenticated
from fleetmem.memory.services import AGENT_ID_RE, Caller, MemoryService, trace_door

logger = logging.getLogger(__name__)

AGENT_HEADER = "x-agent-id"
ON_BEHALF_OF_HEADER = "x-on-behalf-of"
WORKFLOW_HEADER = "x-workflow-id"
SESSION_HEADER = "x-session-id"
TRACEPARENT_HEADER = "traceparent"
_TOKEN = re.compile(r"^[\x21-\x7e]{1,128}$")  # the REST door's rule for these headers

READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                        open_world_hint=False)
IDEMPOTENT_WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False,
                                   idempotent_hint=True, open_world_hint=False)
IdempotencyKey = Annotated[str | None, Field(
    description="Makes the call retry-safe: a retry with the same key returns the first "
                "result; the same key with different arguments is refused "
                "(idempotency_key_reuse). Use a new key (e.g. a UUID) for each new request.")]
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True,
                              open_world_hint=False)


def one_line(doc: str | None) -> str:
    """A docstring as one paragraph (tool descriptions are read by models, not code)."""
    return " ".join((doc or "").split())


class KeyVerifier:
    """The SDK's token verifier over the agents file's API keys (the same keys as REST)."""

    def __init__(self, authenticate: Callable[[str | None], str | None]) -> None:
        self.authenticate = authenticate

    async def verify_token(self, token: str) -> AccessToken | None:
        """The agent owning `token` as the access token's client, or None (401)."""
        agent = self.authenticate(token) if token else None
        if agent is None:
            return None
        return AccessToken(token=token, client_id=agent, scopes=[], subject=agent)


def _headers(ctx: Context[Any, Any]) -> Mapping[str, str]:
    try:
        return ctx.headers or {}
    except ValueError:  # no request context (direct calls in tests)
        return {}


def _header(headers: Mapping[str, str], name: str, rule: re.Pattern[str]) -> str | None:
    """A header's value, None when absent; InvalidInput naming it when malformed."""
    value = headers.get(name)
    if not value:
        return None
    if len(value) > 128 or not rule.match(value):
        raise InvalidInput(f"header {name} has an invalid value (pattern {rule.pattern})",
                           field=name, rule="header_format")
    return value


@dataclass(frozen=True)
class Identity:
    """Resolves the `Caller` of a request.

    Attributes:
        default_agent: the agent of a request that carries no token and no agent header.
        trust_agent_header: accept `X-Agent-Id` (only where no agents file is configured,
            so every well-formed agent id is already a plain agent).
    """

    default_agent: str
    trust_agent_header: bool = False
    authenticate: Callable[[str | None], str | None] | None = None
    """The service's key check, re-run on every call: a session keeps working only while
    its key still names the same agent in the agents file in force."""

    def session_owner(self, headers: Mapping[str, str], key_agent: str | None) -> str:
        """The agent a new MCP session counts against: the agent the service's
        `authenticate()` found for the bearer key (`key_agent`), else the `X-Agent-Id`
        header where it is trusted, else the default agent."""
        if key_agent is not None:
            return key_agent
        claimed = headers.get(AGENT_HEADER) if self.trust_agent_header else None
        return claimed[:128] if claimed else self.default_agent

    def caller(self, ctx: Context[Any, Any]) -> Caller:
        """The caller of the current request (InvalidInput for a malformed header,
        Unauthenticated when the session's key no longer matches its agent)."""
        headers = _headers(ctx)
        token = get_access_token()
        if token is not None and self.authenticate is not None \
                and self.authenticate(token.token) != token.client_id:
            raise Unauthenticated("this session's API key matches no agent any more (the "
                                  "agents file changed); reconnect with a configured key",
                                  field="Authorization", rule="api_key")
        claimed = _header(headers, AGENT_HEADER, AGENT_ID_RE) if self.trust_agent_header \
            else None
        agent = token.client_id if token is not None else claimed or self.default_agent
        return Caller(agent, on_behalf_of=_header(headers, ON_BEHALF_OF_HEADER, AGENT_ID_RE),
                      workflow_id=_header(headers, WORKFLOW_HEADER, _TOKEN),
                      session_id=_header(headers, SESSION_HEADER, _TOKEN))


@dataclass(frozen=True)
class Door:
    """The service and the identity rule shared by every tool and resource."""

    service: MemoryService
    identity: Identity

    @contextmanager
    def calling(self, ctx: Context[Any, Any]) -> Iterator[Caller]:
        """Yield the caller; service errors inside the block become tool errors. Service
        calls inside are traced as door "mcp" (continuing an HTTP `traceparent`)."""
        with tool_errors(), trace_door("mcp", _headers(ctx).get(TRACEPARENT_HEADER)):
            yield self.identity.caller(ctx)

    @contextmanager
    def reading(self, ctx: Context[Any, Any]) -> Iterator[Caller]:
        """Yield the caller; service errors inside the block become resource errors."""
        with resource_errors(), trace_door("mcp", _headers(ctx).get(TRACEPARENT_HEADER)):
            yield self.identity.caller(ctx)
