"""Live two-way sync inside `fleetmem serve`: a debounced `watchfiles` watcher on the vault
plus a cheap poll of the audit log for graph changes.

Idle cost: the file watcher sleeps in the OS (inotify/FSEvents) and the poll is one indexed
audit query every `poll_seconds`; a full sync runs only when a note's checksum differs
from the last sync, the graph reports a write, or `full_sync_seconds` have passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from watchfiles import Change, awatch

from fleetmem.memory.errors import FleetmemError, Forbidden
from fleetmem.memory.services import READ_OPERATIONS, AuditEventView, MemoryService
from fleetmem.memory.settings import Settings, VaultSettings
from fleetmem.vault import layout
from fleetmem.vault.guard import REPORTED
from fleetmem.vault.metrics import SYNCING
from fleetmem.vault.report import SyncReport
from fleetmem.vault.state import VaultFiles, VaultState
from fleetmem.vault.sync import principals, run, vault_root

logger = logging.getLogger(__name__)


@dataclass
class VaultStatus:
    """Whether the watcher syncs, since when, and why not (no note path or namespace)."""

    status: str = "starting"
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The `vault` part of /readyz."""
        return {"status": self.status, "since": self.since.isoformat(),
                "reason": self.reason}


class VaultWatcher:
    """Keeps one vault and the graph in sync while the service runs."""

    def __init__(self, service: MemoryService, cfg: VaultSettings,
                 path: Path | None = None) -> None:
        self.service, self.cfg = service, cfg
        self.root = vault_root(cfg, path)
        self.viewer, self.human = principals(cfg)
        self.audit_seq = 0
        self.audit_ok = True
        self.last_sync = 0.0
        self.syncs = 0
        self.restarts = 0
        self.missed = False
        """Other agents wrote while the last sync ran: sync again."""
        self.status = VaultStatus()
        SYNCING.set(0)
        self._lock = asyncio.Lock()

    def _set(self, status: str, reason: str | None) -> None:
        if (self.status.status, self.status.reason) != (status, reason):
            self.status = VaultStatus(status, datetime.now(UTC), reason)
        SYNCING.set(1 if status == "syncing" else 0)

    async def sync(self, why: str) -> SyncReport | None:
        """One two-way sync; failures are logged, never raised (the watcher keeps going)."""
        async with self._lock:
            await self.graph_changed()  # the sync reads the graph: it covers writes so far
            try:
                report = await run(self.service, self.cfg, "sync", self.root)
            except FleetmemError as exc:
                logger.warning("vault sync (%s) failed: %s", why, exc.message)
                self._set("degraded", f"the last sync failed ({exc.rule or 'error'})")
                return None
            except OSError as exc:
                logger.warning("vault sync (%s) failed on the file system: %s", why, exc)
                self._set("degraded", "the last sync failed on the file system "
                          f"({type(exc).__name__})")
                return None
            finally:
                self.last_sync = time.monotonic()
                self.syncs += 1
            # Skip this sync's own writes, but not other agents' writes that landed while
            # it ran (after it read the graph): those need another sync.
            self.missed = await self.graph_changed(skip_own=True)
        self._set("syncing", None)
        logger.debug("vault sync (%s) done", why)  # `run` logged the sync's own line
        for line in report.errors:  # a note that keeps failing is logged once per version
            REPORTED.log(self.root, line.split(": ", 1)[0], line)
        return report

    def _own(self, event: AuditEventView) -> bool:
        """Whether an audit event is a write of the vault sync itself."""
        return event.agent_id == self.human.agent_id and event.workflow_id == "vault"

    async def graph_changed(self, *, skip_own: bool = False) -> bool:
        """Whether the audit log holds writes in the viewer's namespaces since last asked
        (with `skip_own`, other than the vault sync's own)."""
        if not self.audit_ok:
            return False
        changed = False
        while True:
            try:
                events = await self.service.audit_events(self.viewer, self.audit_seq, 1000)
            except Forbidden:
                logger.info("vault viewer %s may not read the audit log; relying on the "
                            "periodic full sync", self.viewer.agent_id)
                self.audit_ok = False
                return False
            if not events:
                return changed
            self.audit_seq = events[-1].seq
            changed = changed or any(e.operation not in READ_OPERATIONS and e.outcome == "ok"
                                     and not (skip_own and self._own(e)) for e in events)
            if len(events) < 1000:
                return changed

    def files_changed(self, changes: Iterable[tuple[Change, str]]) -> bool:
        """Whether any changed file differs from what the last sync recorded (our own
        writes come back as events too: they match the state and are ignored). A file that
        cannot be judged (hostile, unreadable, a damaged state) counts as a change: the
        sync then skips and reports it. Blocking file I/O: call it off the event loop."""
        state: VaultState | None = None
        files = VaultFiles(self.root, self.cfg.max_note_bytes)
        for _change, raw in changes:
            rel = self._relative(raw)
            if rel is None:
                continue
            if layout.is_conflict_file(rel):
                return True
            if layout.classify(rel) is None:
                continue
            try:
                state = state or VaultState.load(self.root)
                entry = state.notes.get(rel)
                if (entry.file if entry else None) != files.checksum(rel):
                    return True
            except (FleetmemError, OSError):
                return True
        return False

    def _relative(self, raw: str) -> str | None:
        """The vault-relative path of an event (links are not resolved: a link out of the
        vault is still an event inside it), or None when it is outside the vault."""
        try:
            rel = Path(os.path.abspath(raw)).relative_to(os.path.abspath(self.root))
        except ValueError:
            try:  # the vault given through a linked folder: events name the real path
                rel = Path(os.path.abspath(raw)).relative_to(self.root.resolve())
            except ValueError:
                return None
        return rel.as_posix() if rel.parts else None

    def _interesting(self, _change: Change, raw: str) -> bool:
        rel_text = self._relative(raw)
        if rel_text is None:
            return False
        rel = Path(rel_text)
        return raw.endswith(layout.NOTE_EXT) and not (set(rel.parts) & layout.IGNORED_DIRS)

    async def run(self, stop: asyncio.Event) -> None:
        """Sync once, then on every debounced batch of note changes and every graph write."""
        self.root.mkdir(parents=True, exist_ok=True)
        await self.sync("startup")
        quiet = self.cfg.debounce_ms
        async for changes in awatch(self.root, watch_filter=self._interesting, step=quiet,
                                    debounce=max(quiet * 4, 5000), stop_event=stop,
                                    rust_timeout=int(self.cfg.poll_seconds * 1000),
                                    yield_on_timeout=True):
            edited = bool(changes) and await asyncio.to_thread(self.files_changed,
                                                               list(changes))
            if edited:
                await self.sync("vault edited")
            elif time.monotonic() - self.last_sync >= self.cfg.full_sync_seconds:
                await self.sync("periodic")
            elif self.missed or await self.graph_changed():
                await self.sync("graph changed")


    async def supervise(self, stop: asyncio.Event) -> None:
        """`run`, restarted after an unexpected error with a doubling backoff (up to
        `restart_max_seconds`); the vault reads as degraded until a sync succeeds again."""
        cap = self.cfg.restart_max_seconds
        delay = min(1.0, cap)
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self.run(stop)
                return
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive any error
                if time.monotonic() - started > cap:
                    delay = min(1.0, cap)  # it ran well for a while: start the backoff anew
                self.restarts += 1
                self._set("degraded", f"the watcher failed ({type(exc).__name__}); "
                          "restarting")
                logger.error("the vault watcher failed; restarting in %.1f s", delay,
                             exc_info=exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, cap)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("the vault watcher stopped", exc_info=task.exception())


