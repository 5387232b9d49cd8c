"""Logging for every process: stderr only (stdout is results and the MCP stdio wire), as
text or as one JSON object per line (`FLEETMEM_LOG_FORMAT`), with the ids of the service
call in progress on every line logged inside it.

The ids (agent, workflow, request) live in a context variable set by the service around
each top-level call (`bound`), so any logger under it, a store's or a use case's, carries
them without passing them along; lines outside a call (uvicorn's, the scheduler's) carry
none. `event` logs one structured line: a readable message, and its fields as their own
keys in JSON.

Stdlib only at import: the JSON formatter (python-json-logger) is imported when chosen.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "message")
JSON_RENAMES = {"asctime": "ts", "levelname": "level", "name": "logger"}
JSON_SKIPPED = ("color_message",)  # uvicorn's message with terminal colour codes
ID_FIELDS = ("agent_id", "workflow_id", "request_id")
# Loggers of libraries we run that speak too much at INFO (per request or per load).
QUIET = {"httpx": logging.WARNING, "httpcore": logging.WARNING,
         "apscheduler.executors.default": logging.WARNING,
         "apscheduler.scheduler": logging.WARNING}


@dataclass(frozen=True, slots=True)
class CallIds:
    """Who a service call is for: the agent, its workflow, and the call's own id."""

    agent_id: str
    workflow_id: str | None
    request_id: str


_ids: ContextVar[CallIds | None] = ContextVar("fleetmem_log_ids", default=None)


def current_ids() -> CallIds | None:
    """The ids of the service call in progress in this task, if any."""
    return _ids.get()


@contextmanager
def bound(agent_id: str, workflow_id: str | None) -> Iterator[CallIds]:
    """Tag every line logged in the block (in this task and tasks it starts) with the
    agent, the workflow and a new request id."""
    ids = CallIds(agent_id, workflow_id, uuid.uuid4().hex[:16])
    token = _ids.set(ids)
    try:
        yield ids
    finally:
        _ids.reset(token)


class CallIdsFilter(logging.Filter):
    """Adds `agent_id`, `workflow_id` and `request_id` of the call in progress to a record
    (those known; a record's own `extra` values win, and an id that is None is left out)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = _ids.get()
        for name in ID_FIELDS:
            if getattr(record, name, None) is None:
                value = getattr(ids, name) if ids is not None else None
                if value is not None:
                    setattr(record, name, value)
                elif name in record.__dict__:
                    delattr(record, name)
        return True


def event(logger: logging.Logger, name: str, message: str, *, level: int = logging.INFO,
          **fields: object) -> None:
    """Log one structured line: `message` for people, `event` = `name` and `fields` as
    their own keys in JSON (names must not be LogRecord attributes such as `name`)."""
    logger.log(level, "%s", message, extra={"event": name, **fields})


def formatter(fmt: LogFormat) -> logging.Formatter:
    """The formatter of a log format: text lines, or one JSON object per line with `ts`
    (ISO 8601, UTC), `level`, `logger`, `message`, the call's ids when known and the
    structured fields of `event`."""
    if fmt == "text":
        return logging.Formatter(TEXT_FORMAT)
    from pythonjsonlogger.core import RESERVED_ATTRS
    from pythonjsonlogger.json import JsonFormatter

    class _Json(JsonFormatter):
        def formatTime(self, record: logging.LogRecord,  # noqa: N802 - logging's name
                       datefmt: str | None = None) -> str:
            return datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z")

    return _Json(list(JSON_FIELDS), rename_fields=JSON_RENAMES, json_default=str,
                 reserved_attrs=[*RESERVED_ATTRS, *JSON_SKIPPED])


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """Send every logger to one stderr handler in `fmt` ("text" or "json") at `level`,
    replacing handlers set before; uvicorn's loggers propagate to it when uvicorn is run
    with `log_config=None`."""
    chosen: LogFormat = "json" if fmt.strip().lower() == "json" else "text"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(chosen))
    handler.addFilter(CallIdsFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name, quiet in QUIET.items():
        logging.getLogger(name).setLevel(max(quiet, root.level))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)  # uvicorn's own config would give them handlers
        logger.handlers.clear()
        logger.propagate = True

