"""Bulk import and export through the service (issue 19, deliverable 4), on real stores:
export -> import into an empty data folder reproduces every memory field by field; the
reference server's memory.jsonl and a mem0 export import; malformed lines are reported
with their numbers (or abort with strict, nothing written); a namespace the caller may not
write is refused before anything is written; a re-run skips what is in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.errors import Forbidden, InvalidInput
from fleetmem.memory.ports import Embedder
from fleetmem.memory.services import (
    Caller,
    ImportReport,
    MemoryInput,
    MemoryService,
    MemoryView,
    RecallQuery,
    export_lines,
    file_source,
    run_import,
)
from fleetmem.memory.settings import Settings
from tests.conftest import AGENTS, ManualClock, ServiceFactory

ALICE = Caller("alice", on_behalf_of="human:dana", workflow_id="wf-7")


async def export_all(service: MemoryService, caller: Caller,
                     namespaces: list[str] | None = None) -> list[str]:
    async def page(after: str | None) -> list[MemoryView]:
        return await service.export_memories(caller, namespaces, after, 3)  # small pages

    return [line async for line in export_lines(page)]


async def import_file(service: MemoryService, caller: Caller, path: Path, *,
                      fmt: str = "auto", namespace: str | None = None,
                      strict: bool = False) -> ImportReport:
    async def check(namespaces: list[str | None]) -> list[str]:
        return await service.import_check(caller, namespaces)

    async def write(lines: list[tuple[int, str]]) -> ImportReport:
        return await service.import_lines(caller, lines, file_source(path, fmt).format,
                                          namespace, strict)

    return await run_import(file_source(path, fmt), namespace=namespace, strict=strict,
                            check=check, write=write, batch_lines=4)


async def _fill(service: MemoryService, clock: ManualClock) -> None:
    await service.remember_batch(ALICE, [
        MemoryInput(text=f"Service {i} runs on port {8000 + i}", tags=["ops", f"s{i}"],
                    importance=0.1 * i, kind="fact" if i % 2 else "procedure",
                    metadata={"n": i, "src": "runbook"} if i % 3 else {})
        for i in range(7)])
    clock.advance(hours=1)
    team = await service.remember(ALICE, MemoryInput(
        text="Atlas deploys on Tuesdays", namespace="team:atlas", pinned=True,
        metadata={"ticket": "OPS-1", "refs": [{"kind": "doc", "id": 7}]}))
    clock.advance(hours=1)
    fixed = await service.correct(ALICE, team.id, "Atlas deploys on Wednesdays",
                                  reason="moved")
    assert fixed.metadata["ticket"] == "OPS-1"  # a correction keeps the metadata
    forgotten = await service.remember(Caller("bob"), MemoryInput(
        text="Bob's scratch note", namespace="team:atlas"))
    await service.forget(Caller("bob"), forgotten.id)


async def test_export_then_import_into_an_empty_folder_is_lossless(
        make_service: ServiceFactory, embedder: Embedder, tmp_path: Path) -> None:
    clock = ManualClock()
    source = await make_service(tmp_path / "a", clock=clock)
    await _fill(source, clock)
    lines = await export_all(source, Caller("alice"))
    assert len(lines) == 10  # 7 + the original + its correction + bob's archived note
    statuses = sorted(json.loads(x)["status"] for x in lines)
    assert statuses.count("superseded") == 1 and statuses.count("archived") == 1
    path = tmp_path / "export.jsonl"
    path.write_text("".join(lines))

    # alice (no operator) may import only what she wrote herself: bob's note is refused
    plain = await make_service(tmp_path / "c")
    report = await import_file(plain, Caller("alice"), path)
    assert report.imported == 9 and [r.line for r in report.rejected] == [
        1 + [json.loads(x)["attribution"]["created_by"] for x in lines].index("bob")]
    assert "attributed to 'bob'" in report.rejected[0].reason

    # as an operator she imports everything into an empty folder, attribution kept
    agents = tmp_path / "admin-agents.yaml"
    agents.write_text(yaml.safe_dump({**AGENTS, "agents": {
        **AGENTS["agents"], "alice": {**AGENTS["agents"]["alice"], "admin": True}}}))
    target = build_service(Settings(data_dir=tmp_path / "b", agents_file=agents),
                           embedder=embedder, clock=ManualClock())
    await target.start()
    try:
        report = await import_file(target, Caller("alice"), path)
        assert (report.imported, report.rejected) == (10, []), report
        await _compare(target, lines)
    finally:
        await target.close()


async def _compare(target: MemoryService, lines: list[str]) -> None:
    again = await export_all(target, Caller("alice"))
    before = {json.loads(x)["id"]: json.loads(x) for x in lines}
    after = {json.loads(x)["id"]: json.loads(x) for x in again}
    assert before.keys() == after.keys()
    for memory_id, want in before.items():
        got = after[memory_id]
        for key in want:  # every field: text, kind, tags, status, attribution, validity...
            assert got[key] == want[key], (memory_id, key, want[key], got[key])

    # the imported memories are recalled like any other
    hits = (await target.recall(Caller("alice"), RecallQuery(query="port of service 3"))).hits
    assert any("port 8003" in h.memory.text for h in hits)


async def test_resume_skips_what_is_in_and_malformed_lines_are_numbered(
        service: MemoryService, tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join([
        json.dumps({"text": "The build cache lives on s3://builds"}),
        "{not json",
        json.dumps({"text": "The on-call rota changes on Mondays", "tags": ["oncall"]}),
        "",
        json.dumps({"text": "x", "kind": "nonsense"}),
        json.dumps({"nope": 1}),
    ]) + "\n")
    first = await import_file(service, ALICE, path)
    assert first.imported == 2 and first.skipped == 0
    assert [r.line for r in first.rejected] == [2, 5, 6], first.rejected
    assert "not valid JSON" in first.rejected[0].reason
    assert "kind must be one of" in first.rejected[1].reason
    assert "text" in first.rejected[2].reason
    second = await import_file(service, ALICE, path)
    assert second.imported == 0 and second.skipped == 2
    stats = await service.stats(ALICE)
    mine = [n for n in stats.namespaces if n.namespace == "agent:alice"][0]
    assert mine.memories == {"active": 2}

    with pytest.raises(InvalidInput, match=r"line 2: not valid JSON.*--strict"):
        await import_file(service, Caller("carol"), path, strict=True)
    carol = [n for n in (await service.stats(Caller("carol"))).namespaces
             if n.namespace == "agent:carol"][0]
    assert carol.memories == {}  # nothing written


async def test_a_namespace_the_caller_may_not_write_is_refused_before_anything(
        service: MemoryService, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in [
        {"text": "first, to her own namespace"},
        {"text": "into another agent's namespace", "namespace": "agent:bob"},
    ]) + "\n")
    with pytest.raises(Forbidden, match="may not write namespace 'agent:bob'"):
        await import_file(service, ALICE, path)
    with pytest.raises(Forbidden, match="may not write namespace 'team:nosuch'"):
        await import_file(service, ALICE, path, namespace="team:nosuch")
    lines = await export_all(service, ALICE)
    assert lines == []
    # a reader may not import at all
    with pytest.raises(Forbidden, match="'import' refused"):
        await import_file(service, Caller("rita"), path, namespace="team:atlas")


async def test_reference_server_memory_jsonl(service: MemoryService, tmp_path: Path) -> None:
    path = tmp_path / "memory.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in [
        {"type": "entity", "name": "John_Smith", "entityType": "person",
         "observations": ["Speaks fluent Spanish", "Graduated in 2019"]},
        {"type": "entity", "name": "Anthropic", "entityType": "organization",
         "observations": []},
        {"type": "relation", "from": "John_Smith", "to": "Anthropic",
         "relationType": "works_at"},
        {"type": "relation", "from": "John_Smith", "to": "Nowhere_Inc",
         "relationType": "visited"},
        {"type": "thing"},
    ]) + "\n")
    report = await import_file(service, ALICE, path, namespace="team:atlas")
    assert report.format == "mcp-memory"
    assert (report.entities, report.relations, report.observations) == (2, 1, 2), report
    assert [r.line for r in report.rejected] == [4, 5]
    assert "Nowhere_Inc" in report.rejected[0].reason
    graph = await service.read_graph(ALICE, ["team:atlas"])
    john = [e for e in graph.entities if e.name == "John_Smith"][0]
    assert john.entityType == "person" and "Speaks fluent Spanish" in john.observations
    assert [(r.from_, r.relationType, r.to) for r in graph.relations] == [
        ("John_Smith", "works_at", "Anthropic")]
    hits = (await service.recall(ALICE, RecallQuery(query="who speaks Spanish?"))).hits
    assert any("Spanish" in h.memory.text for h in hits)  # observations became memories
    again = await import_file(service, ALICE, path, namespace="team:atlas")
    assert (again.imported, again.skipped) == (0, 3), again


async def test_mem0_export(service: MemoryService, tmp_path: Path) -> None:
    path = tmp_path / "mem0.json"
    path.write_text(json.dumps({"results": [
        {"id": "8b5e7b62-0d1f-4a39-9f0a-1b2c3d4e5f60", "memory": "Prefers dark mode",
         "hash": "abc", "metadata": {"source": "chat"}, "categories": ["preferences"],
         "created_at": "2025-03-01T10:00:00-08:00", "updated_at": None,
         "user_id": "dana"},
        {"id": "9c6f8c73-1e2a-4b4a-8a1b-2c3d4e5f6071", "memory": "Is allergic to peanuts",
         "metadata": None, "created_at": "2025-03-02T09:00:00Z", "user_id": "dana",
         "agent_id": "helper"},
        {"id": "bad", "memory": ""},
        {"id": "deep", "memory": "Too deep", "metadata": {"a": {"b": {"c": {"d": 1}}}}},
    ]}, indent=2))
    report = await import_file(service, ALICE, path)
    assert report.format == "mem0" and report.imported == 2, report
    assert [r.line for r in report.rejected] == [3, 4] and "empty" in report.rejected[0].reason
    assert "at most 3 levels" in report.rejected[1].reason
    items = [json.loads(x) for x in await export_all(service, ALICE)]
    dark = [m for m in items if m["text"] == "Prefers dark mode"][0]
    assert set(dark["tags"]) >= {"mem0", "user:dana", "preferences"}
    assert dark["metadata"] == {"source": "chat"}  # mem0's metadata is ours (issue 18)
    assert dark["attribution"]["created_by"] == "alice"  # the importer wrote it here
    assert dark["attribution"]["created_at"].startswith("2025-03-01T18:00:00")
    again = await import_file(service, ALICE, path)
    assert again.imported == 0 and again.skipped == 2
