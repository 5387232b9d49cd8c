"""Two real `fleetmem serve` processes on one Neo4j, for the replica tests.

Each replica is `python -m fleetmem.cli serve` of this source tree (PYTHONPATH from the
test process), with its own data folder, the graph AND the vectors on the shared Neo4j
(`vector.backend=neo4j`), JSON logs on stderr to a file, and only the `buffers` GC job
scheduled, every `GC_EVERY` seconds, so slots come often enough to count.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.neo4j_fixtures import Neo4jTarget

GC_EVERY = 2
START_SECONDS = 180
_JOBS_OFF = ("decay", "purge", "superseded", "orphans", "reconcile")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Replica:
    """One running `fleetmem serve`."""

    name: str
    port: int
    log: Path
    proc: subprocess.Popen[bytes]
    client: httpx.AsyncClient = field(init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def events(self, name: str) -> list[dict[str, Any]]:
        """The structured log lines of one event (JSON log format)."""
        out: list[dict[str, Any]] = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("event") == name:
                    out.append(record)
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def replica_env(target: Neo4jTarget, data_dir: Path) -> dict[str, str]:
    """The environment of one replica: this tree's code, shared Neo4j for both tiers."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FLEETMEM_") or k == "FLEETMEM_EMBEDDING__CACHE_DIR"}
    env.update({
        "PYTHONPATH": os.pathsep.join(sys.path),
        "HF_HUB_OFFLINE": "1",
        "FLEETMEM_DATA_DIR": str(data_dir),
        "FLEETMEM_GRAPH__BACKEND": "neo4j",
        "FLEETMEM_GRAPH__NEO4J_URI": target.uri,
        "FLEETMEM_GRAPH__NEO4J_USER": target.user,
        "FLEETMEM_GRAPH__NEO4J_PASSWORD": target.password,
        "FLEETMEM_VECTOR__BACKEND": "neo4j",
        "FLEETMEM_LOG_FORMAT": "json",
        "FLEETMEM_LOG_LEVEL": "INFO",
        "FLEETMEM_GC__BUFFERS_SCHEDULE": f"every {GC_EVERY}s",
        **{f"FLEETMEM_GC__{job.upper()}_SCHEDULE": "off" for job in _JOBS_OFF},
    })
    return env


def start_replicas(target: Neo4jTarget, root: Path, count: int = 2) -> list[Replica]:
    """Start `count` replicas at once and wait until each answers /readyz."""
    replicas: list[Replica] = []
    for i in range(count):
        name = f"r{i}"
        data_dir = root / name
        data_dir.mkdir(parents=True)
        port = free_port()
        log = root / f"{name}.log"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "fleetmem.cli", "serve", "--host", "127.0.0.1",
                 "--port", str(port)], env=replica_env(target, data_dir),
                stdout=subprocess.DEVNULL, stderr=err)
        replicas.append(Replica(name, port, log, proc))
    try:
        deadline = time.monotonic() + START_SECONDS
        for r in replicas:
            while True:
                try:
                    if httpx.get(f"{r.url}/readyz", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert r.proc.poll() is None, r.log.read_text(errors="replace")[-4000:]
                assert time.monotonic() < deadline, f"{r.name} not ready in {START_SECONDS} s"
                time.sleep(0.3)
    except BaseException:
        for r in replicas:
            r.stop()
        raise
    return replicas
