"""Vault layout rules (pure): namespace folders, safe note file names, special paths.

File names must never escape the vault, must be valid on Windows, macOS and Linux, and must
stay distinct on case-insensitive file systems. Names that cannot be used as they are get a
short hash suffix, so the same name always maps to the same file, whatever else exists.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from pathlib import PurePosixPath

from fleetmem.memory.services import NAMESPACE_RE

STATE_DIR = ".fleetmem"
MEMORIES_DIR = "Memories"
INDEX_STEM = "_index"
CONFLICT_SUFFIX = ".conflict"
NOTE_EXT = ".md"
IGNORED_DIRS = frozenset({STATE_DIR, ".obsidian", ".trash", ".git"})
_RESERVED = frozenset('/\\:*?"<>|#^[]')
_WINDOWS = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                      *(f"lpt{i}" for i in range(10))})
_MAX_STEM_BYTES = 120
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def namespace_folder(namespace: str) -> str:
    """The folder of a namespace: `team:atlas` -> `team atlas` (':' is reserved on Windows)."""
    return namespace.replace(":", " ")


def folder_namespace(folder: str) -> str | None:
    """The namespace a folder name stands for, or None when it is not a namespace folder."""
    ns = folder.replace(" ", ":")
    return ns if NAMESPACE_RE.match(ns) else None


def _short_hash(name: str, chars: int) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:chars]


def _truncate(text: str, max_bytes: int) -> str:
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode(errors="ignore").rstrip(" .")


def clean_stem(name: str) -> tuple[str, bool]:
    """A file-name-safe rendering of `name` and whether it is lossy (differs from `name`)."""
    text = unicodedata.normalize("NFC", name)
    out = "".join("_" if c in _RESERVED or ord(c) < 32 or ord(c) == 127 else c for c in text)
    out = _truncate(out.strip().strip(".").strip(), _MAX_STEM_BYTES) or "_"
    if out.split(".")[0].strip().casefold() in _WINDOWS:
        out = f"_{out}"  # CON, nul.txt, ...: device names on Windows, whatever the extension
    lowered = out.casefold()
    lossy = out != name or lowered == INDEX_STEM or lowered.endswith(CONFLICT_SUFFIX)
    return out, lossy


def stem_key(stem: str) -> str:
    """Comparison key of a file stem on case-insensitive, normalising file systems."""
    return unicodedata.normalize("NFC", stem).casefold()


def entity_stems(names: Iterable[str]) -> dict[str, str]:
    """Map each entity name of one namespace to its note's file stem.

    Deterministic and stable: a name that is usable as it is keeps it; any other gets
    ` ~<hash>` of the exact name appended; a rare collision lengthens the hash.
    """
    cleaned = {n: clean_stem(n) for n in set(names)}
    ordered = sorted(cleaned, key=lambda n: (cleaned[n][1], n))
    taken: set[str] = set()
    stems: dict[str, str] = {}
    for name in ordered:
        stem, lossy = cleaned[name]
        candidate = f"{stem} ~{_short_hash(name, 8)}" if lossy else stem
        attempt = 0
        while stem_key(candidate) in taken:
            attempt += 1
            candidate = f"{stem} ~{_short_hash(f'{name}#{attempt}', 16)}"
        taken.add(stem_key(candidate))
        stems[name] = candidate
    return stems


def stem_for(name: str) -> str:
    """The stem a name gets when nothing collides with it."""
    stem, lossy = clean_stem(name)
    return f"{stem} ~{_short_hash(name, 8)}" if lossy else stem


def entity_path(folder: str, stem: str) -> str:
    """Vault-relative path of an entity note."""
    return f"{folder}/{stem}{NOTE_EXT}"


def index_path(folder: str) -> str:
    """Vault-relative path of a namespace's index note."""
    return f"{folder}/{INDEX_STEM}{NOTE_EXT}"


def day_path(folder: str, day: str) -> str:
    """Vault-relative path of the dated note of memories written on `day` (YYYY-MM-DD)."""
    return f"{folder}/{MEMORIES_DIR}/{day}{NOTE_EXT}"


def conflict_path(path: str) -> str:
    """Where the other side of a conflicted note is kept: `Note.md` -> `Note.conflict.md`."""
    return path[: -len(NOTE_EXT)] + CONFLICT_SUFFIX + NOTE_EXT


def is_conflict_file(path: str) -> bool:
    """Whether a path is a conflict copy (never imported as a note)."""
    return path.casefold().endswith((CONFLICT_SUFFIX + NOTE_EXT).casefold())


def classify(path: str) -> tuple[str, str, str] | None:
    """(kind, folder, key) of a vault-relative note path; None for files that are not notes.

    kind is `entity` (key: stem), `index` or `day` (key: date).
    """
    parts = path.split("/")
    if not path.endswith(NOTE_EXT) or is_conflict_file(path) or len(parts) not in (2, 3) \
            or not all(parts):
        return None
    folder, stem = parts[0], parts[-1][: -len(NOTE_EXT)]
    if folder_namespace(folder) is None:
        return None
    if len(parts) == 3:
        return ("day", folder, stem) if parts[1] == MEMORIES_DIR and _DATE.match(stem) else None
    if stem.casefold() == INDEX_STEM:
        return ("index", folder, stem)
    return ("entity", folder, stem)


def is_safe_relative(path: str) -> bool:
    """Whether a vault-relative path stays inside the vault (no absolute, no `..`)."""
    p = PurePosixPath(path)
    return not p.is_absolute() and ".." not in p.parts and "\\" not in path and bool(p.parts)
