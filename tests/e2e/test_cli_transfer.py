"""`fleetmem import` and `fleetmem export` as a user runs them (issue 19, deliverable 4):
with no service running (the CLI opens the stores) and beside a running `fleetmem serve`
(batches over its local socket); export -> import into an empty folder reproduces every
memory; Markdown notes, a malformed line, --strict and a forbidden namespace. Real
processes, real stores."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
from pathlib import Path

from tests.e2e.test_cli_beside_serve import cli
from tests.reliability.serve import FLEETMEM, serving


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
    with_vectors = tmp_path / "vectors.jsonl"  # a migration: imported without encoding
    run("export", "--with-vectors", "-o", str(with_vectors))
    records = _records(with_vectors.read_text())
    assert all(len(r["embedding"]["vector"]) == 384 for r in records.values())  # type: ignore[index, arg-type]
    moved = cli(tmp_path / "c")
    assert "imported 2" in moved("import", str(with_vectors)).stdout
    assert _records(moved("export").stdout) == _records(exported)

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


def test_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    path = tmp_path / "few.jsonl"
    path.write_text("".join(json.dumps({"text": f"Progress fact {i}"}) + "\n"
                            for i in range(5)))
    quiet = cli(tmp_path / "a")("import", str(path))
    assert "importing" not in quiet.stderr and "5/5" not in quiet.stderr  # a pipe: no bar
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FLEETMEM_") or k.startswith("FLEETMEM_TEST_")}
    env.update({"FLEETMEM_DATA_DIR": str(tmp_path / "b"), "HF_HUB_OFFLINE": "1",
                "TERM": "xterm-256color", "COLUMNS": "100"})
    env.pop("NO_COLOR", None)
    master, slave = pty.openpty()
    seen = b""
    try:  # read the terminal while the command runs (a full pty would block it)
        with subprocess.Popen([FLEETMEM, "import", str(path)], env=env,
                              stdout=subprocess.PIPE, stderr=slave, text=True) as done:
            os.close(slave)
            while True:
                if select.select([master], [], [], 0.2)[0]:
                    try:
                        chunk = os.read(master, 65536)
                    except OSError:  # the command closed its end
                        chunk = b""
                    seen += chunk
                    if chunk:
                        continue
                if done.poll() is not None:
                    break
            stdout = done.stdout.read() if done.stdout is not None else ""
    finally:
        os.close(master)
    assert done.returncode == 0, seen.decode(errors="replace")
    shown = seen.decode(errors="replace")
    assert "importing few.jsonl" in shown and "5/5" in shown, shown
    assert "imported 5" in stdout
