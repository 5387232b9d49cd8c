"""Recall's ranking rules (pure): per-namespace BM25, score fusion, length awareness and
bounded tie-breakers. Measured on LoCoMo's development half and bench/quality.py
(bench/RESULTS.md, "Retrieval on LoCoMo")."""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from fleetmem.memory.domain.models import Memory, MemoryKind
from fleetmem.memory.domain.names import speaker_of
from fleetmem.memory.domain.scoring import DEFAULT_HALF_LIFE_DAYS, ScoreBreakdown, retention

KEYWORD_POSTING_BUDGET = 2_500
"""The most matching memories one keyword term may bring (in the searched namespaces): a
term found in more of them weighs almost nothing in BM25 and is left out, so a keyword
search costs at most terms x budget row reads."""

BM25_K1 = 1.2
BM25_B = 0.75

KEYWORD_WEIGHT = 0.3
"""What the best keyword match of a question adds to a cosine similarity (the keyword
scores are divided by the best one, so they lie in [0, 1]). With rank fusion (dense 1.0,
keyword 0.5, RRF k 60) a keyword-only hit could never reach the top 10. On LoCoMo's
development half 0.5 scored R@10 0.745 and 0.3 0.732, but 0.5 cost bench/quality.py's
nDCG@10 0.82 -> 0.78 (its questions share names, not topic words, with the answers):
0.3 keeps both (bench/RESULTS.md)."""

GRAPH_BONUS = 0.1
"""Added to the relevance of a memory about an entity the question names (graph leg)."""
HOP_LIFT = 1.0
"""A fact found across a relation the question asks about (the "hop": "where does the
*owner* of X sit?") names the owner, not X, so its own similarity to the question is low;
it counts as at least HOP_LIFT x the best similarity of any candidate: as close as the
fact naming the relation, which answers the question together with it (on
bench/quality.py, 0.9 lost multi-hop recall@5 0.70 -> 0.63)."""

SHORT_WORDS = 8
SHORT_PENALTY = 0.1
"""A text of fewer than SHORT_WORDS words loses up to SHORT_PENALTY (an empty one all of
it): "Caroline: Cool!" sits close to every question about Caroline."""

QUESTION_PENALTY = SHORT_PENALTY
"""What a conversation turn that only asks loses, as much as an empty one (a turn that asks
and tells loses its questions' share of it): a question is close to questions ("Tim:
Have you read any good books lately?" to "What books has Tim read?") but holds no answer;
the reply after it does, and the turn still lifts that reply as a neighbour. On LoCoMo's
development half 25% of turns end with a question mark, 28% of the wrong top-10 hits and
11-14% of the answers (bench/OTHER_RUNS.md)."""

TIE_BREAK = 0.03
"""The most recency, importance and retention together add to a relevance (each a third
of it): a memory whose relevance is more than this higher is never overturned."""
RECENCY_DAYS = 30.0

_WORD = re.compile(r"\w+")
_SENTENCE = re.compile(r"(?<=[.!?…])\s+")


Doc = TypeVar("Doc", bound=Hashable)
"""What identifies a document to `bm25`."""


Postings = tuple["npt.NDArray[Any]", "npt.NDArray[np.int64]"]
"""One term's matching documents (distinct) and their lengths, as two arrays of one length
(documents: a store's keys, integers or strings)."""


def bm25_arrays(matches: Sequence[Postings], total_docs: int, k1: float = BM25_K1,
                b: float = BM25_B) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    """`bm25` over arrays, for the keyword searches of both stores (thousands of matches a
    question: the loop over them in Python was most of the keyword leg's CPU). Returns
    the distinct documents (sorted) and their scores.

    Each posting's weight is computed with the same operations in the same order as the
    scalar formula, and a document's weights are summed in the order of its terms
    (`np.bincount` adds in index order), so the scores equal the scalar ones exactly.
    """
    given = [(d, n) for d, n in matches if len(d)]
    if not given:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    docs = np.concatenate([d for d, _ in given])
    uniq, inverse = np.unique(docs, return_inverse=True)
    lengths = np.zeros(len(uniq), dtype=np.int64)
    lengths[inverse] = np.concatenate([n for _, n in given])  # a document's last length
    avg = int(lengths.sum()) / len(uniq)
    n = max(total_docs, max(len(d) for d, _ in given))
    weights = []
    for d, length in given:
        df = len(d)
        idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        norm = k1 * (1.0 - b + b * length / avg) if avg > 0 else np.full(df, k1)
        weights.append(idf * (k1 + 1.0) / (1.0 + norm))
    scores = np.bincount(inverse.ravel(), weights=np.concatenate(weights),
                         minlength=len(uniq)).astype(np.float64, copy=False)
    return uniq, scores


