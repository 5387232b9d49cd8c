"""Where the milliseconds of one remember go, door by door (issue 22, Deliver 4).

    python -m bench mcp_breakdown [--data-dir bench/.work/data/core-1000] [--calls 60]

One `fleetmem serve` with tracing on sends its spans to a receiver in this process
(bench/span_sink.py). The same remember is then timed, call by call in a rotating order,
through three doors of that one service: `fleetmem mcp` (the stdio shim a coding agent
launches, the README's configuration), MCP over streamable HTTP straight to /mcp (the
shim's upstream, without the shim), and REST. Each client-timed call is matched to its
`fleetmem.remember` span by time, so a call splits into: outside the service (client,
transport, the MCP SDK, the shim), the service's own spans (embed, dedup, vector upsert,
graph commit) and what the service spends around them. The model's encode of the same
text is also timed here, in process, one text per call, beside a question's encode (the
reference the issue's target names).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import httpx
from mcp import Client, StdioServerParameters

from bench import workload
from bench.doors import _env, _fleetmem, _free_port, _wait_ready, stop_process
from bench.machine import cpu_model, git_commit
from bench.report import WORK_DIR, fmt, pct, say
from bench.span_sink import Span, SpanSink
from fleetmem.memory.bootstrap import build_embedder, build_service
from fleetmem.memory.services import Caller, MemoryInput
from fleetmem.memory.settings import Settings

DOORS = ("mcp-stdio", "mcp-stdio-raw", "mcp-http", "rest")
STAGES = ("remember.embed", "remember.dedup", "remember.vector_upsert",
          "remember.graph_commit")
"""The spans on a remember's critical path (lookup and context overlap the embed)."""
Call = tuple[str, int, int]  # door, start ns, end ns (wall clock)


async def _seed(data_dir: Path, n: int) -> None:
    """A store of `n` memories written through the service (nothing when it has them)."""
    service = build_service(Settings(data_dir=data_dir))
    await service.start()
    try:
        have = (await service.stats(Caller("bench"))).total_memories
        texts = workload.memories(max(0, n - have), offset=have)
        for i in range(0, len(texts), 128):
            await service.remember_batch(Caller("bench"),
                                         [MemoryInput(text=t) for t in texts[i:i + 128]])
    finally:
        await service.close()


