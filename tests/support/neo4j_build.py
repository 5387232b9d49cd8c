"""Build the Neo4j launcher once with Maven (download and cache) for tests and benchmarks.

The JVM side lives in ``tests/neo4j_launcher`` (a tiny Maven project). It is built on
first use with Maven and ``javac`` and cached in ``tests/neo4j_launcher/target``; the build
is skipped while its outputs are newer than ``pom.xml`` and the Java source.
``tests.support.neo4j_server`` starts the server from the command built here.

Environment:
    FLEETMEM_NEO4J_JAVA_OPTS  JVM options replacing the default heap settings
                              (default ``-Xms256m -Xmx1g``).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

LAUNCHER_DIR: Path = Path(__file__).resolve().parent.parent / "neo4j_launcher"
POM: Path = LAUNCHER_DIR / "pom.xml"
JAVA_SOURCE: Path = LAUNCHER_DIR / "src" / "main" / "java" / "fleetmem" / "Neo4jLauncher.java"
TARGET_DIR: Path = LAUNCHER_DIR / "target"
CLASSES_DIR: Path = TARGET_DIR / "classes"
CLASS_FILE: Path = CLASSES_DIR / "fleetmem" / "Neo4jLauncher.class"
CLASSPATH_FILE: Path = TARGET_DIR / "classpath.txt"
MAIN_CLASS = "fleetmem.Neo4jLauncher"

JAVA_OPTS_ENV = "FLEETMEM_NEO4J_JAVA_OPTS"
DEFAULT_JAVA_OPTS: tuple[str, ...] = ("-Xms256m", "-Xmx1g")
# Always passed: what Neo4j's own start script passes so that its page cache and
# native file I/O work at full speed on Java 17 (without them debug.log fills with
# "Reflection access ... not available" / "Incorrect file descriptor" warnings).
REQUIRED_JAVA_OPTS: tuple[str, ...] = (
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-XX:-OmitStackTraceInFastThrow",
)

INSTALL_HINT = (
    "Java 17+ (apt-get install openjdk-17-jdk-headless) and Maven (apt-get install maven) "
    "are needed to run the Neo4j tests"
)
MAVEN_TIMEOUT_S = 1200.0

_build_lock = threading.Lock()
_cached_command: list[str] | None = None


class Neo4jUnavailable(RuntimeError):
    """Neo4j cannot be built or started here; the message says what is missing."""


def _require_tools() -> tuple[str, str, str]:
    java, javac, mvn = shutil.which("java"), shutil.which("javac"), shutil.which("mvn")
    if java is None or javac is None or mvn is None:
        missing = ", ".join(
            n for n, p in (("java", java), ("javac", javac), ("mvn", mvn)) if p is None
        )
        raise Neo4jUnavailable(f"{INSTALL_HINT} (not on PATH: {missing})")
    version = _java_major_version(java)
    if version is not None and version < 17:
        raise Neo4jUnavailable(f"{INSTALL_HINT} (found Java {version})")
    return java, javac, mvn


def _java_major_version(java: str) -> int | None:
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8.0" -> 8


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _read_classpath() -> list[str] | None:
    """The cached dependency classpath, or None if missing or any jar has disappeared."""
    try:
        raw = CLASSPATH_FILE.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    entries = [e for e in raw.split(os.pathsep) if e]
    if not entries or not all(os.path.exists(e) for e in entries):
        return None
    return entries


def _is_fresh() -> bool:
    try:
        newest_input = max(POM.stat().st_mtime, JAVA_SOURCE.stat().st_mtime)
        outputs = (CLASSPATH_FILE.stat().st_mtime, CLASS_FILE.stat().st_mtime)
    except OSError:
        return False
    return min(outputs) > newest_input and _read_classpath() is not None


def _run_build_step(cmd: list[str], what: str) -> None:
    log.info("Neo4j launcher: %s", what)
    try:
        result = subprocess.run(
            cmd,
            cwd=LAUNCHER_DIR,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=MAVEN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or "") if isinstance(exc.stdout, str) else ""
        raise Neo4jUnavailable(
            f"{what} timed out after {MAVEN_TIMEOUT_S:.0f} s: {shlex.join(cmd)}\n{_tail(output)}"
        ) from exc
    except OSError as exc:
        raise Neo4jUnavailable(f"{INSTALL_HINT} ({what} failed to run: {exc})") from exc
    if result.returncode != 0:
        raise Neo4jUnavailable(
            f"{what} failed (exit {result.returncode}): {shlex.join(cmd)}\n"
            f"{_tail(result.stdout + result.stderr)}"
        )


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise builds across processes (e.g. pytest-xdist workers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _java_opts() -> list[str]:
    custom = os.environ.get(JAVA_OPTS_ENV)
    user_opts = shlex.split(custom) if custom is not None else list(DEFAULT_JAVA_OPTS)
    return [*REQUIRED_JAVA_OPTS, *user_opts]


def build_launcher() -> list[str]:
    """Build the launcher if needed and return the ``java ... fleetmem.Neo4jLauncher`` prefix.

    Append ``DATA_DIR PORT`` to run it. The build (Maven dependency resolution, then
    ``javac``) runs once; it is skipped while its outputs are newer than ``pom.xml`` and
    the Java source. Raises Neo4jUnavailable if Java/Maven are missing or the build fails.
    """
    global _cached_command
    with _build_lock:
        if _cached_command is None or not _is_fresh():
            java, javac, mvn = _require_tools()
            with _file_lock(TARGET_DIR / ".build.lock"):
                if not _is_fresh():
                    started = time.monotonic()
                    _run_build_step(
                        [
                            mvn,
                            "-q",
                            "-B",
                            "dependency:build-classpath",
                            f"-Dmdep.outputFile={CLASSPATH_FILE}",
                        ],
                        "resolving Neo4j with Maven (the first run downloads ~160 MB)",
                    )
                    # The plugin leaves an unchanged classpath file untouched: mark it fresh.
                    with contextlib.suppress(OSError):
                        CLASSPATH_FILE.touch()
                    classpath = _read_classpath()
                    if classpath is None:
                        raise Neo4jUnavailable(
                            f"Maven did not produce a usable classpath in {CLASSPATH_FILE}"
                        )
                    _run_build_step(
                        [
                            javac,
                            "-nowarn",
                            "--release",
                            "17",
                            "-encoding",
                            "UTF-8",
                            "-d",
                            str(CLASSES_DIR),
                            "-cp",
                            os.pathsep.join(classpath),
                            str(JAVA_SOURCE),
                        ],
                        "compiling Neo4jLauncher.java",
                    )
                    CLASS_FILE.touch()  # newer than classpath.txt and the sources
                    log.info("Neo4j launcher built in %.1f s", time.monotonic() - started)
            classpath = _read_classpath()
            if classpath is None:
                raise Neo4jUnavailable(f"Neo4j launcher classpath {CLASSPATH_FILE} is unusable")
            _cached_command = [
                java,
                "-cp",
                os.pathsep.join([str(CLASSES_DIR), *classpath]),
            ]
        return [*_cached_command[:1], *_java_opts(), *_cached_command[1:], MAIN_CLASS]
