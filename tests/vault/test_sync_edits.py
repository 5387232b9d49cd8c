"""Acceptance: export/import round trip and human edits on real files landing in the graph
with human attribution, found by recall."""

from __future__ import annotations

import re

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import Conflict
from fleetmem.memory.services.graph.entities import RelationSpec
from fleetmem.memory.services.memories.recall import RecallQuery
from tests.vault.conftest import ALICE, DANA, TEAM, Vault

ALICE_MD = "team atlas/Alice.md"
BOB_MD = "team atlas/Bob.md"


async def test_export_layout(team_vault: Vault) -> None:
    text = team_vault.read(ALICE_MD)
    assert "type: person" in text and "namespace: team:atlas" in text
    assert "- likes green tea *(alice, 2026-01-01)*" in text
    assert "- works_at [[Acme]]" in text
    assert "[[Alice]]" in team_vault.read("team atlas/_index.md")
    day = team_vault.read("team atlas/Memories/2026-01-01.md")
    assert re.search(r"- The deploy freeze starts on Friday "
                     r"\*\(fact · alice · 00:00\)\* \^[0-9a-f-]{36}", day)
    assert (team_vault.root / "global" / "_index.md").exists()


async def test_round_trip_changes_nothing(team_vault: Vault) -> None:
    before_files = team_vault.snapshot()
    before_count = await team_vault.memory_count()
    for mode in ("import", "sync"):
        report = await team_vault.run(mode)  # type: ignore[arg-type]
        assert report.summary().endswith("nothing to do"), report
    assert team_vault.snapshot() == before_files
    assert await team_vault.memory_count() == before_count
    # Without the sync state, parsing every note still finds nothing to change.
    (team_vault.root / ".fleetmem" / "state.json").unlink()
    report = await team_vault.run("sync")
    assert not (report.created or report.updated or report.deleted or report.conflicts)
    assert not report.written
    assert team_vault.snapshot() == before_files
    assert await team_vault.memory_count() == before_count


async def test_added_observation(team_vault: Vault) -> None:
    team_vault.write(ALICE_MD, team_vault.read(ALICE_MD).replace(
        "## Relations", "- speaks fluent Portuguese\n\n## Relations"))
    report = await team_vault.run()
    assert report.created == ["observation of Alice: speaks fluent Portuguese"]
    alice = await team_vault.entity("Alice")
    details = {o.text: o.created_by for o in alice.observation_details}  # type: ignore[attr-defined]
    assert details["speaks fluent Portuguese"] == DANA
    assert ("Alice: speaks fluent Portuguese", DANA) in await team_vault.recall(
        "Which languages does Alice speak?")
    assert "- speaks fluent Portuguese *(human:dana, 2026-01-02)*" in team_vault.read(ALICE_MD)
    assert (await team_vault.run()).summary().endswith("nothing to do")


async def test_removed_observation_is_archived(team_vault: Vault) -> None:
    team_vault.write(ALICE_MD, team_vault.read(ALICE_MD).replace(
        "- likes green tea *(alice, 2026-01-01)*\n", ""))
    await team_vault.run()
    alice = await team_vault.entity("Alice")
    assert "likes green tea" not in alice.observations  # type: ignore[attr-defined]
    hits = await team_vault.service.recall(Caller(DANA), RecallQuery(
        query="Alice likes green tea", namespaces=[TEAM], include_archived=True))
    archived = [h.memory for h in hits.hits if h.memory.text == "Alice: likes green tea"]
    assert archived and archived[0].status == "archived"


async def test_added_relation(team_vault: Vault) -> None:
    team_vault.write(ALICE_MD, team_vault.read(ALICE_MD) + "- mentors [[Bob]]\n")
    await team_vault.run()
    page = await team_vault.service.open_nodes(Caller(DANA), ["Alice", "Bob"], [TEAM])
    mentors = [r for r in page.relations if r.relationType == "mentors"]
    assert mentors and mentors[0].attribution.created_by == DANA
    assert ("Alice mentors Bob", DANA) in await team_vault.recall("Who mentors Bob?")
    # A link to a note that does not exist yet creates the entity.
    team_vault.write(ALICE_MD, team_vault.read(ALICE_MD) + "- uses [[Kubernetes]]\n")
    await team_vault.run()
    assert await team_vault.entity("Kubernetes") is not None
    assert (team_vault.root / "team atlas" / "Kubernetes.md").exists()


