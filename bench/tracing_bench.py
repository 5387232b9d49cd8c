"""What traces cost a recall: the same questions, interleaved, in three modes.

    .venv/bin/python -m bench tracing --memories 300 --recalls 300

- baseline: the tracing hooks stubbed out (each call returns a shared do-nothing object
  without looking at any state): the floor of instrumented code;
- off: the shipped default (hooks present, no provider; nothing of OpenTelemetry loaded);
- on: an SDK tracer provider with a BatchSpanProcessor to an exporter that drops the
  spans (the export thread runs, no network).

Each question is asked once per mode, the three back to back in a rotating order, so that
load drifts hit every mode alike; the paired differences (median over questions) are the
figures the verdicts use. The hooks alone are also timed in a tight loop (the exact
sequence one recall makes), which resolves what the end-to-end figures cannot.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import workload
from bench.machine import cpu_model, git_commit
from bench.report import fmt, pct, say
from fleetmem.memory import tracing
from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.services import Caller, MemoryInput, MemoryService, RecallQuery
from fleetmem.memory.settings import Settings

MODES = ("baseline", "off", "on")
HOOKS = ("span", "request", "annotate", "annotate_namespaces", "door")
CALLER = Caller("bench", workflow_id="wf-bench")


class _DropExporter:
    """An exporter that counts and drops what the batch processor hands it."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered here."""
        return True


def _stub(*_args: object, **_kwargs: object) -> object:
    return tracing.NO_SPAN


@contextmanager
def _mode(name: str, provider: Any) -> Iterator[None]:
    saved = {h: getattr(tracing, h) for h in HOOKS}
    if name == "baseline":
        for h in HOOKS:
            setattr(tracing, h, _stub)
    elif name == "on":
        tracing.install(provider)
    try:
        yield
    finally:
        tracing.uninstall()
        for h, fn in saved.items():
            setattr(tracing, h, fn)


async def _recall(service: MemoryService, query: str) -> tuple[float, float]:
    """Wall time and CPU time (every thread of the process) of one recall, in ms."""
    wall, cpu = time.perf_counter(), time.process_time()
    await service.recall(CALLER, RecallQuery(query=query))
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def _hook_sequence() -> None:
    """The tracing calls one hybrid recall makes (request span, 7 leg spans, 1 note)."""
    with tracing.door("rest", None), tracing.request("recall", "bench", workflow_id="wf"):
        tracing.annotate_namespaces(["agent:bench", "team:atlas"])
        for leg in ("recall.embed", "recall.keyword", "recall.graph", "recall.dense",
                    "recall.fuse", "recall.rows", "recall.short_term"):
            with tracing.span(leg) as s:
                s.set_attribute("fleetmem.rows", 1)


def _per_call_us(fn: Callable[[], None], n: int) -> float:
    """CPU time of this thread per call (waiting for a busy CPU does not count)."""
    started = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - started) / n * 1e6


def paired_median(a: Sequence[float], b: Sequence[float], seed: int = 5
                  ) -> tuple[float, float, float]:
    """The median of the paired differences a - b with a 95% bootstrap interval."""
    import random

    diffs = [x - y for x, y in zip(a, b, strict=True)]
    rng = random.Random(seed)
    boots = sorted(statistics.median(rng.choices(diffs, k=len(diffs))) for _ in range(1000))
    return statistics.median(diffs), boots[25], boots[974]


