"""Acceptance: conflicts keep both versions, a viewer's vault never shows another agent's
private namespace, and entity names never steer a file outside the vault."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import VaultSettings
from fleetmem.vault.state import VaultFiles
from tests.conftest import ManualClock
from tests.vault.conftest import ALICE, DANA, TEAM, Vault

ALICE_MD = "team atlas/Alice.md"


async def test_edit_on_both_sides_is_a_conflict_keeping_both(team_vault: Vault) -> None:
    await team_vault.service.add_observations(ALICE, [("Alice", ["moved to the Berlin office"])],
                                              TEAM)
    human = team_vault.read(ALICE_MD).replace("## Relations",
                                              "- prefers async standups\n\n## Relations")
    team_vault.write(ALICE_MD, human)
    report = await team_vault.run()
    assert len(report.conflicts) == 1 and ALICE_MD in report.conflicts[0]
    assert team_vault.read(ALICE_MD) == human  # the human's version is untouched
    theirs = team_vault.read("team atlas/Alice.conflict.md")
    assert "moved to the Berlin office" in theirs  # the graph's version is next to it
    alice = await team_vault.entity("Alice")
    assert "moved to the Berlin office" in alice.observations  # type: ignore[attr-defined]
    assert "prefers async standups" not in alice.observations  # type: ignore[attr-defined]
    # While the conflict copy exists, further syncs leave the note alone.
    again = await team_vault.run()
    assert again.pending and not again.written
    # The human merges by hand and deletes the copy: the note is applied as written.
    merged = human.replace("## Relations", "- moved to the Berlin office\n\n## Relations")
    team_vault.write(ALICE_MD, merged)
    team_vault.note("team atlas/Alice.conflict.md").unlink()
    await team_vault.run()
    alice = await team_vault.entity("Alice")
    observations = alice.observations  # type: ignore[attr-defined]
    assert {"prefers async standups", "moved to the Berlin office"} <= set(observations)
    assert ("Alice: prefers async standups", DANA) in await team_vault.recall(
        "How does Alice like standups?")
    assert (await team_vault.run()).summary().endswith("nothing to do")


async def test_same_change_on_both_sides_is_not_a_conflict(team_vault: Vault) -> None:
    await team_vault.service.add_observations(ALICE, [("Alice", ["plays chess"])], TEAM)
    team_vault.write(ALICE_MD, team_vault.read(ALICE_MD).replace(
        "## Relations", "- plays chess\n\n## Relations"))
    report = await team_vault.run()
    assert not report.conflicts
    assert "- plays chess *(alice, 2026-01-02)*" in team_vault.read(ALICE_MD)


async def test_deleted_note_of_changed_entity_is_restored(team_vault: Vault) -> None:
    await team_vault.service.add_observations(ALICE, [("Alice", ["joined the SRE guild"])],
                                              TEAM)
    team_vault.note(ALICE_MD).unlink()
    report = await team_vault.run()
    assert report.conflicts and "restored" in report.conflicts[0]
    assert await team_vault.entity("Alice") is not None
    assert "joined the SRE guild" in team_vault.read(ALICE_MD)


async def test_note_edited_during_sync_is_never_overwritten(tmp_path: Path) -> None:
    files = VaultFiles(tmp_path)
    assert files.write("team atlas/A.md", "one\n", None)
    assert not files.write("team atlas/A.md", "two\n", None)  # exists: not what was read
    first = files.checksum("team atlas/A.md")
    (tmp_path / "team atlas" / "A.md").write_text("human edit\n")
    assert not files.write("team atlas/A.md", "graph\n", first)
    assert (tmp_path / "team atlas" / "A.md").read_text() == "human edit\n"


async def test_vault_of_agent_b_shows_nothing_private_of_agent_a(
        make_service: Callable[..., Awaitable[MemoryService]], tmp_path: Path) -> None:
    service = await make_service(clock=ManualClock())
    await service.create_entities(ALICE, [EntitySpec("Project Nightjar", "project",
                                                     ["codename for the acquisition"])])
    await service.remember(ALICE, MemoryInput(text="Nightjar closes in Q3"))
    bob = Caller("bob")
    await service.create_entities(bob, [EntitySpec("Bob's notebook", "note", ["tidy"])])
    await service.create_entities(bob, [EntitySpec("Runbook", "doc", ["restart nginx"])], TEAM)
    cfg = VaultSettings(human="dana", viewer="bob", include_private=True)
    vault = Vault(service, tmp_path / "vault", ManualClock(), cfg)
    report = await vault.run("export")
    assert report.namespaces == ["agent:bob", "global", TEAM]
    files = vault.snapshot()
    assert "agent bob/Bob's notebook.md" in files and "team atlas/Runbook.md" in files
    assert not any(p.startswith("agent alice") for p in files)
    assert not any(b"Nightjar" in content for content in files.values())
    # A folder made by hand for the private namespace is not imported either.
    vault.write("agent alice/Project Nightjar.md", "- leaked edit\n")
    report = await vault.run()
    assert any("agent alice" in w for w in report.warnings)
    page = await service.open_nodes(ALICE, ["Project Nightjar"])
    assert page.entities[0].observations == ["codename for the acquisition"]
    # Without include_private, even the viewer's own private namespace stays out.
    cfg2 = VaultSettings(human="dana", viewer="bob")
    report = await Vault(service, tmp_path / "vault2", ManualClock(), cfg2).run("export")
    assert report.namespaces == ["global", TEAM]


HOSTILE = ["../../escape", "..", "a/b", "a\\b", "C:evil", "CON", "nul.txt", "_index",
           "Alice.conflict", "x#y^z[1]|2", "  .hidden", "tab\there", "Ünïcödé 名前",
           "a" * 190, "a?b", "a_b"]


async def test_hostile_entity_names_stay_inside_the_vault(
        make_service: Callable[..., Awaitable[MemoryService]], tmp_path: Path) -> None:
    service = await make_service(clock=ManualClock())
    await service.create_entities(ALICE, [EntitySpec(n, "thing", [f"about {n!r}"])
                                          for n in HOSTILE], TEAM)
    await service.create_relations(ALICE, [RelationSpec(HOSTILE[0], n, "links")
                                           for n in HOSTILE[1:]], TEAM)
    vault = Vault(service, tmp_path / "vault", ManualClock())
    await vault.run("export")
    root = vault.root.resolve()
    notes = list(tmp_path.rglob("*.md"))
    assert all(p.resolve().is_relative_to(root) for p in notes)
    entity_notes = [p for p in (root / "team atlas").glob("*.md") if p.name != "_index.md"]
    assert len(entity_notes) == len(HOSTILE)
    assert len({p.name.casefold() for p in entity_notes}) == len(HOSTILE)
    for p in entity_notes:
        assert not p.name.startswith((".", " ")) and len(p.name.encode()) < 200
        assert not any(c in p.name for c in '\\:*?"<>|#^[]\t')
        assert p.stem.split(".")[0].strip().casefold() not in {"con", "nul", "_index"}
    # Round trip: the names survive and nothing changes.
    before = vault.snapshot()
    report = await vault.run()
    assert report.summary().endswith("nothing to do")
    assert vault.snapshot() == before
    (vault.root / ".fleetmem" / "state.json").unlink()
    report = await vault.run()
    assert not (report.created or report.updated or report.deleted or report.conflicts)
    # A relation typed into a note with a traversal link never reaches outside the vault.
    note = next(p for p in entity_notes if "about 'CON'" in p.read_text())
    note.write_text(note.read_text() + "- links [[../../../outside]]\n")
    report = await vault.run()
    assert not (tmp_path / "outside.md").exists()
    assert all(p.resolve().is_relative_to(root) for p in tmp_path.rglob("*.md"))
