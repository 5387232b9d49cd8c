"""Import's reading rules (pure, no store): bounded lines, format detection, the line
formats, stable ids, and the scan that refuses a strict import before anything is
written (issue 19, deliverable 4)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.services import (
    ImportReport,
    LineError,
    derived_id,
    file_source,
    read_lines,
    run_import,
)
from fleetmem.memory.services.transfer.records import (
    MAX_LINE_BYTES,
    EntityRecord,
    MemoryRecord,
    RelationRecord,
    parse_line,
)


def test_an_oversized_line_is_refused_without_losing_the_next(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    with path.open("wb") as f:
        f.write(b'{"text": "first"}\n')
        f.write(b'{"text": "' + b"x" * (MAX_LINE_BYTES * 3) + b'"}\n')
        f.write(b"\xff\xfe not utf-8\n")
        f.write(b'{"text": "last"}')  # no final newline
    lines = list(read_lines(path))
    assert [n for n, _ in lines] == [1, 2, 3, 4]
    assert lines[0][1] == '{"text": "first"}' and lines[3][1] == '{"text": "last"}'
    assert isinstance(lines[1][1], LineError) and "longer than" in lines[1][1].message
    assert isinstance(lines[2][1], LineError) and "UTF-8" in lines[2][1].message


def test_formats_are_detected_from_the_first_record(tmp_path: Path) -> None:
    cases = {
        "ours.jsonl": '{"id": "x", "text": "a", "kind": "fact"}\n',
        "graph.jsonl": '{"type": "entity", "name": "A", "entityType": "t"}\n',
        "mem0.jsonl": '{"id": "m1", "memory": "likes tea", "user_id": "u"}\n',
        "mem0.json": json.dumps({"results": [{"id": "m1", "memory": "likes tea"}]},
                                indent=2),
        "list.json": json.dumps([{"id": "m1", "memory": "likes tea"}]),
        "empty.jsonl": "\n\n",
    }
    found = {}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        found[name] = file_source(tmp_path / name).format
    assert found == {"ours.jsonl": "fleetmem", "graph.jsonl": "mcp-memory",
                     "mem0.jsonl": "mem0", "mem0.json": "mem0", "list.json": "mem0",
                     "empty.jsonl": "fleetmem"}
    with pytest.raises(InvalidInput, match="is not a file"):
        file_source(tmp_path)
    with pytest.raises(InvalidInput, match="format must be one of"):
        file_source(tmp_path / "ours.jsonl", "csv")


def test_line_formats_and_their_errors() -> None:
    record = parse_line("fleetmem", 1, '{"text": "t", "valid_from": "2025-01-01T00:00:00"}')
    assert isinstance(record, MemoryRecord) and record.native
    assert record.data.valid_from is not None and record.data.valid_from.tzinfo is not None
    assert isinstance(parse_line("mcp-memory", 2, json.dumps(
        {"type": "entity", "name": "A", "entityType": "t", "observations": ["o"]})),
        EntityRecord)
    assert isinstance(parse_line("mcp-memory", 3, json.dumps(
        {"type": "relation", "from": "A", "to": "B", "relationType": "r"})), RelationRecord)
    mem0 = parse_line("mem0", 4, json.dumps({"id": "m1", "memory": "likes tea",
                                             "agent_id": "bot", "metadata": {"n": 1}}))
    assert isinstance(mem0, MemoryRecord) and not mem0.native and mem0.key == "mem0:m1"
    assert mem0.data.tags == ["mem0", "agent:bot"]
    assert mem0.data.metadata == {"n": 1}  # mem0's metadata is ours (issue 18)
    for fmt, text, message in [
            ("fleetmem", "[1, 2]", "one JSON object"),
            ("fleetmem", '{"text": 5}', "text: Input should be a valid string"),
            ("fleetmem", '{"text": "t", "namespace": "nope"}', "namespace must look like"),
            ("mcp-memory", '{"type": "entity", "name": "A"}', "needs 'name' and 'entityType'"),
            ("mcp-memory", '{"type": "relation", "from": "A"}', "needs 'from', 'to'"),
            ("mem0", '{"id": "m"}', "memory: Field required")]:
        with pytest.raises(LineError, match=message):
            parse_line(fmt, 9, text)


def test_derived_ids_are_stable_and_distinct() -> None:
    assert derived_id("mem0", "agent:a", "m1") == derived_id("mem0", "agent:a", "m1")
    assert derived_id("mem0", "agent:a", "m1") != derived_id("mem0", "agent:b", "m1")


def test_strict_refuses_before_any_call_and_namespaces_are_checked_first(
        tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text('{"text": "a"}\n{"text": "b", "namespace": "team:x"}\n{bad\n')
    calls: list[str] = []

    async def check(namespaces: list[str | None]) -> None:
        calls.append(f"check {namespaces}")

    async def write(lines: list[tuple[int, str]]) -> ImportReport:
        calls.append(f"write {[n for n, _ in lines]}")
        return ImportReport(read=len(lines), imported=len(lines))

    with pytest.raises(InvalidInput, match="line 3: not valid JSON"):
        asyncio.run(run_import(file_source(path), namespace=None, strict=True, check=check,
                               write=write))
    assert calls == []
    report = asyncio.run(run_import(file_source(path), namespace=None, strict=False,
                                    check=check, write=write, batch_lines=1))
    assert calls == ["check [None, 'team:x']", "write [1]", "write [2]"]
    assert (report.read, report.imported, [r.line for r in report.rejected]) == (3, 2, [3])
