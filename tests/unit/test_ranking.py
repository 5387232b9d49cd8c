"""Issue 18's ranking rules (pure): per-namespace BM25, fusion on merits, the short-text
penalty, bounded tie-breakers, and the dates of the keyword context."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from fleetmem.memory.domain.models import Attribution, Memory, MemoryKind
from fleetmem.memory.domain.ranking import (
    NEIGHBOUR_SHARE,
    QUESTION_PENALTY,
    SHORT_PENALTY,
    SHORT_WORDS,
    SPEAKER_BONUS,
    TIE_BREAK,
    Relevance,
    best_of,
    bm25,
    final_score,
    length_penalty,
    question_penalty,
    question_share,
    relevance,
    speaker_bonus,
    with_neighbours,
)
from fleetmem.memory.ports import RecallRow
from fleetmem.memory.services.memories.context import (
    date_tokens,
    keyword_context,
    names_dates,
    query_dates,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _memory(text: str, *, importance: float = 0.5, at: datetime = T0) -> Memory:
    return Memory(id=text, namespace="global", text=text, kind=MemoryKind.FACT,
                  importance=importance, tags=(), attribution=Attribution("a", at),
                  updated_at=at, valid_from=at)


def test_bm25_rarer_terms_weigh_more_and_longer_texts_less() -> None:
    scores = bm25({"rare": [("a", 10)], "common": [("a", 10), ("b", 10), ("c", 40)]}, 10)
    assert scores["a"] > scores["b"] > scores["c"]


def _scalar_bm25(matches: dict[str, list[tuple[object, int]]], total_docs: int,
                 k1: float = 1.2, b: float = 0.75) -> dict[object, float]:
    """The scalar formula `bm25` had before it ran on arrays (the oracle of the next test)."""
    lengths = {d: n for docs in matches.values() for d, n in docs}
    if not lengths:
        return {}
    avg = sum(lengths.values()) / len(lengths)
    n = max(total_docs, max(len(docs) for docs in matches.values()))
    out: dict[object, float] = {}
    for docs in matches.values():
        df = len(docs)
        idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        for d, length in docs:
            norm = k1 * (1.0 - b + b * length / avg) if avg > 0 else k1
            out[d] = out.get(d, 0.0) + idf * (k1 + 1.0) / (1.0 + norm)
    return out


@pytest.mark.parametrize("keys", ["ints", "strings"])
def test_bm25_on_arrays_equals_the_scalar_formula_exactly(keys: str) -> None:
    rng = random.Random(7)
    for run in range(200):
        pool = rng.randint(1, 60)
        docs = [i if keys == "ints" else f"m-{i:04d}" for i in range(pool)]
        # one length per document, as the stores give; every tenth run all empty texts
        length = {d: 0 if run % 10 == 0 else rng.choice([0, 1, 7, 80, rng.randint(1, 500)])
                  for d in docs}
        matches: dict[str, list[tuple[object, int]]] = {
            f"t{t}": [(d, length[d]) for d in rng.sample(docs, rng.randint(1, pool))]
            for t in range(rng.randint(1, 6))}
        total = rng.randint(0, 200)
        assert bm25(matches, total) == _scalar_bm25(matches, total)  # bit for bit


def test_best_of_keeps_the_ties_at_the_limit() -> None:
    docs = np.array([5, 3, 9, 1, 7])
    scores = np.array([1.0, 2.0, 2.0, 0.5, 2.0])
    assert best_of(docs, scores, 2) == [(3, 2.0), (9, 2.0), (7, 2.0)]
    assert best_of(docs, scores, 4) == [(3, 2.0), (9, 2.0), (7, 2.0), (5, 1.0)]
    assert best_of(docs, scores, 9) == [(3, 2.0), (9, 2.0), (7, 2.0), (5, 1.0), (1, 0.5)]
    assert best_of(docs, scores, 0) == [] and best_of(docs[:0], scores[:0], 3) == []


def test_bm25_depends_only_on_the_collection_it_is_given() -> None:
    matches = {"deploy": [("a", 20), ("b", 30)]}
    assert bm25(matches, 5) == bm25(dict(matches), 5)
    assert bm25({}, 5) == {}


def test_a_keyword_only_hit_can_reach_the_top() -> None:
    dense = {f"d{i}": 0.5 - i * 0.01 for i in range(40)} | {"kw": 0.45}
    rel = relevance(dense, {"kw": 9.0, "d39": 1.0}, [], [])
    ranked = sorted(rel, key=lambda i: rel[i].total, reverse=True)
    assert ranked[0] == "kw"


def test_a_near_empty_text_loses_to_a_real_answer() -> None:
    assert length_penalty("Caroline: Cool!") > 0.7 * SHORT_PENALTY
    assert length_penalty("Caroline: I went to the LGBTQ support group yesterday and "
                          "it was powerful") == 0.0
    short = final_score(Relevance(0.60, 0.0, 0.0), _memory("Caroline: Cool!"), T0)
    answer = final_score(Relevance(0.58, 0.0, 0.0),
                         _memory("Caroline: the support group met on Tuesday evening "
                                 "at the library downtown"), T0)
    assert answer.total > short.total


def test_the_length_penalty_falls_by_one_step_per_word_up_to_short_words() -> None:
    # counted up to SHORT_WORDS only: the same penalty as counting every word
    for n in range(SHORT_WORDS + 4):
        text = "Caroline: " + " ".join(["word"] * n)
        assert length_penalty(text) == pytest.approx(
            SHORT_PENALTY * max(0, SHORT_WORDS - n) / SHORT_WORDS)


def test_a_turn_that_asks_loses_to_the_turn_that_answers() -> None:
    asks = "Melanie: Have you read any good books lately? Which ones would you recommend?"
    tells = "Tim: I just finished The Name of the Wind, the best fantasy I have read this year"
    assert question_share(asks) == 1.0
    assert question_share(tells) == 0.0
    assert question_penalty(asks) == pytest.approx(QUESTION_PENALTY)
    question = final_score(Relevance(0.60, 0.0, 0.0), _memory(asks), T0)
    answer = final_score(Relevance(0.60 - QUESTION_PENALTY + 0.01, 0.0, 0.0), _memory(tells), T0)
    assert answer.total > question.total


def test_a_turn_that_asks_and_tells_loses_its_questions_share() -> None:
    mixed = "Tim: I went to Paris with my sister last week for the marathon. Have you been?"
    share = question_share(mixed)
    assert 0.1 < share < 0.3  # "Have you been?" is 14 of the 72 characters
    assert question_penalty(mixed) == pytest.approx(QUESTION_PENALTY * share)
    assert question_share('Tim: "Is that so?"') == 1.0  # a closing quote after the mark
    assert question_share("Tim: Really? I did not know that, thanks for telling me") < 0.2


def test_only_conversation_turns_lose_for_asking() -> None:
    for note in ("Should we migrate the billing service to Postgres?",
                 "Question: what is the on-call rota for December?"):
        assert question_share(note) == 1.0
        assert question_penalty(note) == 0.0
        scored = final_score(Relevance(0.60, 0.0, 0.0), _memory(note), T0)
        plain = final_score(Relevance(0.60, 0.0, 0.0), _memory(note.rstrip("?") + "."), T0)
        assert scored.total == pytest.approx(plain.total)


def test_importance_and_recency_never_overturn_a_clearly_better_relevance() -> None:
    now = T0 + timedelta(days=400)
    old = _memory("The lunch place on 5th street shuts at 3 pm every weekday",
                  importance=0.0, at=T0)
    fresh = replace(_memory("Deploy freeze: nothing ships to production on Fridays at all",
                            importance=1.0, at=now), pinned=True)
    better = final_score(Relevance(0.55, 0.0, 0.0), old, now)
    boosted = final_score(Relevance(0.55 - TIE_BREAK - 0.001, 0.0, 0.0), fresh, now)
    assert better.total > boosted.total
    # within the tie-breaker's reach they do decide
    assert final_score(Relevance(0.55, 0.0, 0.0), fresh, now).total > better.total


def test_recency_counts_from_the_event_time_not_the_write_time() -> None:
    now = T0 + timedelta(days=1)
    imported = replace(_memory("Dave hiked the ridge trail with his brother", at=now),
                       valid_from=T0 - timedelta(days=365))
    assert final_score(Relevance(0.5, 0, 0), imported, now).recency < 0.01


def test_relative_dates_in_a_memory_resolve_against_its_event_time() -> None:
    when = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    ctx = keyword_context("Caroline: I went to a LGBTQ support group yesterday.", when,
                          "Melanie: How was your weekend?")
    assert "d20230508" in ctx and "Monday" in ctx  # the event date itself
    assert "d20230507" in ctx  # "yesterday"
    assert "Melanie: How was your weekend?" in ctx


def test_dates_in_a_question_become_date_tokens() -> None:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    assert "m202310" in query_dates("What was Dave doing in the first weekend of "
                                    "October 2023?", now)
    assert query_dates("What did Caroline do on 8 May 2023?", now) == ["d20230508"]
    assert query_dates("what changed last month?", now) == ["m202611"]
    assert not names_dates("Who owns the payments service?")
    assert date_tokens(datetime(2023, 10, 7, tzinfo=UTC), day=False) == \
        "October 2023 m202310 y2023"


def test_a_turn_next_to_a_strong_candidate_is_lifted_to_a_share_of_it() -> None:
    rel = {"question": Relevance(0.6, 0.3, 0.0), "weak": Relevance(0.5, 0.0, 0.0)}
    near = {"question": ("reply", "before"), "weak": ("other",)}
    out = with_neighbours(rel, near, {"reply": Relevance(0.2, 0.0, 0.0)})
    assert abs(out["reply"].total - NEIGHBOUR_SHARE * 0.9) < 1e-9
    assert out["reply"].dense == 0.2 and out["reply"].neighbour > 0
    assert abs(out["before"].total - NEIGHBOUR_SHARE * 0.9) < 1e-9  # no vector: from 0
    assert out["question"] == rel["question"]  # never lowered, never lifted above itself
    assert out["other"].total <= NEIGHBOUR_SHARE * 0.5 + 1e-9
    # a turn that scores more on its own keeps its own relevance
    own = with_neighbours(rel, {"weak": ("question",)}, {})
    assert own["question"] == rel["question"]


def test_a_turn_spoken_by_the_person_the_question_names_gets_the_speaker_bonus() -> None:
    named = frozenset({"melanie"})
    assert speaker_bonus(_memory("Melanie: I signed up for a pottery class."), named) == \
        SPEAKER_BONUS
    assert speaker_bonus(_memory("Caroline: Melanie signed up for pottery."), named) == 0
    assert speaker_bonus(_memory("Note: Melanie signed up for pottery."), named) == 0
    assert speaker_bonus(_memory("Melanie: pottery"), frozenset()) == 0
    rel = Relevance(0.5, 0.0, 0.0)
    spoken = final_score(rel, _memory("Melanie: I signed up for a pottery class today."),
                         T0, named=named)
    other = final_score(rel, _memory("Caroline: Melanie signed up for a pottery class today."),
                        T0, named=named)
    assert abs(spoken.total - other.total - SPEAKER_BONUS) < 1e-9


def test_fusion_scores_only_what_can_reach_the_top_k_and_ranks_as_scoring_all() -> None:
    """`recall._scored` skips candidates whose relevance plus the most the final score can
    add (speaker bonus, tie-breakers) is below the k-th best so far; the top k, their
    order and scores are those of scoring every candidate."""
    import random

    from fleetmem.memory.domain.ranking import MAX_FINAL_LIFT
    from fleetmem.memory.services.memories.recall import _scored

    rng = random.Random(18)
    speakers = ("Ana", "Ben", "Cy")
    now = T0 + timedelta(days=400)
    pruned_any = False
    for _ in range(200):
        n, k = rng.randint(1, 60), rng.randint(1, 12)
        rel: dict[str, Relevance] = {}
        rows = []
        for i in range(n):
            words = " ".join(["word"] * rng.randint(0, 12))
            m = replace(_memory(f"{rng.choice(speakers)}: {i} {words}",
                                importance=rng.random(),
                                at=T0 + timedelta(days=rng.uniform(0, 400))),
                        pinned=rng.random() < 0.1)
            # coarse values make exact ties common
            rel[m.id] = Relevance(round(rng.uniform(0.0, 0.9), 1), 0.0,
                                  rng.choice((0.0, 0.1)), rng.choice((0.0, 0.0, 0.05)))
            rows.append(RecallRow(m.id, False, None, m))
        named = frozenset(rng.sample([s.lower() for s in speakers], rng.randint(0, 2)))
        got = _scored(rel, rows, k, now, named)
        by_id = {r.id: r.memory for r in rows}
        ranked = sorted(rel, key=lambda i: rel[i].total, reverse=True)
        full = sorted(((final_score(rel[i], by_id[i], now, named=named), i) for i in ranked),
                      key=lambda si: si[0].total, reverse=True)[:k]
        assert [(b.total, m.id) for b, m, _ in got] == [(b.total, i) for b, i in full]
        assert all(b.total <= rel[m.id].total + MAX_FINAL_LIFT + 1e-12 for b, m, _ in got)
        pruned_any = pruned_any or len(rel) > k + 5
    assert pruned_any