async def test_edited_frontmatter(team_vault: Vault) -> None:
    text = team_vault.read(ALICE_MD).replace("type: person", "type: engineer")
    text = text.replace("aliases: []", "aliases:\n- Ally").replace("tags: []", "tags:\n- oncall")
    team_vault.write(ALICE_MD, text)
    report = await team_vault.run()
    assert report.updated == ["entity Alice in team:atlas: aliases, entity_type, tags"]
    alice = await team_vault.entity("Alice")
    assert (alice.entityType, alice.aliases, alice.tags) == (  # type: ignore[attr-defined]
        "engineer", ["Ally"], ["oncall"])
    assert ("Alice is also known as Ally", DANA) in await team_vault.recall("Who is Ally?")
    assert ("Alice is tagged oncall", DANA) in await team_vault.recall("who is oncall")
    audit = await team_vault.service.audit_events(Caller(DANA), limit=1000)
    assert any(e.operation == "update_entity" and e.agent_id == DANA for e in audit)


async def test_deleted_note_archives_entity(team_vault: Vault) -> None:
    team_vault.note(BOB_MD).unlink()
    report = await team_vault.run()
    assert report.deleted and "entity Bob" in report.deleted[0]
    assert await team_vault.entity("Bob") is None
    hits = await team_vault.service.recall(Caller(DANA), RecallQuery(
        query="Bob writes the release notes", namespaces=[TEAM], include_archived=True))
    memory = next(h.memory for h in hits.hits if h.memory.text.startswith("Bob: writes"))
    assert memory.status == "archived"
    restored = await team_vault.service.restore(Caller(DANA), memory.id)
    assert restored.status == "active"
    trash = list((team_vault.root / ".fleetmem" / "trash").rglob("Bob.md"))
    assert trash and "writes the release notes" in trash[0].read_text()
    assert "[[Bob]]" not in team_vault.read("team atlas/_index.md")


async def test_renamed_note_renames_entity_and_rewrites_links(team_vault: Vault) -> None:
    team_vault.note(ALICE_MD).rename(team_vault.note("team atlas/Alicia.md"))
    report = await team_vault.run()
    assert report.renamed == ["Alice -> Alicia in team:atlas"]
    assert await team_vault.entity("Alice") is None
    alicia = await team_vault.entity("Alicia")
    assert alicia is not None and "likes green tea" in alicia.observations  # type: ignore[attr-defined]
    assert "Alice" in alicia.aliases  # type: ignore[attr-defined]
    details = {o.text: o.created_by for o in alicia.observation_details}  # type: ignore[attr-defined]
    assert details["likes green tea"] == "alice"  # authors survive the rename
    assert "- reports_to [[Alicia]]" in team_vault.read(BOB_MD)  # link in another note
    assert not team_vault.note(ALICE_MD).exists()
    hits = await team_vault.recall("Alicia renamed")
    assert ("Alice was renamed to Alicia", DANA) in hits
    assert ("Alicia is also known as Alice", DANA) in await team_vault.recall(
        "Who is also known as Alice?")
    day = team_vault.read("team atlas/Memories/2026-01-02.md")
    assert "Alice was renamed to Alicia" in day and "also known as" not in day
    assert (await team_vault.run()).summary().endswith("nothing to do")


async def test_service_rename_rewrites_links_in_observations(team_vault: Vault) -> None:
    await team_vault.service.add_observations(ALICE, [("Bob", ["pairs with [[Acme]] staff"])],
                                              TEAM)
    await team_vault.run()
    await team_vault.service.rename_entity(ALICE, "Acme", "Acme Rockets", TEAM)
    report = await team_vault.run()
    assert "team atlas/Acme Rockets.md" in report.written
    assert "- works_at [[Acme Rockets]]" in team_vault.read(ALICE_MD)
    assert "pairs with [[Acme Rockets]] staff" in team_vault.read(BOB_MD)
    assert not team_vault.note("team atlas/Acme.md").exists()


