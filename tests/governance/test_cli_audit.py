"""The CLI door: role allow/deny, `fleetmem audit verify|tail|query` (including a byte
changed in the SQLite file and a cut tail caught by the witness), `fleetmem conflicts
list|resolve`, usage in `fleetmem stats`."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetmem.cli.main import app
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.services.inputs import MemoryInput
from tests.conftest import ServiceFactory

MARKER = "rotation-marker-QXZ"


async def invoke(*args: str) -> tuple[int, str]:
    """Run the CLI in a thread (it runs its own event loop)."""
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args))
    return result.exit_code, result.output


def flat(output: str) -> str:
    """Rich wraps long lines; compare with white space folded."""
    return " ".join(output.split())


@pytest.fixture(autouse=True)
def _agents_env(agents_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETMEM_AGENTS_FILE", str(agents_file))


@pytest.fixture
async def data(make_service: ServiceFactory, tmp_path: Path) -> Path:
    """A data folder with a few audited writes (the service is closed afterwards)."""
    folder = tmp_path / "cli-data"
    service = await make_service(data_dir=folder)
    alice = Caller("alice", workflow_id="wf-cli")
    first = await service.remember(alice, MemoryInput(text="The staging cluster is in Oslo"))
    await service.remember(alice, MemoryInput(text="Atlas reviews happen on Mondays",
                                              namespace="team:atlas"))
    await service.correct(alice, first.id, "The staging cluster is in Bergen", reason=MARKER)
    await service.remember(alice, MemoryInput(text="Incident reviews are blameless"))
    await service.remember(alice, MemoryInput(text="The on-call rotation is weekly"))
    await service.close()
    return folder


async def test_roles_through_the_cli(data: Path) -> None:
    code, output = await invoke("remember", "rita writes here", "--agent", "rita",
                                "--namespace", "team:atlas", "--data-dir", str(data))
    assert code == 2
    assert "no role of this agent (reader) allows 'remember'" in flat(output)
    code, output = await invoke("recall", "Atlas reviews", "--agent", "rita", "--json",
                                "--data-dir", str(data))
    assert code == 0, output
    assert json.loads(output)["hits"][0]["memory"]["text"] == "Atlas reviews happen on Mondays"
    code, output = await invoke("audit", "query", "--agent", "rita", "--outcome", "denied",
                                "--json", "--data-dir", str(data))
    assert code == 0, output
    [denial] = json.loads(output)
    assert denial["operation"] == "remember" and denial["namespace"] == "team:atlas"
    assert "reader" in denial["detail"]


async def test_audit_verify_passes_then_names_the_entry_whose_byte_changed(data: Path) -> None:
    code, output = await invoke("audit", "verify", "--data-dir", str(data))
    assert code == 0, output
    assert "audit log intact" in output

    db = data / "graph.sqlite3"
    with sqlite3.connect(db) as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM audit ORDER BY seq")]
        (tampered,) = [r[0] for r in conn.execute("SELECT seq FROM audit WHERE detail = ?",
                                                  (MARKER,))]
    assert seqs[0] < tampered < seqs[-1]  # in the middle of the chain
    raw = db.read_bytes()
    assert raw.count(MARKER.encode()) == 1
    db.write_bytes(raw.replace(MARKER.encode(), MARKER.replace("Q", "O").encode()))

    code, output = await invoke("audit", "verify", "--data-dir", str(data))
    assert code == 1
    assert f"audit log broken at entry {tampered}" in flat(output)
    assert "changed after it was written" in flat(output)
    code, output = await invoke("audit", "verify", "--json", "--data-dir", str(data))
    assert code == 1
    report = json.loads(output)
    assert report["ok"] is False and report["first_bad"]["seq"] == tampered
    assert report["checked"] == seqs.index(tampered)


async def test_audit_verify_names_a_broken_link_after_a_deleted_entry(data: Path) -> None:
    with sqlite3.connect(data / "graph.sqlite3") as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM audit ORDER BY seq")]
        middle = seqs[len(seqs) // 2]
        conn.execute("DELETE FROM audit WHERE seq = ?", (middle,))
    code, output = await invoke("audit", "verify", "--json", "--data-dir", str(data))
    assert code == 1
    report = json.loads(output)
    assert report["first_bad"]["seq"] == seqs[seqs.index(middle) + 1]
    assert "does not link" in report["reason"]


async def test_audit_verify_json_names_a_cut_tail(data: Path) -> None:
    code, output = await invoke("audit", "verify", "--json", "--data-dir", str(data))
    assert code == 0, output
    intact = json.loads(output)
    top = intact["head_seq"]
    assert intact["ok"] and intact["problems"] == [] and intact["checked"] == top
    assert intact["witness"]["seq"] == top and intact["witness"]["hash"] == intact["head_hash"]
    with sqlite3.connect(data / "graph.sqlite3") as conn:
        conn.execute("DELETE FROM audit WHERE seq > ?", (top - 3,))

    code, output = await invoke("audit", "verify", "--json", "--data-dir", str(data))
    assert code == 1
    report = json.loads(output)
    assert report["ok"] is False and report["first_bad"] is None
    assert report["head_seq"] == top - 3 and report["first_bad_seq"] == top - 2
    assert report["witness"]["seq"] == top
    [problem] = report["problems"]
    assert problem.endswith(f"entries {top - 2}-{top} were removed"), problem
    code, output = await invoke("audit", "verify", "--data-dir", str(data))
    assert code == 1
    assert f"the audit log ends at seq {top - 3} but the witness anchored seq {top}" in flat(
        output)


async def test_audit_tail_and_query_filters(data: Path) -> None:
    code, output = await invoke("audit", "tail", "-n", "2", "--json", "--data-dir", str(data))
    assert code == 0, output
    tail = json.loads(output)
    assert len(tail) == 2 and tail[0]["seq"] < tail[1]["seq"]
    code, output = await invoke("audit", "query", "--workflow", "wf-cli", "--json",
                                "--data-dir", str(data))
    events = json.loads(output)
    assert {e["workflow_id"] for e in events} == {"wf-cli"}
    # the five writes, the entity "Oslo" the first text named and "Bergen" its correction
    # named (issue 18: a correction links its text's names like a write; "Mondays" is a
    # date, not a name)
    named = [e for e in events if e["operation"] == "create_entities"]
    assert len(events) - len(named) == 5 and len(named) == 2
    assert {e["detail"] for e in named} == {"from memory text"}
    corrected = next(e for e in events if e["operation"] == "correct")
    old_id = corrected["target_ids"][0]
    code, output = await invoke("audit", "query", "--memory-id", old_id, "--json",
                                "--data-dir", str(data))
    assert [e["operation"] for e in json.loads(output)] == ["remember", "correct"]
    code, output = await invoke("audit", "query", "--as", "bob", "--json",
                                "--data-dir", str(data))
    visible = json.loads(output)  # bob sees team:atlas, not alice's private namespace
    assert visible and {e["namespace"] for e in visible} == {"team:atlas"}
    code, output = await invoke("audit", "tail", "--data-dir", str(data))
    assert code == 0 and "wf-cli" in output.replace("\n", "")


async def test_conflicts_through_the_cli(make_service: ServiceFactory, tmp_path: Path) -> None:
    folder = tmp_path / "conflict-data"
    service = await make_service(data_dir=folder)
    alice, bob = Caller("alice"), Caller("bob")
    await service.create_entities(alice, [EntitySpec("Atlas", "team"), EntitySpec("Dana", "p"),
                                          EntitySpec("Erin", "p")], "team:atlas")
    await service.create_relations(alice, [RelationSpec("Atlas", "Dana", "led_by")],
                                   "team:atlas", one_valued=True)
    await service.create_relations(bob, [RelationSpec("Atlas", "Erin", "led_by")],
                                   "team:atlas", one_valued=True)
    await service.close()

    code, output = await invoke("conflicts", "list", "--agent", "bob", "--json",
                                "--data-dir", str(folder))
    assert code == 0, output
    [conflict] = json.loads(output)
    code, output = await invoke("conflicts", "resolve", conflict["id"], "--keep", "a",
                                "--note", "Dana still leads", "--agent", "human:dana",
                                "--data-dir", str(folder))
    assert code == 0, output
    code, output = await invoke("conflicts", "list", "--agent", "bob", "--status", "all",
                                "--json", "--data-dir", str(folder))
    [done] = json.loads(output)
    assert done["status"] == "resolved"
    assert done["resolution"]["resolved_by"] == "human:dana"
    assert done["resolution"]["keep"] == "a" and done["resolution"]["note"] == "Dana still leads"
    code, output = await invoke("conflicts", "resolve", conflict["id"], "--keep", "b",
                                "--agent", "alice", "--data-dir", str(folder))
    assert code == 2 and "already resolved" in flat(output)


async def test_stats_shows_usage(data: Path) -> None:
    code, output = await invoke("stats", "--agent", "alice", "--json", "--data-dir", str(data))
    assert code == 0, output
    [usage] = json.loads(output)["usage"]
    assert usage["agent_id"] == "alice"
    assert usage["stored_memories"] == 5  # four active and one superseded version
    texts = ["The staging cluster is in Oslo", "Atlas reviews happen on Mondays",
             "The staging cluster is in Bergen", "Incident reviews are blameless",
             "The on-call rotation is weekly"]
    assert usage["stored_bytes"] == sum(len(t.encode()) for t in texts)


async def test_audit_verify_names_an_entry_that_no_longer_parses(data: Path) -> None:
    with sqlite3.connect(data / "graph.sqlite3") as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM audit ORDER BY seq")]
        middle = seqs[len(seqs) // 2]
        conn.execute("UPDATE audit SET target_ids = '[\"broken' WHERE seq = ?", (middle,))
    code, output = await invoke("audit", "verify", "--json", "--data-dir", str(data))
    assert code == 1
    assert json.loads(output)["first_bad"]["seq"] == middle
