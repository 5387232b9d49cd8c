"""A folder of Markdown notes as an import source (`fleetmem import FOLDER --format
markdown`): one memory per note, read with the vault's defences.

Each note is read like a vault file (`guard.read_checked`: regular files inside the folder
only, no symlinks, at most `vault.max_note_bytes`) and its frontmatter parsed by the vault's
bounded YAML loader (no aliases, anchors or deep nesting). The note becomes one line of our
import format, numbered in path order, with a `source` key (its path and a hash of its
content) from which the service derives its id: re-importing the folder skips unchanged
notes. The service checks every rule (length, kind, tags, namespace) when it writes.

Frontmatter read: `title` (else the file name), `tags` (a list or a comma list; `#`
stripped), `kind` (or `type`, when it is a memory kind), `importance`, `pinned`,
`namespace`, and `created` / `date` (the memory's time and start of validity).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.services import KINDS, ImportSource, LineError
from fleetmem.vault.guard import read_checked
from fleetmem.vault.markdown import split_frontmatter

NOTE_SUFFIXES = (".md", ".markdown")


def _notes(root: Path, rel: str = "") -> Iterator[str]:
    """Relative paths of the notes under `root`, sorted; hidden entries and symlinks are
    skipped (nothing found leaves the folder)."""
    folder = root / rel if rel else root
    for entry in sorted(os.scandir(folder), key=lambda d: d.name):
        path = f"{rel}/{entry.name}" if rel else entry.name
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        if entry.is_dir():
            yield from _notes(root, path)
        elif entry.name.lower().endswith(NOTE_SUFFIXES):
            yield path


def _time(value: object) -> str | None:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value) if isinstance(value, str) and value.strip() else None


def _tags(value: object) -> list[str]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    return [str(t).strip().lstrip("#") for t in items if str(t).strip().lstrip("#")]


def note_record(rel: str, text: str) -> dict[str, Any]:
    """The import record of one note.

    Raises:
        InvalidInput: bad frontmatter (the vault's YAML budgets) or an empty note.
    """
    meta, body = split_frontmatter(text)
    body = body.strip()
    if not body:
        raise InvalidInput("the note has no text below its properties", field="text",
                           rule="not_empty")
    title = str(meta.get("title") or Path(rel).stem).strip()
    first = body.splitlines()[0].lstrip("# ").strip()
    record: dict[str, Any] = {
        "text": body if first == title else f"{title}\n\n{body}",
        "source": f"{rel}#{hashlib.sha256(text.encode()).hexdigest()[:16]}",
        "tags": _tags(meta.get("tags")),
    }
    kind = meta.get("kind", meta.get("type"))
    if isinstance(kind, str) and kind in KINDS:
        record["kind"] = kind
    for key in ("importance", "pinned", "namespace"):
        if meta.get(key) is not None:
            record[key] = meta[key]
    created = _time(meta.get("created", meta.get("date")))
    if created:
        record["attribution"] = {"created_at": created}
        record["valid_from"] = created
    return record


def markdown_source(folder: Path, max_note_bytes: int) -> ImportSource:
    """The notes under `folder` as an import source (note N in path order is 'line' N; a
    note that cannot be read is reported with its path).

    Raises:
        InvalidInput: `folder` is not a folder.
    """
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder of Markdown notes", field="path",
                           rule="not_found")
    paths = list(_notes(folder))

    def lines() -> Iterator[tuple[int, str | LineError]]:
        for number, rel in enumerate(paths, start=1):
            try:
                data = read_checked(folder, rel, max_note_bytes)
                if data is None:
                    raise InvalidInput("the note disappeared while importing", rule="gone")
                record = note_record(rel, data.decode("utf-8", errors="replace"))
            except InvalidInput as exc:
                yield number, LineError(number, f"{rel}: {exc.message}")
                continue
            yield number, json.dumps(record, default=str)

    return ImportSource("markdown", lines)