class RawStdio:
    """A bare JSON-RPC client of `fleetmem mcp`: one line out, one line back, no SDK. What
    a call costs beyond it is the client's own (the Python SDK's parsing, validation of
    the result against the tool's output schema); a coding agent brings its own client."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.command, self.env, self.next_id = command, env, 0
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> RawStdio:
        self.proc = await asyncio.create_subprocess_exec(
            self.command, "mcp", env=self.env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, limit=2**24)
        await self.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                          "clientInfo": {"name": "bench", "version": "0"}})
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.close()
        await self.proc.wait()

    async def send(self, message: dict[str, object]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        await self.proc.stdin.drain()

    async def request(self, method: str, params: dict[str, object]) -> dict[str, object]:
        """Send a request and read lines until its response."""
        assert self.proc is not None and self.proc.stdout is not None
        self.next_id += 1
        await self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method,
                         "params": params})
        while True:
            reply = json.loads(await self.proc.stdout.readline())
            if reply.get("id") == self.next_id:
                if "error" in reply or reply["result"].get("isError"):
                    raise RuntimeError(f"{method} failed: {reply}")
                return dict(reply["result"])


def _door_calls(stdio: Client, http: Client, rest: httpx.AsyncClient, raw: RawStdio
                ) -> dict[str, Callable[[str], Awaitable[None]]]:
    async def via(client: Client, text: str) -> None:
        res = await client.call_tool("remember", {"text": text})
        if res.is_error:
            raise RuntimeError(f"MCP remember failed: {res.content}")

    async def via_rest(text: str) -> None:
        (await rest.post("/v1/memories", json={"text": text})).raise_for_status()

    async def via_raw(text: str) -> None:
        await raw.request("tools/call", {"name": "remember", "arguments": {"text": text}})

    return {"mcp-stdio": lambda t: via(stdio, t), "mcp-stdio-raw": via_raw,
            "mcp-http": lambda t: via(http, t), "rest": via_rest}


async def measure(data_dir: Path, calls: int, warmup: int = 3
                  ) -> tuple[list[Call], list[Span], dict[str, list[float]],
                             dict[str, dict[str, float]]]:
    """Client-timed remembers through every door of one traced service, its spans, and the
    in-process encode of each stdio text and of one question per round."""
    port = _free_port()
    embedder = build_embedder(Settings())
    embedder.embed(["warm up the model"])
    texts = workload.memories(len(DOORS) * (calls + warmup), offset=40_000_000 + os.getpid())
    questions = workload.queries(calls + warmup, seed=5)
    encodes: dict[str, list[float]] = {"memory text": [], "question": []}
    made: list[Call] = []
    with SpanSink() as sink:
        env = _env(data_dir, port) | {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
                                      "OTEL_BSP_SCHEDULE_DELAY": "200"}
        log = (data_dir.parent / f"serve-{data_dir.name}-breakdown.log").open("w")
        server = subprocess.Popen([_fleetmem(), "serve", "--data-dir", str(data_dir)],
                                  env=env, stdout=log, stderr=log)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(base, server)
            stdio_params = StdioServerParameters(command=_fleetmem(), args=["mcp"], env=env)
            async with Client(stdio_params) as stdio, Client(base + "/mcp") as http, \
                    httpx.AsyncClient(base_url=base, timeout=60) as rest, \
                    RawStdio(_fleetmem(), env) as raw:
                doors = _door_calls(stdio, http, rest, raw)
                for r in range(calls + warmup):
                    k = r % len(DOORS)  # a rotating order: drift hits every door alike
                    order = DOORS[k:] + DOORS[:k]
                    for j, door in enumerate(order):
                        text = texts[r * len(DOORS) + j]
                        t0 = time.time_ns()
                        await doors[door](text)
                        t1 = time.time_ns()
                        if r >= warmup:
                            made.append((door, t0, t1))
                        if door == "mcp-stdio" and r >= warmup:
                            encodes["memory text"].append(_timed(embedder.embed, text))
                    if r >= warmup:
                        encodes["question"].append(_timed(embedder.embed, questions[r]))
                cpu = await cpu_per_call(doors, server.pid, calls)
                c0 = time.process_time()
                for text in texts[:calls]:
                    embedder.embed([text])
                cpu["encode"] = {"serve": (time.process_time() - c0) * 1000 / calls}
            await asyncio.sleep(1.5)  # the batch span processor's next export
        finally:
            stop_process(server)
            log.close()
        time.sleep(0.5)
        return made, sink.snapshot(), encodes, cpu


def cpu_ms(pid: int) -> float:
    """CPU time (user + system, every thread) a process has used, in ms (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def child_pids(parent: int) -> list[int]:
    """The processes whose parent is `parent` (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            out.append(int(stat.parent.name))
    return out


async def cpu_per_call(doors: dict[str, Callable[[str], Awaitable[None]]], server: int,
                       calls: int) -> dict[str, dict[str, float]]:
    """CPU ms per remember, door by door (one after the other): of `fleetmem serve`, of
    the stdio shim (`fleetmem mcp`, this process's child besides serve), and of this
    process's own encode of the same texts. CPU time, unlike wall time, barely moves
    with the machine's load."""
    shim = [p for p in child_pids(os.getpid()) if p != server]
    out: dict[str, dict[str, float]] = {}
    texts = workload.memories(len(doors) * calls, offset=50_000_000 + os.getpid())
    for d, (door, call) in enumerate(doors.items()):
        batch = texts[d * calls:(d + 1) * calls]
        s0, h0 = cpu_ms(server), sum(cpu_ms(p) for p in shim)
        for text in batch:
            await call(text)
        s1, h1 = cpu_ms(server), sum(cpu_ms(p) for p in shim)
        out[door] = {"serve": (s1 - s0) / calls, "shim": (h1 - h0) / calls}
    return out


def _timed(fn: Callable[[list[str]], object], text: str) -> float:
    t0 = time.perf_counter()
    fn([text])
    return (time.perf_counter() - t0) * 1000


def breakdown(made: Sequence[Call], spans: Sequence[Span]) -> dict[str, dict[str, list[float]]]:
    """Per door, per part: the milliseconds of every call (parts: client, outside,
    service, each stage, service other, and the client's time less the call's own
    `remember.embed` span: what the door and the service add to the model)."""
    requests = sorted((s for s in spans if s.name == "fleetmem.remember"),
                      key=lambda s: s.start_ns)
    children: dict[bytes, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for s in spans:
        if s.name.startswith("remember."):
            children[s.parent_id][s.name] += s.ms
    # remember.* spans nest under remember.group; fold a group's children into its request
    by_id = {s.span_id: s for s in spans}
    folded: dict[bytes, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for parent, parts in children.items():
        owner = parent
        while owner in by_id and by_id[owner].name != "fleetmem.remember":
            owner = by_id[owner].parent_id
        for name, ms in parts.items():
            folded[owner][name] += ms
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for door, t0, t1 in made:
        match = next((s for s in requests if t0 <= s.start_ns <= t1), None)
        client = (t1 - t0) / 1e6
        out[door]["client"].append(client)
        if match is None:
            continue
        parts = folded[match.span_id]
        out[door]["outside the service"].append(client - match.ms)
        out[door]["service"].append(match.ms)
        for stage in STAGES:
            out[door][stage].append(parts.get(stage, 0.0))
        out[door]["service, other"].append(match.ms - sum(parts.get(s, 0.0) for s in STAGES))
        out[door]["client minus its own embed"].append(client - parts.get(STAGES[0], 0.0))
    return out


def report(parts: dict[str, dict[str, list[float]]], encodes: dict[str, list[float]],
           data_dir: Path, calls: int) -> list[str]:
    """The breakdown as markdown lines (p50 of each part; parts' p50s need not add up)."""
    rows = ["client", "outside the service", "service", *STAGES, "service, other",
            "client minus its own embed"]
    lines = [f"- {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {git_commit()}, "
             f"{os.cpu_count()} cores {cpu_model()}, load average "
             f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, store {data_dir.name}, "
             f"{calls} calls per door, tracing on", "",
             "| part (p50 ms) | " + " | ".join(DOORS) + " |",
             "| --- | " + " | ".join("---" for _ in DOORS) + " |"]
    for row in rows:
        lines.append(f"| {row} | " + " | ".join(fmt(pct(parts[d].get(row, []), 50))
                                                 for d in DOORS) + " |")
    mem, q = pct(encodes["memory text"], 50), pct(encodes["question"], 50)
    stdio = pct(parts["mcp-stdio"]["client"], 50)
    lines += ["", "| reference (this process, one text per call) | p50 ms |", "| --- | --- |",
              f"| encode of the remembered memory text | {fmt(mem)} |",
              f"| encode of a question (the target's 'encode p50') | {fmt(q)} |",
              "", f"- MCP stdio remember p50 {fmt(stdio)} ms: {fmt(stdio - q)} ms over a "
              f"question's encode (target <= 5), {fmt(stdio - mem)} ms over its own text's "
              f"encode; ratio to (question encode + 5 ms) {fmt(stdio / (q + 5))}."]
    shim = [a - b for a, b in zip(parts["mcp-stdio"]["client"], parts["mcp-http"]["client"],
                                  strict=False)]
    if shim:
        lines.append(f"- stdio shim hop (stdio minus HTTP MCP, paired by round): median "
                     f"{fmt(statistics.median(shim))} ms")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run the breakdown and print it."""
    p = argparse.ArgumentParser(prog="python -m bench mcp_breakdown", description=__doc__)
    p.add_argument("--data-dir", type=Path, default=WORK_DIR / "data" / "mcp-breakdown")
    p.add_argument("--memories", type=int, default=1000,
                   help="memories the store holds first (seeded through the service)")
    p.add_argument("--calls", type=int, default=60, help="timed remembers per door")
    args = p.parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(_seed(args.data_dir, args.memories))
    made, spans, encodes, cpu = asyncio.run(measure(args.data_dir, args.calls))
    say("\n## Where an MCP stdio remember's milliseconds go")
    for line in report(breakdown(made, spans), encodes, args.data_dir, args.calls):
        say(line)
    say("")
    say("| CPU ms per call (door by door) | serve | stdio shim |")
    say("| --- | --- | --- |")
    for door, c in cpu.items():
        say(f"| {door} | {fmt(c['serve'])} | {fmt(c.get('shim', float('nan')))} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
