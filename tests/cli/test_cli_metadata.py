"""`fleetmem remember --meta`, `recall --where` and `list --where` (issue 18), end to end in
a subprocess on real stores (run with this interpreter, so it runs this tree's code)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_MAIN = "from fleetmem.cli.main import main; main()"


def _run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLEETMEM_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    env.pop("FLEETMEM_AGENTS_FILE", None)
    return subprocess.run([sys.executable, "-c", _MAIN, *args], env=env, capture_output=True,
                          text=True, timeout=180)


def test_meta_and_where(tmp_path: Path) -> None:
    r = _run(tmp_path, "remember", "The staging database is pg-stage-2", "--agent", "alice",
             "--meta", "source_id=T-42", "--meta", "attempt=2", "--meta", "ok=true", "--json")
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)["id"]
    r = _run(tmp_path, "remember", "The staging cache is redis-stage-1", "--agent", "alice",
             "--meta", 'source_id="43"', "--json")
    assert r.returncode == 0, r.stderr

    r = _run(tmp_path, "recall", "staging", "--agent", "alice", "--where", "attempt=2",
             "--where", "ok=true", "--json")
    hits = json.loads(r.stdout)["hits"]
    assert [h["memory"]["id"] for h in hits] == [first]
    assert hits[0]["memory"]["metadata"] == {"source_id": "T-42", "attempt": 2, "ok": True}

    r = _run(tmp_path, "list", "--agent", "alice", "--where", 'source_id="43"', "--json")
    assert [m["text"] for m in json.loads(r.stdout)] == ["The staging cache is redis-stage-1"]
    r = _run(tmp_path, "list", "--agent", "alice")
    assert r.returncode == 0 and '"source_id": "T-42"' in r.stdout

    r = _run(tmp_path, "recall", "staging", "--agent", "alice", "--where", "bad-key=1")
    assert r.returncode == 2 and "letters, digits or underscores" in r.stderr
    r = _run(tmp_path, "remember", "x", "--agent", "alice", "--meta", "novalue")
    assert r.returncode == 2 and "key=value" in r.stderr
    r = _run(tmp_path, "list", "--agent", "alice", "--json")
    assert len(json.loads(r.stdout)) == 2
