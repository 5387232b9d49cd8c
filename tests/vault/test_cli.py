"""`fleetmem vault ...` end to end on a data dir without an agents file."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fleetmem.cli.main import app


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_vault_commands_round_trip_an_edit(tmp_path: Path) -> None:
    data, vault = str(tmp_path / "data"), tmp_path / "vault"
    _cli("remember", "Payments are owned by team Atlas", "--agent", "local",
         "--namespace", "global", "--data-dir", data)
    out = _cli("vault", "export", "--path", str(vault), "--agent", "local",
               "--data-dir", data)
    assert "written" in out
    day = next((vault / "global" / "Memories").glob("*.md"))
    assert "Payments are owned by team Atlas" in day.read_text()
    day.write_text(day.read_text() + "- Dana prefers tea over coffee\n")
    report = json.loads(_cli("vault", "sync", "--path", str(vault), "--agent", "local",
                             "--human", "dana", "--data-dir", data, "--json"))
    assert len(report["created"]) == 1 and report["human"] == "human:dana"
    hits = json.loads(_cli("recall", "what does Dana like to drink", "--agent", "local",
                           "--data-dir", data, "--json"))["hits"]
    top = hits[0]["memory"]
    assert top["text"] == "Dana prefers tea over coffee"
    assert top["attribution"]["created_by"] == "human:dana"
    again = json.loads(_cli("vault", "sync", "--path", str(vault), "--agent", "local",
                            "--human", "dana", "--data-dir", data, "--json"))
    assert not (again["created"] or again["written"] or again["errors"])
