"""`fleetmem import` and `fleetmem export` as a user runs them (issue 19, deliverable 4):
with no service running (the CLI opens the stores) and beside a running `fleetmem serve`
(batches over its local socket); export -> import into an empty folder reproduces every
memory; Markdown notes, a malformed line, --strict and a forbidden namespace. Real
processes, real stores."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli_beside_serve import cli
from tests.reliability.serve import serving


def _records(text: str) -> dict[str, dict[str, object]]:
    return {json.loads(x)["id"]: json.loads(x) for x in text.splitlines() if x.strip()}


def _notes(folder: Path) -> None:
    (folder / "ops").mkdir(parents=True)
    (folder / "ops" / "deploys.md").write_text(
        "---\ntitle: Deploys\ntags: [ops, '#release']\nkind: procedure\nimportance: 0.8\n"
        "created: 2025-05-01\n---\nDeploys are frozen on Fridays.\n")
    (folder / "empty.md").write_text("---\ntags: [x]\n---\n\n")
    (folder / "bomb.md").write_text("---\na: &x [1]\nb: *x\n---\nbody\n")
    (folder / "readme.txt").write_text("not a note")


def test_import_export_without_a_service(tmp_path: Path) -> None:
    run = cli(tmp_path / "a")
    run("remember", "The build cache lives on s3://builds", "--tag", "ops")
    run("remember", "Staging is pg-stage-2", "--agent", "alice", "-n", "global")
    exported = run("export").stdout
    assert len(_records(exported)) == 2
    path = tmp_path / "all.jsonl"
    run("export", "-o", str(path))
    assert path.read_text() == exported and not (tmp_path / "all.jsonl.partial").exists()

    target = cli(tmp_path / "b")
    first = target("import", str(path)).stdout
    assert "imported 2" in first and "rejected 0" in first, first
    assert _records(target("export").stdout) == _records(exported)  # field by field
    second = json.loads(target("import", str(path), "--json").stdout)
    assert (second["imported"], second["skipped"]) == (0, 2)

    # Markdown notes: one memory a note; bad notes named with their path
    notes = tmp_path / "notes"
    _notes(notes)
    done = target("import", str(notes), ok=False)
    assert done.returncode == 1, done.stderr  # some notes were rejected, the rest went in
    assert "markdown: read 3; imported 1" in done.stdout, done.stdout
    assert "bomb.md: the properties (frontmatter)" in done.stdout
    assert "empty.md: the note has no text" in done.stdout
    deploy = [m for m in _records(target("export").stdout).values()
              if "Fridays" in str(m["text"])][0]
    assert deploy["kind"] == "procedure" and deploy["tags"] == ["ops", "release"]
    assert str(deploy["valid_from"]).startswith("2025-05-01")

    # a malformed line is numbered; --strict refuses it all; a forbidden namespace too
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "one more fact"}) + "\n{oops\n")
    strict = target("import", str(bad), "--strict", ok=False)
    assert strict.returncode == 2 and "line 2: not valid JSON" in strict.stderr
    refused = target("import", str(bad), "-n", "agent:bob", ok=False)
    assert refused.returncode == 2
    assert "may not write namespace 'agent:bob'" in refused.stderr
    assert "one more fact" not in target("export").stdout  # nothing written by either
    loose = target("import", str(bad), ok=False)
    assert loose.returncode == 1 and "line 2: not valid JSON" in loose.stdout
    assert "one more fact" in target("export").stdout


def test_import_export_beside_a_running_serve(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run = cli(data)
    source = tmp_path / "memory.jsonl"
    source.write_text("\n".join(json.dumps(x) for x in [
        {"type": "entity", "name": "Payments", "entityType": "service",
         "observations": ["Runs on port 8443"]},
        {"type": "entity", "name": "Ledger", "entityType": "service", "observations": []},
        {"type": "relation", "from": "Payments", "to": "Ledger", "relationType": "calls"},
    ]) + "\n")
    mine = tmp_path / "mine.jsonl"
    mine.write_text("".join(json.dumps({"text": f"Fact number {i} about the fleet"}) + "\n"
                            for i in range(300)))  # more than one batch
    with serving(data, tmp_path / "serve.log") as serve:
        graph = json.loads(run("import", str(source), "--json").stdout)
        assert graph["format"] == "mcp-memory"
        assert (graph["entities"], graph["relations"], graph["observations"]) == (2, 1, 1)
        bulk = json.loads(run("import", str(mine), "--json").stdout)
        assert bulk["imported"] == 300 and bulk["read"] == 300
        exported = run("export").stdout
        # 300 facts + the memories mirroring the observation and the relation
        assert len(exported.splitlines()) == 302
        assert serve.proc is not None and serve.proc.poll() is None
        live = json.loads(run("import", str(mine), "--json").stdout)
        assert live["skipped"] == 300
    # the same folder with no service: the same answers
    again = json.loads(run("import", str(mine), "--json").stdout)
    assert again["skipped"] == 300
    assert _records(run("export").stdout) == _records(exported)
