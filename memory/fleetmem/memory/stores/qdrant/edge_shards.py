"""Sealed shards of the embedded vector tier, built and merged by a child process.

Writes go to one active Qdrant Edge shard, searched exactly (brute force) while it is
small. Once it holds `seal_points` points it is sealed: moved to `<path>.sealed/<n>` and a
new empty active shard takes its place. A sealed shard only loses points (a memory
re-upserted moves to the active shard; deletes apply everywhere).

A sealed shard is built off the serving process: its points are exported `CHUNK` at a
time (each a short task on the index's thread, between searches and writes), a child
process (`edge_build`) creates a new shard from them under a new number, with its HNSW
index and int8 vectors, and the new shard replaces its source. Until then the source
answers exactly. Qdrant Edge's build holds the GIL, so in-process (even on a thread) it
stopped the service: 43 s at 100k points at startup before this.

The same job merges shards: once `fan_in` built shards are of one size tier (about
`seal_points * fan_in ** tier` points), they are exported together and replaced by one
shard, up to `max_points` a shard. A search asks every shard; one HNSW search over 200k
points, with a beam four times as wide, finds what four over 50k do in less than half
their time (0.75 against 1.69 ms; bench/OTHER_RUNS.md, issue 22), so a store of 1M points
is searched in 5 shards instead of 20. Larger merged shards searched worse on the bench's
clustered vectors (one over 1M missed a question's best match with any beam up to 400).

Merging is off by default (`fan_in` 0): opening a shard of 200k points takes 2-4 s, and
Qdrant Edge holds the GIL for all of it, so every merge's swap, and every start, paused the
service that long in the 1M bench (bench/OTHER_RUNS.md). A 50k shard opens in 0.2-0.5 s.

The swap. A built shard is opened by the index's driver thread (`ShardSet.step` hands
that back; it shortens no pause, the open holding the GIL, but keeps the index's thread
free of it). Then, on the index's thread, in ~10 ms: the deletes its sources took since the
export began are replayed on it, a manifest naming it and its
sources is written (the commit), and it takes its sources' place. The sources are then
closed and removed off the index's thread, and the manifest with them. A new shard's
folder carries a `<m>.pending` marker until its commit; at open, a committed manifest is
finished and a pending folder without one is dropped, so a process stopped at any point
keeps either the sources or the new shard, never both or neither (`edge_files`: the files
and that recovery).

Every method runs on the index's single executor thread (`EdgeVectorIndex._run`, and its
driver thread's ticks), except the work `step` returns, which must not.
"""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal, TextIO

import qdrant_edge as qe

from fleetmem.memory.stores.qdrant import edge_files as files
from fleetmem.memory.stores.qdrant.edge_build import edge_config, export_files
from fleetmem.memory.stores.qdrant.edge_build import export as export_points
from fleetmem.memory.stores.qdrant.edge_exact import ExactRows
from fleetmem.memory.stores.qdrant.edge_files import PENDING
from fleetmem.memory.stores.qdrant.edge_scope import Scope

logger = logging.getLogger(__name__)
CHUNK = 128
"""Points exported per task on the index's thread (~4-8 ms)."""

Step = Literal["idle", "busy"] | Callable[[], None]
"""What `ShardSet.step` leaves to its caller: nothing for a while, call again soon, or
work to run off the index's thread before calling again."""


@dataclass(eq=False)
class Sealed:
    """One sealed shard (compared by identity)."""

    path: Path
    shard: qe.EdgeShard
    indexed: bool
    scope: Scope
    """What its points may hold (a sealed shard only loses points: it never widens)."""
    points: int = 0
    """Its points when opened (its size tier; deletes since are not counted)."""
    failed: bool = False
    """A build or merge of it failed in this process: not tried again until restart."""
    exact: ExactRows | None = None
    """Its vectors in memory while it is not indexed (`edge_exact`): handed over by the
    active shard it was, absent after a restart (then Qdrant Edge searches it exactly)."""


@dataclass
class Job:
    """One shard being built under `target` from `sources` (one: its first build; several:
    a merge)."""

    target: Path
    sources: list[Sealed]
    ids: TextIO
    vectors: BinaryIO
    cursor: int = 0
    """The source being exported."""
    offset: int | uuid.UUID | str | None = None
    child: subprocess.Popen[bytes] | None = None
    built: qe.EdgeShard | None = None
    """The new shard, opened off the index's thread once the child is done."""
    opening: bool = False
    open_failed: bool = False
    journal: list[str] = field(default_factory=list)
    """Ids deleted from the sources since the export began, replayed on the new shard."""

    @property
    def stem(self) -> Path:
        return files.export_stem(self.target)