@contextlib.asynccontextmanager
async def watching(service: MemoryService, cfg: VaultSettings,
                   path: Path | None = None) -> AsyncIterator[VaultWatcher | None]:
    """Run the watcher for the lifetime of the block (nothing when no vault is set)."""
    if path is None and cfg.path is None:
        yield None
        return
    watcher = VaultWatcher(service, cfg, path)
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.supervise(stop), name="fleetmem-vault-watcher")
    task.add_done_callback(_log_crash)
    logger.info("vault watcher on %s for %s", watcher.root, watcher.viewer.agent_id)
    try:
        yield watcher
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=10)
        except TimeoutError:
            task.cancel()


@contextlib.asynccontextmanager
async def _background(app: Any, service: MemoryService,
                      settings: Settings) -> AsyncIterator[None]:
    async with watching(service, settings.vault) as watcher:
        if watcher is not None and app is not None:
            running = watcher

            def status() -> dict[str, object]:
                return running.status.as_dict()

            app.state.vault_status = status  # read by /readyz
        yield


def vault_background(app: Any, service: MemoryService,
                     settings: Settings) -> contextlib.AbstractAsyncContextManager[None]:
    """`fleetmem serve` hook: the vault watcher when `vault.path` is configured."""
    return _background(app, service, settings)
