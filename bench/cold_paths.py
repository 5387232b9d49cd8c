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
    tree: Path = REPO
    """The checkout whose code runs (first on PYTHONPATH)."""
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


def env_for(data_dir: Path, runtime: str, tree: Path = REPO, **extra: str) -> dict[str, str]:
    """The environment of a measured process: the checkout's code first on the path (so a
    venv installed from another checkout runs it too), the chosen runtime, and bytecode
    caches written and used as an installed package has them (a harness that sets
    PYTHONDONTWRITEBYTECODE would otherwise time compiling every module at each start)."""
    env = dict(os.environ)
    env.pop("FLEETMEM_AGENTS_FILE", None)
    env.pop("FLEETMEM_EMBEDDING__CACHE_DIR", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    paths = [str(tree / r) for r in ROOTS]
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
    env = env_for(data_dir, fig.runtime, fig.tree, FLEETMEM_PORT=str(port),
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
                       env=env_for(data_dir, fig.runtime, fig.tree, **extra),
                       capture_output=True,
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


def export_ref(ref: str, into: Path) -> Path:
    """The files of git `ref` of this repository, written under `into` (no worktree, no
    branch switch): the code a comparison runs as `before`."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def compare_trees(trees: dict[str, Path], python: str, data_dir: Path, *,
                  repeats: int) -> tuple[dict[str, ColdFigures], list[float]]:
    """`repeats` rounds of a serve start and a one-shot recall for each checkout (ONNX
    Runtime, same venv, same store), the checkouts alternating so that machine load hits
    them alike, after one untimed round that also writes their bytecode caches; and the
    1-minute load average at the start of each round."""
    figs = {label: ColdFigures("onnx", python, tree) for label, tree in trees.items()}
    qs = workload.queries(max(repeats, 1), seed=7)
    for fig in figs.values():  # warm-up round, not timed
        serve_once(ColdFigures("onnx", python, fig.tree), data_dir, [])
        recall_once(fig, data_dir, qs[0])
    loads: list[float] = []
    for n in range(repeats):
        loads.append(os.getloadavg()[0])
        order = list(figs.values()) if n % 2 == 0 else list(reversed(figs.values()))
        for fig in order:
            serve_once(fig, data_dir, [])
            fig.recall_s.append(recall_once(fig, data_dir, qs[n % len(qs)]))
    return figs, loads


def compare_report(figs: dict[str, ColdFigures], loads: list[float]) -> list[str]:
    """Markdown lines: medians and every round of each checkout, the ratio of the last to
    the first, and the load average of each round."""
    labels = list(figs)
    first, last = figs[labels[0]], figs[labels[-1]]
    lines = ["| what | " + " | ".join(labels) + f" | {labels[-1]} / {labels[0]} |",
             "| --- |" + " --- |" * (len(labels) + 1)]
    for what, attr in (("`fleetmem serve` to ready (200 from /readyz, model loaded), median",
                        "ready_p50"),
                       ("one-shot `fleetmem recall` wall (launch to exit), median",
                        "recall_p50")):
        cells = [f"{getattr(figs[label], attr):.2f} s" for label in labels]
        ratio = getattr(last, attr) / getattr(first, attr)
        lines.append(f"| {what} | " + " | ".join(cells) + f" | {ratio:.2f} |")
    lines.append("")
    for label in labels:
        f = figs[label]
        lines.append(f"- {label}: serve to ready (s) "
                     + ", ".join(f"{x:.2f}" for x in f.ready_s) + "; recall (s) "
                     + ", ".join(f"{x:.2f}" for x in f.recall_s))
    lines.append("- load average (1 min) at the start of each round: "
                 + ", ".join(f"{x:.1f}" for x in loads))
    return lines
