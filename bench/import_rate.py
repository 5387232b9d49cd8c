"""Import rate against batch ingest, measured in one run on the same texts (issue 19).

    python -m bench import_rate [--lines 10000]

1. Batch ingest: a fresh embedded store fills with `--lines` workload texts through
   `remember_batch`, 128 a call (the figure bench/RESULTS.md records as batch ingest).
2. Export: that store is exported to a JSON Lines file (`fleetmem export`'s format).
3. Import: the file is imported into another fresh store through the same driver and
   service calls `fleetmem import` makes with no service running (scan, check, batches
   of 256 lines through `import_lines`).

Prints both rates and their ratio (the target is >= 0.8: an import must not be much slower
than writing the same memories), and the export rate.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

from bench import workload
from bench.report import WORK_DIR, say
from fleetmem.memory.bootstrap import build_embedder, build_service
from fleetmem.memory.ports import Embedder
from fleetmem.memory.services import (
    Caller,
    ImportReport,
    MemoryInput,
    MemoryService,
    MemoryView,
    export_lines,
    file_source,
    run_import,
)
from fleetmem.memory.settings import Settings

AGENT = Caller("local")
TARGET = 0.8


def _fresh(name: str) -> Path:
    path = WORK_DIR / "data" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


async def _started(data_dir: Path, embedder: Embedder) -> MemoryService:
    service = build_service(Settings(data_dir=data_dir, agents_file=None), embedder=embedder)
    await service.start()
    return service


async def ingest(texts: list[str], embedder: Embedder, batch: int) -> tuple[float, int]:
    """remember_batch over a fresh store: (seconds, memories stored)."""
    service = await _started(_fresh(f"import-rate-ingest-{len(texts)}"), embedder)
    try:
        stored = 0
        start = time.perf_counter()
        for i in range(0, len(texts), batch):
            results = await service.remember_batch(
                AGENT, [MemoryInput(text=t) for t in texts[i:i + batch]])
            stored += sum(not r.deduplicated for r in results)
        return time.perf_counter() - start, stored
    finally:
        await service.close()


async def export(embedder: Embedder, path: Path, size: int) -> tuple[float, int]:
    """Export the ingested store to `path`: (seconds, lines)."""
    service = await _started(WORK_DIR / "data" / f"import-rate-ingest-{size}", embedder)

    async def page(after: str | None) -> list[MemoryView]:
        return await service.export_memories(AGENT, None, after, 1000)

    try:
        lines = 0
        start = time.perf_counter()
        with path.open("w", encoding="utf-8") as handle:
            async for line in export_lines(page):
                handle.write(line)
                lines += 1
        return time.perf_counter() - start, lines
    finally:
        await service.close()


async def import_file(path: Path, embedder: Embedder, size: int
                      ) -> tuple[float, ImportReport]:
    """Import `path` into a fresh store as `fleetmem import` does with no service running."""
    service = await _started(_fresh(f"import-rate-import-{size}"), embedder)
    source = file_source(path)

    async def check(namespaces: list[str | None]) -> list[str]:
        return await service.import_check(AGENT, namespaces)

    async def write(lines: list[tuple[int, str]]) -> ImportReport:
        return await service.import_lines(AGENT, lines, source.format, None, False)

    try:
        start = time.perf_counter()
        report = await run_import(source, namespace=None, strict=False, check=check,
                                  write=write)
        return time.perf_counter() - start, report
    finally:
        await service.close()


async def run(lines: int, batch: int) -> float:
    """Measure and print; returns the ratio import rate / batch-ingest rate."""
    settings = Settings()
    embedder = build_embedder(settings)
    embedder.embed(["warm-up"])  # the model loads outside every timed phase
    texts = workload.memories(lines)
    say(f"import_rate: {lines} workload texts, load average {os.getloadavg()[0]:.2f}, "
        f"{os.cpu_count()} cores")
    seconds, stored = await ingest(texts, embedder, batch)
    ingest_rate = stored / seconds
    say(f"batch ingest (remember_batch, {batch} a call): {stored} memories in {seconds:.1f} s"
        f" = {ingest_rate:.1f} memories/s")
    path = WORK_DIR / f"import-rate-{lines}.jsonl"
    seconds, exported = await export(embedder, path, lines)
    say(f"export: {exported} lines in {seconds:.2f} s = {exported / seconds:.0f} lines/s "
        f"({path.stat().st_size / 2**20:.1f} MiB)")
    seconds, report = await import_file(path, embedder, lines)
    import_rate = report.imported / seconds
    say(f"import (scan, check, import_lines 256 lines a call): {report.imported} imported, "
        f"{report.skipped} skipped, {len(report.rejected)} rejected in {seconds:.1f} s = "
        f"{import_rate:.1f} memories/s")
    ratio = import_rate / ingest_rate
    verdict = "met" if ratio >= TARGET else "NOT met"
    say(f"import / batch ingest = {ratio:.2f} (target >= {TARGET}): {verdict}; load average "
        f"now {os.getloadavg()[0]:.2f}")
    return ratio


def main(lines: int = 10_000, batch: int = 128) -> int:
    """Run the measurement; exit status 0 (the figure is reported, not asserted)."""
    asyncio.run(run(lines, batch))
    return 0
