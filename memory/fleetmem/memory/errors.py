"""The one error tree of fleetmem.

Stores translate driver errors into these; `api/` and `mcp_server/` translate these into
HTTP problems and MCP tool errors. Every error carries a message written for the caller:
what was wrong and how to fix it.
"""

from __future__ import annotations


class FleetmemError(Exception):
    """Base of every error the service raises on purpose.

    Attributes:
        message: what went wrong and how to fix it, safe to show to the caller.
        field: the input field at fault, when there is one (dotted path).
        rule: a short machine-readable name of the rule that failed.
    """

    status: int = 500
    code: str = "internal"

    def __init__(self, message: str, *, field: str | None = None, rule: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.rule = rule

    def to_dict(self) -> dict[str, str | int | float | None]:
        """Return a JSON-friendly view used by every transport."""
        return {"code": self.code, "message": self.message, "field": self.field, "rule": self.rule}


class InvalidInput(FleetmemError):
    """The request is malformed: a field is missing, of the wrong type or out of range."""

    status = 422
    code = "invalid_input"


class BadRequest(InvalidInput):
    """The request contradicts itself (e.g. an `X-Agent-Id` naming another agent than the
    API key's); a kind of invalid input that HTTP answers with 400."""

    status = 400
    code = "bad_request"


class NotFound(FleetmemError):
    """The target does not exist, or the caller may not know that it exists."""

    status = 404
    code = "not_found"


class Forbidden(FleetmemError):
    """The caller may not perform this operation or touch this namespace."""

    status = 403
    code = "forbidden"


class Unauthenticated(FleetmemError):
    """No valid credentials were presented."""

    status = 401
    code = "unauthenticated"


class Conflict(FleetmemError):
    """The request conflicts with the current state (e.g. superseding a superseded memory)."""

    status = 409
    code = "conflict"


class RateLimited(FleetmemError):
    """The caller exceeded a rate limit or quota; `retry_after` says when to try again."""

    status = 429
    code = "rate_limited"

    def __init__(
        self, message: str, *, retry_after: float, field: str | None = None, rule: str | None = None
    ) -> None:
        super().__init__(message, field=field, rule=rule)
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, str | int | float | None]:
        data = super().to_dict()
        data["retry_after"] = self.retry_after
        return data


class StorageUnavailable(FleetmemError):
    """A backing store could not be reached or failed; `retryable` tells whether to retry."""

    status = 503
    code = "storage_unavailable"

    def __init__(self, store: str, *, retryable: bool, detail: str = "") -> None:
        msg = f"the {store} store is unavailable" + (f": {detail}" if detail else "")
        msg += "; retry later" if retryable else "; check the store's configuration and logs"
        super().__init__(msg, rule="storage")
        self.store = store
        self.retryable = retryable
