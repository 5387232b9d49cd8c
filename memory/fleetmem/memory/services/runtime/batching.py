"""Coalesces concurrent embedding requests into one model call.

The model runs on one worker thread (it is CPU-bound; a second one would fight it for the
cores). When requests arrive while an encode is running, they wait for it anyway: the
next call then takes all of them at once, which costs little more than one of them
(the model's per-call overhead and padding dominate short texts). A lone caller sees no
difference: its request is encoded at once, on its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import Executor

import numpy as np
import numpy.typing as npt

from fleetmem.memory.ports import Embedder

logger = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]


class EmbedBatcher:
    """Queue of embedding requests drained by one task, `max_texts` texts per model call
    (a single request larger than that goes alone, in one call)."""

    def __init__(self, embedder: Embedder, pool: Executor, max_texts: int = 64) -> None:
        self._embedder = embedder
        self._pool = pool
        self._max_texts = max_texts
        self._queue: list[tuple[list[str], asyncio.Future[Vectors]]] = []
        self._draining = False
        self.model_calls = 0

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Vectors for `texts`, in order, shape (len(texts), dimension)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Vectors] = loop.create_future()
        self._queue.append((list(texts), future))
        if not self._draining:
            self._draining = True
            loop.create_task(self._drain(), name="fleetmem-embed-batch")
        return await future

    def _take(self) -> list[tuple[list[str], asyncio.Future[Vectors]]]:
        taken = [self._queue.pop(0)]
        size = len(taken[0][0])
        while self._queue and size + len(self._queue[0][0]) <= self._max_texts:
            size += len(self._queue[0][0])
            taken.append(self._queue.pop(0))
        return [(texts, fut) for texts, fut in taken if not fut.cancelled()]

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                batch = self._take()
                if not batch:
                    continue
                flat = [t for texts, _ in batch for t in texts]
                self.model_calls += 1
                try:
                    vectors = await loop.run_in_executor(self._pool, self._embedder.embed, flat)
                except BaseException as exc:  # each waiter gets the failure
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc if isinstance(exc, Exception)
                                              else RuntimeError("embedding interrupted"))
                    if not isinstance(exc, Exception):
                        raise
                    continue
                start = 0
                for texts, fut in batch:
                    if not fut.done():
                        fut.set_result(vectors[start:start + len(texts)])
                    start += len(texts)
        finally:
            self._draining = False
            for _, fut in self._queue:  # only left over when the drain was cancelled
                if not fut.done():
                    fut.set_exception(RuntimeError("embedding queue stopped"))
            self._queue.clear()