async def run(memories: int, recalls: int) -> dict[str, Any]:
    """Build a small store, then time `recalls` questions in each mode."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = _DropExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory(prefix="fleetmem-tracing-bench-") as tmp:
        service = build_service(Settings(data_dir=Path(tmp)))
        await service.start()
        await service.warm_up()
        texts = workload.memories(memories)
        for i in range(0, len(texts), 128):
            await service.remember_batch(CALLER, [MemoryInput(text=t)
                                                  for t in texts[i:i + 128]])
        questions = workload.queries(recalls)
        for q in questions[:20]:  # warm every path once per mode
            for m in MODES:
                with _mode(m, provider):
                    await _recall(service, q)
        exporter.spans = 0
        times: dict[str, list[float]] = {m: [] for m in MODES}
        cpu: dict[str, list[float]] = {m: [] for m in MODES}
        for i, q in enumerate(questions):
            order = MODES[i % 3:] + MODES[:i % 3]
            for m in order:
                with _mode(m, provider):
                    wall, used = await _recall(service, q)
                times[m].append(wall)
                cpu[m].append(used)
        await service.close()
    provider.force_flush()
    exported = exporter.spans
    hooks: dict[str, float] = {}
    for m in MODES:
        with _mode(m, provider):
            hooks[m] = _per_call_us(_hook_sequence, 20_000 if m != "on" else 1_000)
    provider.shutdown()
    return {"times": times, "cpu": cpu, "spans": exported, "hooks": hooks}


def report(figures: dict[str, Any], memories: int, recalls: int) -> list[str]:
    """The markdown section of a run."""
    times: dict[str, list[float]] = figures["times"]
    cpu: dict[str, list[float]] = figures["cpu"]
    hooks: dict[str, float] = figures["hooks"]
    load = os.getloadavg()
    lines = [
        f"- {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {git_commit()}, "
        f"{os.cpu_count()} cores (shared), CPU {cpu_model()}, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end; {memories} memories, "
        f"{recalls} questions per mode, hybrid recall k=10",
        "",
        "| mode | recalls | wall p50 ms | wall mean ms | wall p95 ms | CPU p50 ms | "
        "CPU mean ms | hooks alone, CPU us per recall |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in MODES:
        t, c = times[m], cpu[m]
        lines.append(f"| {m} | {len(t)} | {fmt(pct(t, 50))} | {fmt(statistics.fmean(t))} | "
                     f"{fmt(pct(t, 95))} | {fmt(pct(c, 50))} | {fmt(statistics.fmean(c))} | "
                     f"{fmt(hooks[m], 3)} |")
    lines += ["", "| comparison | wall: paired median ms [95% CI] | wall p50 ratio | "
              "CPU: paired median ms [95% CI] | hooks alone, CPU us per recall |",
              "| --- | --- | --- | --- | --- |"]
    verdicts: dict[str, tuple[float, float, float]] = {}
    for a, b in (("off", "baseline"), ("on", "off"), ("on", "baseline")):
        wm, wlo, whi = paired_median(times[a], times[b])
        cm, clo, chi = paired_median(cpu[a], cpu[b])
        verdicts[a + b] = (cm, clo, chi)
        lines.append(f"| {a} - {b} | {wm:+.3f} [{wlo:+.3f}, {whi:+.3f}] | "
                     f"{pct(times[a], 50) / pct(times[b], 50):.3f} | "
                     f"{cm:+.3f} [{clo:+.3f}, {chi:+.3f}] | "
                     f"{hooks[a] - hooks[b]:+.3f} |")
    _, off_lo, off_hi = verdicts["offbaseline"]
    on_cost, _, on_hi = verdicts["onoff"]
    off_ok = off_lo <= 0 <= off_hi and hooks["off"] - hooks["baseline"] < 5
    on_ok = on_cost < 1.0 and hooks["on"] < 1000
    lines += [
        "",
        f"- {figures['spans'] / max(1, len(times['on'])):.1f} spans exported per recall "
        "with tracing on.",
        f"- verdict: tracing off costs nothing measurable (the CPU interval of off - "
        f"baseline holds 0, the hooks cost < 5 us): {'met' if off_ok else 'MISSED'}; "
        f"tracing on costs < 1 ms per recall (CPU paired median of on - off, and the "
        f"hooks alone): {'met' if on_ok else 'MISSED'}"
        f"{'' if on_hi < 1.0 else f' (the interval reaches {on_hi:.2f} ms)'}.",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run and print the section (markdown)."""
    p = argparse.ArgumentParser(prog="python -m bench tracing", description=__doc__)
    p.add_argument("--memories", type=int, default=300)
    p.add_argument("--recalls", type=int, default=300)
    args = p.parse_args(argv)
    figures = asyncio.run(run(args.memories, args.recalls))
    for line in report(figures, args.memories, args.recalls):
        say(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
