"""What was last synced (checksums per note, in `.fleetmem/state.json` inside the vault) and
the file operations sync is allowed to do: read, write only over what it read, move to trash.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fleetmem.memory.errors import Conflict, InvalidInput
from fleetmem.vault import layout
from fleetmem.vault.projection import sha

logger = logging.getLogger(__name__)
STATE_FILE = "state.json"
_VERSION = 1


@dataclass
class NoteState:
    """One note as of the last sync."""

    kind: str
    namespace: str
    key: str
    name: str
    file: str
    """Checksum of the file's content when last synced."""
    graph: str
    """Checksum of the graph's rendering of the note when last synced."""
    memories: dict[str, str] = field(default_factory=dict)
    """Dated notes: memory id -> checksum of its text when last synced."""
    conflict: bool = False


@dataclass
class VaultState:
    """The sync state of a whole vault."""

    viewer: str = ""
    human: str = ""
    audit_seq: int = 0
    notes: dict[str, NoteState] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> VaultState:
        """The saved state, or an empty one for a new vault."""
        path = root / layout.STATE_DIR / STATE_FILE
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            notes = {p: NoteState(**n) for p, n in data.get("notes", {}).items()}
            return cls(viewer=data.get("viewer", ""), human=data.get("human", ""),
                       audit_seq=int(data.get("audit_seq", 0)), notes=notes)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"the vault state file {path} is damaged ({exc}); delete it and "
                               "sync again (unchanged notes will be recognised)",
                               field="vault", rule="state_file") from exc

    def save(self, root: Path) -> None:
        """Write the state atomically."""
        folder = root / layout.STATE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        data = {"version": _VERSION, "viewer": self.viewer, "human": self.human,
                "audit_seq": self.audit_seq,
                "notes": {p: dict(n.__dict__) for p, n in sorted(self.notes.items())}}
        tmp = folder / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(data, separators=(",", ":"), sort_keys=True),
                       encoding="utf-8")
        os.replace(tmp, folder / STATE_FILE)


class VaultFiles:
    """Note files of one vault; every path is checked to stay inside the vault."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._real = root.resolve()
        self._stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")

    def path(self, rel: str) -> Path:
        """The absolute path of a vault-relative one.

        Raises:
            InvalidInput: the path would leave the vault (`..`, absolute, symlinks).
        """
        if not layout.is_safe_relative(rel):
            raise InvalidInput(f"refusing the path {rel!r}: it leaves the vault folder",
                               field="path", rule="path_traversal")
        full = self.root / rel
        real = full.resolve()
        if not real.is_relative_to(self._real):
            raise InvalidInput(f"refusing the path {rel!r}: it resolves outside the vault",
                               field="path", rule="path_traversal")
        return full

    def read(self, rel: str) -> str | None:
        """The text of a note, or None when it does not exist."""
        try:
            return self.path(rel).read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return None

    def exists(self, rel: str) -> bool:
        """Whether a file exists at a vault-relative path."""
        return self.path(rel).exists()

    def checksum(self, rel: str) -> str | None:
        """Checksum of a note's current content (None: missing)."""
        text = self.read(rel)
        return None if text is None else sha(text)

    def write(self, rel: str, content: str, expected: str | None) -> bool:
        """Write a note only if it still holds what was read (`expected` checksum, None for
        "must not exist"); return False, writing nothing, when it changed meanwhile."""
        if self.checksum(rel) != expected:
            return False
        full = self.path(rel)
        full.parent.mkdir(parents=True, exist_ok=True)
        tmp = full.with_name(f".{full.name}.fleetmem-tmp")
        tmp.write_bytes(content.encode())
        os.replace(tmp, full)
        return True

    def trash(self, rel: str, expected: str | None) -> bool:
        """Move a note into `.fleetmem/trash/` if it still holds what was read."""
        if expected is None or self.checksum(rel) != expected:
            return False
        target = self._trash_path(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.path(rel), target)
        return True

    def keep_in_trash(self, rel: str, content: str) -> None:
        """Keep a copy of content that left the vault (a deleted note's last version)."""
        target = self._trash_path(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode())

    def _trash_path(self, rel: str) -> Path:
        return Path(self.root, layout.STATE_DIR, "trash", self._stamp, rel)

    def scan(self) -> tuple[dict[str, str], list[str]]:
        """(vault-relative path -> text) of every note file, and paths that are ignored."""
        notes: dict[str, str] = {}
        ignored: list[str] = []
        if not self.root.exists():
            return notes, ignored
        for top in sorted(os.scandir(self.root), key=lambda d: d.name):
            if top.name in layout.IGNORED_DIRS or top.name.startswith("."):
                continue
            if top.is_symlink() or not top.is_dir():
                if top.name.endswith(layout.NOTE_EXT):
                    ignored.append(top.name)
                continue
            for rel, full in _notes_under(Path(top.path), top.name):
                if layout.classify(rel) is None and not layout.is_conflict_file(rel):
                    ignored.append(rel)
                    continue
                with contextlib.suppress(FileNotFoundError):  # deleted while scanning
                    notes[rel] = full.read_bytes().decode("utf-8", errors="replace")
        return notes, ignored

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the vault's sync lock (one sync at a time per vault, across processes)."""
        folder = self.root / layout.STATE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "lock", "a+") as handle:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - Windows: single-process use only
                yield
                return
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise Conflict(f"another sync is running on the vault {self.root}; wait for "
                               "it to finish", field="vault", rule="locked") from exc
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _notes_under(folder: Path, name: str) -> Iterator[tuple[str, Path]]:
    """(vault-relative path, path) of Markdown files in a namespace folder and its
    subfolders; symlinks are never followed, so nothing found leaves the vault."""
    for entry in sorted(os.scandir(folder), key=lambda d: d.name):
        rel = f"{name}/{entry.name}"
        if entry.is_symlink() or entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from _notes_under(Path(entry.path), rel)
        elif entry.name.endswith(layout.NOTE_EXT) and entry.is_file():
            yield rel, Path(entry.path)
