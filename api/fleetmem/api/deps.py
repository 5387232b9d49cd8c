"""Request dependencies: the service, the authenticated Caller, the Idempotency-Key.

Identity comes from the bearer API key (hashed and matched by the access policy); with no
agents file, a request without a key acts as the agent its `X-Agent-Id` names, else as the
local agent. With an agents file, an `X-Agent-Id` other than the key's agent is refused
(400): the service's `identify` decides both. `X-On-Behalf-Of`, `X-Workflow-Id` and
`X-Session-Id` are recorded in attribution.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fleetmem.memory.errors import Unauthenticated
from fleetmem.memory.services import AGENT_ID_RE, KEY_RE, Caller, MemoryService
from fleetmem.memory.settings import Settings

_TOKEN_PATTERN = r"^[\x21-\x7e]{1,128}$"

bearer = HTTPBearer(auto_error=False, scheme_name="apiKey",
                    description="The agent's API key: `Authorization: Bearer <key>`. Without "
                    "an agents file, requests without a key act as the local agent.")


def get_service(request: Request) -> MemoryService:
    """The one MemoryService of the app."""
    service: MemoryService = request.app.state.service
    return service


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


ServiceDep = Annotated[MemoryService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_caller(
    request: Request,
    service: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    x_on_behalf_of: Annotated[str | None, Header(
        alias="X-On-Behalf-Of", pattern=AGENT_ID_RE.pattern, max_length=80,
        description="The human (e.g. `human:dana`) the agent acts for; recorded in "
        "attribution.", examples=["human:dana"])] = None,
    x_workflow_id: Annotated[str | None, Header(
        alias="X-Workflow-Id", pattern=_TOKEN_PATTERN,
        description="Correlation id of the workflow; recorded in attribution.",
        examples=["wf-2026-01-42"])] = None,
    x_session_id: Annotated[str | None, Header(
        alias="X-Session-Id", pattern=_TOKEN_PATTERN,
        description="The agent's session: recall also searches its short-term buffer.",
        examples=["s-1"])] = None,
    x_agent_id: Annotated[str | None, Header(
        alias="X-Agent-Id", pattern=AGENT_ID_RE.pattern, max_length=80,
        description="Without an agents file: the agent a request without a key acts as "
        "(default: the local agent). With an agents file the API key says who is calling; "
        "this header may repeat that agent, and naming another is refused (400).",
        examples=["alice"])] = None,
) -> Caller:
    """Authenticate the bearer key and build the Caller (401 when it matches no agent,
    400 when `X-Agent-Id` contradicts the key)."""
    token = credentials.credentials if credentials is not None else None
    if token is None and request.headers.get("authorization"):
        raise Unauthenticated("the Authorization header must be 'Bearer <api key>'",
                              field="Authorization", rule="bearer_format")
    agent_id = service.identify(token, x_agent_id)
    if agent_id is None:
        detail = "the API key matches no agent" if token else "an API key is required"
        raise Unauthenticated(f"{detail}; send 'Authorization: Bearer <api key>' with a key "
                              "configured in the agents file", field="Authorization",
                              rule="api_key")
    return Caller(agent_id=agent_id, on_behalf_of=x_on_behalf_of, workflow_id=x_workflow_id,
                  session_id=x_session_id)


CallerDep = Annotated[Caller, Depends(get_caller)]

IdempotencyKeyDep = Annotated[str | None, Header(
    alias="Idempotency-Key", pattern=KEY_RE.pattern, max_length=255,
    description="Makes the write retry-safe: a retry with the same key returns the original "
    "response. Reusing a key for a different request is refused (422).",
    examples=["6f1c9a4e-2b7d-4c1a-9e0f-5d3b8a7c2e10"])]
