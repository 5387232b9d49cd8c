"""GraphStore contract, keyword search of issue 18 (SQLite and a real Neo4j): statistics
from the searched namespaces only, the keyword context, a writer's preceding turn, the
order of a conversation and its neighbours; and issue 22's recall reads: BM25 scores as
`domain.ranking.bm25` makes them (Neo4j computes them on the server), query syntax kept
inert (recall's row reads: test_graph_store_recall.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fleetmem.memory.domain.models import MemoryStatus
from fleetmem.memory.domain.ranking import bm25
from fleetmem.memory.ports import GraphStore, TurnLink
from fleetmem.memory.stores.keyword_cache import KeywordCache
from fleetmem.memory.stores.neo4j.connection import Tx, run
from fleetmem.memory.stores.neo4j.graph_store import Neo4jGraphStore
from fleetmem.memory.stores.sqlite.graph_store import SqliteGraphStore
from tests.contract.values import ALICE, BOB, at, downgrade, ev, flt, mem, put, vec
from tests.neo4j_fixtures import Neo4jTarget


async def test_one_namespace_ranking_ignores_another_namespace_content(
        graph: GraphStore) -> None:
    await put(graph, mem("the payments deploy failed on friday"),
              mem("payments team lunch is on friday"),
              mem("the deploy pipeline for search is green", minute=1))
    query = "payments deploy friday"
    before = await graph.keyword_search(query, flt(ALICE), 10)
    # another namespace fills up with one of the query's words: in store-wide statistics
    # that word would get rarer or commoner for alice too
    await put(graph, *(mem(f"deploy number {i} of bob's service", BOB, by="bob")
                       for i in range(30)), seed=10)
    await put(graph, mem("friday friday friday", BOB, by="bob"), seed=50)
    after = await graph.keyword_search(query, flt(ALICE), 10)
    assert [h for h, _ in after] == [h for h, _ in before]
    assert [round(s, 9) for _, s in after] == [round(s, 9) for _, s in before]


async def test_keyword_context_is_searched_but_never_shown(graph: GraphStore) -> None:
    answer = mem("Caroline: it was so powerful, I felt accepted")
    other = mem("Caroline: I painted a lake at sunrise", minute=1)
    await graph.insert_memories([answer, other], [vec(1), vec(2)], contexts={
        answer.id: "Melanie: how was the LGBTQ support group?\n8 May 2023 d20230508"})
    await graph.mark_committed([answer.id, other.id], [ev("remember")])
    hits = await graph.keyword_search("LGBTQ support group", flt(ALICE), 10)
    assert [h for h, _ in hits] == [answer.id]
    assert [h for h, _ in await graph.keyword_search("d20230508", flt(ALICE), 10)] == \
        [answer.id]
    [stored] = await graph.get_memories([answer.id], [ALICE])
    assert stored.text == answer.text


async def test_preceding_turn_is_the_writers_latest_in_namespace_and_session(
        graph: GraphStore) -> None:
    assert await graph.preceding_turn(ALICE, "alice", "s1") is None
    await put(graph, mem("first turn"), mem("second turn", minute=2),
              mem("bob's turn", minute=3, by="bob"), mem("elsewhere", BOB, minute=4))
    prior = await graph.preceding_turn(ALICE, "alice", "s1")
    assert prior is not None and (prior.text, prior.valid_from, prior.seq) == \
        ("second turn", at(2), -1)  # no sequence recorded for these
    assert await graph.preceding_turn(ALICE, "alice", None) is None


async def test_turns_of_one_write_time_keep_their_order_and_neighbours(
        graph: GraphStore) -> None:
    # one batch: the same write time for every turn, so only `seq` orders them
    turns = [mem(f"turn number {i}") for i in range(4)]
    stored = await put(graph, *turns)
    await graph.link_turns([TurnLink(m.id, i, turns[i - 1].id if i else None)
                            for i, m in enumerate(turns)], {})
    prior = await graph.preceding_turn(ALICE, "alice", "s1")
    assert prior is not None and (prior.id, prior.seq) == (turns[3].id, 3)
    near = await graph.turn_neighbours([turns[0].id, turns[2].id], [ALICE])
    assert near == {turns[0].id: (turns[1].id,), turns[2].id: (turns[1].id, turns[3].id)}
    # never across the namespace boundary the caller reads
    assert await graph.turn_neighbours([turns[2].id], [BOB]) == {}
    # a forgotten turn is no neighbour
    await graph.set_status([turns[3].id], MemoryStatus.ARCHIVED, at(5), [ev("forget")])
    assert (await graph.turn_neighbours([turns[2].id], [ALICE]))[turns[2].id] == \
        (turns[1].id, turns[3].id)  # archived is still a committed turn of the talk
    assert stored[0].id == turns[0].id


async def test_a_later_turn_is_appended_to_the_previous_turns_keyword_context(
        graph: GraphStore) -> None:
    question = mem("Melanie: how was the support group yesterday?")
    await graph.insert_memories([question], [vec(1)], contexts={question.id: "8 May 2023"})
    await graph.mark_committed([question.id], [ev("remember")])
    plain = mem("Caroline: I painted a lake", minute=1)
    await put(graph, plain, seed=5)
    reply = mem("Caroline: it was so powerful, I felt accepted", minute=2)
    await put(graph, reply, seed=9)
    await graph.link_turns([TurnLink(reply.id, 1, question.id)],
                           {question.id: reply.text, plain.id: "painted sunrise accepted"})
    hits = [h for h, _ in await graph.keyword_search("powerful accepted", flt(ALICE), 10)]
    assert set(hits) == {reply.id, question.id, plain.id}
    # the context it had is kept
    assert [h for h, _ in await graph.keyword_search("8 May 2023", flt(ALICE), 10)] == \
        [question.id]
    [shown] = await graph.get_memories([question.id], [ALICE])
    assert shown.text == question.text
    assert await graph.turn_neighbours([question.id], [ALICE]) == {question.id: (reply.id,)}


async def test_keyword_scores_are_bm25_over_the_searched_namespaces(
        graph: GraphStore) -> None:
    # words chosen so that stemming leaves them alone on both stores' analyzers
    texts = ["kafka broker lag", "kafka topic", "postgres vacuum", "redis cache warm"]
    mine = await put(graph, *(mem(t) for t in texts))
    await put(graph, *(mem(f"kafka broker {i}", BOB, by="bob") for i in range(5)), seed=20)
    hits = await graph.keyword_search("kafka broker", flt(ALICE), 10)
    # alice's four memories (any status counts) are the collection; bob's five are not
    expected = bm25({"kafka": [(mine[0].id, len(texts[0])), (mine[1].id, len(texts[1]))],
                     "broker": [(mine[0].id, len(texts[0]))]}, 4)
    assert [h for h, _ in hits] == sorted(expected, key=lambda i: -expected[i])
    assert dict(hits) == pytest.approx(expected, rel=1e-9)


async def test_keyword_query_syntax_is_inert(graph: GraphStore) -> None:
    [a] = await put(graph, mem("deploy notes for kafka"))
    await put(graph, mem("kafka secret of bob", BOB, by="bob"), seed=5)
    for query in ['kafka" OR namespace:agent*', "kafka) OR (*:*", 'kafka \\" ~2 ^9 [a TO z]',
                  "text:kafka OR keyword_context:kafka", "kafka' MATCH (n) DETACH DELETE n //"]:
        assert [h for h, _ in await graph.keyword_search(query, flt(ALICE), 10)] == [a.id]
    assert await graph.keyword_search("*:*", flt(ALICE), 10) == []


async def test_namespace_statistic_follows_deletes(graph: GraphStore) -> None:
    [a, b] = await put(graph, mem("kafka broker lag"), mem("kafka topic"))
    pending = mem("unrelated pending write", minute=1)
    await graph.insert_memories([pending], [vec(9)])
    await graph.delete_pending([pending.id])
    [gone] = await put(graph, mem("postgres vacuum"), seed=3)
    await graph.set_status([gone.id], MemoryStatus.ARCHIVED, at(1), [ev("forget")])
    await graph.purge_memories([gone.id], [ev("purge")])
    hits = dict(await graph.keyword_search("kafka broker", flt(ALICE), 10))
    expected = bm25({"kafka": [(a.id, len(a.text)), (b.id, len(b.text))],
                     "broker": [(a.id, len(a.text))]}, 2)
    assert hits == pytest.approx(expected, rel=1e-9)


async def test_an_appended_context_scores_as_if_written_with_the_memory(
        graph: GraphStore) -> None:
    # BM25 normalises by a memory's length (text and keyword context): a context appended
    # later by the next turn must count in it, as one written at insert does
    first, second = "harbour walk at noon", "we met Jon near the lighthouse"
    later = mem("Nia: the ferry left early")
    await graph.insert_memories([later], [vec(1)], contexts={later.id: first})
    await graph.mark_committed([later.id], [ev("remember")])
    await graph.link_turns([], {later.id: second})
    whole = mem("Nia: the ferry left early", minute=1)
    await graph.insert_memories([whole], [vec(2)], contexts={whole.id: first + "\n" + second})
    await graph.mark_committed([whole.id], [ev("remember")])
    scores = dict(await graph.keyword_search("ferry lighthouse", flt(ALICE), 10))
    assert set(scores) == {later.id, whole.id}
    assert scores[later.id] == pytest.approx(scores[whole.id], rel=1e-9)


async def test_a_filter_only_rows_can_answer_changes_no_score(graph: GraphStore) -> None:
    # SQLite answers a recall's default filter (namespaces, statuses) from a narrow copy of
    # each memory's keyword figures, and any other filter from the memory rows: both must
    # see the same memories with the same lengths after every kind of write
    [a, b, gone] = await put(graph, mem("kafka broker lag on the ferry"),
                             mem("kafka topic for the lighthouse", minute=1),
                             mem("kafka broker retired", minute=2))
    later = mem("Nia: the ferry left early", minute=3)
    await graph.insert_memories([later], [vec(9)], contexts={later.id: "kafka harbour"})
    await graph.mark_committed([later.id], [ev("remember")])
    await graph.link_turns([], {later.id: "we met Jon near the lighthouse"})
    pending = mem("kafka broker still pending", minute=4)
    await graph.insert_memories([pending], [vec(10)])
    await graph.set_status([gone.id], MemoryStatus.ARCHIVED, at(5), [ev("forget")])
    await put(graph, mem("kafka broker of bob", BOB, by="bob"), seed=20)
    for query in ("kafka broker", "ferry lighthouse", "harbour kafka"):
        plain = await graph.keyword_search(query, flt(ALICE), 10)
        rows_only = await graph.keyword_search(
            query, flt(ALICE, created_after=at(-60), created_by="alice"), 10)
        assert plain and [h for h, _ in rows_only] == [h for h, _ in plain], query
        assert [s for _, s in rows_only] == pytest.approx([s for _, s in plain], rel=1e-9)
    archived = dict(await graph.keyword_search("kafka broker", flt(
        ALICE, statuses=(MemoryStatus.ARCHIVED,)), 10))
    assert set(archived) == {gone.id}
    assert {h for h, _ in await graph.keyword_search("kafka", flt(ALICE), 10)} == \
        {a.id, b.id, later.id}


async def test_sqlite_store_made_before_the_keyword_table_fills_it_on_open(
        tmp_path: Path) -> None:
    path = tmp_path / "graph.sqlite3"
    store = SqliteGraphStore(path)
    await store.open()
    [a] = await put(store, mem("kafka broker lag"))
    later = mem("Nia: the ferry left early", minute=1)
    await store.insert_memories([later], [vec(9)], contexts={later.id: "kafka harbour"})
    await store.mark_committed([later.id], [ev("remember")])
    before = await store.keyword_search("kafka ferry", flt(ALICE), 10)
    await store.close()
    downgrade(path, ("keyword_docs_ai", "keyword_docs_au", "keyword_docs_ad"),
              "DROP TABLE keyword_docs")  # the schema of the previous release
    store = SqliteGraphStore(path)
    await store.open()
    try:
        assert {h for h, _ in before} == {a.id, later.id}
        assert await store.keyword_search("kafka ferry", flt(ALICE), 10) == before
    finally:
        await store.close()


@pytest.mark.neo4j
async def test_neo4j_database_made_before_stored_lengths_fills_them_on_open(
        neo4j_clean: Neo4jTarget) -> None:
    def store() -> Neo4jGraphStore:
        return Neo4jGraphStore(neo4j_clean.uri, neo4j_clean.user, neo4j_clean.password)
    first = store()
    await first.open()
    short, long = await put(first, mem("kafka lag"), mem("kafka broker lag after the "
                                                         "night's deploy of the queue"))
    before = await first.keyword_search("kafka lag", flt(ALICE), 10)

    async def older(tx: Tx) -> None:  # the previous release stored no lengths
        await run(tx, "MATCH (m:Memory) REMOVE m.keyword_length")
        await run(tx, "MATCH (s:SchemaStep) DELETE s")
    await first.db.write(older)
    await first.close()
    second = store()
    await second.open()
    try:
        assert [h for h, _ in before] == [short.id, long.id]  # the shorter text first
        assert await second.keyword_search("kafka lag", flt(ALICE), 10) == before
    finally:
        await second.close()


async def test_equal_scores_rank_by_memory_id_at_the_limit(graph: GraphStore) -> None:
    # ids are random: insert (row) order is id order only once in 720 runs
    words = ("alpha", "gamma", "delta", "omega", "sigma", "kappa")
    tied = await put(graph, *(mem(f"kafka broker {w}") for w in words))
    await put(graph, mem("kafka"), seed=5)
    best = sorted(m.id for m in tied)
    for limit in (1, 3, 6):
        hits = await graph.keyword_search("kafka broker", flt(ALICE), limit)
        assert [h for h, _ in hits] == best[:limit]


async def test_a_term_over_the_posting_budget_in_scope_is_left_out(
        graph: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # The budget counts matches in the searched scope only: a word common elsewhere (in
    # another namespace, or in memories of the namespace the filter excludes) still
    # counts here. SQLite proves a term over budget from the full-text index alone
    # (`_over_budget_test`); without subtracting what lies outside the scope it would
    # leave "ferry" out.
    from fleetmem.memory.stores.neo4j import search_ops
    from fleetmem.memory.stores.sqlite import memory_search

    for module in (memory_search, search_ops):
        monkeypatch.setattr(module, "KEYWORD_POSTING_BUDGET", 3)
    monkeypatch.setattr(memory_search, "_PROOF_SCOPE", 1)  # the proof on a small store
    common = await put(graph, *(mem(f"kafka lag {i}", minute=i) for i in range(5)))
    [broker] = await put(graph, mem("kafka broker", minute=6), seed=10)
    ferries = await put(graph, *(mem(f"ferry {w}", minute=7 + i)
                                 for i, w in enumerate(["north", "south"])), seed=20)
    archived = await put(graph, *(mem(f"ferry old {i}", minute=10 + i) for i in range(3)),
                         seed=30)
    await graph.set_status([m.id for m in archived], MemoryStatus.ARCHIVED, at(20),
                           [ev("forget")])
    pending = mem("ferry pending", minute=21)
    await graph.insert_memories([pending], [vec(40)])
    await put(graph, *(mem(f"ferry bob {i}", BOB, by="bob", minute=i) for i in range(10)),
              seed=50)
    hits = dict(await graph.keyword_search("kafka broker ferry", flt(ALICE), 20))
    # kafka: 6 active matches > 3, left out; broker: 1; ferry: 2 in scope (16 in the store)
    assert set(hits) == {broker.id, *(m.id for m in ferries)}
    assert not {m.id for m in common} & set(hits)
    both = dict(await graph.keyword_search("broker ferry", flt(
        ALICE, statuses=(MemoryStatus.ACTIVE, MemoryStatus.ARCHIVED)), 20))
    assert set(both) == {broker.id}  # ferry: 5 active or archived > 3, left out


async def test_sqlite_over_budget_proof_changes_no_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Random stores of three namespaces with every status and commit state, a small
    # budget: the search with the full-text proof of `_over_budget_test` returns exactly
    # what reading every term's matches returns, and the proof does leave terms out.
    from fleetmem.memory.stores.sqlite import memory_search

    monkeypatch.setattr(memory_search, "KEYWORD_POSTING_BUDGET", 6)
    monkeypatch.setattr(memory_search, "_PROOF_SCOPE", 1)
    rng = np.random.default_rng(7)
    words = [f"w{i}x" for i in range(30)]
    freq = 1.0 / np.arange(1, 31)  # Zipf-like: some words near the budget, some far over
    freq /= freq.sum()
    store = SqliteGraphStore(tmp_path / "graph.sqlite3")
    await store.open()
    store.db.keyword_cache = KeywordCache(0)  # each search reads the index
    try:
        namespaces = [ALICE, BOB, "team:atlas"]
        weights = [0.6, 0.3, 0.1]  # alice holds most of the store: the proof applies
        made = []
        for i in range(160):
            ns = namespaces[int(rng.choice(3, p=weights))]
            text = " ".join(rng.choice(words, size=int(rng.integers(1, 5)), p=freq))
            made.append(mem(f"{text} {i}", ns, by="alice", minute=i))
        for start in range(0, len(made), 40):
            chunk = made[start:start + 40]
            await store.insert_memories(chunk, [vec(start + j) for j in range(len(chunk))])
            done = [m.id for m in chunk if rng.random() > 0.1]  # some stay pending
            await store.mark_committed(done, [ev("remember", None, targets=done)])
        archived = [m.id for m in made if rng.random() < 0.1]
        await store.set_status(archived, MemoryStatus.ARCHIVED, at(500), [ev("forget")])
        superseded = [m.id for m in made if rng.random() < 0.05 and m.id not in archived]
        await store.set_status(superseded, MemoryStatus.SUPERSEDED, at(501), [ev("correct")])
        proved: list[bool] = []
        real = memory_search._over_budget_test

        def counted(*args: object) -> object:
            test = real(*args)  # type: ignore[arg-type]
            if test is None:
                return None

            def over(phrase: str) -> bool:
                proved.append(test(phrase))
                return proved[-1]
            return over

        filters = [flt(ALICE), flt(ALICE, BOB), flt(BOB), flt(ALICE, statuses=(
            MemoryStatus.ACTIVE, MemoryStatus.ARCHIVED)), flt(ALICE, BOB, "team:atlas")]
        for _ in range(40):
            query = " ".join(rng.choice(words, size=3, p=freq))
            for f in filters:
                monkeypatch.setattr(memory_search, "_over_budget_test", counted)
                with_proof = await store.keyword_search(query, f, 10)
                monkeypatch.setattr(memory_search, "_over_budget_test",
                                    lambda *args: None)
                without = await store.keyword_search(query, f, 10)
                assert with_proof == without, (query, f)
        assert any(proved) and not all(proved)
    finally:
        await store.close()