@dataclass
class ShardSet:
    """The sealed shards beside one active shard, and at most one build or merge running."""

    root: Path
    dimension: int
    seal_points: int = 0
    """The active shard's seal size: the first size tier (0: sizes are not tiered)."""
    fan_in: int = 0
    """Merge this many built shards of one size tier into one (below 2: never merge)."""
    max_points: int = 250_000
    """A merge that would make a shard larger than this is not started."""
    shards: list[Sealed] = field(default_factory=list)
    _job: Job | None = None
    _settled: bool = False
    """Nothing to build or merge until the shards change."""

    def load(self) -> None:
        """Open the sealed shards: finish a replacement that was committed, drop a build
        that was not (and what an earlier release's interrupted build left)."""
        if not self.root.is_dir():
            return
        files.recover(self.root)
        folders = sorted((p for p in self.root.iterdir() if p.is_dir() and p.name.isdigit()),
                         key=lambda p: int(p.name))
        self.shards = [self._open(f, files.built(f)) for f in folders]
        self._settled = False

    def _open(self, folder: Path, indexed: bool, scope: Scope | None = None,
              shard: qe.EdgeShard | None = None) -> Sealed:
        shard = shard or qe.EdgeShard.load(str(folder), edge_config(self.dimension))
        return Sealed(folder, shard, indexed, scope or Scope.of(shard),
                      int(shard.info().points_count))

    def _number(self) -> int:
        """A number no sealed shard or build has."""
        taken = [int(s.path.name) for s in self.shards]
        if self._job is not None:
            taken.append(int(self._job.target.name))
        return max(taken, default=0) + 1

    def seal(self, active: qe.EdgeShard, active_path: Path, scope: Scope,
             exact: ExactRows | None = None) -> None:
        """Close the active shard and move it here as the newest sealed one (`scope`: what
        its points may hold; `exact`: its vectors in memory, searched until it is built)."""
        active.flush()
        active.close()
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / str(self._number())
        active_path.rename(target)
        sealed = self._open(target, False, scope)
        sealed.exact = exact
        self.shards.append(sealed)
        self._settled = False
        logger.info("sealed %d vectors as shard %s; its index is built in the background",
                    sealed.points, target.name)

    def delete(self, ids: list[str]) -> None:
        """Remove points from the sealed shards that hold them (missing ids are ignored).

        Each write deletes its ids here (a point lives in one shard), and they are nearly
        always new: so each shard is asked which it holds (a read) and only those are
        deleted, and journaled for a build that reads the shard. A delete of ids a shard
        lacks still went through its WAL, which every later open replays."""
        if not ids:
            return
        id_list: list[int | uuid.UUID | str] = list(ids)
        for s in self.shards:
            held: list[int | uuid.UUID | str] = [r.id for r in s.shard.retrieve(
                id_list, with_payload=False, with_vector=False)]
            if held:
                s.shard.update(qe.UpdateOperation.delete_points(held))
                if s.exact is not None:
                    s.exact.drop(str(i) for i in held)
                if self._job is not None and s in self._job.sources:
                    self._job.journal.extend(str(i) for i in held)

    def step(self) -> Step:
        """One short step of the background work: export a chunk, swap in a built shard,
        or start the next build or merge. Returns what is left to the caller (see `Step`);
        a callable must run off the index's thread."""
        job = self._job
        if job is None:
            job = self._job = self._next()
            if job is None:
                return "idle"
        if job.child is None:
            try:
                self._export(job)
            except Exception:  # e.g. a full disk: the sources answer as they are
                logger.exception("exporting %s for its build failed", job.stem)
                self._abandon(job, failed=True)
            return "busy" if self._job is job and job.child is None else "idle"
        if job.built is None:
            code = job.child.poll()
            if code is None:
                return "idle"
            if code != 0:  # tried again at the next start; the sources answer meanwhile
                logger.warning("building %s failed (exit %d)", job.target, code)
                self._abandon(job, failed=True)
                return "idle"
            if job.open_failed:
                self._abandon(job, failed=True)
                return "idle"
            if job.opening:
                return "idle"
            job.opening = True
            return lambda: self._open_built(job)
        self._job = None
        return self._swap(job)

    def _open_built(self, job: Job) -> None:
        """Off the index's thread: open the new shard (seconds for a large one)."""
        started = time.perf_counter()
        try:
            job.built = qe.EdgeShard.load(str(job.target), edge_config(self.dimension))
        except Exception:  # the job is dropped at the next step; the sources answer
            logger.exception("opening the new shard %s failed", job.target)
            job.open_failed = True
            return
        logger.info("opened the new shard %s in %.2f s", job.target,
                    time.perf_counter() - started)

    def _next(self) -> Job | None:
        if self._settled:
            return None
        pending = next((s for s in self.shards if not s.indexed and not s.failed), None)
        group = [pending] if pending is not None else self._mergeable()
        if not group:
            self._settled = True
            return None
        target = self.root / str(self._number())
        files.drop(target)
        target.with_name(target.name + PENDING).write_text(
            " ".join(s.path.name for s in group))
        ids, vectors = export_files(files.export_stem(target))
        job = Job(target, group, ids.open("w", encoding="utf-8"), vectors.open("wb"))
        if len(group) > 1:
            logger.info("merging sealed shards %s (%d points) in the background as %s",
                        ", ".join(s.path.name for s in group), sum(s.points for s in group),
                        target.name)
        return job

    def _mergeable(self) -> list[Sealed]:
        """The oldest `fan_in` built shards of the smallest tier that has as many."""
        if self.fan_in < 2 or self.seal_points <= 0:
            return []
        tiers: dict[int, list[Sealed]] = {}
        for s in self.shards:
            if s.indexed and not s.failed:
                tiers.setdefault(self._tier(s.points), []).append(s)
        for tier in sorted(tiers):
            group = tiers[tier][:self.fan_in]
            if len(group) == self.fan_in and sum(s.points for s in group) <= self.max_points:
                return group
        return []

    def _tier(self, points: int) -> int:
        return max(0, round(math.log(max(points, 1) / self.seal_points, self.fan_in)))

    def _export(self, job: Job) -> None:
        source = job.sources[job.cursor]
        records, job.offset = source.shard.scroll(qe.ScrollRequest(
            offset=job.offset, limit=CHUNK, with_payload=True, with_vector=True))
        export_points(records, job.ids, job.vectors, self.dimension)
        if job.offset is not None:
            return
        job.cursor += 1
        if job.cursor < len(job.sources):
            return
        job.ids.close()
        job.vectors.close()
        job.child = subprocess.Popen(
            [sys.executable, "-m", "fleetmem.memory.stores.qdrant.edge_build", str(job.stem),
             str(job.target), str(self.dimension)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

    def _abandon(self, job: Job, *, failed: bool) -> None:
        """Stop a job and drop its files (`failed`: its sources are not tried again in this
        process)."""
        if job.child is not None and job.child.poll() is None:
            job.child.terminate()
            job.child.wait()
        job.ids.close()
        job.vectors.close()
        if job.built is not None:
            job.built.close()
        files.drop(job.target)
        for s in job.sources:
            s.failed = s.failed or failed
        self._job = None

    def _swap(self, job: Job) -> Callable[[], None]:
        """On the index's thread: replay the journal on the opened new shard, commit, and
        put it in its sources' place; returns the sources' removal (off the thread)."""
        built = job.built
        assert built is not None
        started = time.perf_counter()
        if job.journal:
            id_list: list[int | uuid.UUID | str] = list(job.journal)
            built.update(qe.UpdateOperation.delete_points(id_list))
        built.flush()
        target = job.target.name
        sources = [s.path.name for s in job.sources]
        files.commit(self.root, target, sources)  # from here an open finishes the swap
        scope = Scope()
        for s in job.sources:
            scope = scope.union(s.scope)
        new = self._open(job.target, True, scope, built)
        self.shards = [s for s in self.shards if s not in job.sources] + [new]
        self._settled = False
        logger.info("shard %s (%d points) replaces %s; %d deletes replayed, %.2f s on the "
                    "index's thread", target, new.points, ", ".join(sources), len(job.journal),
                    time.perf_counter() - started)

        def remove() -> None:  # no search or write reaches the sources any more
            try:
                for export in export_files(job.stem):  # 300 MB for 200k: not on the thread
                    export.unlink(missing_ok=True)
                for s in job.sources:
                    s.shard.close()
                files.remove_sources(self.root, target, sources)
            except Exception:  # committed: the next open removes them
                logger.exception("removing the shards %s replaced by %s failed",
                                 sources, target)
        return remove

    def job_sources(self) -> list[str]:
        """The shards the job under way reads (none: no job)."""
        return [] if self._job is None else [s.path.name for s in self._job.sources]

    def wait(self) -> None:
        """Block until every sealed shard is built and no merge is due (tests, benchmarks).
        Runs the work `step` hands back inline."""
        while True:
            work = self.step()
            if callable(work):
                work()
            elif self._job is None:
                if self._settled:
                    return
            elif self._job.opening:  # the driver thread opens the new shard
                time.sleep(0.01)
            elif self._job.child is not None and work == "idle":
                self._job.child.wait()

    def close(self) -> None:
        """Stop a running build (its files are dropped; the next start builds again)."""
        if self._job is not None:
            self._abandon(self._job, failed=False)
        for s in self.shards:
            s.shard.flush()
            s.shard.close()
        self.shards = []
