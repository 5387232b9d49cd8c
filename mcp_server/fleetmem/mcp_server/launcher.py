"""Finding, or starting, the one `fleetmem serve` that owns a data dir.

Both embedded engines lock their folder to one process, so every `fleetmem mcp` of a data
dir forwards to the same service. Whether one runs is decided by `fleetmem.api.owner`
(the same code path the CLI uses); a stdio shim that finds no live service takes
`<data_dir>/serve.lock` (so only one shim starts it), starts `fleetmem serve` detached,
and waits for /healthz.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from fleetmem.api.owner import (
    STATE_FILE,
    OwnerUnreachable,
    ServeInfo,
    alive,
    locate,
    read_state,
    remove_state,
    running,
    write_state,
)
from fleetmem.memory.settings import Settings

logger = logging.getLogger(__name__)

LOCK_FILE = "serve.lock"
LOG_FILE = "serve.log"
START_MARK = "--- starting fleetmem serve"
_WILDCARDS = {"0.0.0.0", "::", ""}

__all__ = ["LOCK_FILE", "LOG_FILE", "STATE_FILE", "LaunchError", "ServeInfo", "ensure_serve",
           "read_state", "remove_state", "running", "write_state"]


class LaunchError(RuntimeError):
    """The service could not be found or started; the message says what to check."""


@contextlib.contextmanager
def _start_lock(data_dir: Path) -> Iterator[None]:
    """Serialise shims that want to start the service (released even if we crash)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / LOCK_FILE, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _free_port(host: str, preferred: int) -> int:
    """`preferred` when it can be bound, else any free port."""
    bind = "127.0.0.1" if host in _WILDCARDS else host
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET) as s:
            try:
                s.bind((bind, port))
            except OSError:
                continue
            chosen: int = s.getsockname()[1]
            return chosen
    raise LaunchError(f"no free port to start fleetmem serve on {bind}")


def _spawn(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    """Start `fleetmem serve` for the data dir, detached from this process's session."""
    data_dir = Path(settings.data_dir)
    env = {**os.environ, "FLEETMEM_DATA_DIR": str(data_dir), "FLEETMEM_PORT": str(port),
           "FLEETMEM_HOST": settings.host}
    cmd = [sys.executable, "-c", "from fleetmem.cli.main import main; main()", "serve",
           "--data-dir", str(data_dir), "--host", settings.host, "--port", str(port)]
    with open(data_dir / LOG_FILE, "ab") as log:
        logger.info("starting fleetmem serve on %s:%s for %s", settings.host, port, data_dir)
        log.write(f"{START_MARK} by fleetmem mcp (pid {os.getpid()}) on "
                  f"{settings.host}:{port}\n".encode())
        log.flush()
        return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log, start_new_session=True, close_fds=True)


def _log_tail(data_dir: Path, lines: int = 15) -> str:
    try:
        return "\n".join((data_dir / LOG_FILE).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def ensure_serve(settings: Settings) -> ServeInfo:
    """The running service of the configured data dir, started (once) when none runs.

    Raises:
        LaunchError: the service did not answer within `mcp.start_timeout` seconds.
    """
    data_dir = Path(settings.data_dir)
    with contextlib.suppress(OwnerUnreachable):  # a live owner still starting: waited for below
        found = locate(data_dir)  # the decision the CLI makes too (stale files reported)
        if found is not None:
            return found
    with _start_lock(data_dir):
        found = running(data_dir)  # another shim may have started it while we waited
        if found is not None:
            return found
        deadline = time.monotonic() + settings.mcp.start_timeout
        announced = read_state(data_dir)
        # A live owner that is slow to answer (a loaded machine) is waited for, never
        # doubled: a second serve would only fail on the engines' folder locks.
        child = None if announced is not None and alive(announced.pid) else \
            _spawn(settings, _free_port(settings.host, settings.port))
        while time.monotonic() < deadline:
            found = running(data_dir)
            if found is not None:
                return found
            if child is not None and child.poll() is not None and read_state(data_dir) is None:
                raise LaunchError(
                    f"fleetmem serve exited with code {child.returncode}; see "
                    f"{data_dir / LOG_FILE}:\n{_log_tail(data_dir)}")
            if child is None and read_state(data_dir) is None:  # the owner went away
                child = _spawn(settings, _free_port(settings.host, settings.port))
            time.sleep(0.25)
    raise LaunchError(f"fleetmem serve did not answer within {settings.mcp.start_timeout:.0f} s;"
                      f" see {data_dir / LOG_FILE}:\n{_log_tail(data_dir)}")
