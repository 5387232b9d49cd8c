"""Hostile files in the vault (issue 21): each case reproduced on real files against a real
service; the sync skips or refuses what is hostile, writes nothing outside the vault and
loses nothing stored."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fleetmem.memory.errors import InvalidInput
from fleetmem.vault.markdown import parse_entity, split_frontmatter
from fleetmem.vault.sync import run
from tests.vault.conftest import ALICE, TEAM, Vault

ALICE_NOTE = "team atlas/Alice.md"
DEEP = "---\ntype: " + "[" * 3000 + "]" * 3000 + "\n---\n# Deep\n"
BOMB = ("---\n" + 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},"
                  f"*{chr(97 + i)},*{chr(97 + i)}]\n" for i in range(5))
        + "type: *f\n---\n# Bomb\n")


def _outside(tmp_path: Path) -> dict[str, bytes]:
    """Every file under tmp_path outside the vault and the service's data."""
    return {str(p.relative_to(tmp_path)): p.read_bytes() for p in sorted(tmp_path.rglob("*"))
            if p.is_file() and not {"vault", "data"} & set(p.relative_to(tmp_path).parts)}


def _state(vault: Vault) -> dict[str, object]:
    data: dict[str, object] = json.loads((vault.root / ".fleetmem" / "state.json").read_text())
    return data


def _save_state(vault: Vault, data: dict[str, object]) -> None:
    (vault.root / ".fleetmem" / "state.json").write_text(json.dumps(data))


def test_deep_brackets_and_alias_bombs_are_refused_quickly() -> None:
    for text, why in ((DEEP, "deep"), (BOMB, "alias")):
        with pytest.raises(InvalidInput) as caught:
            parse_entity(text)
        assert caught.value.field == "frontmatter", why
    with pytest.raises(InvalidInput, match="anchors"):
        split_frontmatter("---\nx: &a 1\ny: *a\n---\n")
    with pytest.raises(InvalidInput, match="aliases"):
        split_frontmatter("---\ny: *a\n---\n")
    with pytest.raises(InvalidInput, match="larger than"):
        split_frontmatter("---\nx: " + "y" * 70_000 + "\n---\n")
    assert split_frontmatter("---\ntype: [[a, [b]]]\n---\nbody")[0] == {"type": [["a", ["b"]]]}


async def test_hostile_notes_are_skipped_and_the_rest_syncs(team_vault: Vault) -> None:
    v = team_vault
    v.write("team atlas/Deep.md", DEEP)
    v.write("team atlas/Bomb.md", BOMB)
    (v.root / "team atlas" / "evil.md").mkdir()
    os.mkfifo(v.root / "team atlas" / "pipe.md")
    v.write("team atlas/Big.md", "- x\n" * 400_000)
    v.write(ALICE_NOTE, v.read(ALICE_NOTE).replace("## Relations", "- plays chess\n\n"
                                                   "## Relations"))
    report = await run(v.service, v.cfg, "sync", v.root)
    assert sorted(e.split(":")[0] for e in report.errors) == ["team atlas/Bomb.md",
                                                              "team atlas/Deep.md"]
    assert sorted(s.split(":")[0] for s in report.skipped) == ["team atlas/Big.md",
                                                               "team atlas/pipe.md"]
    assert "plays chess" in str(await v.entity("Alice"))
    for name in ("Deep", "Bomb", "Big", "pipe"):
        assert await v.entity(name) is None
    assert (v.root / "team atlas" / "pipe.md").exists()  # skipped, never replaced


async def test_a_skipped_note_is_not_taken_as_deleted(team_vault: Vault) -> None:
    v = team_vault
    note = v.note("team atlas/Bob.md")
    note.unlink()
    os.mkfifo(note)
    report = await run(v.service, v.cfg, "sync", v.root)
    assert report.skipped and not report.deleted
    assert await v.entity("Bob") is not None


async def test_crafted_state_path_writes_nothing_outside_and_deletes_nothing(
        team_vault: Vault, tmp_path: Path) -> None:
    v = team_vault
    before = _outside(tmp_path)
    state = _state(v)
    notes = state["notes"]
    assert isinstance(notes, dict)
    alice = dict(notes[ALICE_NOTE])
    for rel in ("../../../../outside/escaped.md", "/tmp/abs.md", "team atlas/../x.md"):
        notes[rel] = alice
    _save_state(v, state)
    report = await v.run()
    assert not (tmp_path / "outside").exists()
    assert _outside(tmp_path) == before
    assert await v.entity("Alice") is not None
    assert sum("dropped the entry" in w for w in report.warnings) == 3
    assert ALICE_NOTE in _state(v)["notes"]  # type: ignore[operator]


async def test_malformed_state_entries_are_dropped_not_fatal(team_vault: Vault) -> None:
    v = team_vault
    state = _state(v)
    notes = state["notes"]
    assert isinstance(notes, dict)
    notes["team atlas/Bob.md"] = [1, 2]
    notes["team atlas/Acme.md"] = {**notes["team atlas/Acme.md"], "memories": 5}
    notes["team atlas/Carol.md"] = {"kind": "entity"}
    _save_state(v, state)
    report = await v.run()
    assert sum("dropped the entry" in w for w in report.warnings) == 3
    assert await v.entity("Bob") is not None and await v.entity("Acme") is not None
    assert await v.entity("Carol") is None
    assert "team atlas/Bob.md" in _state(v)["notes"]  # type: ignore[operator]


async def test_symlinked_trash_is_refused(team_vault: Vault, tmp_path: Path) -> None:
    v = team_vault
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (v.root / ".fleetmem" / "trash").symlink_to(elsewhere, target_is_directory=True)
    await v.service.delete_entities(ALICE, ["Bob"], TEAM)
    with pytest.raises(InvalidInput) as caught:
        await run(v.service, v.cfg, "sync", v.root)
    assert caught.value.rule == "symlink" and "trash" in caught.value.message
    assert not any(elsewhere.rglob("*"))
    assert v.note("team atlas/Bob.md").exists()


async def test_symlinked_state_file_is_refused(team_vault: Vault, tmp_path: Path) -> None:
    v = team_vault
    outside = tmp_path / "state-elsewhere.json"
    state_file = v.root / ".fleetmem" / "state.json"
    outside.write_bytes(state_file.read_bytes())
    state_file.unlink()
    state_file.symlink_to(outside)
    kept = outside.read_bytes()
    v.write(ALICE_NOTE, v.read(ALICE_NOTE) + "- one more\n")
    with pytest.raises(InvalidInput) as caught:
        await run(v.service, v.cfg, "sync", v.root)
    assert caught.value.rule == "symlink"
    assert outside.read_bytes() == kept
