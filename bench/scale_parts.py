"""Pieces of `python -m bench scale`: the synthetic vectors, the import lines that carry
them, and the probes (pauses, RSS, disk).

Vectors: `--base` workload texts (default 2,048) are encoded by the model once; memory i
gets a mix of two of those real vectors (weights 0.5-0.9 / the rest) plus Gaussian noise
(sigma 0.02 per dimension), normalised. Cosine to its nearer parent is about 0.9, so the
vectors cluster like real ones (many memories about the same few things) without two
being near-duplicates. The first `base` memories are the real texts with their real
vectors: those are what the findability check asks for.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

PAUSE_S = 1.0
"""A stall longer than this is a pause (the acceptance: none over 1 s)."""
TICK_S = 0.05


def synthetic(base: npt.NDArray[np.float32], start: int, n: int,
              seed: int = 22) -> npt.NDArray[np.float32]:
    """Vectors of memories start..start+n (deterministic per start); see the module."""
    rng = np.random.default_rng(seed * 1_000_003 + start)
    a = rng.integers(0, len(base), n)
    b = rng.integers(0, len(base), n)
    w = rng.uniform(0.5, 0.9, (n, 1)).astype(np.float32)
    noise = rng.standard_normal((n, base.shape[1]), dtype=np.float32) * np.float32(0.02)
    v = base[a] * w + base[b] * (1 - w) + noise
    out: npt.NDArray[np.float32] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def import_lines(texts: list[str], vectors: npt.NDArray[np.float32], model: str,
                 first_line: int) -> list[tuple[int, str]]:
    """Numbered `fleetmem` import lines carrying their vectors (6 significant digits) and
    an id of their number: two memories with the same text are two memories (without an
    id, the import derives one from the text and skips the second as already present)."""
    cells = np.char.mod("%.6g", vectors)
    head = '{"embedding": {"model": ' + json.dumps(model) + ', "vector": ['
    return [(first_line + i, head + ",".join(row) + ']}, "id": "'
             + str(uuid.UUID(int=first_line + i, version=4)) + '", "text": ' + json.dumps(t)
             + "}") for i, (t, row) in enumerate(zip(texts, cells, strict=True))]


@dataclass
class Pauses:
    """Stalls seen by a thread ticking every 50 ms (the GIL held, or the machine) and by a
    task on the event loop (the loop blocked); the longest of each and how many > 1 s."""

    longest_thread: float = 0.0
    longest_loop: float = 0.0
    over_thread: int = 0
    over_loop: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._tick, name="scale-watchdog", daemon=True)
        self._thread.start()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def _tick(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            time.sleep(TICK_S)
            gap = time.perf_counter() - t0 - TICK_S
            self.longest_thread = max(self.longest_thread, gap)
            self.over_thread += gap > PAUSE_S

    async def _loop(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(TICK_S)
            gap = time.perf_counter() - t0 - TICK_S
            self.longest_loop = max(self.longest_loop, gap)
            self.over_loop += gap > PAUSE_S

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    def text(self) -> str:
        return (f"longest stall {self.longest_thread:.2f} s (thread), "
                f"{self.longest_loop:.2f} s (event loop); over {PAUSE_S:.0f} s: "
                f"{self.over_thread} / {self.over_loop}")


def rss_mib() -> float:
    """This process's resident set (MiB)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def disk_mib(path: Path) -> float:
    """Blocks used under `path` (MiB)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                continue
    return total / 2**20
