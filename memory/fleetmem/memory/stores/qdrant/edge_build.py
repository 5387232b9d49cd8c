"""Build the HNSW index (and int8 quantized vectors) of a sealed Qdrant Edge shard in a
child process.

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


INDEX_VERSION = "hnsw+int8"
"""What a sealed shard's built index holds (written in its `.indexed` marker): HNSW and
int8 scalar quantization. A shard built by an earlier release (an empty marker) is built
again in the background; it answers meanwhile, unquantized."""


def edge_config(dimension: int, *, build: bool = False) -> qe.EdgeConfig:
    """A sealed shard's configuration: its vectors are also kept as int8 (scalar
    quantization, in RAM: 384 bytes a point), which the HNSW search walks, ~4x faster than
    the float vectors (bench/OTHER_RUNS.md, issue 22); searches rescore their hits with
    the float vectors (`RESCORE`), so the similarities are exact. `build` lowers the
    indexing threshold to 1 KB so every segment gets its index and quantized vectors."""
    optimizers = qe.EdgeOptimizersConfig(indexing_threshold=1) if build else None
    quantized = qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=0.99,
                                            always_ram=True)
    return qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=dimension,
                                                     distance=qe.Distance.Cosine,
                                                     quantization_config=quantized),
                         optimizers=optimizers)


RESCORE = qe.QuantizationSearchParams(rescore=True)
"""Search parameter: a quantized shard's hits get their exact similarity from the float
vectors (recall's fusion and the near-duplicate threshold compare similarities); a shard
without quantized vectors ignores it."""


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