def bm25(matches: Mapping[str, Sequence[tuple[Doc, int]]], total_docs: int,
         k1: float = BM25_K1, b: float = BM25_B) -> dict[Doc, float]:
    """BM25 over one collection (the searched namespaces) from each term's matching
    documents and their lengths: statistics never come from outside the collection.

    Term frequency counts as one (the texts are short; a store's index tells whether a
    term occurs, not how often); the length norm uses the mean length of the documents
    that matched any term. Computed by `bm25_arrays`.

    Args:
        matches: term -> (document key, document length) for every matching document
            (a key is a memory id or a store's row number).
        total_docs: documents in the collection (>= every term's match count).
    """
    postings = [postings_of(docs) for docs in matches.values()]
    uniq, scores = bm25_arrays(postings, total_docs, k1, b)
    return dict(zip(uniq.tolist(), scores.tolist(), strict=True))


def postings_of(docs: Sequence[tuple[Doc, int]]) -> Postings:
    """(document, length) pairs as `Postings` arrays."""
    return (np.array([d for d, _ in docs]),
            np.array([n for _, n in docs], dtype=np.int64))


def best_of(docs: npt.NDArray[Any], scores: npt.NDArray[np.float64],
            limit: int) -> list[tuple[Any, float]]:
    """The `limit` best documents by score and every one tied with the last of them, best
    first (ties in document order): the caller breaks the ties it needs to."""
    if limit <= 0 or not len(docs):
        return []
    if len(scores) > limit:
        last = np.partition(scores, len(scores) - limit)[len(scores) - limit]
        keep = scores >= last
        docs, scores = docs[keep], scores[keep]
    order = np.argsort(-scores, kind="stable")
    return list(zip(docs[order].tolist(), scores[order].tolist(), strict=True))


def _body(text: str) -> str:
    """A text after a leading "speaker:" label."""
    head, sep, rest = text.partition(":")
    return rest if sep and len(head) <= 40 and "\n" not in head else text


def question_share(text: str) -> float:
    """The share of a text's characters (after a "speaker:" label) in sentences that end
    with a question mark: 1.0 for "Bob: Where did you go?", 0.0 for no question."""
    sentences = [s for s in _SENTENCE.split(_body(text).strip()) if s]
    size = sum(len(s) for s in sentences)
    asked = sum(len(s) for s in sentences if s.rstrip(" \"'”)").endswith("?"))
    return asked / size if size else 0.0


def question_penalty(text: str) -> float:
    """What a conversation turn (a text with a speaker, `names.speaker_of`) loses for
    asking rather than telling: QUESTION_PENALTY x its `question_share`. Other memories
    lose nothing (a note may rightly be an open question)."""
    if "?" not in text or speaker_of(text) is None:  # most texts ask nothing: no parse
        return 0.0
    return QUESTION_PENALTY * question_share(text)


def length_penalty(text: str) -> float:
    """What a near-empty text loses from its relevance (0 for SHORT_WORDS words or more).
    Only the first SHORT_WORDS words are counted: recall weighs every candidate it scores,
    and counting all of a long text's words was a third of that."""
    counted = sum(1 for _ in islice(_WORD.finditer(_body(text)), SHORT_WORDS))
    return SHORT_PENALTY * (SHORT_WORDS - counted) / SHORT_WORDS


@dataclass(frozen=True, slots=True)
class Relevance:
    """The parts of one candidate's relevance."""

    dense: float
    keyword: float
    graph: float
    neighbour: float = 0.0

    @property
    def total(self) -> float:
        """Their sum."""
        return self.dense + self.keyword + self.graph + self.neighbour


