"""The GC scheduler inside `fleetmem serve`: APScheduler 3.x on the app's event loop.

Jobs live in code (fixed ids, `replace_existing`, `coalesce`, `max_instances=1`, a
misfire grace); APScheduler's own job stores are not shared between processes. With
several replicas every replica schedules every job, and each run first claims its slot
(the scheduled fire time) in the shared graph store: the first claim runs, the others
skip. Interval schedules are anchored at a fixed epoch, so all replicas fire at the same
instants and compute the same slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from fleetmem.gc import metrics
from fleetmem.gc.jobs import JOBS, run_job
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.services import GcReport, JobSlot, MemoryService
from fleetmem.memory.settings import GcSettings, Settings

logger = logging.getLogger(__name__)

ANCHOR = datetime(2000, 1, 1, tzinfo=UTC)
_EVERY = re.compile(r"^every\s+(\d+(?:\.\d+)?)\s*([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_SLOT_STEPS = 100_000


def parse_schedule(text: str, job: str) -> BaseTrigger | None:
    """Turn "every 6h", "cron 30 3 * * *" (UTC) or "off" into a trigger (None for off).

    Raises:
        InvalidInput: anything else, naming the setting to fix.
    """
    spec = " ".join(text.strip().lower().split())
    if spec in ("off", "never", "disabled", ""):
        return None
    every = _EVERY.match(spec)
    if every:
        seconds = float(every.group(1)) * _UNIT[every.group(2)]
        if seconds >= 1:
            return IntervalTrigger(seconds=seconds, start_date=ANCHOR, timezone=UTC)
    elif spec.startswith("cron "):
        try:
            return CronTrigger.from_crontab(spec.removeprefix("cron "), timezone=UTC)
        except ValueError as exc:
            raise InvalidInput(f"gc.{job}_schedule: bad cron expression {text!r}: {exc}",
                               field=f"gc.{job}_schedule", rule="schedule") from exc
    raise InvalidInput(f"gc.{job}_schedule must be 'every <n>[s|m|h|d]' (at least 1s), "
                       f"'cron <minute> <hour> <day> <month> <weekday>' or 'off' "
                       f"(got {text!r})", field=f"gc.{job}_schedule", rule="schedule")


def slot_time(trigger: BaseTrigger, now: datetime, grace: float) -> datetime | None:
    """The latest fire time of `trigger` in (now - grace, now]: the run now due, which
    every replica computes alike; None when no fire time falls in that window."""
    fire: datetime | None = trigger.get_next_fire_time(None, now - timedelta(seconds=grace))
    if fire is None or fire > now:
        return None
    for _ in range(_MAX_SLOT_STEPS):
        nxt: datetime | None = trigger.get_next_fire_time(fire, fire)
        if nxt is None or nxt > now:
            break
        fire = nxt
    return fire


def default_owner() -> str:
    """A replica identity for slot claims: host, process and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class GcScheduler:
    """Schedules every enabled GC job on the running event loop."""

    def __init__(self, service: MemoryService, settings: GcSettings, *,
                 owner: str | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.service = service
        self.settings = settings
        self.owner = owner or default_owner()
        self._now = now
        self.triggers: dict[str, BaseTrigger] = {}
        for job in JOBS:
            trigger = parse_schedule(getattr(settings, f"{job}_schedule"), job)
            if trigger is not None:
                self.triggers[job] = trigger
        self.reports: list[GcReport] = []
        """Reports of recent runs, oldest first (bounded)."""
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._running: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        """Add the jobs (fixed ids) and start; must be called on the running loop."""
        for job, trigger in self.triggers.items():
            self._scheduler.add_job(
                self.fire, trigger=trigger, args=[job], id=f"fleetmem-gc-{job}",
                name=f"fleetmem gc {job}", replace_existing=True, coalesce=True,
                max_instances=1, misfire_grace_time=self.settings.misfire_grace_seconds)
        self._scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        self._scheduler.start()
        logger.info("gc scheduler started as %s: %s", self.owner,
                    {job: str(t) for job, t in self.triggers.items()})

    def next_runs(self) -> dict[str, datetime | None]:
        """When each scheduled job fires next (for operators and tests)."""
        return {job.id.removeprefix("fleetmem-gc-"): job.next_run_time
                for job in self._scheduler.get_jobs()}

    async def fire(self, job: str) -> GcReport:
        """One scheduled run: claim the slot now due, then run the job (or skip)."""
        now = self._now()
        due = slot_time(self.triggers[job], now, self.settings.misfire_grace_seconds) or now
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            report = await run_job(self.service, job,
                                   slot=JobSlot(key=due.isoformat(), owner=self.owner))
        finally:
            if task is not None:
                self._running.discard(task)
        self.reports = [*self.reports[-99:], report]
        return report

    def _on_missed(self, event: JobEvent) -> None:
        job = str(event.job_id).removeprefix("fleetmem-gc-")
        outcome = "missed" if event.code == EVENT_JOB_MISSED else "overlap"
        metrics.record_failure(job, outcome)
        when = getattr(event, "scheduled_run_time", None) or \
            getattr(event, "scheduled_run_times", None)
        logger.warning("gc %s: run %s (scheduled %s)", job, outcome, when)

    async def stop(self) -> None:
        """Stop scheduling and cancel runs in flight (each step they made is atomic; the
        next run finishes the work)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let the scheduler's deferred shutdown run


@contextlib.asynccontextmanager
async def gc_background(app: object, service: MemoryService,
                        settings: Settings) -> AsyncIterator[None]:
    """Run the GC scheduler for the app's lifetime (unless `gc.enabled` is false)."""
    if not settings.gc.enabled:
        logger.info("gc scheduler disabled (gc.enabled=false)")
        yield
        return
    scheduler = GcScheduler(service, settings.gc)
    scheduler.start()
    try:
        yield
    finally:
        await scheduler.stop()
