"""Sealed shards of the embedded vector tier, built and merged by a child process.

Writes go to one active Qdrant Edge shard, searched exactly (brute force) while it is
small. Once it holds `seal_points` points it is sealed: moved to `<path>.sealed/<n>` and a
new empty active shard takes its place. A sealed shard only loses points (a memory
re-upserted moves to the active shard; deletes apply everywhere).

A sealed shard is built off the serving process: its points are exported a few hundred at
a time (`CHUNK`, each a short task on the index's thread, between searches and writes), a
child process (`edge_build`) creates a shard from them with its HNSW index and int8
vectors, and the new shard replaces its source, the deletes made meanwhile replayed on it.
Until then the source answers exactly. Qdrant Edge's build holds the GIL, so in-process
(even on a thread) it stopped the service: 43 s at 100k points at startup before this.

The same job merges shards: once `fan_in` built shards are of one size tier (about
`seal_points * fan_in ** tier` points), they are exported together and replaced by one
shard, up to `max_points` a shard. A search asks every shard; one HNSW search over 200k
points, with a beam four times as wide, finds what four over 50k do in less than half
their time (0.75 against 1.69 ms; bench/OTHER_RUNS.md, issue 22), so a store of 1M points
is searched in 5 shards instead of 20. Larger merged shards searched worse on the bench's
clustered vectors (one over 1M missed a question's best match with any beam up to 400).

The replacement is committed by a manifest (`<n>.merge.json`, naming the sources) written
after the new shard is complete and before any source is removed: a process stopped before
it keeps the sources (the new shard is dropped at the next open); one stopped after it
finishes the swap at the next open.

Every method runs on the index's single executor thread (`EdgeVectorIndex._run`, and its
driver thread's ticks).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

import qdrant_edge as qe

from fleetmem.memory.stores.qdrant.edge_build import IDS, INDEX_VERSION, VECTORS, edge_config
from fleetmem.memory.stores.qdrant.edge_build import export as export_points
from fleetmem.memory.stores.qdrant.edge_scope import Scope

logger = logging.getLogger(__name__)
INDEXED = ".indexed"
"""Suffix of the marker beside a sealed shard whose index is built (it holds
`edge_build.INDEX_VERSION`; a shard whose marker holds another is built again)."""
STAGING = ".merge"
"""Suffix of the folder a child builds a new shard in (named after its lowest source)."""
MANIFEST = ".merge.json"
"""Suffix of the file that commits a replacement: `{"target": n, "sources": [...]}`."""
EXPORT = ".export"
"""Stem suffix of an export's files (`edge_build.IDS`, `edge_build.VECTORS`)."""
CHUNK = 512
"""Points exported per task on the index's thread (~3-5 ms)."""


@dataclass
class Sealed:
    """One sealed shard."""

    path: Path
    shard: qe.EdgeShard
    indexed: bool
    scope: Scope
    """What its points may hold (a sealed shard only loses points: it never widens)."""
    points: int = 0
    """Its points when opened (its size tier; deletes since are not counted)."""
    failed: bool = False
    """A build or merge of it failed in this process: not tried again until restart."""


@dataclass
class Job:
    """One shard being built from `sources` (one: its first build; several: a merge)."""

    root: Path
    sources: list[Sealed]
    ids: TextIO
    vectors: BinaryIO
    cursor: int = 0
    """The source being exported."""
    offset: int | uuid.UUID | str | None = None
    child: subprocess.Popen[bytes] | None = None
    journal: list[str] = field(default_factory=list)
    """Ids deleted from the sources since the export began, replayed on the new shard."""

    @property
    def name(self) -> str:
        """The number the new shard takes: its lowest source's."""
        return min((s.path.name for s in self.sources), key=int)

    @property
    def staging(self) -> Path:
        return self.root / f"{self.name}{STAGING}"

    @property
    def stem(self) -> Path:
        return self.root / f"{self.name}{EXPORT}"


