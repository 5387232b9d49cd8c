"""Run `fleetmem serve` (the console script) as a child process on a free loopback port:
start, wait for /healthz, SIGKILL, graceful stop, RSS; never leaves a process behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

FLEETMEM = str(Path(sys.executable).with_name("fleetmem"))
START_TIMEOUT = 240.0
STOP_TIMEOUT = 60.0


def free_port() -> int:
    """A port nobody listens on right now (loopback only)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident set size of a live process in KiB (VmRSS from /proc); 0 when gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return 0


class ServeProcess:
    """One `fleetmem serve` child; `start()` returns once /healthz answers."""

    def __init__(self, data_dir: Path, log_path: Path, *,
                 env: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "serve is not running"
        return self.proc.pid

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("FLEETMEM_") or k.startswith("FLEETMEM_TEST_")}
        env.update({"FLEETMEM_DATA_DIR": str(self.data_dir), "FLEETMEM_HOST": "127.0.0.1",
                    "FLEETMEM_PORT": str(self.port), "HF_HUB_OFFLINE": "1",
                    "FLEETMEM_LOG_LEVEL": "WARNING", "FLEETMEM_GC__ENABLED": "false"})
        env.update(self.extra_env)
        return env

    def spawn(self) -> None:
        """Start the process without waiting for it (see `wait_healthy`)."""
        assert self.proc is None or self.proc.poll() is not None, "serve already running"
        self.port = free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"--- start #{self.starts + 1} on port {self.port}\n".encode())
            log.flush()
            self.proc = subprocess.Popen([FLEETMEM, "serve"], env=self._env(),
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        self.starts += 1

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        """Block until /healthz answers 200 (the lifespan, with its repair pass, is done)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fleetmem serve exited with {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"fleetmem serve did not answer in {timeout:.0f} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.2)

    def start(self) -> None:
        """Spawn and wait for /healthz."""
        self.spawn()
        self.wait_healthy()

    def kill(self) -> None:
        """SIGKILL (no shutdown code runs) and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> int | None:
        """Graceful stop (SIGTERM: lifespan shutdown closes the stores); SIGKILL when it
        hangs. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def serving(data_dir: Path, log_path: Path, *, env: Mapping[str, str] | None = None,
            start: bool = True) -> Iterator[ServeProcess]:
    """A ServeProcess that is always killed on exit, even when the body fails."""
    serve = ServeProcess(data_dir, log_path, env=env)
    try:
        if start:
            serve.start()
        yield serve
    finally:
        serve.kill()
