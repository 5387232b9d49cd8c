"""Writes batches forever and prints each acknowledged batch as a JSON line (for the
kill -9 test). Usage: python -m tests.integration.crash_worker DATA_DIR START"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.settings import Settings


async def main(data_dir: Path, start: int) -> None:
    service = build_service(Settings(data_dir=data_dir))
    await service.start()
    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    n = start
    while True:
        texts = [f"crash test memory number {n + i} about subject {(n + i) * 7919 % 1000}"
                 for i in range(16)]
        results = await service.remember_batch(Caller("carol"),
                                               [MemoryInput(text=t) for t in texts])
        sys.stdout.write(json.dumps({"acked": [[r.id, t] for r, t in
                                               zip(results, texts, strict=True)]}) + "\n")
        sys.stdout.flush()
        n += 16


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
