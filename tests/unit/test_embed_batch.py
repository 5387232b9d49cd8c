"""EmbedBatcher: concurrent requests share model calls, each gets its own rows."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import pytest

from fleetmem.memory.services.runtime import batching
from fleetmem.memory.services.runtime.batching import EmbedBatcher


class _Recorder:
    """A fake model: row i is [len(text)]; the first call waits until released."""

    dimension = 1
    model_name = "fake"

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.release = threading.Event()
        self.fail_on = fail_on

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        if len(self.calls) == 1:
            self.release.wait(5)
        if self.fail_on in texts:
            raise ValueError("model failed")
        return np.array([[float(len(t))] for t in texts], dtype=np.float32)


async def _started(batcher: EmbedBatcher, model: _Recorder, texts: list[str]
                   ) -> asyncio.Task[npt.NDArray[np.float32]]:
    task = asyncio.create_task(batcher.embed(texts))
    while not model.calls:  # the first call is now running in the pool
        await asyncio.sleep(0.001)
    return task


async def test_requests_arriving_during_an_encode_share_the_next_call() -> None:
    model = _Recorder()
    batcher = EmbedBatcher(model, ThreadPoolExecutor(1), ThreadPoolExecutor(1), max_texts=64)
    first = await _started(batcher, model, ["a"])
    waiting = [asyncio.create_task(batcher.embed(["bb", "ccc"])),
               asyncio.create_task(batcher.embed(["dddd"]))]
    await asyncio.sleep(0.01)
    model.release.set()
    assert (await first).tolist() == [[1.0]]
    assert (await waiting[0]).tolist() == [[2.0], [3.0]]
    assert (await waiting[1]).tolist() == [[4.0]]
    assert model.calls == [["a"], ["bb", "ccc", "dddd"]]


async def test_a_lone_request_is_encoded_alone_and_large_ones_are_split_in_order() -> None:
    model = _Recorder()
    model.release.set()
    batcher = EmbedBatcher(model, ThreadPoolExecutor(1), ThreadPoolExecutor(1), max_texts=4)
    big = [str(i) * (i + 1) for i in range(10)]
    assert [r[0] for r in (await batcher.embed(big)).tolist()] == [len(t) for t in big]
    assert (await batcher.embed(["xy"])).tolist() == [[2.0]]
    assert model.calls == [big[:4], big[4:8], big[8:], ["xy"]]


async def test_a_question_is_encoded_while_another_agents_bulk_call_runs() -> None:
    """Agent A queues ten 64-text jobs of long texts and its first model call hangs; agent
    B's question is answered meanwhile on the interactive thread. Bulk calls stay within
    the cost budget."""
    model = _Recorder()
    batcher = EmbedBatcher(model, ThreadPoolExecutor(1), ThreadPoolExecutor(1),
                           max_texts=64, max_cost=1024, quantum=256)
    long_text = "x" * 4000  # 256 estimated tokens: the model's cap
    flood = [asyncio.create_task(batcher.embed([long_text] * 64, "a")) for _ in range(10)]
    while not model.calls:  # A's first bulk call is now running (and held)
        await asyncio.sleep(0.001)
    question = await asyncio.wait_for(batcher.embed(["what now?"], "b"), 5)
    assert question.tolist() == [[9.0]]
    assert model.calls[1] == ["what now?"]
    assert not any(task.done() for task in flood)
    model.release.set()
    for task in flood:
        assert (await task).shape == (64, 1)
    assert all(len(call) <= 4 for call in model.calls)  # 1024 / 256 per call


async def test_long_or_many_texts_go_to_the_bulk_lane() -> None:
    model = _Recorder()
    batcher = EmbedBatcher(model, ThreadPoolExecutor(1), ThreadPoolExecutor(1))
    held = asyncio.create_task(batcher.embed(["a " * 300], "a"))  # one long text: bulk
    while not model.calls:
        await asyncio.sleep(0.001)
    five = await asyncio.wait_for(batcher.embed(["q"] * 4, "b"), 5)  # four short: interactive
    assert five.shape == (4, 1)
    assert not held.done()
    model.release.set()
    assert (await held).shape == (1, 1)


async def test_agents_with_bulk_work_take_turns() -> None:
    model = _Recorder()
    batcher = EmbedBatcher(model, ThreadPoolExecutor(1), ThreadPoolExecutor(1), max_texts=64,
                           max_cost=64, quantum=16)
    first = await _started(batcher, model, ["warm"])
    text = "y" * 60  # 16 estimated tokens: one text per quantum
    a = asyncio.create_task(batcher.embed(["a" + text] * 40, "a"))
    b = asyncio.create_task(batcher.embed(["b" + text] * 8, "b"))
    await asyncio.sleep(0.01)
    model.release.set()
    await asyncio.gather(first, a, b)
    owners = "".join(t[0] for call in model.calls[1:] for t in call)
    assert owners.startswith("abababababababab")  # B's 8 texts interleaved with A's
    assert owners.rstrip("a") == "ab" * 8


async def test_a_failure_reaches_every_waiter_of_that_call_only() -> None:
    model = _Recorder(fail_on="boom")
    batcher = EmbedBatcher(model, ThreadPoolExecutor(1), ThreadPoolExecutor(1), max_texts=64)
    first = await _started(batcher, model, ["ok"])
    doomed = [asyncio.create_task(batcher.embed(["boom"])),
              asyncio.create_task(batcher.embed(["fine"]))]
    await asyncio.sleep(0.01)
    model.release.set()
    assert (await first).tolist() == [[2.0]]
    for task in doomed:
        with pytest.raises(ValueError, match="model failed"):
            await task
    assert (await batcher.embed(["after"])).tolist() == [[5.0]]


async def test_a_cancelled_waiter_is_skipped() -> None:
    model = _Recorder()
    batcher = EmbedBatcher(model, ThreadPoolExecutor(1), ThreadPoolExecutor(1), max_texts=64)
    first = await _started(batcher, model, ["a"])
    gone = asyncio.create_task(batcher.embed(["never"]))
    kept = asyncio.create_task(batcher.embed(["kept"]))
    await asyncio.sleep(0.01)
    gone.cancel()
    model.release.set()
    await first
    assert (await kept).tolist() == [[4.0]]
    assert model.calls == [["a"], ["kept"]]


async def test_a_question_reaches_the_model_thread_before_other_tasks_run() -> None:
    # recall starts its keyword and graph legs right after its question's encode: their
    # first steps must not delay the encode's start (the bulk lane still waits a turn)
    model = _Recorder()
    model.release.set()
    batcher = EmbedBatcher(model, ThreadPoolExecutor(1), ThreadPoolExecutor(1), max_texts=64)
    seen: list[bool] = []

    async def next_leg() -> None:
        deadline = asyncio.get_running_loop().time() + 2.0
        while not model.calls and asyncio.get_running_loop().time() < deadline:
            threading.Event().wait(0.001)  # blocks the loop, as a leg's own work would
        seen.append(bool(model.calls))

    question = asyncio.create_task(batcher.embed(["what did Ana say?"]))
    await asyncio.gather(question, asyncio.create_task(next_leg()))
    assert seen == [True]
    bulk = asyncio.create_task(batcher.embed(["x" * 600]))
    seen.clear()
    await asyncio.gather(asyncio.create_task(next_leg()), bulk)
    assert model.calls[-1] == ["x" * 600]


async def test_a_question_s_model_thread_has_begun_before_the_next_task_runs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the next task's first step holds the GIL (plain Python, as a recall leg's does); the
    # model thread needs the GIL to begin, so the question's call is handed over first
    monkeypatch.setattr(batching, "HANDOFF_S", 5.0)  # however slow this machine is now
    model = _Recorder()
    model.release.set()
    batcher = EmbedBatcher(model, ThreadPoolExecutor(1), ThreadPoolExecutor(1), max_texts=64)
    await batcher.embed(["warm up"])  # the model thread exists and waits for work
    seen: list[bool] = []

    async def next_leg() -> None:
        seen.append(len(model.calls) == 2)

    for _ in range(20):
        question = asyncio.create_task(batcher.embed(["what did Ana say?"]))
        await asyncio.gather(question, asyncio.create_task(next_leg()))
        del model.calls[1:]
    assert seen == [True] * 20
