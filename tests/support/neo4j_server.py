"""Start a real Neo4j Community 5.26 server (embedded in a JVM) for tests and benchmarks.

The JVM side lives in ``tests/neo4j_launcher`` (a tiny Maven project), built on first use
by ``tests.support.neo4j_build`` (Maven download and cache; that module also reads
FLEETMEM_NEO4J_JAVA_OPTS).

Protocol with the launcher: it prints ``READY bolt://127.0.0.1:<port>`` on stdout once the
database is available and then runs until its stdin reaches EOF. We hold the write end
of that pipe, so closing it (``Neo4jServer.stop``) or dying for any reason makes the JVM
shut Neo4j down and exit by itself.

Usage::

    server = start_neo4j(tmp_path / "neo4j")
    try:
        ...  # GraphDatabase.driver(server.uri, auth=None)
    finally:
        server.stop()

or, for developers and benchmarks, ``python -m tests.support.neo4j_server DATA_DIR``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO

from tests.support.neo4j_build import INSTALL_HINT, Neo4jUnavailable, build_launcher

__all__ = ["INSTALL_HINT", "Neo4jServer", "Neo4jUnavailable", "build_launcher", "main",
           "start_neo4j"]

log = logging.getLogger(__name__)

LAUNCHER_LOG_NAME = "neo4j-launcher.log"
STOP_TIMEOUT_S = 30.0
READY_RE = re.compile(r"^READY (bolt://\S+)$")


@dataclass
class Neo4jServer:
    """A running launcher JVM. ``uri`` is ``bolt://127.0.0.1:<port>`` (no auth)."""

    uri: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    _log_file: IO[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def port(self) -> int:
        return int(self.uri.rsplit(":", 1)[1])

    @property
    def log_path(self) -> Path:
        """The launcher's stderr; Neo4j's own logs are in ``data_dir / "logs"``."""
        return self.data_dir / LAUNCHER_LOG_NAME

    def stop(self) -> None:
        """Close the launcher's stdin (clean shutdown), wait up to 30 s, then kill. Idempotent."""
        proc = self.process
        if proc.stdin is not None and not proc.stdin.closed:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning(
                "Neo4j (pid %d) did not stop within %.0f s; killing it", proc.pid, STOP_TIMEOUT_S
            )
            proc.kill()
            proc.wait()
        if proc.returncode not in (0, None):
            log.warning(
                "Neo4j launcher (pid %d) exited with status %s; see %s",
                proc.pid,
                proc.returncode,
                self.log_path,
            )
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.close()

    def __enter__(self) -> Neo4jServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------- start


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as handle:
            kept: deque[bytes] = deque(handle, maxlen=lines)
    except OSError as exc:
        return f"(no launcher log at {path}: {exc})"
    return b"".join(kept).decode("utf-8", "replace").rstrip()


def _pump_stdout(stream: IO[bytes], ready: queue.Queue[str], sink: IO[bytes]) -> None:
    """Forward the launcher's stdout: the READY URI to ``ready``, anything else to the log.

    Keeps draining after READY so the JVM can never block on a full pipe.
    """
    announced = False
    try:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            match = READY_RE.match(line)
            if match is not None and not announced:
                announced = True
                ready.put(match.group(1))
                continue
            with contextlib.suppress(ValueError, OSError):
                sink.write(b"[stdout] " + raw)
                sink.flush()
    except (OSError, ValueError):
        pass
    finally:
        with contextlib.suppress(OSError):
            stream.close()


def _bolt_ready(uri: str, deadline: float) -> None:
    """Wait until a Bolt session can be opened (auth disabled), or raise TimeoutError."""
    try:
        from neo4j import GraphDatabase
        from neo4j.exceptions import DriverError, Neo4jError
    except ImportError as exc:
        raise Neo4jUnavailable(
            "the neo4j Python driver is needed to run the Neo4j tests (pip install neo4j)"
        ) from exc
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with GraphDatabase.driver(uri, auth=None, connection_timeout=5.0) as driver:
                driver.verify_connectivity()
            return
        except (DriverError, Neo4jError, OSError) as exc:
            last_error = exc
            time.sleep(0.25)
    raise TimeoutError(f"no Bolt connection to {uri}: {last_error!r}")


class _StartFailed(Neo4jUnavailable):
    def __init__(self, message: str, exited_early: bool) -> None:
        super().__init__(message)
        self.exited_early = exited_early


def _start_once(command: list[str], data_dir: Path, port: int, timeout: float) -> Neo4jServer:
    log_path = data_dir / LAUNCHER_LOG_NAME
    log_file = log_path.open("ab")
    log_file.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting on port {port}\n".encode())
    log_file.flush()
    started = time.monotonic()
    deadline = started + timeout
    try:
        process = subprocess.Popen(
            [*command, str(data_dir), str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
            cwd=data_dir,
            close_fds=True,
        )
    except OSError as exc:
        log_file.close()
        raise Neo4jUnavailable(f"{INSTALL_HINT} (could not run java: {exc})") from exc
    assert process.stdout is not None
    ready: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=_pump_stdout,
        args=(process.stdout, ready, log_file),
        name=f"neo4j-stdout-{process.pid}",
        daemon=True,
    ).start()
    server = Neo4jServer(uri="", process=process, data_dir=data_dir, _log_file=log_file)

    def fail(reason: str, exited_early: bool = False) -> _StartFailed:
        if process.poll() is None:
            process.kill()
        process.wait()
        log_file.close()
        return _StartFailed(
            f"Neo4j did not start ({reason}); launcher log {log_path}, "
            f"Neo4j logs in {data_dir / 'logs'}:\n{_log_tail(log_path)}",
            exited_early,
        )

    uri: str | None = None
    try:
        while uri is None:
            try:
                uri = ready.get(timeout=0.2)
            except queue.Empty:
                if process.poll() is not None:
                    raise fail(
                        f"the JVM exited with status {process.returncode}", exited_early=True
                    ) from None
                if time.monotonic() > deadline:
                    raise fail(f"no READY line within {timeout:.0f} s") from None
        server.uri = uri
        try:
            _bolt_ready(uri, deadline)
        except TimeoutError as exc:
            raise fail(f"READY was printed but {exc} within {timeout:.0f} s") from exc
    except BaseException:
        # Includes KeyboardInterrupt: never leave a JVM behind.
        if process.poll() is None:
            process.kill()
            process.wait()
        if not log_file.closed:
            log_file.close()
        raise
    log.info(
        "Neo4j ready at %s in %.1f s (pid %d, data %s)",
        uri,
        time.monotonic() - started,
        process.pid,
        data_dir,
    )
    return server


def start_neo4j(data_dir: Path, port: int | None = None, timeout: float = 180.0) -> Neo4jServer:
    """Start Neo4j with its home (store and logs) in ``data_dir``; Bolt on 127.0.0.1.

    ``port=None`` picks a free loopback port (retrying with a new one if it was taken
    in the meantime). Returns once a Bolt connection has succeeded. Raises
    Neo4jUnavailable (with the launcher log's tail) if the JVM fails or times out.
    """
    command = build_launcher()
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    attempts = 3 if port is None else 1
    for attempt in range(1, attempts + 1):
        chosen = port if port is not None else _free_port()
        try:
            return _start_once(command, data_dir, chosen, timeout)
        except _StartFailed as exc:
            if not exc.exited_early or attempt == attempts:
                raise
            log.warning(
                "Neo4j failed to start on port %d (attempt %d), retrying on another port",
                chosen,
                attempt,
            )
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.neo4j_server",
        description="Run a Neo4j Community server (Bolt on 127.0.0.1, no auth) until Ctrl-C.",
    )
    parser.add_argument("data_dir", type=Path, help="Neo4j home: store and logs go here")
    parser.add_argument("--port", type=int, default=None, help="Bolt port (default: a free one)")
    parser.add_argument("--timeout", type=float, default=180.0, help="start timeout in seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        server = start_neo4j(args.data_dir, port=args.port, timeout=args.timeout)
    except Neo4jUnavailable as exc:
        log.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        return 130
    log.info("Neo4j is running at %s (no auth); press Ctrl-C to stop", server.uri)
    try:
        while server.process.poll() is None:
            time.sleep(1.0)
        log.error(
            "Neo4j exited unexpectedly with status %s; see %s",
            server.process.returncode,
            server.log_path,
        )
        return 1
    except KeyboardInterrupt:
        log.info("stopping Neo4j")
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
