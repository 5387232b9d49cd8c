"""`fleetmem import PATH` and `fleetmem export`: bulk copies of memories in and out.

Both run on the service of the data folder (`common.invoke_many`): over the local socket of
the `fleetmem serve` that owns it, one call per batch of lines (import) or page of memories
(export), or on stores opened here once for the whole command. The service does the work
(`MemoryService.import_lines`, `export_memories`); this door reads the file, streams the
lines, draws a progress bar on a terminal and prints the summary.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import typer

from fleetmem.api.local_ops import EXPORT_PAGE, IMPORT_CHECK, IMPORT_LINES
from fleetmem.cli.common import (
    AgentOption,
    Call,
    DataDirOption,
    JsonOption,
    emit_json,
    err,
    exit_on_error,
    invoke_many,
    load_settings,
    out,
)
from fleetmem.cli.progress import bar
from fleetmem.memory.services import (
    FORMATS,
    ExportedMemory,
    ImportReport,
    ImportSource,
    export_lines,
    file_source,
    run_import,
)

_PAGE = 500
_SHOWN_REJECTED = 20


def _source(path: Path, fmt: str, max_note_bytes: int) -> ImportSource:
    if fmt == "markdown" or (fmt == "auto" and path.is_dir()):
        from fleetmem.vault.notes_import import markdown_source

        return markdown_source(path, max_note_bytes)
    return file_source(path, fmt)


def summary_lines(report: ImportReport) -> list[str]:
    """The human summary: counts, then the rejected records with their line numbers."""
    parts = [f"read {report.read}", f"imported {report.imported}",
             f"skipped (already present) {report.skipped}",
             f"rejected {len(report.rejected)}"]
    if report.mapped:
        parts.append(f"ids mapped {report.mapped}")
    if report.redactions:
        parts.append(f"secrets redacted {report.redactions}")
    if report.entities or report.relations or report.observations:
        parts.append(f"entities {report.entities}, relations {report.relations}, "
                     f"observations {report.observations}")
    lines = [f"{report.format}: " + "; ".join(parts)]
    unit = "note" if report.format == "markdown" else (
        "item" if report.format == "mem0" else "line")
    for r in report.rejected[:_SHOWN_REJECTED]:
        lines.append(f"  {unit} {r.line}: {r.reason}")
    if len(report.rejected) > _SHOWN_REJECTED:
        lines.append(f"  ... and {len(report.rejected) - _SHOWN_REJECTED} more (--json "
                     "lists them all)")
    return lines


def import_(path: Path = typer.Argument(..., help="A JSON Lines file, a mem0 JSON export, "
                                        "or a folder of Markdown notes."),
            fmt: str = typer.Option("auto", "--format", "-f", help="auto, " + ", ".join(
                FORMATS) + " (auto: a folder is markdown, else the first record decides)."),
            namespace: str | None = typer.Option(
                None, "--namespace", "-n", help="Put every record into this namespace "
                "(default: the namespace each record names, else your private one)."),
            strict: bool = typer.Option(False, "--strict", help="Refuse the whole import "
                                        "when a line is malformed (default: report and "
                                        "skip it)."),
            agent: str = AgentOption, data_dir: Path | None = DataDirOption,
            as_json: bool = JsonOption) -> None:
    """Import memories: our export, the reference MCP memory server's memory.jsonl, a mem0
    export, or Markdown notes. Re-running skips what is already in. Exits 1 when a record
    was rejected (the others are in), 2 when the import was refused."""
    settings = load_settings(data_dir)
    source = exit_on_error(lambda: _source(path, fmt, settings.vault.max_note_bytes))

    async def body(call: Call) -> ImportReport:
        with bar(f"importing {path.name}") as update:

            def progress(done: int, total: int) -> None:
                update("records", done, total)

            async def check(namespaces: list[str | None]) -> list[str]:
                result: list[str] = await call(IMPORT_CHECK, {
                    "agent": agent, "namespaces": namespaces})
                return result

            async def write(lines: list[tuple[int, str]]) -> ImportReport:
                result: ImportReport = await call(IMPORT_LINES, {
                    "agent": agent, "lines": lines, "record_format": source.format,
                    "namespace": namespace, "strict": strict})
                return result

            return await run_import(source, namespace=namespace, strict=strict, check=check,
                                    write=write, progress=progress)

    report = invoke_many(settings, body, embeds=True)
    report.format = source.format
    if as_json:
        emit_json(report)
    else:
        for line in summary_lines(report):
            out.print(line, soft_wrap=True, highlight=False, markup=False)
    if report.rejected:
        raise typer.Exit(1)


def export(namespace: list[str] = typer.Option(
               [], "--namespace", "-n", help="Only this namespace (repeat for several; "
               "default: every namespace you may read)."),
           output: Path | None = typer.Option(None, "--output", "-o",
                                              help="Write to this file (default: stdout)."),
           with_vectors: bool = typer.Option(
               False, "--with-vectors", help="Add each memory's vector and model name "
               "(`embedding`): an import into a store of the same model writes them "
               "without encoding (a fast migration; ~4 KB more a line)."),
           agent: str = AgentOption, data_dir: Path | None = DataDirOption) -> None:
    """Export memories as JSON Lines (every status, with attribution, times and validity):
    the format `fleetmem import` reads back."""
    settings = load_settings(data_dir)

    async def body(call: Call) -> int:
        async def page(after: str | None) -> list[ExportedMemory]:
            result: list[ExportedMemory] = await call(EXPORT_PAGE, {
                "agent": agent, "namespaces": namespace or None, "after_id": after,
                "limit": _PAGE, "with_vectors": with_vectors})
            return result

        written = 0
        with _target(output) as sink, bar("exporting") as update:
            async for line in export_lines(page):
                sink.write(line)
                written += 1
                if written % _PAGE == 0:
                    update("memories", written, None)
            update("memories", written, None)
        return written

    written = invoke_many(settings, body)
    if output is not None:
        err.print(f"exported {written} memories to {output}", soft_wrap=True,
                  highlight=False, markup=False)


@contextlib.contextmanager
def _target(output: Path | None) -> Iterator[TextIO]:
    if output is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    partial = output.with_name(output.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as handle:
            yield handle
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(output)  # a failed export leaves no truncated file under the name


def register(cli: typer.Typer) -> None:
    """Add `import` and `export` to the `fleetmem` command."""
    cli.command("import")(import_)
    cli.command("export")(export)
