"""fleetmem through its doors: MCP stdio (`fleetmem mcp`) and REST (`/v1`) on `fleetmem serve`.

The embedded stores lock their folder to one process, so the doors are measured against a
`fleetmem serve` started on the data the in-process run left behind; `fleetmem mcp` is the
stdio shim that forwards to it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

logger = logging.getLogger(__name__)
Timings = dict[str, list[float]]


def available() -> dict[str, bool]:
    """Which doors exist in this checkout."""
    def has(mod: str) -> bool:
        try:
            return importlib.util.find_spec(mod) is not None
        except ModuleNotFoundError:
            return False
    return {"rest": has("fleetmem.api.v1"), "mcp-stdio": has("fleetmem.cli.mcp_cmd")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(data_dir: Path, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"FLEETMEM_DATA_DIR": str(data_dir), "FLEETMEM_PORT": str(port),
                "FLEETMEM_HOST": "127.0.0.1", "HF_HUB_OFFLINE": "1"})
    return env


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Terminate a started process; kill it if it has not exited within `timeout`."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _fleetmem() -> str:
    return str(Path(sys.executable).with_name("fleetmem"))


SOURCE_ROOTS = ("memory", "api", "mcp_server", "vault", "gc", "cli")
TREE = Path(__file__).resolve().parents[1]


def tree_command() -> list[str]:
    """`fleetmem` as this checkout's code: `python -m fleetmem.cli` of the running
    interpreter. The venv's `fleetmem` script runs whichever tree the venv was installed
    from, which on a shared venv is another checkout's code; use with `tree_env`."""
    return [sys.executable, "-m", "fleetmem.cli"]


def tree_env(env: dict[str, str]) -> dict[str, str]:
    """`env` with this checkout's source roots first on PYTHONPATH (what was there
    before follows), so a child process imports this tree's fleetmem."""
    paths = [str(TREE / r) for r in SOURCE_ROOTS]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


def measure_doors(data_dir: Path, queries: Sequence[str], singles: int) -> dict[str, Timings]:
    """Remember/recall latency through each available door; {} when none exists."""
    doors = available()
    if not any(doors.values()):
        logger.warning("no REST or MCP door in this checkout: door figures skipped")
        return {}
    port = _free_port()
    env = _env(data_dir, port)
    log = (data_dir.parent / f"serve-{data_dir.name}.log").open("w")
    server = subprocess.Popen([_fleetmem(), "serve", "--data-dir", str(data_dir)], env=env,
                              stdout=log, stderr=log)
    out: dict[str, Timings] = {}
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, server)
        if doors["rest"]:
            from bench.door_rest import measure_rest

            out["rest"] = measure_rest(base, queries, singles)
        if doors["mcp-stdio"]:
            import anyio

            from bench.door_mcp import measure_mcp

            out["mcp-stdio"] = anyio.run(measure_mcp, _fleetmem(), env, queries, singles)
    finally:
        stop_process(server)
        log.close()
    return out


def _wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"fleetmem serve exited with {server.returncode}")
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200 or \
                    httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("fleetmem serve did not become ready")
