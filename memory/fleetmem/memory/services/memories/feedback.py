"""Pseudo-relevance feedback on recall's keyword leg (RM3-like, issue 18): the words of the
best candidates, weighed by their relevance, are searched as a second keyword query, and
its matches gain at most FEEDBACK_WEIGHT. A question whose answers sit in many places
("what books has Tim read?") finds the places that share no word with it but share words
with its first answers ("novel", "fantasy").

Off while FEEDBACK_WEIGHT is 0 (see bench/OTHER_RUNS.md for what it was measured at)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from fleetmem.memory import tracing
from fleetmem.memory.domain.names import speaker_of
from fleetmem.memory.domain.ranking import Relevance
from fleetmem.memory.domain.text import keyword_terms
from fleetmem.memory.ports import MemoryFilter, RecallRow, Vector
from fleetmem.memory.services.runtime.context import ServiceContext

FEEDBACK_DOCS = 5
"""How many of the best candidates give their words."""
FEEDBACK_TERMS = 8
"""How many words the second query holds (the most weighed ones)."""
FEEDBACK_WEIGHT = 0.0
"""What the best match of the second query adds to a relevance (the first query's best
adds `ranking.KEYWORD_WEIGHT`); 0 turns the feedback off."""


def feedback_terms(question: str, texts: Sequence[tuple[str, float]],
                   limit: int = FEEDBACK_TERMS) -> list[str]:
    """The words of the (text, relevance) pairs that the question does not hold, each
    weighed by the relevance of the texts it occurs in over their word counts (RM3's
    P(w|D) x score(D) with every word counted once), best first."""
    asked = set(keyword_terms(question, 64))
    weight: dict[str, float] = {}
    for text, score in texts:
        who = speaker_of(text)
        body = text.split(":", 1)[1] if who is not None else text
        terms = [t for t in keyword_terms(body, 64) if t not in asked and not t.isdigit()]
        for t in terms:
            weight[t] = weight.get(t, 0.0) + max(score, 0.0) / len(terms)
    return sorted(weight, key=lambda t: (-weight[t], t))[:limit]


async def with_feedback(ctx: ServiceContext, question: str, rel: dict[str, Relevance],
                        rows: list[RecallRow], flt: MemoryFilter, depth: int,
                        vector: Vector | None, legs: dict[str, dict[str, float]]
                        ) -> tuple[dict[str, Relevance], list[RecallRow]]:
    """The candidates with the second query's matches added (their keyword part raised),
    and the rows with the new candidates' (weighed by their own cosine similarity)."""
    weight = FEEDBACK_WEIGHT
    if weight <= 0 or not rel:
        return rel, rows
    texts = {m.id: m.text for m, _, _ in rows}
    best = sorted((i for i in rel if i in texts), key=lambda i: rel[i].total,
                  reverse=True)[:FEEDBACK_DOCS]
    terms = feedback_terms(question, [(texts[i], rel[i].total) for i in best], FEEDBACK_TERMS)
    if not terms:
        return rel, rows
    with tracing.span("recall.feedback"):
        found = dict(await ctx.memories.keyword_search(" ".join(terms), flt, depth))
        fresh = [i for i in found if i not in rel]
        more = await ctx.memories.recall_candidates(fresh, flt, vector) if fresh else []
    top = max(found.values(), default=0.0)
    if top <= 0:
        return rel, rows
    own = {m.id: Relevance(s if s is not None else 0.0, 0.0, 0.0) for m, _, s in more}
    out = dict(rel)
    for i, score in found.items():
        base = out.get(i) or own.get(i)
        if base is None:  # no row: filtered out
            continue
        out[i] = replace(base, keyword=base.keyword + weight * score / top)
        legs.setdefault("keyword", {}).setdefault(i, 0.0)
    return out, [*rows, *more]
