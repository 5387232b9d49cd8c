"""Sealed shards of the embedded vector tier, indexed by a child process.

Writes go to one active Qdrant Edge shard, searched exactly (brute force) while it is
small. Once it holds `seal_points` points it is sealed: moved to `<path>.sealed/<n>` and a
new empty active shard takes its place. A sealed shard only loses points (a memory
re-upserted moves to the active shard; deletes apply everywhere). Its HNSW index is built
off the serving process: the shard is copied to `<n>.building`, a child process
(`edge_build`) optimises the copy, and when it exits the copy replaces the original, the
deletes made meanwhile replayed on it. Until then the original answers exactly. Qdrant
Edge's build holds the GIL, so in-process (even on a thread) it stopped the service: 43 s
at 100k points at startup before this.

Every method runs on the index's single executor thread (`EdgeVectorIndex._run`).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import qdrant_edge as qe

from fleetmem.memory.stores.qdrant.edge_build import INDEX_VERSION, edge_config
from fleetmem.memory.stores.qdrant.edge_scope import Scope

logger = logging.getLogger(__name__)
INDEXED = ".indexed"
"""Suffix of the marker beside a sealed shard whose index is built (it holds
`edge_build.INDEX_VERSION`; a shard whose marker holds another is built again)."""
BUILDING = ".building"


@dataclass
class Sealed:
    """One sealed shard."""

    path: Path
    shard: qe.EdgeShard
    indexed: bool
    scope: Scope
    """What its points may hold (a sealed shard only loses points: it never widens)."""


@dataclass
class ShardSet:
    """The sealed shards beside one active shard, and at most one index build running."""

    root: Path
    dimension: int
    shards: list[Sealed] = field(default_factory=list)
    _child: subprocess.Popen[bytes] | None = None
    _target: Sealed | None = None
    _journal: list[list[str]] = field(default_factory=list)

    def load(self) -> None:
        """Open the sealed shards (a copy left by an interrupted build is dropped)."""
        if not self.root.is_dir():
            return
        for stale in self.root.glob(f"*{BUILDING}"):
            shutil.rmtree(stale, ignore_errors=True)
        for old in self.root.glob("*.old"):  # a swap interrupted between its two renames
            live = old.with_name(old.name.removesuffix(".old"))
            if live.exists():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.rename(live)
        folders = sorted((p for p in self.root.iterdir() if p.is_dir() and p.name.isdigit()),
                         key=lambda p: int(p.name))
        for folder in folders:
            shard = qe.EdgeShard.load(str(folder), edge_config(self.dimension))
            self.shards.append(Sealed(folder, shard, _built(folder), Scope.of(shard)))

    def seal(self, active: qe.EdgeShard, active_path: Path, scope: Scope) -> None:
        """Close the active shard and move it here as the newest sealed one (`scope`: what
        its points may hold)."""
        active.flush()
        active.close()
        self.root.mkdir(parents=True, exist_ok=True)
        n = max((int(s.path.name) for s in self.shards), default=0) + 1
        target = self.root / str(n)
        active_path.rename(target)
        shard = qe.EdgeShard.load(str(target), edge_config(self.dimension))
        self.shards.append(Sealed(target, shard, indexed=False, scope=scope))
        logger.info("sealed %d vectors as shard %d; its index is built in the background",
                    int(shard.info().points_count), n)

    def delete(self, ids: list[str]) -> None:
        """Remove points from every sealed shard (missing ids are ignored)."""
        if not ids:
            return
        id_list: list[int | uuid.UUID | str] = list(ids)
        for s in self.shards:
            s.shard.update(qe.UpdateOperation.delete_points(id_list))
        if self._target is not None:
            self._journal.append(list(ids))

    def step(self) -> None:
        """Swap in a finished build; start the next one when none runs."""
        if self._child is not None:
            code = self._child.poll()
            if code is None:
                return
            self._finish(code)
        pending = next((s for s in self.shards if not s.indexed), None)
        if pending is not None:
            self._start(pending)

    def _start(self, sealed: Sealed) -> None:
        copy = sealed.path.with_name(sealed.path.name + BUILDING)
        shutil.rmtree(copy, ignore_errors=True)
        sealed.shard.flush()
        shutil.copytree(sealed.path, copy)
        self._journal = []
        self._target = sealed
        self._child = subprocess.Popen(
            [sys.executable, "-m", "fleetmem.memory.stores.qdrant.edge_build", str(copy),
             str(self.dimension)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

    def _finish(self, code: int) -> None:
        sealed, self._child, self._target = self._target, None, None
        assert sealed is not None
        copy = sealed.path.with_name(sealed.path.name + BUILDING)
        if code != 0:  # retried at the next start; searches stay exact meanwhile
            logger.warning("building the index of %s failed (exit %d)", sealed.path, code)
            shutil.rmtree(copy, ignore_errors=True)
            sealed.indexed = True  # not again in this process
            return
        built = qe.EdgeShard.load(str(copy), edge_config(self.dimension))
        for ids in self._journal:
            id_list: list[int | uuid.UUID | str] = list(ids)
            built.update(qe.UpdateOperation.delete_points(id_list))
        self._journal = []
        built.flush()
        built.close()
        sealed.shard.close()
        old = sealed.path.with_name(sealed.path.name + ".old")
        sealed.path.rename(old)
        copy.rename(sealed.path)
        sealed.path.with_name(sealed.path.name + INDEXED).write_text(INDEX_VERSION)
        shutil.rmtree(old, ignore_errors=True)
        sealed.shard = qe.EdgeShard.load(str(sealed.path), edge_config(self.dimension))
        sealed.indexed = True
        logger.info("the index of %s is built and in use", sealed.path)

    def building(self) -> bool:
        """Whether an index build runs."""
        return self._child is not None

    def wait(self) -> None:
        """Block until every sealed shard is indexed (tests, benchmarks)."""
        while True:
            if self._child is not None:
                self._child.wait()
            self.step()
            if self._child is None:
                return

    def close(self) -> None:
        """Stop a running build (its copy is dropped; the next start builds again)."""
        if self._child is not None and self._target is not None:
            self._child.terminate()
            self._child.wait()
            copy = self._target.path.with_name(self._target.path.name + BUILDING)
            shutil.rmtree(copy, ignore_errors=True)
            self._child = self._target = None
        for s in self.shards:
            s.shard.flush()
            s.shard.close()
        self.shards = []


def _built(folder: Path) -> bool:
    """Whether the sealed shard's index was built with this release's `INDEX_VERSION`."""
    marker = folder.with_name(folder.name + INDEXED)
    try:
        return marker.read_text().strip() == INDEX_VERSION
    except OSError:
        return False
