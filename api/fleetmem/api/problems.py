"""Errors -> RFC 9457 problem details (`application/problem+json`).

One of the two places that translate errors (the other is the MCP door): `FleetmemError`
keeps its status, field and rule; request validation becomes a 422 naming the field; a
rate limit carries `Retry-After`; a missing credential carries `WWW-Authenticate`.
"""

from __future__ import annotations

import logging
import math
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from fleetmem.memory.errors import (
    FleetmemError,
    RateLimited,
    StorageUnavailable,
    Unauthenticated,
)

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:fleetmem:problem:"
_STORAGE_RETRY_SECONDS = 5


class ProblemItemResponse(BaseModel):
    """One failed rule of a request (validation errors list every one)."""

    field: str | None = Field(description="Dotted path of the input at fault.")
    rule: str = Field(description="Machine-readable name of the rule that failed.")
    message: str


class ProblemResponse(BaseModel):
    """An RFC 9457 problem: what went wrong, which field, which rule, how to fix it."""

    type: str = Field(description="URI naming the problem kind.",
                      examples=["urn:fleetmem:problem:invalid_input"])
    title: str = Field(examples=["Unprocessable Content"])
    status: int = Field(examples=[422])
    detail: str = Field(description="What was wrong and how to fix it.",
                        examples=["importance must be a number between 0 and 1 (got 3)"])
    instance: str | None = Field(default=None, description="The request path.")
    code: str = Field(description="fleetmem error code.", examples=["invalid_input"])
    field: str | None = Field(default=None, examples=["importance"])
    rule: str | None = Field(default=None, examples=["range"])
    retry_after: float | None = Field(default=None, description="Seconds to wait (429, 503).")
    errors: list[ProblemItemResponse] = Field(default_factory=list)


_DESCRIPTIONS = {
    400: "The body could not be read (send UTF-8 encoded JSON), or `X-Agent-Id` names "
         "another agent than the API key.",
    401: "No valid API key (`Authorization: Bearer <key>`).",
    403: "The caller's role or namespaces do not allow this.",
    404: "Not found among the namespaces the caller can read.",
    409: "Conflicts with the current state.",
    413: "The request body is larger than the configured limit.",
    422: "A field breaks a rule; `field` and `rule` say which.",
    429: "Rate limit or quota exceeded; see `Retry-After`.",
    503: "A store is unavailable; retry later.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting problem answers with these statuses."""
    return {s: {"model": ProblemResponse, "description": _DESCRIPTIONS.get(s, "Problem.")}
            for s in statuses}


def problem(status: int, detail: str, *, code: str, instance: str | None = None,
            field: str | None = None, rule: str | None = None,
            retry_after: float | None = None, errors: list[ProblemItemResponse] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem+json response."""
    body = ProblemResponse(type=TYPE_PREFIX + code, title=_phrase(status), status=status,
                           detail=detail, instance=instance, code=code, field=field, rule=rule,
                           retry_after=retry_after, errors=errors or [])
    return JSONResponse(body.model_dump(mode="json"), status_code=status,
                        media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def fleetmem_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Translate a service error, keeping its status, field and rule."""
    assert isinstance(exc, FleetmemError)
    headers: dict[str, str] = {}
    retry_after: float | None = None
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="fleetmem"'
    if isinstance(exc, RateLimited):
        retry_after = exc.retry_after
    elif isinstance(exc, StorageUnavailable) and exc.retryable:
        retry_after = _STORAGE_RETRY_SECONDS
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    if exc.status >= 500:
        logger.warning("%s %s failed: %s", request.method, request.url.path, exc.message)
    return problem(exc.status, exc.message, code=exc.code, instance=request.url.path,
                   field=exc.field, rule=exc.rule, retry_after=retry_after, headers=headers)


def _field_of(loc: tuple[int | str, ...] | list[int | str]) -> str | None:
    """`("body", "memories", 0, "text")` -> `memories[0].text`; headers keep their name."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or None


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Request validation -> 422 naming the first field at fault and listing every one."""
    assert isinstance(exc, RequestValidationError)
    items = [ProblemItemResponse(field=_field_of(e.get("loc", ())), rule=str(e.get("type")),
                                 message=str(e.get("msg")))
             for e in exc.errors()]
    first = items[0] if items else ProblemItemResponse(field=None, rule="invalid",
                                                       message="invalid request")
    where = f"{first.field}: " if first.field else ""
    return problem(422, f"{where}{first.message}", code="invalid_input",
                   instance=request.url.path, field=first.field, rule=first.rule,
                   errors=items)


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Framework HTTP errors (unknown route, wrong method, body too large) as problems."""
    assert isinstance(exc, StarletteHTTPException)
    code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
            413: "payload_too_large"}.get(exc.status_code, "http_error")
    detail = str(exc.detail)
    if exc.status_code == 400:
        detail += "; send a UTF-8 encoded JSON body with Content-Type: application/json"
    return problem(exc.status_code, detail, code=code, instance=request.url.path,
                   rule=code, headers=dict(exc.headers or {}))


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Last resort: log the bug, answer a 500 problem without internals."""
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal error; the server log has the details", code="internal",
                   instance=request.url.path)


def install(app: FastAPI) -> None:
    """Register the handlers and make the OpenAPI schema document problem+json."""
    app.add_exception_handler(FleetmemError, fleetmem_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
    _document_problem_media_type(app)


def _document_problem_media_type(app: FastAPI) -> None:
    """FastAPI documents extra responses as application/json; ours are problem+json."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if str(status).isdigit() and int(status) >= 400 \
                            and "application/json" in content:
                        content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
