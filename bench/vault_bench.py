"""Vault benchmark: export N entities, re-sync unchanged, re-sync after one edit, and the
CPU an idle watcher uses.

    .venv/bin/python -m bench.vault_bench --entities 10000 --idle-seconds 20

The graph is filled through the service (each entity: two observations and a relation to
the next one) with the hashing embedder, so only the vault is measured: projection reads,
rendering, file scanning, checksums and writes. Idle CPU is this process's user+system
time from /proc over a quiet window with the watcher running, as a share of one core.
Prints one line per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.settings import Settings, VaultSettings
from fleetmem.memory.stores.embedding.hashing import HashingEmbedder
from fleetmem.vault.sync import run
from fleetmem.vault.watcher import watching

AGENT = Caller("local")
BATCH = 250


def say(text: str) -> None:
    """One result line on stdout."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def cpu_seconds() -> float:
    """User + system CPU of this process (all threads), from /proc when available."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime


async def main(entities: int, idle_seconds: float, data: Path) -> None:
    settings = Settings(data_dir=data / "data")
    service = build_service(settings, embedder=HashingEmbedder())
    await service.start()
    cfg = VaultSettings(path=data / "vault", human="bench", viewer="local", poll_seconds=5)
    try:
        t = time.perf_counter()
        names = [f"Entity {i:06d}" for i in range(entities)]
        for start in range(0, entities, BATCH):
            chunk = names[start:start + BATCH]
            await service.create_entities(AGENT, [EntitySpec(
                n, "thing", [f"{n} observation one", f"{n} has attribute {i % 97}"])
                for i, n in enumerate(chunk, start)], "global")
        # Relations after every entity: each points at the next entity, which for the last
        # of a chunk is in the next chunk, and create_relations needs both ends to exist.
        for start in range(0, entities, BATCH):
            chunk = names[start:start + BATCH]
            await service.create_relations(AGENT, [RelationSpec(n, names[(i + 1) % entities],
                                                                "next_to")
                                                   for i, n in enumerate(chunk, start)],
                                           "global")
        say(f"vault bench: {entities} entities, setup {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        report = await run(service, cfg, "export")
        say(f"export: {time.perf_counter() - t:.2f} s ({len(report.written)} notes written)")

        t = time.perf_counter()
        report = await run(service, cfg, "sync")
        say(f"re-sync, nothing changed: {time.perf_counter() - t:.2f} s "
            f"({report.summary()})")

        note = data / "vault" / "global" / f"{names[entities // 2]}.md"
        note.write_text(note.read_text().replace("## Relations",
                                                 "- edited in the bench\n\n## Relations"))
        t = time.perf_counter()
        report = await run(service, cfg, "sync")
        say(f"re-sync after one edited note: {time.perf_counter() - t:.2f} s "
            f"({report.summary()})")

        async with watching(service, cfg) as watcher:
            assert watcher is not None
            while watcher.syncs == 0:
                await asyncio.sleep(0.2)
            await asyncio.sleep(2)  # let the startup sync's own file events drain
            c0, w0, syncs = cpu_seconds(), time.perf_counter(), watcher.syncs
            await asyncio.sleep(idle_seconds)
            cpu, wall = cpu_seconds() - c0, time.perf_counter() - w0
            say(f"idle watcher: {100 * cpu / wall:.3f}% of one core ({cpu:.2f} s CPU over "
                f"{wall:.0f} s, {watcher.syncs - syncs} syncs while idle)")
    finally:
        await service.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.vault_bench", description=__doc__)
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleetmem-vault-bench-") as tmp:
        asyncio.run(main(args.entities, args.idle_seconds, Path(tmp)))
