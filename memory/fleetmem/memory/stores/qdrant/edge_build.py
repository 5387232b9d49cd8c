"""Build a sealed Qdrant Edge shard, HNSW index and int8 quantized vectors included, in a
child process, from points the serving process exported.

    python -m fleetmem.memory.stores.qdrant.edge_build <export stem> <shard folder> <dimension>

Qdrant Edge's `optimize` holds the Python GIL for the whole build (about 25 s per 20k
points on 2 cores), so in the serving process it stops every thread. The serving process
(`edge_shards.ShardSet`) exports the points of one sealed shard (its first build) or of
several (a merge) a few hundred at a time; this process creates a new shard from them at a
lower CPU priority, builds it, closes it and exits 0; the serving process then swaps it in.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, TextIO, cast

import qdrant_edge as qe

from fleetmem.memory.stores.qdrant.filters import KEYWORD_FIELDS

logger = logging.getLogger("fleetmem.memory.stores.qdrant.edge_build")


INDEX_VERSION = "hnsw+int8"
"""What a sealed shard's built index holds (written in its `.indexed` marker): HNSW and
int8 scalar quantization. A shard built by an earlier release (an empty marker) is built
again in the background; it answers meanwhile, unquantized."""
IDS = ".ids"
"""Suffix of an export's JSON lines: `[id, payload]` per point."""
VECTORS = ".f32"
"""Suffix of an export's vectors: float32, native byte order, `dimension` per point, in
the order of the JSON lines."""
BATCH = 1024


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


def create_payload_indexes(shard: qe.EdgeShard) -> None:
    """The payload indexes every shard has: keyword fields and `created_at` (filters, and
    the facets `edge_scope` reads)."""
    for field in KEYWORD_FIELDS:
        shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
    shard.update(qe.UpdateOperation.create_field_index("created_at",
                                                       qe.PayloadSchemaType.Float))


def export(records: Sequence[qe.Record], ids: TextIO, vectors: BinaryIO,
           dimension: int) -> None:
    """Append scrolled points (with payload and their one dense vector) to an export's two
    files."""
    packed = array("f")
    for r in records:
        packed.extend(cast("list[float]", r.vector))
    if len(packed) != dimension * len(records):
        raise ValueError(f"exporting {len(records)} points: a vector is not {dimension}-d")
    ids.writelines(json.dumps([str(r.id), r.payload], separators=(",", ":")) + "\n"
                   for r in records)
    vectors.write(packed.tobytes())


def export_files(stem: Path) -> tuple[Path, Path]:
    """An export's two files: its JSON lines (`IDS`) and its vectors (`VECTORS`)."""
    return stem.with_name(stem.name + IDS), stem.with_name(stem.name + VECTORS)


def _read(stem: Path, dimension: int) -> Iterator[list[qe.Point]]:
    """An export's points, `BATCH` at a time."""
    ids_file, vectors_file = export_files(stem)
    with ids_file.open(encoding="utf-8") as ids, vectors_file.open("rb") as vectors:
        batch: list[qe.Point] = []
        for line in ids:
            point_id, payload = json.loads(line)
            packed = array("f")
            packed.frombytes(vectors.read(4 * dimension))
            if len(packed) != dimension:
                raise ValueError(f"{stem}: the vectors file ends early")
            batch.append(qe.Point(point_id, packed.tolist(), payload))
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch


def build(stem: Path, target: Path, dimension: int) -> int:
    """Create the shard `target` from the export `stem` and build every segment's index;
    returns the points indexed."""
    target.mkdir(parents=True)
    shard = qe.EdgeShard.create(str(target), edge_config(dimension, build=True))
    try:
        create_payload_indexes(shard)
        for batch in _read(stem, dimension):
            shard.update(qe.UpdateOperation.upsert_points(batch))
        shard.optimize()
        return int(shard.info().indexed_vectors_count)
    finally:
        shard.flush()
        shard.close()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    if len(argv) != 3:
        sys.stderr.write("usage: python -m fleetmem.memory.stores.qdrant.edge_build "
                         "<export stem> <shard folder> <dimension>\n")
        return 2
    with contextlib.suppress(OSError):
        os.nice(10)  # the serving process (and its model) go first
    indexed = build(Path(argv[0]), Path(argv[1]), int(argv[2]))
    logger.info("indexed %d points in %s", indexed, argv[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