def relevance(dense: Mapping[str, float], keyword: Mapping[str, float],
              graph: Sequence[str], hop: Sequence[str]) -> dict[str, Relevance]:
    """Every candidate of every leg on its merits: its cosine similarity to the question,
    plus KEYWORD_WEIGHT x its keyword score over the best one, plus the graph bonuses.

    `dense` must hold the similarity of every candidate (a keyword- or graph-only hit's is
    computed from its stored vector), so no source's hits are cut off by another's depth.
    """
    best = max(keyword.values(), default=0.0)
    top = max(dense.values(), default=0.0)
    graph_set, hop_set = set(graph), set(hop)
    ids = dict.fromkeys([*dense, *keyword, *graph, *hop])

    def lift(i: str) -> float:
        return max(0.0, HOP_LIFT * top - dense.get(i, 0.0)) if i in hop_set else 0.0
    return {i: Relevance(dense.get(i, 0.0),
                         KEYWORD_WEIGHT * keyword.get(i, 0.0) / best if best > 0 else 0.0,
                         GRAPH_BONUS * (i in graph_set) + lift(i))
            for i in ids}


NEIGHBOUR_SHARE = 0.8
"""A conversation turn next to one of the best candidates counts as at least this share
of that candidate's relevance: the answer often sits in the reply after the turn that
holds the question's words ("It went great!"), or the turn before it."""


def with_neighbours(rel: Mapping[str, Relevance], near: Mapping[str, Sequence[str]],
                    own: Mapping[str, Relevance], share: float = NEIGHBOUR_SHARE
                    ) -> dict[str, Relevance]:
    """The candidates, and the turns next to them (`near`: candidate -> its neighbours),
    each lifted to at least `share` x the relevance of the best candidate it is next to.

    `own` holds the relevance of neighbours that are no candidate yet (their cosine
    similarity): the lift is added on top of what a turn scores on its own."""
    out = dict(rel)
    for mid, turns in near.items():
        if mid not in rel:
            continue
        floor = share * rel[mid].total
        for n in turns:
            cur = out.get(n) or own.get(n) or Relevance(0.0, 0.0, 0.0)
            if floor > cur.total:
                out[n] = Relevance(cur.dense, cur.keyword, cur.graph,
                                   cur.neighbour + floor - cur.total)
            else:
                out[n] = cur
    return out


SPEAKER_BONUS = GRAPH_BONUS
"""Added to a conversation turn whose speaker (`"Melanie: ..."`) the question names: "what
does Melanie like?" is answered by Melanie's own turns more often than by the turns that
mention her. The graph bonus of an entity the question names, given to what it said (the
graph leg skips a speaker's mentions for its own bonus: they are hundreds; this bonus
goes only to candidates the other legs found). On LoCoMo's development half 0.05 gave
R@10 0.764 and 0.1 0.768 (bench/OTHER_RUNS.md)."""


MAX_FINAL_LIFT = SPEAKER_BONUS + TIE_BREAK
"""The most `final_score` adds to a relevance (the speaker bonus and the tie-breakers,
each in [0, 1] weighed to at most TIE_BREAK together; the penalties only lower it):
a candidate whose relevance plus this is below the k-th best final score cannot enter
the top k, so it need not be scored."""


def speaker_bonus(memory: Memory, named: frozenset[str]) -> float:
    """SPEAKER_BONUS when the memory is a turn spoken by one of the `named` (lower-cased)
    entities, else 0."""
    if not named:
        return 0.0
    who = speaker_of(memory.text)
    return SPEAKER_BONUS if who is not None and who.lower() in named else 0.0


def event_time(memory: Memory) -> datetime:
    """When what the memory tells happened: its `valid_from` (the write time unless the
    writer gave one)."""
    return memory.valid_from


def final_score(rel: Relevance, memory: Memory, now: datetime,
                half_lives: Mapping[MemoryKind, float] = DEFAULT_HALF_LIFE_DAYS,
                named: frozenset[str] = frozenset()) -> ScoreBreakdown:
    """Relevance (with the speaker bonus for a turn of a person the question names, in
    `graph`), less the short-text and question penalties, plus the bounded tie-breakers:
    recency of the event time, importance and retention, together at most TIE_BREAK."""
    age_days = max(0.0, (now - event_time(memory)).total_seconds() / 86400.0)
    recency = math.exp(-age_days / RECENCY_DAYS)
    ret = retention(memory, now, half_lives)
    spoke = speaker_bonus(memory, named)
    total = rel.total + spoke - length_penalty(memory.text) - question_penalty(memory.text) \
        + TIE_BREAK * (recency + memory.importance + ret) / 3.0
    return ScoreBreakdown(rel.dense, rel.keyword, rel.graph + spoke, recency,
                          memory.importance, ret, total, rel.neighbour)
