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
from fleetmem.vault.guard import REPORTED, read_checked
from fleetmem.vault.projection import sha

logger = logging.getLogger(__name__)
STATE_FILE = "state.json"
_VERSION = 1
_KINDS = frozenset({"entity", "day", "index"})
_STR_FIELDS = ("kind", "namespace", "key", "name", "file", "graph")
DEFAULT_MAX_BYTES = 1_048_576


def state_dir(root: Path) -> Path:
    """The vault's `.fleetmem` folder, refused when it or its state/trash is a symlink
    (sync would otherwise read or write wherever the link points).

    Raises:
        InvalidInput: one of them is a symlink (rule `symlink`).
    """
    folder = root / layout.STATE_DIR
    for path in (folder, folder / STATE_FILE, folder / "trash"):
        if path.is_symlink():
            raise InvalidInput(f"refusing the vault: {path.relative_to(root).as_posix()} is a "
                               "symlink; replace it with a plain folder/file inside the vault",
                               field="vault", rule="symlink")
    return folder


def _note_state(rel: object, raw: object) -> NoteState | None:
    """A state entry when its key is a safe note path and its value has the right shape."""
    if not isinstance(rel, str) or not layout.is_safe_relative(rel) \
            or layout.classify(rel) is None or not isinstance(raw, dict):
        return None
    if any(not isinstance(raw.get(f), str) for f in _STR_FIELDS) or raw["kind"] not in _KINDS:
        return None
    memories = raw.get("memories", {})
    if not isinstance(memories, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in memories.items()):
        return None
    conflict = raw.get("conflict", False)
    if not isinstance(conflict, bool) or set(raw) - {*_STR_FIELDS, "memories", "conflict"}:
        return None
    return NoteState(raw["kind"], raw["namespace"], raw["key"], raw["name"], raw["file"],
                     raw["graph"], memories=dict(memories), conflict=conflict)


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
    dropped: list[str] = field(default_factory=list)
    """Entries of the state file that were dropped (bad path or shape); never saved."""

    @classmethod
    def load(cls, root: Path) -> VaultState:
        """The saved state, or an empty one for a new vault. Entries whose path leaves the
        vault or is no note path, or whose value has an unexpected shape, are dropped with
        a warning (the note is then treated as never synced).

        Raises:
            InvalidInput: the file is not JSON of the right outline, or is a symlink.
        """
        path = state_dir(root) / STATE_FILE
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            raw_notes = data.get("notes", {})
            if not isinstance(raw_notes, dict):
                raise TypeError("'notes' is not an object")
            notes: dict[str, NoteState] = {}
            dropped: list[str] = []
            for rel, raw in raw_notes.items():
                entry = _note_state(rel, raw)
                if entry is None:
                    dropped.append(f"{layout.STATE_DIR}/{STATE_FILE}: dropped the entry "
                                   f"{str(rel)[:200]!r} (not a note path inside the vault, "
                                   "or an unexpected shape)")
                else:
                    notes[rel] = entry
            for line in dropped:
                logger.warning("vault: %s", line)
            return cls(viewer=str(data.get("viewer", "")), human=str(data.get("human", "")),
                       audit_seq=int(data.get("audit_seq", 0)), notes=notes, dropped=dropped)
        except (ValueError, TypeError, AttributeError) as exc:
            raise InvalidInput(f"the vault state file {path} is damaged ({exc}); delete it and "
                               "sync again (unchanged notes will be recognised)",
                               field="vault", rule="state_file") from exc

    def save(self, root: Path) -> None:
        """Write the state atomically."""
        folder = state_dir(root)
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

    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.refused: dict[str, str] = {}
        """Note paths skipped this run (hostile or unreadable) -> why."""
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
        """The text of a note, or None when it does not exist.

        Raises:
            InvalidInput: the file is no regular file, leaves the vault or is too large.
        """
        self.path(rel)
        data = read_checked(self.root, rel, self.max_bytes)
        return None if data is None else data.decode("utf-8", errors="replace")

    def exists(self, rel: str) -> bool:
        """Whether a file exists at a vault-relative path."""
        return self.path(rel).exists()

    def checksum(self, rel: str) -> str | None:
        """Checksum of a note's current content (None: missing)."""
        text = self.read(rel)
        return None if text is None else sha(text)

    def _checksum_or_none(self, rel: str) -> str | None:
        """The checksum, or a value matching nothing when the file may not be read."""
        try:
            return self.checksum(rel)
        except InvalidInput as exc:
            if exc.rule != "hostile_file":
                raise
            return "refused"

    def write(self, rel: str, content: str, expected: str | None) -> bool:
        """Write a note only if it still holds what was read (`expected` checksum, None for
        "must not exist"); return False, writing nothing, when it changed meanwhile (or
        is no longer a file sync may read)."""
        if self._checksum_or_none(rel) != expected:
            return False
        full = self.path(rel)
        full.parent.mkdir(parents=True, exist_ok=True)
        tmp = full.with_name(f".{full.name}.fleetmem-tmp")
        tmp.write_bytes(content.encode())
        os.replace(tmp, full)
        return True

    def trash(self, rel: str, expected: str | None) -> bool:
        """Move a note into `.fleetmem/trash/` if it still holds what was read."""
        if expected is None or self._checksum_or_none(rel) != expected:
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
        if not layout.is_safe_relative(rel):
            raise InvalidInput(f"refusing to trash {rel!r}: it leaves the vault folder",
                               field="path", rule="path_traversal")
        trash = state_dir(self.root) / "trash"
        target = Path(trash, self._stamp, rel)
        real_trash = (self._real / layout.STATE_DIR / "trash").resolve()
        if not target.resolve().is_relative_to(real_trash):
            raise InvalidInput(f"refusing to trash {rel!r}: the trash would leave the vault",
                               field="path", rule="path_traversal")
        return target

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
            for rel, _full in _notes_under(Path(top.path), top.name):
                if layout.classify(rel) is None and not layout.is_conflict_file(rel):
                    ignored.append(rel)
                    continue
                try:
                    text = self.read(rel)
                except InvalidInput as exc:
                    self.refused[rel] = exc.message
                    REPORTED.log(self.root, rel, exc.message)
                    continue
                except OSError as exc:  # unreadable: skipped like a hostile file
                    self.refused[rel] = f"{rel}: cannot be read ({exc.strerror})"
                    REPORTED.log(self.root, rel, self.refused[rel])
                    continue
                if text is not None:  # None: deleted while scanning
                    notes[rel] = text
        return notes, ignored

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the vault's sync lock (one sync at a time per vault, across processes)."""
        folder = state_dir(self.root)
        folder.mkdir(parents=True, exist_ok=True)
        if (folder / "lock").is_symlink():
            raise InvalidInput(f"refusing the vault: {layout.STATE_DIR}/lock is a symlink",
                               field="vault", rule="symlink")
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
        elif entry.name.endswith(layout.NOTE_EXT):
            yield rel, Path(entry.path)  # read() refuses what is no regular file