@dataclass
class ShardSet:
    """The sealed shards beside one active shard, and at most one build or merge running."""

    root: Path
    dimension: int
    seal_points: int = 0
    """The active shard's seal size: the first size tier (0: sizes are not tiered)."""
    fan_in: int = 4
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
        for manifest in self.root.glob(f"*{MANIFEST}"):
            plan = json.loads(manifest.read_text(encoding="utf-8"))
            _commit(self.root, str(plan["target"]), [str(s) for s in plan["sources"]])
        for stale in self.root.glob(f"*{STAGING}"):
            shutil.rmtree(stale, ignore_errors=True)
        for stale in (*self.root.glob(f"*{EXPORT}.*"), *self.root.glob(f"*{MANIFEST}.tmp")):
            stale.unlink(missing_ok=True)
        for stale in self.root.glob("*.building"):  # left by releases before merging
            shutil.rmtree(stale, ignore_errors=True)
        for old in self.root.glob("*.old"):  # their swap interrupted between its renames
            live = old.with_name(old.name.removesuffix(".old"))
            if live.exists():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.rename(live)
        folders = sorted((p for p in self.root.iterdir() if p.is_dir() and p.name.isdigit()),
                         key=lambda p: int(p.name))
        for folder in folders:
            self.shards.append(self._open(folder, _built(folder)))
        self._settled = False

    def _open(self, folder: Path, indexed: bool, scope: Scope | None = None) -> Sealed:
        shard = qe.EdgeShard.load(str(folder), edge_config(self.dimension))
        return Sealed(folder, shard, indexed, scope or Scope.of(shard),
                      int(shard.info().points_count))

    def seal(self, active: qe.EdgeShard, active_path: Path, scope: Scope) -> None:
        """Close the active shard and move it here as the newest sealed one (`scope`: what
        its points may hold)."""
        active.flush()
        active.close()
        self.root.mkdir(parents=True, exist_ok=True)
        n = max((int(s.path.name) for s in self.shards), default=0) + 1
        target = self.root / str(n)
        active_path.rename(target)
        sealed = self._open(target, False, scope)
        self.shards.append(sealed)
        self._settled = False
        logger.info("sealed %d vectors as shard %d; its index is built in the background",
                    sealed.points, n)

    def delete(self, ids: list[str]) -> None:
        """Remove points from the sealed shards that hold them (missing ids are ignored).

        Each write deletes its ids here (a point lives in one shard), and they are nearly
        always new: so each shard is asked which it holds (a read) and only those are
        deleted. A delete of ids a shard lacks still went through its WAL, which every
        later open replays; at 1M points the swap of a merged shard replayed a whole
        merge's writes there, in one pause of 2.6 s."""
        if not ids:
            return
        id_list: list[int | uuid.UUID | str] = list(ids)
        for s in self.shards:
            held: list[int | uuid.UUID | str] = [r.id for r in s.shard.retrieve(
                id_list, with_payload=False, with_vector=False)]
            if held:
                s.shard.update(qe.UpdateOperation.delete_points(held))
                if self._job is not None and s in self._job.sources:
                    self._job.journal.extend(str(i) for i in held)

    def step(self) -> bool:
        """One step of the background work: export a chunk, swap in a finished shard, or
        start the next build or merge. Returns whether an export is under way (call again
        soon)."""
        job = self._job
        if job is None:
            job = self._job = self._next()
            if job is None:
                return False
        if job.child is None:
            try:
                self._export(job)
            except Exception:  # e.g. a full disk: the sources answer as they are
                logger.exception("exporting %s for its build failed", job.stem)
                self._abandon(job, failed=True)
            return job.child is None and self._job is job
        code = job.child.poll()
        if code is None:
            return False
        self._job = None
        self._finish(job, code)
        return False

    def _next(self) -> Job | None:
        if self._settled:
            return None
        pending = next((s for s in self.shards if not s.indexed and not s.failed), None)
        group = [pending] if pending is not None else self._mergeable()
        if not group:
            self._settled = True
            return None
        stem = self.root / f"{min((s.path.name for s in group), key=int)}{EXPORT}"
        _remove_staging(stem)
        job = Job(self.root, group, stem.with_name(stem.name + IDS).open("w", encoding="utf-8"),
                  stem.with_name(stem.name + VECTORS).open("wb"))
        if len(group) > 1:
            logger.info("merging sealed shards %s (%d points) in the background",
                        ", ".join(s.path.name for s in group), sum(s.points for s in group))
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
             str(job.staging), str(self.dimension)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

    def _abandon(self, job: Job, *, failed: bool) -> None:
        """Stop a job and drop its files (`failed`: its sources are not tried again in this
        process)."""
        if job.child is not None and job.child.poll() is None:
            job.child.terminate()
            job.child.wait()
        job.ids.close()
        job.vectors.close()
        _remove_staging(job.stem)
        for s in job.sources:
            s.failed = s.failed or failed
        self._job = None

    def _finish(self, job: Job, code: int) -> None:
        if code != 0:  # retried at the next start; the sources answer meanwhile
            logger.warning("building %s failed (exit %d)", job.staging, code)
            self._abandon(job, failed=True)
            return
        started = time.perf_counter()
        built = qe.EdgeShard.load(str(job.staging), edge_config(self.dimension))
        if job.journal:
            id_list: list[int | uuid.UUID | str] = list(job.journal)
            built.update(qe.UpdateOperation.delete_points(id_list))
        built.flush()
        built.close()
        replayed = time.perf_counter()
        sources = [s.path.name for s in job.sources]
        manifest = self.root / f"{job.name}{MANIFEST}"
        pending = manifest.with_name(manifest.name + ".tmp")
        with pending.open("w", encoding="utf-8") as out:
            json.dump({"target": job.name, "sources": sources}, out)
            out.flush()
            os.fsync(out.fileno())
        pending.rename(manifest)  # the commit: from here the next open finishes the swap
        for s in job.sources:
            s.shard.close()
        _commit(self.root, job.name, sources)
        committed = time.perf_counter()
        for suffix in (IDS, VECTORS):
            job.stem.with_name(job.stem.name + suffix).unlink(missing_ok=True)
        scope = Scope()
        for s in job.sources:
            scope = scope.union(s.scope)
        merged = self._open(self.root / job.name, True, scope)
        self.shards = sorted([s for s in self.shards if s not in job.sources] + [merged],
                             key=lambda s: int(s.path.name))
        self._settled = False
        logger.info("shard %s (%d points) is built and in use; the swap took %.2f s (load and "
                    "%d deletes replayed %.2f, commit %.2f, open %.2f)", merged.path,
                    merged.points, time.perf_counter() - started, len(job.journal),
                    replayed - started, committed - replayed, time.perf_counter() - committed)

    def job_sources(self) -> list[str]:
        """The shards the job under way reads (none: no job)."""
        return [] if self._job is None else [s.path.name for s in self._job.sources]

    def building(self) -> bool:
        """Whether a build or merge runs."""
        return self._job is not None

    def wait(self) -> None:
        """Block until every sealed shard is built and no merge is due (tests, benchmarks)."""
        while True:
            self.step()
            if self._job is None:
                if self._settled:
                    return
            elif self._job.child is not None:
                self._job.child.wait()

    def close(self) -> None:
        """Stop a running build (its files are dropped; the next start builds again)."""
        if self._job is not None:
            self._abandon(self._job, failed=False)
        for s in self.shards:
            s.shard.flush()
            s.shard.close()
        self.shards = []


