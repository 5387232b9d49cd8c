"""Keeps the access policy in force in step with the agents file while the service runs.

`AgentsFile` loads the file and remembers which version (sha256 of its bytes) is in force;
`reload` re-reads it and, when the content changed and loads, swaps `ctx.policy`, so the
next request (REST, or an MCP tool call in an open session) is decided by the new file: a
removed key stops authenticating, a removed team member stops reading the team. A file
that does not load (bad YAML, an undefined role, missing) keeps the last good policy in
force, is logged once (line and column, never the text, which may hold a key) and shows
as `reload_failed` on /readyz.

`agents_reload_background` watches the file's folder (so an editor's write-to-temp-then-
rename and a Kubernetes ConfigMap's symlink swap are seen too) with `watchfiles`,
re-checks every `agents_reload.poll_seconds` as a backstop, and restarts itself after an
unexpected error.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from fleetmem.memory.agents import policy_from_text
from fleetmem.memory.domain.access import AccessPolicy
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.settings import Settings

if TYPE_CHECKING:
    from fleetmem.memory.services.runtime.context import ServiceContext

logger = logging.getLogger(__name__)

DIGEST_CHARS = 12
_MAX_RESTART_DELAY = 30.0


@dataclass(frozen=True)
class PolicyVersion:
    """Which agents file is in force (for /readyz; names no agent, team or key).

    Attributes:
        sha256: the first 12 hex digits of the sha256 of the file's bytes in force.
        loaded_at: when that version was put in force.
        reload_failed: the file changed since and the change did not load (the version
            above stays in force; the reason is in the server log).
        failed_at: when the last failed reload happened.
    """

    sha256: str
    loaded_at: datetime
    reload_failed: bool = False
    failed_at: datetime | None = None


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:DIGEST_CHARS]


class AgentsFile:
    """The agents file behind the policy in force, and its version."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.version: PolicyVersion | None = None
        self._failed_digest: str | None = None

    def load(self) -> AccessPolicy:
        """Load the file at start (an unreadable or invalid file stops the start).

        Raises:
            InvalidInput: rule `agents_file`, naming what is wrong.
        """
        if not self.path.exists():
            raise InvalidInput(f"agents file {self.path} does not exist",
                               field="agents_file", rule="agents_file")
        raw = self.path.read_bytes()
        policy = policy_from_text(raw.decode(), str(self.path))
        self.version = PolicyVersion(_digest(raw), datetime.now(UTC))
        return policy

    def reload(self, ctx: ServiceContext) -> bool:
        """Put the file's current content in force if it changed and loads.

        Returns whether the policy changed; a file that does not load changes nothing.
        """
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            return self._failed(None, f"cannot be read ({exc.strerror or type(exc).__name__})")
        digest = _digest(raw)
        current = self.version
        if current is not None and digest == current.sha256:
            if current.reload_failed:  # put back as it was: nothing is failing any more
                logger.info("agents file %s is back to version %s", self.path, digest)
                self.version = replace(current, reload_failed=False, failed_at=None)
                self._failed_digest = None
            return False
        if digest == self._failed_digest:
            return False  # the same broken content: already logged
        try:
            policy = policy_from_text(raw.decode(), str(self.path))
        except InvalidInput as exc:
            return self._failed(digest, exc.message)
        except Exception as exc:  # noqa: BLE001 - any shape error must keep the last good policy
            return self._failed(digest, f"{type(exc).__name__} while reading its sections")
        ctx.policy = policy
        self.version = PolicyVersion(digest, datetime.now(UTC))
        self._failed_digest = None
        logger.info("agents file %s reloaded: version %s in force", self.path, digest)
        return True

    def _failed(self, digest: str | None, reason: str) -> bool:
        current = self.version
        if current is not None and current.reload_failed and digest == self._failed_digest:
            return False  # e.g. still missing: logged when it started
        self._failed_digest = digest
        kept = current.sha256 if current is not None else "none"
        logger.error("agents file %s did not reload, keeping version %s in force: %s",
                     self.path, kept, reason)
        if current is not None:
            self.version = replace(current, reload_failed=True, failed_at=datetime.now(UTC))
        return False

    async def watch(self, ctx: ServiceContext, poll_seconds: float,
                    stop: asyncio.Event) -> None:
        """Reload on every change of the file's folder (and every `poll_seconds`) until
        `stop` is set; an unexpected error restarts the watch after a growing delay."""
        from watchfiles import awatch

        delay = 0.5
        while not stop.is_set():
            try:
                self.reload(ctx)  # catch up with changes made while not watching
                async for _changes in awatch(self.path.parent, watch_filter=None, debounce=100,
                                             step=50, stop_event=stop, recursive=False,
                                             rust_timeout=int(poll_seconds * 1000),
                                             yield_on_timeout=True):
                    self.reload(ctx)
                    delay = 0.5
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("agents file watcher failed; restarting in %.1f s", delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, _MAX_RESTART_DELAY)


class _Served(Protocol):
    ctx: ServiceContext


@contextlib.asynccontextmanager
async def agents_reload_background(app: object, service: _Served,
                                   settings: Settings) -> AsyncIterator[None]:
    """Watch the agents file for the served app's lifetime (nothing without one, or with
    `agents_reload.enabled` off)."""
    source = service.ctx.agents_file
    if source is None or not settings.agents_reload.enabled:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(source.watch(service.ctx, settings.agents_reload.poll_seconds,
                                            stop), name="fleetmem-agents-reload")
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 5)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