async def test_new_note_creates_entity(team_vault: Vault) -> None:
    team_vault.write("team atlas/Zed.md", "Zed maintains the compiler toolchain.\n\n"
                     "## Relations\n- works_at [[Acme]]\n")
    team_vault.write("team atlas/Untitled.md", "")  # Obsidian's fresh note: ignored while empty
    report = await team_vault.run()
    assert "entity Zed in team:atlas" in report.created
    zed = await team_vault.entity("Zed")
    assert zed.entityType == "note"  # type: ignore[attr-defined]
    assert zed.attribution.created_by == DANA  # type: ignore[attr-defined]
    assert ("Zed: Zed maintains the compiler toolchain.", DANA) in await team_vault.recall(
        "who maintains the compiler?")
    text = team_vault.read("team atlas/Zed.md")
    assert text.startswith("---\nid: ") and "- works_at [[Acme]]" in text
    assert await team_vault.entity("Untitled") is None


async def test_graph_changes_are_exported(team_vault: Vault) -> None:
    await team_vault.service.add_observations(ALICE, [("Alice", ["owns the billing API"])],
                                              TEAM)
    await team_vault.service.delete_relations(ALICE, [RelationSpec("Alice", "Acme",
                                                                   "works_at")], TEAM)
    report = await team_vault.run()
    assert ALICE_MD in report.written
    text = team_vault.read(ALICE_MD)
    assert "- owns the billing API *(alice, 2026-01-02)*" in text
    assert "works_at" not in text


async def test_dated_note_edits(team_vault: Vault) -> None:
    day = "team atlas/Memories/2026-01-01.md"
    text = team_vault.read(day).replace("starts on Friday", "starts on Thursday")
    team_vault.write(day, text + "- The office moves to Lisbon in March\n")
    report = await team_vault.run()
    assert len(report.updated) == 1 and len(report.created) == 1
    hits = await team_vault.recall("When does the deploy freeze start?")
    assert ("The deploy freeze starts on Thursday", DANA) in hits
    assert ("The office moves to Lisbon in March", DANA) in await team_vault.recall(
        "Where is the office moving?")
    # Removing a bullet forgets (archives) its memory.
    today = "team atlas/Memories/2026-01-02.md"
    lines = [x for x in team_vault.read(today).splitlines() if "Lisbon" not in x]
    team_vault.write(today, "\n".join(lines) + "\n")
    report = await team_vault.run()
    assert report.deleted and "archived" in report.deleted[0]
    assert all("Lisbon" not in t for t, _ in await team_vault.recall("office Lisbon"))


async def test_rename_onto_existing_entity_is_refused(team_vault: Vault) -> None:
    try:
        await team_vault.service.rename_entity(ALICE, "Alice", "bob", TEAM)
    except Conflict as exc:
        assert "already exists" in exc.message
    else:
        raise AssertionError("renaming onto an existing entity must be refused")


async def test_rename_with_links_updated_by_obsidian(team_vault: Vault) -> None:
    """Obsidian rewrites links in other notes when it renames a file: no conflict."""
    team_vault.note(ALICE_MD).rename(team_vault.note("team atlas/Alicia.md"))
    team_vault.write(BOB_MD, team_vault.read(BOB_MD).replace("[[Alice]]", "[[Alicia]]"))
    report = await team_vault.run()
    assert report.renamed == ["Alice -> Alicia in team:atlas"]
    assert not report.conflicts and await team_vault.entity("Alice") is None
    page = await team_vault.service.open_nodes(Caller(DANA), ["Bob", "Alicia"], [TEAM])
    assert [(r.from_, r.relationType, r.to) for r in page.relations] == [
        ("Bob", "reports_to", "Alicia")]
    assert (await team_vault.run()).summary().endswith("nothing to do")
