"""What a user feels of the embedding runtime: `fleetmem serve` to ready, a one-shot
`fleetmem recall`, the served process's memory, and the size of an install.

Each figure comes from new processes of the `fleetmem` command of a given virtualenv, so
the ONNX Runtime default can be measured from an install without torch and the torch
runtime from one with the `torch` extra, in the same run and against the same store.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import workload
from bench.doors import stop_process
from bench.report import pct

ROOTS = ("memory", "api", "mcp_server", "vault", "gc", "cli")
REPO = Path(__file__).resolve().parents[1]


@dataclass
class ColdFigures:
    """One runtime's cold-path figures (seconds, MiB)."""

    runtime: str
    python: str
    ready_s: list[float] = field(default_factory=list)
    ready_rss_mib: list[float] = field(default_factory=list)
    busy_rss_mib: list[float] = field(default_factory=list)
    recall_s: list[float] = field(default_factory=list)
    first_recall_s: float = float("nan")
    """A one-shot recall with an empty graph cache: builds the ONNX graph (first start
    after installing or upgrading)."""

    @property
    def ready_p50(self) -> float:
        return pct(self.ready_s, 50)

    @property
    def recall_p50(self) -> float:
        return pct(self.recall_s, 50)

    @property
    def rss_p50(self) -> float:
        return pct(self.ready_rss_mib, 50)

    @property
    def busy_rss_p50(self) -> float:
        return pct(self.busy_rss_mib, 50)


def env_for(data_dir: Path, runtime: str, **extra: str) -> dict[str, str]:
    """The environment of a measured process: this checkout's code first on the path (so a
    venv installed from another checkout runs it too), the chosen runtime."""
    env = dict(os.environ)
    env.pop("FLEETMEM_AGENTS_FILE", None)
    env.pop("FLEETMEM_EMBEDDING__CACHE_DIR", None)
    paths = [str(REPO / r) for r in ROOTS]
    env.update({"FLEETMEM_DATA_DIR": str(data_dir), "FLEETMEM_EMBEDDING__RUNTIME": runtime,
                "FLEETMEM_LOG_LEVEL": "WARNING", "HF_HUB_OFFLINE": "1",
                "PYTHONPATH": os.pathsep.join(paths)}, **extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def serve_once(fig: ColdFigures, data_dir: Path, queries: list[str]) -> None:
    """Start `fleetmem serve`, time it to a 200 from /readyz (model loaded), read its RSS,
    run the queries over REST, read its RSS again, stop it."""
    port = _free_port()
    exe = str(Path(fig.python).with_name("fleetmem"))
    env = env_for(data_dir, fig.runtime, FLEETMEM_PORT=str(port),
                  FLEETMEM_HOST="127.0.0.1")
    t0 = time.perf_counter()
    proc = subprocess.Popen([exe, "serve", "--data-dir", str(data_dir)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as client:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"fleetmem serve ({fig.runtime}) exited early")
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() - t0 > 180:
                    raise RuntimeError("fleetmem serve was not ready in 180 s")
                time.sleep(0.02)
            fig.ready_s.append(time.perf_counter() - t0)
            fig.ready_rss_mib.append(_rss_mib(proc.pid))
            for q in queries:
                client.post("/v1/memories/recall", json={"query": q, "k": 10}
                            ).raise_for_status()
            fig.busy_rss_mib.append(_rss_mib(proc.pid))
    finally:
        stop_process(proc, timeout=60)


def recall_once(fig: ColdFigures, data_dir: Path, query: str, **extra: str) -> float:
    """Wall seconds of one `fleetmem recall` process, launch to exit."""
    exe = str(Path(fig.python).with_name("fleetmem"))
    t0 = time.perf_counter()
    r = subprocess.run([exe, "recall", query, "--agent", "local", "--json"],
                       env=env_for(data_dir, fig.runtime, **extra), capture_output=True,
                       text=True, timeout=300, check=False)
    took = time.perf_counter() - t0
    if r.returncode != 0 or '"hits"' not in r.stdout:
        raise RuntimeError(f"fleetmem recall ({fig.runtime}) failed: {r.stderr[-500:]}")
    return took


def measure_cold(runtimes: dict[str, str], data_dir: Path, *, repeats: int,
                 queries: int = 50) -> dict[str, ColdFigures]:
    """`repeats` serve starts and one-shot recalls per runtime ({runtime: python}), the
    runtimes alternating so that machine load hits them alike; the first, untimed round
    warms the page cache and, for ONNX Runtime, builds the cached graph."""
    figs = {rt: ColdFigures(rt, py) for rt, py in runtimes.items()}
    qs = workload.queries(queries, seed=7)
    if "onnx" in figs:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="fleetmem-graph-") as empty:
            figs["onnx"].first_recall_s = recall_once(
                figs["onnx"], data_dir, qs[0], FLEETMEM_EMBEDDING__CACHE_DIR=empty)
    for fig in figs.values():  # warm-up round, not timed
        recall_once(fig, data_dir, qs[0])
    for n in range(repeats):
        order = list(figs.values()) if n % 2 == 0 else list(reversed(figs.values()))
        for fig in order:
            serve_once(fig, data_dir, qs)
            fig.recall_s.append(recall_once(fig, data_dir, qs[n % len(qs)]))
    return figs


def du(path: Path) -> tuple[str, float]:
    """`du -sh` of a folder as printed, and its size in MiB (du -sm)."""
    human = subprocess.run(["du", "-sh", str(path)], capture_output=True, text=True,
                           check=True).stdout.split()[0]
    mib = subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True,
                         check=True).stdout.split()[0]
    return human, float(mib)
