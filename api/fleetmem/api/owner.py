"""Which process owns a data folder: the `fleetmem serve` announced in `serve.json`.

Both embedded engines lock their folder to one process. `serve` announces itself in
`<data_dir>/serve.json` (pid, host, port and its local socket) while it runs; every other
local door asks `locate` before touching the folder, so one code path decides for the
MCP stdio shim (`fleetmem mcp`: forward to the owner, or start one) and the CLI (use the
owner, or open the stores itself when none runs). A `serve.json` whose pid is gone is
stale: it is reported and ignored.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

STATE_FILE = "serve.json"
_WILDCARDS = {"0.0.0.0", "::", ""}


@dataclass(frozen=True)
class ServeInfo:
    """Where a running `fleetmem serve` listens: its port and its local socket (the
    operator's door, reachable only by whoever may open the data folder)."""

    pid: int
    host: str
    port: int
    socket: str | None = None

    @property
    def base_url(self) -> str:
        """The URL a local client uses (a wildcard bind is reached over loopback)."""
        host = "127.0.0.1" if self.host in _WILDCARDS else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def mcp_url(self) -> str:
        """The streamable HTTP MCP endpoint."""
        return f"{self.base_url}/mcp"


class OwnerUnreachable(RuntimeError):
    """A live process owns the folder but does not answer; the message names it."""

    def __init__(self, pid: int, message: str) -> None:
        super().__init__(message)
        self.pid = pid


def write_state(data_dir: Path, info: ServeInfo) -> None:
    """Announce a running service (atomically: readers never see half a file)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f".{STATE_FILE}.{info.pid}"
    tmp.write_text(json.dumps(asdict(info)))
    tmp.replace(data_dir / STATE_FILE)


def remove_state(data_dir: Path, pid: int) -> None:
    """Withdraw the announcement, if it is still this process's."""
    info = read_state(data_dir)
    if info is not None and info.pid == pid:
        (data_dir / STATE_FILE).unlink(missing_ok=True)


def read_state(data_dir: Path) -> ServeInfo | None:
    """The announced service, or None when there is no (readable) announcement."""
    try:
        data = json.loads((data_dir / STATE_FILE).read_text())
        sock = data.get("socket")
        return ServeInfo(pid=int(data["pid"]), host=str(data["host"]), port=int(data["port"]),
                         socket=str(sock) if sock else None)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def alive(pid: int) -> bool:
    """Whether a process with this pid runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child its parent has not reaped yet is a zombie, not a service
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def healthy(info: ServeInfo) -> bool:
    """Whether the announced process lives and answers /healthz."""
    if not alive(info.pid):
        return False
    import httpx  # here: `serve` imports this module for serve.json and needs no client

    try:
        return httpx.get(f"{info.base_url}/healthz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def running(data_dir: Path) -> ServeInfo | None:
    """The live service of `data_dir`, or None."""
    info = read_state(data_dir)
    return info if info is not None and healthy(info) else None


def reused(pid: int) -> bool:
    """Whether `pid` now belongs to a process that is no fleetmem (a pid reused after a
    crash or a reboot); False when the command line cannot be read."""
    try:
        return b"fleetmem" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def locate(data_dir: Path, wait: float = 0.0) -> ServeInfo | None:
    """The decision every local door makes first: the live owner of `data_dir` to go
    through, or None when no process owns it (then the caller may open the stores).

    A stale `serve.json` (its pid is gone, or now another program's) is logged as such
    and ignored. A live owner
    that does not answer yet (starting, or a loaded machine) is waited for up to `wait`
    seconds, never bypassed: its engines hold the folder's locks.

    Raises:
        OwnerUnreachable: the owner lives but did not answer within `wait` seconds.
    """
    info = read_state(data_dir)
    if info is None:
        return None
    if not alive(info.pid):
        logger.warning("%s names fleetmem serve pid %d, which is no longer running (a "
                       "stale file, e.g. after a crash); opening the stores directly",
                       data_dir / STATE_FILE, info.pid)
        return None
    deadline = time.monotonic() + wait
    while True:
        current = read_state(data_dir)
        if current is None or not alive(current.pid):  # it stopped meanwhile
            return None
        if healthy(current):
            return current
        if reused(current.pid):
            logger.warning("%s names pid %d, which is now another program (a stale file); "
                           "opening the stores directly", data_dir / STATE_FILE, current.pid)
            return None
        if time.monotonic() >= deadline:
            raise OwnerUnreachable(current.pid,
                f"fleetmem serve (pid {current.pid}) owns {data_dir} but does not answer at "
                f"{current.base_url}/healthz; wait for it to finish starting, or stop it")
        time.sleep(0.25)
