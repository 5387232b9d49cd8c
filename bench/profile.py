"""pyinstrument profiles of the two hot paths (batch ingest, recall) on a fresh store."""

from __future__ import annotations

import asyncio

from pyinstrument import Profiler

from bench import workload
from bench.core import AGENT, data_dir_for
from bench.report import WORK_DIR, Report
from bench.suites import RunContext
from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.settings import Settings


async def _profile(ctx: RunContext, size: int, queries: int) -> tuple[Profiler, Profiler]:
    service = build_service(Settings(data_dir=data_dir_for(size, "profile")),
                            embedder=ctx.embedder)
    await service.start()
    caller = Caller(AGENT)
    texts = workload.memories(size)
    try:
        ingest = Profiler(interval=0.001, async_mode="enabled")
        with ingest:
            for i in range(0, size, 128):
                await service.remember_batch(caller, [MemoryInput(text=t)
                                                      for t in texts[i:i + 128]])
        recall = Profiler(interval=0.0005, async_mode="enabled")
        with recall:
            for q in workload.queries(queries):
                await service.recall(caller, RecallQuery(query=q, k=10))
    finally:
        await service.close()
    return ingest, recall


def run_profile(ctx: RunContext, report: Report, *, size: int = 2_000,
                queries: int = 200) -> None:
    """Write HTML and text profiles under bench/.work/profile and print the text ones."""
    ingest, recall = asyncio.run(_profile(ctx, size, queries))
    out = WORK_DIR / "profile"
    out.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    for name, prof in (("ingest", ingest), ("recall", recall)):
        (out / f"{name}.html").write_text(prof.output_html())
        text = prof.output_text(unicode=False, color=False, show_all=False)
        (out / f"{name}.txt").write_text(text)
        lines += [f"### {name} ({size} memories, {queries} recalls)", "", "```",
                  *text.splitlines()[:80], "```", ""]
    report.text("Profiles (pyinstrument)", [*lines, f"Full profiles: {out}/*.html"])
