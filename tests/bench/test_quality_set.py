"""The quality set is deterministic and its gold answers are consistent; the metrics are right."""

from __future__ import annotations

import math

from bench.quality import generate, ndcg_at, recall_at, score


def test_same_seed_same_set_and_other_seed_differs() -> None:
    a, b, c = generate(1), generate(1), generate(1, seed=1)
    assert [f.text for f in a.facts] == [f.text for f in b.facts]
    assert [q.text for q in a.questions] == [q.text for q in b.questions]
    assert [q.text for q in a.questions] != [q.text for q in c.questions]


def test_gold_answers_exist_and_updates_supersede() -> None:
    qs = generate(2)
    texts = qs.text_of()
    superseded = {u.replaces for u in qs.updates}
    for q in qs.questions:
        assert q.gold and all(g in texts for g in q.gold)
        assert not set(q.gold) & superseded, "a superseded fact is never a gold answer"
        if q.category == "update":
            assert set(q.stale) <= superseded
        if q.category == "multi-hop":
            assert len(q.gold) == 2
    assert {"paraphrase", "update", "multi-hop"} <= {q.category for q in qs.questions}
    assert sum(f.key.startswith("n") for f in qs.facts) == 600  # default noise: 300 * scale


def test_metrics() -> None:
    assert recall_at(["a", "x", "b"], ["a", "b"], 2) == 0.5
    assert recall_at(["a", "x", "b"], ["a", "b"], 3) == 1.0
    assert ndcg_at(["a", "b"], ["a", "b"]) == 1.0
    assert math.isclose(ndcg_at(["x", "a"], ["a"]), 1 / math.log2(3))
    qs = generate(1, noise=0)
    perfect = score(qs, [list(q.gold) for q in qs.questions])
    assert perfect.recall5 == perfect.ndcg10 == 1.0 and perfect.stale_in_top5 == 0.0
    stale = score(qs, [[*q.stale, *q.gold] for q in qs.questions])
    assert stale.stale_in_top5 == 1.0
