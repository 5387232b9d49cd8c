"""`FileWitness`: the audit chain's head appended to a file outside the database
(`<data_dir>/audit-witness.log` by default), one JSON line per anchor, fsync'd.

Writes stay fast: a commit only hands its new head to a background thread (a lock and a
notify); the thread waits 10 ms for later commits, appends the newest head and fsyncs, so
under load several commits share one anchor (and one fsync). `every` > 1 anchors only
once the head moved that many entries; the last head is always anchored at `close`. A
line torn by a crash is cut off at the next start (it never held a complete anchor) or,
when the file cannot be truncated (an append-only attribute), closed with a newline;
either way it is reported, not fatal.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from fleetmem.memory.domain import witness as rules
from fleetmem.memory.domain.witness import Anchor, WitnessLog

logger = logging.getLogger(__name__)
_RETRY_SECONDS = 1.0
_COALESCE_SECONDS = 0.01
"""How long the writer waits after a new head for later commits to share its fsync."""
WITNESS_FILE = "audit-witness.log"
"""The witness's file name in the data folder (unless `audit.witness_path` says where)."""


class FileWitness:
    """An append-only witness file, written by its own thread."""

    def __init__(self, path: Path, key: bytes | None = None, every: int = 1) -> None:
        self.path = path
        self._key = key or None
        self._every = max(1, every)
        self._cond = threading.Condition()
        self._observed: tuple[int, str] | None = None
        self._anchored: Anchor | None = None
        self._fd: int | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._failing = False

    # lifecycle ---------------------------------------------------------------------------
    def start(self, head: tuple[int, str] | None) -> None:
        """Open (or create) the file; a new witness starts at `head`, the store's head."""
        created = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cut_torn_line()
        log = self.read()
        for problem in log.problems:
            logger.error("audit witness %s: %s", self.path, problem)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if created:
            _fsync_dir(self.path.parent)
        last = log.last
        self._anchored = last
        if last is None:
            if head is not None:
                logger.warning("audit witness %s started at seq %d (no witness before: the "
                               "entries up to there are trusted as found)", self.path, head[0])
                self._write(head, "start")
        else:
            if head is None or head[0] < last.seq:
                logger.error("the audit log ends at seq %d but the witness %s anchored seq "
                             "%d: run `fleetmem audit verify`", 0 if head is None else head[0],
                             self.path, last.seq)
            self._observed = (last.seq, last.hash)
            if head is not None and head[0] > last.seq:  # written while nothing anchored
                self._write(head, "anchor")
        if head is not None and (self._observed is None or head[0] > self._observed[0]):
            self._observed = head
        self._thread = threading.Thread(target=self._run, name="fleetmem-audit-witness",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread, anchor the last observed head, fsync and close the file."""
        thread, self._thread = self._thread, None
        if thread is not None:
            with self._cond:
                self._closing = True
                self._cond.notify()
            thread.join()
        if self._fd is None:  # never started, or closed already
            return
        with self._cond:
            head = self._observed
        if head is not None and (self._anchored is None or head[0] > self._anchored.seq):
            self._write(head, "shutdown")
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # the port ----------------------------------------------------------------------------
    def observe(self, seq: int, digest: str) -> None:
        """Hand a committed head to the writer thread (only a higher seq counts)."""
        with self._cond:
            if self._observed is None or seq > self._observed[0]:
                self._observed = (seq, digest)
                if self._due():
                    self._cond.notify()

    def read(self) -> WitnessLog:
        """The anchors in the file, with its problems and warnings."""
        try:
            text = self.path.read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return WitnessLog()
        return rules.parse(text, self._key)

    def last(self) -> Anchor | None:
        """The highest head anchored so far."""
        return self._anchored

    # inside ------------------------------------------------------------------------------
    def _due(self) -> bool:
        head, done = self._observed, self._anchored
        return head is not None and (done is None or head[0] - done.seq >= self._every)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closing and not self._due():
                    self._cond.wait()
                until = time.monotonic() + _COALESCE_SECONDS  # commits of the next
                while not self._closing and (left := until - time.monotonic()) > 0:
                    self._cond.wait(left)  # moments share this anchor's fsync
                if self._closing:
                    return
                head = self._observed
            assert head is not None
            if not self._write(head, "anchor"):
                with self._cond:  # the disk refused: retry in a while, not in a loop
                    self._cond.wait(_RETRY_SECONDS)

    def _write(self, head: tuple[int, str], kind: str) -> bool:
        anchor = Anchor(seq=head[0], hash=head[1], kind=kind,
                        at=datetime.now(UTC).isoformat(timespec="milliseconds"))
        assert self._fd is not None
        try:
            os.write(self._fd, rules.encode(anchor, self._key).encode())
            os.fsync(self._fd)
        except OSError as exc:
            if not self._failing:
                logger.error("cannot write the audit witness %s: %s (the audit tail is not "
                             "anchored until this is fixed)", self.path, exc)
            self._failing = True
            return False
        if self._failing:
            logger.warning("audit witness %s writable again", self.path)
        self._failing = False
        self._anchored = anchor
        return True

    def _cut_torn_line(self) -> None:
        """Remove a last line a crash left without its newline (or end it, if the file
        cannot be truncated), so that the next anchor starts on a line of its own."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        if not data or data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1
        logger.warning("audit witness %s: its last line is torn (a write cut short by a "
                       "crash, %d bytes); removing it", self.path, len(data) - keep)
        try:
            os.truncate(self.path, keep)
        except OSError:
            with open(self.path, "ab") as f:
                f.write(b"\n")
                f.flush()
                os.fsync(f.fileno())


def _fsync_dir(folder: Path) -> None:
    """Make a new file's directory entry durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
