"""Driving an import from a file (the CLI, or a REST body spooled to disk): read it twice
and call the service.

1. Scan: every line is read and parsed (bounded: a line over `MAX_LINE_BYTES` is refused
   without being held whole); the namespaces it names are collected and malformed lines
   reported with their numbers. With `strict`, any malformed line ends the import here,
   before anything is written.
2. `check` (the service's `import_check`): an import naming a namespace the caller may not
   write is refused here, before anything is written.
3. Import: the good lines in batches through `write` (the service's `import_lines`, in
   this process or over the local socket of the `fleetmem serve` that owns the folder),
   with a progress callback after each batch.

Nothing here decides what is written: the service checks every rule again per batch.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.services.transfer.importing import check_format
from fleetmem.memory.services.transfer.records import (
    MAX_LINE_BYTES,
    ImportReport,
    LineError,
    MemoryRecord,
    RejectedLine,
    detect,
    parse_line,
)
from fleetmem.memory.services.views.records import MemoryView

MAX_DOCUMENT_BYTES = 512 * 1024 * 1024
"""A mem0 `get_all` document (one JSON value, read whole) larger than this is refused."""
BATCH_LINES = 256
Lines = Iterator[tuple[int, "str | LineError"]]
Check = Callable[[list[str | None]], Awaitable[Any]]
Write = Callable[[list[tuple[int, str]]], Awaitable[ImportReport]]
Progress = Callable[[int, int], None]


@dataclass
class ImportSource:
    """Numbered records of one format, readable twice (the scan, then the import)."""

    format: str
    open: Callable[[], Lines]
    rejected: list[RejectedLine] = field(default_factory=list)
    """Records refused while reading (e.g. a Markdown note that cannot be read)."""


def read_lines(path: Path) -> Lines:
    """The lines of a file, numbered from 1, each bounded: a longer line is consumed
    without being kept and yielded as a LineError; so is one that is not UTF-8."""
    with path.open("rb") as handle:
        number = 0
        while True:
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while (rest := handle.readline(1 << 20)) and not rest.endswith(b"\n"):
                    pass
                yield number, LineError(number, f"longer than {MAX_LINE_BYTES} bytes; "
                                                "split the record")
                continue
            try:
                yield number, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                yield number, LineError(number, "not UTF-8 text")


def _mem0_document(path: Path) -> ImportSource:
    """A mem0 `get_all` answer: `{"results": [...]}` or a bare list; item N is 'line' N."""
    size = path.stat().st_size
    if size > MAX_DOCUMENT_BYTES:
        raise InvalidInput(f"{path.name} is {size} bytes, more than a mem0 document may be "
                           f"({MAX_DOCUMENT_BYTES}); export it as JSON Lines (one memory "
                           "a line) and import that", field="path", rule="max_size")
    try:
        doc = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path.name} is neither JSON Lines nor a JSON document: {exc}",
                           field="path", rule="format") from exc
    items = doc.get("results", doc.get("memories")) if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise InvalidInput("a mem0 export must be a list of memories or an object with a "
                           "'results' list (the answer of get_all)", field="path",
                           rule="format")
    lines = [(i, json.dumps(item)) for i, item in enumerate(items, start=1)]

    def again() -> Lines:
        yield from lines

    return ImportSource("mem0", again)


def _first_line(path: Path) -> str | None:
    for _, text in read_lines(path):
        if isinstance(text, str) and text.strip():
            return text.strip()
    return None


def file_source(path: Path, fmt: str = "auto") -> ImportSource:
    """The records of a JSON Lines file (or a mem0 JSON document), `auto` detecting the
    format from the first record.

    Raises:
        InvalidInput: not a file, an unknown format, or an unreadable mem0 document.
    """
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file (a folder of Markdown notes needs "
                           "--format markdown)", field="path", rule="not_found")
    if fmt != "auto":
        check_format(fmt)
    first = _first_line(path)
    if first is not None and fmt in ("auto", "mem0") and _is_document(first):
        try:
            return _mem0_document(path)
        except InvalidInput:
            if fmt == "mem0":
                raise  # auto: JSON Lines whose first line is malformed, reported as such
    if fmt == "auto":
        fmt = "fleetmem" if first is None else detect(first)
    return ImportSource(fmt, lambda: read_lines(path))


def _is_document(first: str) -> bool:
    """Whether a mem0 file is one JSON document rather than one memory a line."""
    if first.startswith("["):
        return True
    try:
        value = json.loads(first)
    except json.JSONDecodeError:
        return True  # a document spread over several lines
    return isinstance(value, dict) and ("results" in value or "memories" in value)


@dataclass
class _Scan:
    total: int = 0
    namespaces: set[str | None] = field(default_factory=set)
    rejected: list[RejectedLine] = field(default_factory=list)
    bad: set[int] = field(default_factory=set)


def _scan(source: ImportSource, namespace: str | None) -> _Scan:
    scan = _Scan()
    scan.rejected += source.rejected
    fmt = "fleetmem" if source.format == "markdown" else source.format
    for number, text in source.open():
        if isinstance(text, str) and not text.strip():
            continue
        scan.total += 1
        try:
            if isinstance(text, LineError):
                raise text
            record = parse_line(fmt, number, text)
        except LineError as exc:
            scan.bad.add(number)
            scan.rejected.append(RejectedLine(line=number, reason=exc.message))
            continue
        scan.namespaces.add(namespace or (record.data.namespace
                                          if isinstance(record, MemoryRecord) else None))
    return scan


def _strict_refusal(rejected: Sequence[RejectedLine]) -> InvalidInput:
    first = rejected[0]
    where = first.source or f"line {first.line}"
    return InvalidInput(f"{len(rejected)} record(s) cannot be imported (first: {where}: "
                        f"{first.reason}); with --strict nothing was written: fix them, or "
                        "import without --strict to skip them", field="line",
                        rule="import_line")


async def run_import(source: ImportSource, *, namespace: str | None, strict: bool,
                     check: Check, write: Write, progress: Progress | None = None,
                     batch_lines: int = BATCH_LINES) -> ImportReport:
    """Scan, check, then import `source` batch by batch; the summary of the whole run.

    Raises:
        InvalidInput: with `strict`, a malformed line (nothing written).
        Forbidden: a namespace the caller may not write (nothing written).
    """
    scan = _scan(source, namespace)
    if strict and scan.rejected:
        raise _strict_refusal(scan.rejected)
    await check(sorted(scan.namespaces, key=lambda n: n or "") or [namespace])
    report = ImportReport(format=source.format, read=len(scan.bad),
                          rejected=list(scan.rejected))
    report.read += len(source.rejected)
    done = len(scan.bad)
    batch: list[tuple[int, str]] = []
    if progress is not None:
        progress(done, scan.total)
    for number, text in source.open():
        if number in scan.bad or not isinstance(text, str) or not text.strip():
            continue
        batch.append((number, text))
        if len(batch) >= batch_lines:
            report.add(await write(batch))
            done += len(batch)
            batch = []
            if progress is not None:
                progress(done, scan.total)
    if batch:
        report.add(await write(batch))
        done += len(batch)
        if progress is not None:
            progress(done, scan.total)
    report.rejected.sort(key=lambda r: r.line)
    return report


ExportPage = Callable[[str | None], Awaitable[Sequence[MemoryView]]]


async def export_lines(page: ExportPage) -> AsyncIterator[str]:
    """Our export format, one memory a line (newline-terminated), read page by page
    through `page(after_id)` (the service's `export_memories`): the store is never held
    in memory whole."""
    after: str | None = None
    while items := await page(after):
        for view in items:
            bare = getattr(view, "embedding", False) is None  # no vector: no key
            yield view.model_dump_json(by_alias=True,
                                       exclude={"embedding"} if bare else None) + "\n"
        after = items[-1].id
