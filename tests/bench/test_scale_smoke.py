"""`python -m bench scale` at a reduced size in the quick tier (issue 22): the bulk import
with vectors, sealing and background index builds, recall and restart run end to end and
keep their invariants (every memory stored once, the real memories found first by their
own text at every checkpoint, every point back after a restart). No speed is asserted.

The run at 100k takes about 8-15 minutes on the 2-core machine (bench/RESULTS.md, Scale),
too slow for the quick tier: this one feeds 4,000 memories with a seal size of 1,000, so
four shards are sealed and built by child processes during the run, as 100k is with the
default seal size at 50,000 (two) and 1M (twenty)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import scale
from fleetmem.memory.ports import Embedder
from fleetmem.memory.stores.qdrant.edge_index import EdgeVectorIndex


async def test_scale_bench_keeps_its_invariants(monkeypatch: pytest.MonkeyPatch,
                                                embedder: Embedder, tmp_path: Path) -> None:
    monkeypatch.setitem(scale.SEAL, "seal_points", 1_000)
    size = 4_000
    run = await scale.run_scale(size, chunk=200, queries=3, base=200, embedder=embedder,
                                data_dir=tmp_path / "store", ceiling_texts=64,
                                ceiling_queries=5, find=10, encoded_size=128)
    assert [c.memories for c in run.checkpoints] == list(range(400, size + 1, 400))
    for c in run.checkpoints:
        assert c.found == c.asked > 0, c  # found first among ~4k others, at every size
        assert c.rate > 0 and c.rss_mib > 0 and c.disk_mib > 0
    assert run.restart_count == size
    assert [n for n, _ in run.encoded] == [128] and run.encoded[0][1] > 0
    assert run.encoded_ceiling > 0
    sealed = sorted(p.name for p in (tmp_path / "store" / "vectors.sealed").iterdir()
                    if p.is_dir())
    assert len(sealed) == 4 and all(n.isdigit() for n in sealed)  # a build takes a new number
    text = "\n".join(scale.lines_of(run, "python -m bench scale --size 4000"))
    assert "| 4,000 |" in text and "Restart on the filled store (4,000 points)" in text
    assert "- 4,128 memories:" in text

    index = EdgeVectorIndex(tmp_path / "store" / "vectors", embedder.dimension,
                            seal_points=1_000)
    try:  # the builds a restart left running finish; nothing is lost by the swaps
        await index.wait_indexed()
        shards = await index.shard_counts()
        stored = sum(n for n, _ in shards)  # the encoded step's texts, less near-duplicates
        assert size < stored <= size + 128 and all(x for _, x in shards[1:])
    finally:
        await index.close()
