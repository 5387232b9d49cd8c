"""Schedules embedding work fairly between agents and coalesces it into model calls.

The model runs on one worker thread (it is CPU-bound; a second one would fight it for the
cores), so every request waits for the model call in progress. What it waits for after
that is decided here, per model call:

- Two lanes, each holding one FIFO queue per agent: small jobs (at most
  `INTERACTIVE_TEXTS` texts: a recall's question, a single remember) go in the
  interactive lane, larger ones in the bulk lane. Each call is filled from the
  interactive lane first, so a recall never waits behind bulk batch chunks, only behind
  the call already running.
- Within a lane, agents are served round-robin: each pass gives every agent with work up
  to `quantum` cost units (deficit round-robin by estimated tokens, at least one text),
  so an agent's share does not grow with how much it queues; the agent served last goes
  to the back of the turn.
- A call holds at most `max_texts` texts and `max_cost` estimated tokens (one text always
  fits), so a bulk job is split and yields between sub-chunks: the call running when a
  small job arrives is short, whatever an agent queued. Short texts still coalesce up to
  `max_texts` in one call, which costs little more than one of them (the model's per-call
  overhead and padding dominate short texts). A lone caller sees no difference.
- When bulk work waits, the interactive lane leaves at least one quantum of each call to
  it, so a flood of single-text requests cannot starve batches either.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fleetmem.memory.ports import Embedder

logger = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

INTERACTIVE_TEXTS = 4
"""Jobs of at most this many texts go in the interactive lane."""
TEXT_COST_CAP = 256
"""Most tokens a text costs: the model truncates longer ones (MiniLM's max_seq_length)."""


def text_cost(text: str) -> int:
    """Estimated model tokens of one text (about 4 characters a token, capped at what
    the model reads)."""
    return min(TEXT_COST_CAP, 1 + len(text) // 4)


@dataclass(eq=False)
class _Job:
    """One caller's request: its texts are encoded in order, possibly over several calls."""

    texts: list[str]
    future: asyncio.Future[Vectors]
    pos: int = 0
    """Texts before this index are taken into a call."""
    parts: list[Vectors] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Piece:
    job: _Job
    start: int
    end: int


class _Lane:
    """Per-agent FIFO queues; dict order is the round-robin turn."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[_Job]] = {}

    def __bool__(self) -> bool:
        return bool(self.queues)

    def push(self, agent: str, job: _Job) -> None:
        self.queues.setdefault(agent, deque()).append(job)

    def front(self, agent: str) -> _Job | None:
        """The agent's next job still wanted (cancelled or failed ones are dropped)."""
        queue = self.queues.get(agent)
        while queue and queue[0].future.done():
            queue.popleft()
        if not queue:
            self.queues.pop(agent, None)
            return None
        return queue[0]

    def served(self, agent: str) -> None:
        """Drop the agent's finished front job and send the agent to the back."""
        queue = self.queues.pop(agent)
        if queue and queue[0].pos >= len(queue[0].texts):
            queue.popleft()
        if queue:
            self.queues[agent] = queue

    def abandon(self) -> list[_Job]:
        """Every queued job (the queue is stopping)."""
        jobs = [job for queue in self.queues.values() for job in queue]
        self.queues.clear()
        return jobs


class _Call:
    """The pieces of one model call, within its text and cost budget."""

    def __init__(self, max_texts: int, max_cost: int) -> None:
        self.pieces: list[_Piece] = []
        self.texts = 0
        self.cost = 0
        self.max_texts = max_texts
        self.max_cost = max_cost

    def take(self, job: _Job, quantum: int, cost_limit: int) -> bool:
        """Add the job's next texts, up to `quantum` cost units (at least one text when
        the call has room); False when nothing fitted."""
        end, taken = job.pos, 0
        while end < len(job.texts):
            cost = text_cost(job.texts[end])
            first = end == job.pos
            if self.texts >= self.max_texts:
                break
            if (self.pieces or not first) and (  # the call's first text always fits
                    self.cost + cost > cost_limit or (not first and taken + cost > quantum)):
                break
            self.texts += 1
            self.cost += cost
            taken += cost
            end += 1
        if end == job.pos:
            return False
        self.pieces.append(_Piece(job, job.pos, end))
        job.pos = end
        return True

    def flat(self) -> list[str]:
        """The call's texts in piece order."""
        return [t for p in self.pieces for t in p.job.texts[p.start:p.end]]


class EmbedBatcher:
    """Fair, coalescing queue of embedding requests drained by one task (see the module)."""

    def __init__(self, embedder: Embedder, pool: Executor, max_texts: int = 64,
                 max_cost: int = 2048, quantum: int = 512) -> None:
        self._embedder = embedder
        self._pool = pool
        self._max_texts = max_texts
        self._max_cost = max_cost
        self._quantum = quantum
        self._interactive = _Lane()
        self._bulk = _Lane()
        self._draining = False
        self.model_calls = 0

    async def embed(self, texts: Sequence[str], agent: str = "") -> Vectors:
        """Vectors for `texts`, in order, shape (len(texts), dimension); `agent` is whose
        work it is (its queue; "" for work of no agent, e.g. the warm-up)."""
        loop = asyncio.get_running_loop()
        if not texts:
            return await loop.run_in_executor(self._pool, self._embedder.embed, [])
        future: asyncio.Future[Vectors] = loop.create_future()
        job = _Job(list(texts), future)
        lane = self._interactive if len(job.texts) <= INTERACTIVE_TEXTS else self._bulk
        lane.push(agent, job)
        if not self._draining:
            self._draining = True
            loop.create_task(self._drain(), name="fleetmem-embed-batch")
        return await future

    def _fill(self, lane: _Lane, call: _Call, cost_limit: int) -> None:
        """Round-robin passes over the lane's agents until the call is full or the lane
        is empty."""
        while lane:
            progressed = False
            for agent in list(lane.queues):
                job = lane.front(agent)
                if job is None:
                    continue
                if not call.take(job, self._quantum, cost_limit):
                    return
                lane.served(agent)
                progressed = True
            if not progressed:
                return

    def _next_call(self) -> _Call:
        call = _Call(self._max_texts, self._max_cost)
        # Leave the bulk lane a quantum of every call it has work for.
        reserve = self._quantum if self._bulk else 0
        self._fill(self._interactive, call, max(1, self._max_cost - reserve))
        self._fill(self._bulk, call, self._max_cost)
        return call

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._interactive or self._bulk:
                call = self._next_call()
                if not call.pieces:
                    continue
                self.model_calls += 1
                try:
                    vectors = await loop.run_in_executor(self._pool, self._embedder.embed,
                                                         call.flat())
                except BaseException as exc:  # each waiter of this call gets the failure
                    for piece in call.pieces:
                        if not piece.job.future.done():
                            piece.job.future.set_exception(
                                exc if isinstance(exc, Exception)
                                else RuntimeError("embedding interrupted"))
                    if not isinstance(exc, Exception):
                        raise
                    continue
                self._deliver(call, vectors)
        finally:
            self._draining = False
            for job in self._interactive.abandon() + self._bulk.abandon():
                if not job.future.done():  # only left over when the drain was cancelled
                    job.future.set_exception(RuntimeError("embedding queue stopped"))

    @staticmethod
    def _deliver(call: _Call, vectors: Vectors) -> None:
        start = 0
        for piece in call.pieces:
            job, size = piece.job, piece.end - piece.start
            if not job.future.done():
                job.parts.append(vectors[start:start + size])
                if piece.end == len(job.texts):
                    job.future.set_result(job.parts[0] if len(job.parts) == 1
                                          else np.concatenate(job.parts))
            start += size
