"""Schedules embedding work fairly between agents and coalesces it into model calls.

The model runs on two worker threads, one per lane, so a question never waits for a bulk
batch's model call:

- Small jobs (at most `INTERACTIVE_TEXTS` texts and `INTERACTIVE_COST` estimated tokens:
  a recall's question, a short remember) go in the interactive lane, everything else in
  the bulk lane. Each lane has its own thread and runs one model call at a time, so a
  recall waits at most for the interactive call in progress, which is small by
  construction. The bulk thread runs at a lower CPU priority (`bulk_nice`), so on a
  busy machine a bulk call gives way to questions and to the event loop.
- Each lane holds one FIFO queue per agent, served round-robin: each pass gives every
  agent with work up to `quantum` cost units (deficit round-robin by estimated tokens,
  at least one text), so an agent's share does not grow with how much it queues; the
  agent served last goes to the back of the turn.
- A call holds at most `max_texts` texts and its lane's cost budget (one text always
  fits), so a bulk job is split and yields between sub-chunks to other agents' bulk
  work. Short texts still coalesce up to `max_texts` in one call, which costs little more
  than one of them (the model's per-call overhead and padding dominate short texts). A
  lone caller sees no difference.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fleetmem.memory.ports import Embedder

logger = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

INTERACTIVE_TEXTS = 4
"""Jobs of at most this many texts (and `INTERACTIVE_COST`) go in the interactive lane."""
INTERACTIVE_COST = 128
"""Most estimated tokens (about 512 characters) of a job in the interactive lane."""
TEXT_COST_CAP = 256
"""Most tokens a text costs: the model truncates longer ones (MiniLM's max_seq_length)."""


def text_cost(text: str) -> int:
    """Estimated model tokens of one text (about 4 characters a token, capped at what
    the model reads)."""
    return min(TEXT_COST_CAP, 1 + len(text) // 4)


def is_interactive(texts: Sequence[str]) -> bool:
    """Whether a job of these texts goes in the interactive lane."""
    return len(texts) <= INTERACTIVE_TEXTS and \
        sum(text_cost(t) for t in texts) <= INTERACTIVE_COST


def model_pools(bulk_nice: int = 10) -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
    """The interactive and the bulk model thread (one worker each); the bulk thread's
    CPU priority is lowered by `bulk_nice` where the platform allows (Linux: per thread)."""
    def lower() -> None:
        if bulk_nice <= 0 or not hasattr(os, "setpriority"):
            return
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                           min(19, os.getpriority(os.PRIO_PROCESS, 0) + bulk_nice))
        except OSError as exc:  # not permitted here: same priority as the rest
            logger.debug("could not lower the bulk embedding thread's priority: %s", exc)

    return (ThreadPoolExecutor(1, thread_name_prefix="fleetmem-embed"),
            ThreadPoolExecutor(1, thread_name_prefix="fleetmem-embed-bulk", initializer=lower))


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

    def take(self, job: _Job, quantum: int) -> bool:
        """Add the job's next texts, up to `quantum` cost units (at least one text when
        the call has room); False when nothing fitted."""
        end, taken = job.pos, 0
        while end < len(job.texts):
            cost = text_cost(job.texts[end])
            first = end == job.pos
            if self.texts >= self.max_texts:
                break
            if (self.pieces or not first) and (  # the call's first text always fits
                    self.cost + cost > self.max_cost or (not first and taken + cost > quantum)):
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


class _Worker:
    """One lane, its thread and its call budget."""

    def __init__(self, pool: Executor, max_cost: int) -> None:
        self.lane = _Lane()
        self.pool = pool
        self.max_cost = max_cost
        self.draining = False


HANDOFF_S = 0.001
"""How long the event loop waits at most for the model thread to begin an interactive
call (`_begin`): the thread is idle then, and begins in tens of microseconds unless the
machine is saturated."""


def _begin(begun: threading.Event | None, embed: Callable[[list[str]], Vectors],
           texts: list[str]) -> Vectors:
    """Run `embed(texts)` on the model thread, first telling `begun` that it has."""
    if begun is not None:
        begun.set()
    return embed(texts)


class EmbedBatcher:
    """Fair, coalescing queues of embedding requests, one per lane, each drained by its
    own task onto its own model thread (see the module)."""

    def __init__(self, embedder: Embedder, interactive_pool: Executor, bulk_pool: Executor,
                 max_texts: int = 64, max_cost: int = 2048, quantum: int = 512,
                 interactive_cost: int = 512) -> None:
        self._embedder = embedder
        self._max_texts = max_texts
        self._quantum = quantum
        self._interactive = _Worker(interactive_pool, interactive_cost)
        self._bulk = _Worker(bulk_pool, max_cost)
        self.model_calls = 0

    async def embed(self, texts: Sequence[str], agent: str = "") -> Vectors:
        """Vectors for `texts`, in order, shape (len(texts), dimension); `agent` is whose
        work it is (its queue; "" for work of no agent, e.g. the warm-up)."""
        loop = asyncio.get_running_loop()
        if not texts:
            return await loop.run_in_executor(self._interactive.pool, self._embedder.embed,
                                              [])
        future: asyncio.Future[Vectors] = loop.create_future()
        job = _Job(list(texts), future)
        worker = self._interactive if is_interactive(job.texts) else self._bulk
        worker.lane.push(agent, job)
        if not worker.draining:
            worker.draining = True
            # An interactive call goes to the model thread now, not when the drain task
            # first runs: a recall creates its other legs' tasks right after this one, and
            # their first steps would run before its encode started (~0.4 ms of its
            # latency). A bulk call waits for that turn of the loop, so that jobs arriving
            # together share it from the first call on.
            first = self._start_call(worker) if worker is self._interactive else None
            loop.create_task(self._drain(worker, first), name="fleetmem-embed-batch")
        return await future

    def _start_call(self, worker: _Worker) -> tuple[_Call, asyncio.Future[Vectors]] | None:
        """Fill the lane's next model call and submit it to its thread (None when the lane
        gave nothing); a failure to submit is the call's failure."""
        call = _Call(self._max_texts, worker.max_cost)
        self._fill(worker.lane, call)
        if not call.pieces:
            return None
        self.model_calls += 1
        loop = asyncio.get_running_loop()
        # An interactive call is handed over: the loop waits (without the GIL) until the
        # model thread has begun. Otherwise the thread, woken, waits for the GIL while the
        # loop runs the recall's other legs' first steps: its encode began 0.15 ms later
        # and a LoCoMo recall took 0.33 ms more (A/B in one process, 3 x 1,520 recalls).
        begun = threading.Event() if worker is self._interactive else None
        try:
            running = loop.run_in_executor(worker.pool, _begin, begun, self._embedder.embed,
                                           call.flat())
        except Exception as exc:  # noqa: BLE001 - e.g. a pool already shut down
            running = loop.create_future()
            running.set_exception(exc)
        else:
            if begun is not None:
                begun.wait(HANDOFF_S)
        return call, running

    def _fill(self, lane: _Lane, call: _Call) -> None:
        """Round-robin passes over the lane's agents until the call is full or the lane
        is empty."""
        while lane:
            progressed = False
            for agent in list(lane.queues):
                job = lane.front(agent)
                if job is None:
                    continue
                if not call.take(job, self._quantum):
                    return
                lane.served(agent)
                progressed = True
            if not progressed:
                return

    async def _drain(self, worker: _Worker,
                     started: tuple[_Call, asyncio.Future[Vectors]] | None) -> None:
        try:
            while started is not None or worker.lane:
                if started is None:
                    started = self._start_call(worker)
                    if started is None:
                        continue
                (call, running), started = started, None
                try:
                    vectors = await running
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
            worker.draining = False
            for job in worker.lane.abandon():
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
