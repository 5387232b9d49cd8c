"""Translate the service's `FleetmemError`s into MCP tool and resource errors.

One of the two places where errors change shape (the other is the REST door): a tool
error reaches the model as `is_error=True` with our message, so the message says what was
wrong and how to fix it; anything else would reach it only as "Error executing tool".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from pydantic import ValidationError

from fleetmem.memory.errors import FleetmemError, NotFound, RateLimited


def describe(exc: FleetmemError) -> str:
    """One line for the model: the error code, the message, and the field at fault."""
    text = f"{exc.code}: {exc.message}"
    if exc.field:
        text += f" (field: {exc.field})"
    if isinstance(exc, RateLimited):
        text += f"; retry after {exc.retry_after:.1f} s"
    return text


def describe_arguments(exc: ValidationError, limit: int = 3) -> str:
    """Argument errors the SDK found (missing, wrong type) in our one-line format, e.g.
    `invalid_input: text: Field required; send it (field: text)`."""
    parts: list[str] = []
    fields: list[str] = []
    for err in exc.errors(include_url=False, include_input=False)[:limit]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "arguments"
        fields.append(loc)
        hint = "send it" if err.get("type") == "missing" else \
            "see the tool's input schema for the expected type"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}; {hint}")
    more = exc.error_count() - len(parts)
    text = "invalid_input: " + "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
    return f"{text} (field: {fields[0]})" if fields else text


@contextmanager
def tool_errors() -> Iterator[None]:
    """Re-raise service errors raised inside the block as `ToolError`s."""
    try:
        yield
    except FleetmemError as exc:
        raise ToolError(describe(exc)) from exc


@contextmanager
def resource_errors() -> Iterator[None]:
    """Re-raise service errors raised inside the block as resource errors."""
    try:
        yield
    except NotFound as exc:
        raise ResourceNotFoundError(describe(exc)) from exc
    except FleetmemError as exc:
        raise ResourceError(describe(exc)) from exc
