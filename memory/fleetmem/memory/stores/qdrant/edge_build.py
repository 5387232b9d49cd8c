"""Build the HNSW index of a sealed Qdrant Edge shard in a child process.

    python -m fleetmem.memory.stores.qdrant.edge_build <shard folder> <dimension>

Qdrant Edge's `optimize` holds the Python GIL for the whole build (about 25 s per 20k
points on 2 cores), so in the serving process it stops every thread. This process opens a
copy of a sealed shard (`edge_shards.ShardSet` made it), builds the index at a lower CPU
priority, closes the shard and exits 0; the serving process then swaps the copy in.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path

import qdrant_edge as qe

logger = logging.getLogger("fleetmem.memory.stores.qdrant.edge_build")


def edge_config(dimension: int, *, build: bool = False) -> qe.EdgeConfig:
    """The shard configuration; `build` lowers the indexing threshold to 1 KB so every
    segment of a sealed shard gets its HNSW index."""
    optimizers = qe.EdgeOptimizersConfig(indexing_threshold=1) if build else None
    return qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=dimension,
                                                     distance=qe.Distance.Cosine),
                         optimizers=optimizers)


def build(path: Path, dimension: int) -> int:
    """Build every segment's index; returns the points indexed."""
    shard = qe.EdgeShard.load(str(path), edge_config(dimension, build=True))
    try:
        shard.optimize()
        return int(shard.info().indexed_vectors_count)
    finally:
        shard.flush()
        shard.close()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    if len(argv) != 2:
        sys.stderr.write("usage: python -m fleetmem.memory.stores.qdrant.edge_build "
                         "<shard folder> <dimension>\n")
        return 2
    with contextlib.suppress(OSError):
        os.nice(10)  # the serving process (and its model) go first
    indexed = build(Path(argv[0]), int(argv[1]))
    logger.info("indexed %d points in %s", indexed, argv[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