def _remove_staging(stem: Path) -> None:
    """Drop an export's files and the shard being built from them."""
    name = stem.name.removesuffix(EXPORT)
    shutil.rmtree(stem.with_name(name + STAGING), ignore_errors=True)
    for suffix in (IDS, VECTORS):
        stem.with_name(stem.name + suffix).unlink(missing_ok=True)


def _commit(root: Path, target: str, sources: list[str]) -> None:
    """Replace `sources` by the shard built in `<target>.merge` (its manifest written);
    idempotent, so an open after a stop part-way finishes it."""
    staging = root / f"{target}{STAGING}"
    for name in sources:
        if name == target and not staging.exists():
            continue  # renamed already: `target` is the new shard
        shutil.rmtree(root / name, ignore_errors=True)
        if name != target:
            (root / f"{name}{INDEXED}").unlink(missing_ok=True)
    if staging.exists():
        staging.rename(root / target)
    (root / f"{target}{INDEXED}").write_text(INDEX_VERSION)
    (root / f"{target}{MANIFEST}").unlink(missing_ok=True)


def _built(folder: Path) -> bool:
    """Whether the sealed shard's index was built with this release's `INDEX_VERSION`."""
    marker = folder.with_name(folder.name + INDEXED)
    try:
        return marker.read_text().strip() == INDEX_VERSION
    except OSError:
        return False
