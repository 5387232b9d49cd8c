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
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from watchfiles import Change, awatch

from fleetmem.memory.errors import FleetmemError, Forbidden
from fleetmem.memory.services import READ_OPERATIONS, MemoryService
from fleetmem.memory.settings import Settings, VaultSettings
from fleetmem.vault import layout
from fleetmem.vault.report import SyncReport
from fleetmem.vault.state import VaultFiles, VaultState
from fleetmem.vault.sync import principals, run, vault_root

logger = logging.getLogger(__name__)


class VaultWatcher:
    """Keeps one vault and the graph in sync while the service runs."""

    def __init__(self, service: MemoryService, cfg: VaultSettings,
                 path: Path | None = None) -> None:
        self.service, self.cfg = service, cfg
        self.root = vault_root(cfg, path)
        self.viewer = principals(cfg)[0]
        self.audit_seq = 0
        self.audit_ok = True
        self.last_sync = 0.0
        self.syncs = 0
        self._lock = asyncio.Lock()

    async def sync(self, why: str) -> SyncReport | None:
        """One two-way sync; failures are logged, never raised (the watcher keeps going)."""
        async with self._lock:
            try:
                report = await run(self.service, self.cfg, "sync", self.root)
            except FleetmemError as exc:
                logger.warning("vault sync (%s) failed: %s", why, exc.message)
                return None
            except OSError as exc:
                logger.warning("vault sync (%s) failed on the file system: %s", why, exc)
                return None
            finally:
                self.last_sync = time.monotonic()
                self.syncs += 1
            await self.graph_changed()  # consume the audit events of this sync itself
        level = logging.WARNING if report.conflicts or report.errors else logging.INFO
        if report.summary() != "vault sync: nothing to do":
            logger.log(level, "%s (%s)", report.summary(), why)
        for line in report.conflicts + report.errors:
            logger.warning("vault: %s", line)
        return report

    async def graph_changed(self) -> bool:
        """Whether the audit log holds writes in the viewer's namespaces since last asked."""
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
                                     for e in events)
            if len(events) < 1000:
                return changed

    def files_changed(self, changes: Iterable[tuple[Change, str]]) -> bool:
        """Whether any changed file differs from what the last sync recorded (our own
        writes come back as events too: they match the state and are ignored)."""
        state: VaultState | None = None
        files = VaultFiles(self.root)
        for _change, raw in changes:
            rel = Path(raw).resolve().relative_to(self.root.resolve()).as_posix()
            if layout.is_conflict_file(rel):
                return True
            if layout.classify(rel) is None:
                continue
            state = state or VaultState.load(self.root)
            entry = state.notes.get(rel)
            if (entry.file if entry else None) != files.checksum(rel):
                return True
        return False

    def _interesting(self, _change: Change, raw: str) -> bool:
        try:
            rel = Path(raw).resolve().relative_to(self.root.resolve())
        except ValueError:
            return False
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
            if changes and self.files_changed(changes):
                await self.sync("vault edited")
            elif time.monotonic() - self.last_sync >= self.cfg.full_sync_seconds:
                await self.sync("periodic")
            elif await self.graph_changed():
                await self.sync("graph changed")


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
    task = asyncio.create_task(watcher.run(stop), name="fleetmem-vault-watcher")
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
    async with watching(service, settings.vault):
        yield


def vault_background(app: Any, service: MemoryService,
                     settings: Settings) -> contextlib.AbstractAsyncContextManager[None]:
    """`fleetmem serve` hook: the vault watcher when `vault.path` is configured."""
    return _background(app, service, settings)
