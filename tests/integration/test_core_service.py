"""Issue 2 acceptance on real embedded stores: attribution, isolation, dedup, redaction,
supersede with history, buffers, idempotency and bad input."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import MemoryStatus
from fleetmem.memory.errors import Conflict, FleetmemError, Forbidden, InvalidInput, NotFound
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.services.memories.remember import EMBED_CHUNK
from fleetmem.memory.services.service import MemoryService
from tests.conftest import ManualClock, ServiceFactory

ALICE = Caller("alice", on_behalf_of="human:dana", workflow_id="wf-7", session_id="s1")
BOB = Caller("bob")
SECRET_FACT = "Project Nightjar's launch code is 7731 and it ships in March"


async def _total(service: MemoryService, caller: Caller) -> int:
    return (await service.stats(caller)).total_memories


async def test_attribution_is_returned_with_every_hit(service: MemoryService) -> None:
    r = await service.remember(ALICE, MemoryInput(text="Staging deploys are frozen on Fridays",
                                                  kind="procedure", importance=0.8,
                                                  tags=["deploy"]))
    hit = (await service.recall(ALICE, RecallQuery(query="when is the deploy freeze?"))).hits[0]
    assert hit.memory.id == r.id
    assert hit.memory.kind == "procedure" and hit.memory.tags == ["deploy"]
    a = hit.memory.attribution
    assert (a.created_by, a.on_behalf_of, a.workflow_id, a.session_id) == \
        ("alice", "human:dana", "wf-7", "s1")
    assert hit.why["total"] > 0 and "dense" in hit.sources
    got = await service.get(ALICE, r.id)
    assert got.attribution == a


async def test_private_namespace_is_isolated_everywhere(service: MemoryService) -> None:
    mem = await service.remember(ALICE, MemoryInput(text=SECRET_FACT))
    await service.create_entities(ALICE, [EntitySpec("Nightjar", "project",
                                                     ["launch code 7731"])])
    await service.create_entities(ALICE, [EntitySpec("March Release", "milestone")])
    await service.create_relations(ALICE, [RelationSpec("Nightjar", "March Release",
                                                        "ships_in")])
    # bob writes his own memory about the same entity name in his namespace
    await service.remember(BOB, MemoryInput(text="Nightjar is a bird"))

    res = await service.recall(BOB, RecallQuery(query="Nightjar launch code"))
    assert all(h.memory.namespace != "agent:alice" for h in res.hits)
    assert all("7731" not in h.memory.text for h in res.hits)
    graph_only = await service.recall(BOB, RecallQuery(query="What about Nightjar?",
                                                       modes=frozenset({"graph"})))
    assert all(h.memory.namespace == "agent:bob" for h in graph_only.hits)
    with pytest.raises(NotFound) as exc:
        await service.get(BOB, mem.id)
    assert "alice" not in exc.value.message and "7731" not in exc.value.message
    assert (await service.search_nodes(BOB, "Nightjar")).entities == []
    assert (await service.read_graph(BOB)).entities == []
    assert (await service.open_nodes(BOB, ["Nightjar"])).entities == []
    with pytest.raises(Forbidden):
        await service.recall(BOB, RecallQuery(query="x", namespaces=["agent:alice"]))
    with pytest.raises(NotFound):
        await service.forget(BOB, mem.id)
    with pytest.raises(NotFound):
        await service.history(BOB, mem.id)
    stats = await service.stats(BOB)
    assert {n.namespace for n in stats.namespaces} == {"agent:bob", "team:atlas", "global"}
    assert stats.total_memories == 1
    # alice still sees her own
    assert (await service.get(ALICE, mem.id)).text == SECRET_FACT


async def test_team_namespace_is_shared_with_members_only(service: MemoryService) -> None:
    await service.remember(ALICE, MemoryInput(text="The atlas on-call rotation is weekly",
                                              namespace="team:atlas"))
    bob_hits = (await service.recall(BOB, RecallQuery(query="on-call rotation"))).hits
    assert [h.memory.namespace for h in bob_hits] == ["team:atlas"]
    carol_hits = (await service.recall(Caller("carol"), RecallQuery(query="on-call rotation")))
    assert carol_hits.hits == []
    with pytest.raises(Forbidden) as exc:
        await service.remember(Caller("carol"), MemoryInput(text="x" * 20,
                                                            namespace="team:atlas"))
    assert exc.value.field == "namespace" and exc.value.rule == "namespace_write"


async def test_dedup_reinforces_instead_of_duplicating(service: MemoryService) -> None:
    first = await service.remember(ALICE, MemoryInput(text="Use pnpm, not npm, in the web repo"))
    again = await service.remember(ALICE, MemoryInput(text="use pnpm, not npm, in the web repo."))
    assert again.deduplicated and again.id == first.id
    near = await service.remember(ALICE, MemoryInput(text="Use pnpm, not npm, in the web repo!!"))
    assert near.id == first.id
    other = await service.remember(ALICE, MemoryInput(text="Use yarn in the mobile repo"))
    assert not other.deduplicated
    assert await _total(service, ALICE) == 2
    assert (await service.get(ALICE, first.id)).access_count >= 2
    # the same text in another namespace is not a duplicate
    team = await service.remember(ALICE, MemoryInput(text="Use pnpm, not npm, in the web repo",
                                                     namespace="team:atlas"))
    assert not team.deduplicated


async def test_a_batch_longer_than_one_model_call_dedups_across_its_chunks(
        service: MemoryService) -> None:
    texts = [f"Service s{i} listens on port {7000 + i}" for i in range(EMBED_CHUNK + 6)]
    texts[EMBED_CHUNK + 2] = texts[3]  # a repeat in the second chunk of the first one's
    texts[EMBED_CHUNK + 4] = texts[EMBED_CHUNK + 1]  # and one within the second chunk
    results = await service.remember_batch(ALICE, [MemoryInput(text=t) for t in texts])
    assert [r.deduplicated for r in results].count(True) == 2
    assert results[EMBED_CHUNK + 2].id == results[3].id
    assert results[EMBED_CHUNK + 4].id == results[EMBED_CHUNK + 1].id
    assert await _total(service, ALICE) == len(texts) - 2
    for i in (0, EMBED_CHUNK - 1, EMBED_CHUNK, len(texts) - 1):
        assert (await service.get(ALICE, results[i].id)).text == texts[i]


async def test_concurrent_identical_writes_keep_one_memory(service: MemoryService) -> None:
    text = "The release train leaves every second Thursday"
    results = await asyncio.gather(*(service.remember(ALICE, MemoryInput(text=text))
                                     for _ in range(4)))
    assert len({r.id for r in results}) == 1
    assert sorted(r.deduplicated for r in results) == [False, True, True, True]
    assert await _total(service, ALICE) == 1


async def test_secrets_are_redacted_before_storage(service: MemoryService) -> None:
    text = ("Deploy with https://deploy:hunter2pass@ci.example.com and "
            "Authorization: Bearer abcdef0123456789abcdef and key sk-live-0123456789abcdefghij")
    r = await service.remember(ALICE, MemoryInput(text=text))
    assert r.redactions == 3
    stored = (await service.get(ALICE, r.id)).text
    for secret in ("hunter2pass", "abcdef0123456789abcdef", "sk-live-0123456789abcdefghij"):
        assert secret not in stored
    assert "[REDACTED]" in stored


async def test_correct_supersedes_and_keeps_history(make_service: ServiceFactory) -> None:
    clock = ManualClock()
    service = await make_service(clock=clock)
    old = await service.remember(ALICE, MemoryInput(text="The API gateway runs on port 8080"))
    before = clock.now()
    clock.advance(days=1)
    new = await service.correct(ALICE, old.id, "The API gateway runs on port 9090",
                                reason="migrated")
    assert new.supersedes == old.id
    hits = (await service.recall(ALICE, RecallQuery(query="API gateway port"))).hits
    assert [h.memory.id for h in hits] == [new.id]
    past = (await service.recall(ALICE, RecallQuery(query="API gateway port",
                                                    as_of=before + timedelta(hours=1)))).hits
    assert [h.memory.id for h in past] == [old.id]
    chain = await service.history(ALICE, new.id)
    assert [m.id for m in chain] == [old.id, new.id]
    assert chain[0].status == "superseded" and chain[0].valid_to is not None
    with pytest.raises(Conflict):
        await service.correct(ALICE, old.id, "The API gateway runs on port 7070")


async def test_forget_archives_and_restore_brings_back(service: MemoryService) -> None:
    r = await service.remember(ALICE, MemoryInput(text="The legacy billing cron runs hourly"))
    await service.forget(ALICE, r.id)
    assert (await service.recall(ALICE, RecallQuery(query="billing cron"))).hits == []
    assert (await service.get(ALICE, r.id)).status == "archived"
    await service.restore(ALICE, r.id)
    assert [h.memory.id for h in (await service.recall(
        ALICE, RecallQuery(query="billing cron"))).hits] == [r.id]


async def test_buffer_consolidates_into_long_term(service: MemoryService) -> None:
    await service.buffer_append(ALICE, "s1", "User prefers dark mode in every editor",
                                role="user", importance=0.7)
    await service.buffer_append(ALICE, "s1", "ok", role="assistant")
    assert len(await service.buffer_read(ALICE, "s1")) == 2
    stm = await service.recall(ALICE, RecallQuery(query="dark mode preference", session_id="s1"))
    assert [i.text for i in stm.short_term] == ["User prefers dark mode in every editor"]
    result = await service.consolidate(ALICE, "s1")
    assert len(result.promoted) == 1 and result.skipped == 1
    hits = (await service.recall(ALICE, RecallQuery(query="dark mode preference"))).hits
    assert hits[0].memory.kind == "episode" and hits[0].memory.id == result.promoted[0].id
    assert all(i.consolidated_into for i in await service.buffer_read(ALICE, "s1"))
    # another agent cannot read alice's session buffer
    assert await service.buffer_read(BOB, "s1") == []


async def test_idempotency_key_returns_the_first_result(service: MemoryService) -> None:
    one = await service.remember(ALICE, MemoryInput(text="Retry-safe fact number one"),
                                 idempotency_key="k-1")
    two = await service.remember(ALICE, MemoryInput(text="Retry-safe fact number one"),
                                 idempotency_key="k-1")
    assert one == two
    # Issue 16: a different body under the same key used to return the first id and drop
    # the new text silently; it is refused now, and nothing more is stored.
    with pytest.raises(InvalidInput) as reuse:
        await service.remember(ALICE, MemoryInput(text="A different body on retry"),
                               idempotency_key="k-1")
    assert reuse.value.rule == "idempotency_key_reuse"
    assert await _total(service, ALICE) == 1


async def test_graph_expansion_follows_relations(service: MemoryService) -> None:
    await service.create_entities(ALICE, [EntitySpec("Payments", "service"),
                                          EntitySpec("Priya", "person")])
    await service.create_relations(ALICE, [RelationSpec("Payments", "Priya", "owned_by")])
    await service.add_observations(ALICE, [("Priya", ["is on leave until June"])])
    hits = (await service.recall(ALICE, RecallQuery(query="Payments", k=10,
                                                    modes=frozenset({"graph"})))).hits
    texts = [h.memory.text for h in hits]
    assert "Priya: is on leave until June" in texts
    assert "Payments owned by Priya" in texts


async def test_recall_hops_across_a_relation_the_question_names(
        service: MemoryService) -> None:
    await service.create_entities(ALICE, [EntitySpec("ledger-api", "service"),
                                          EntitySpec("Amara Novak", "person")])
    await service.create_relations(ALICE, [RelationSpec("ledger-api", "Amara Novak",
                                                        "owned_by")])
    facts = ["The ledger-api service is owned by Amara Novak.",
             "ledger-api stores its data in Postgres.",
             "ledger-api listens on port 7412 in production.",
             "ledger-api has an availability target of 99.95 percent.",
             "ledger-api is written in Kotlin.",
             "ledger-api deploys daily through the shared pipeline.",
             "Amara Novak is based in Tallinn.",
             "Amara Novak joined the company in 2019."]
    await service.remember_batch(ALICE, [MemoryInput(text=t) for t in facts])
    res = await service.recall(ALICE, RecallQuery(
        query="Where is the person who owns ledger-api located?", k=5))
    top = {h.memory.text: h for h in res.hits}
    assert "Amara Novak is based in Tallinn." in top
    assert "hop" in top["Amara Novak is based in Tallinn."].sources
    # a question that names no relation is not expanded across one
    plain = await service.recall(ALICE, RecallQuery(query="Which port does ledger-api use?",
                                                    k=5))
    assert all("hop" not in h.sources for h in plain.hits)
    assert plain.hits[0].memory.text == "ledger-api listens on port 7412 in production."


async def test_recall_drops_stale_vector_hits_and_fuses_the_rest(
        service: MemoryService) -> None:
    kept = await service.remember(ALICE, MemoryInput(text="The canary region is eu-west-1"))
    gone = await service.remember(ALICE, MemoryInput(text="The canary region was us-east-2"))
    # the graph forgets it, the vector tier still holds it (as after a crash mid-forget)
    await service.ctx.graph.set_status([gone.id], MemoryStatus.ARCHIVED, service.ctx.now(), [])
    # the query is closest to the forgotten one, so it led the dense ranking
    res = await service.recall(ALICE, RecallQuery(query="the canary region was us-east-2",
                                                  k=5))
    assert [h.memory.id for h in res.hits] == [kept.id]
    # its similarity is its own (the forgotten one's was never part of it)
    assert 0.5 < res.hits[0].why["dense"] < 1.0 and res.hits[0].sources[0] == "dense"


@pytest.mark.parametrize(("memory", "field", "rule"), [
    ({"text": ""}, "text", "not_empty"),
    ({"text": "   "}, "text", "not_empty"),
    ({"text": "x" * 9000}, "text", "max_length"),
    ({"text": "ok text", "kind": "rumour"}, "kind", "enum"),
    ({"text": "ok text", "importance": 1.5}, "importance", "range"),
    ({"text": "ok text", "importance": float("nan")}, "importance", "range"),
    ({"text": "nul\x00byte"}, "text", "control_characters"),
    ({"text": "ok text", "namespace": "agent:alice/../bob"}, "namespace", "namespace_format"),
    ({"text": "ok text", "namespace": "agent:bob"}, "namespace", "namespace_write"),
    ({"text": "ok text", "tags": ["a\nb"]}, "tags[0]", "single_line"),
])
async def test_bad_input_is_refused_and_changes_nothing(
        service: MemoryService, memory: dict[str, object], field: str, rule: str) -> None:
    await service.remember(ALICE, MemoryInput(text="a memory that must survive"))
    with pytest.raises(FleetmemError) as exc:
        await service.remember(ALICE, MemoryInput.model_validate(memory))
    assert exc.value.field == field and exc.value.rule == rule
    assert exc.value.message
    assert await _total(service, ALICE) == 1


@pytest.mark.parametrize("bad_id", ["", "42", "not-a-uuid", "'; DROP TABLE memories; --",
                                    "3f2b8c1e-6d4a-4f7e-9a51-2c0e8b7d9f1"])
async def test_malformed_ids_are_invalid_input(service: MemoryService, bad_id: str) -> None:
    for op in (service.get, service.forget, service.history):
        with pytest.raises(InvalidInput) as exc:
            await op(ALICE, bad_id)
        assert exc.value.field == "id" and exc.value.rule == "id_format"


async def test_batch_is_all_or_nothing_on_validation(service: MemoryService) -> None:
    batch = [MemoryInput(text="first good memory"), MemoryInput(text="", kind="fact")]
    with pytest.raises(InvalidInput) as exc:
        await service.remember_batch(ALICE, batch)
    assert exc.value.field == "memories[1].text"
    assert await _total(service, ALICE) == 0
    ok = await service.remember_batch(ALICE, [MemoryInput(text=f"batch memory about topic {i}")
                                              for i in range(5)])
    assert len({r.id for r in ok}) == 5


async def test_a_claim_differing_in_one_rare_word_is_kept_not_merged(
        service: MemoryService) -> None:
    """The security suite's finding: two agents' claims that differ only in a codename
    score above the dedup threshold; the second must get a memory of its own."""
    bob = Caller("bob")
    a = await service.remember(ALICE, MemoryInput(
        text="The release train for project Orion ships from host zephyrine",
        namespace="team:atlas"))
    b = await service.remember(bob, MemoryInput(
        text="The release train for project Orion ships from host quillfeather",
        namespace="team:atlas"))
    assert not b.deduplicated and a.id != b.id
    hits = await service.recall(ALICE, RecallQuery(query="which host ships Orion", k=5))
    assert {a.id, b.id} <= {h.memory.id for h in hits.hits}
    # wording that changes no word (case, punctuation, a plural) is still the same memory
    same = await service.remember(ALICE, MemoryInput(
        text="the release trains for project Orion ship from host zephyrine.",
        namespace="team:atlas"))
    assert same.deduplicated and same.id == a.id


async def test_texts_differing_only_in_numbers_are_not_duplicates(
        service: MemoryService) -> None:
    a = await service.remember(ALICE, MemoryInput(text="The API gateway runs on port 8080"))
    b = await service.remember(ALICE, MemoryInput(text="The API gateway runs on port 9090"))
    assert not b.deduplicated and a.id != b.id
