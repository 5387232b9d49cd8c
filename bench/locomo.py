"""LoCoMo (development half): does recall find the dialog turns that answer a question?

Follows the protocol of `../shared/data/locomo/README.md` (relative to the repository
root; `FLEETMEM_LOCOMO_DIR` overrides it): every turn is one memory `"<speaker>: <text>"`
whose event time (`valid_from`) is its session's date, one namespace per conversation,
every QA item of categories 1-4 with evidence is a query against its own conversation,
gold = its evidence ids. The dialog id of each memory is kept in a side mapping here
(memory id -> dialog ids; the service is given nothing but the text and its time).

The data never enters the repository: when it is absent the suite says so and skips.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.quality import ndcg_at

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
DATA_FILE = "locomo-dev.json"
_GOLD = re.compile(r"D:?(\d+):(\d+)")
_SESSION = re.compile(r"^session_(\d+)$")


def data_dir() -> Path:
    """Where the data set is read from: `FLEETMEM_LOCOMO_DIR`, else ../shared/data/locomo
    beside the repository."""
    env = os.environ.get("FLEETMEM_LOCOMO_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "locomo"


@dataclass(frozen=True)
class Turn:
    """One dialog turn: its id ("D3:7"), the memory text and its event time."""

    dia_id: str
    text: str
    when: datetime


@dataclass(frozen=True)
class Question:
    """One query with its gold dialog ids and category (1-4)."""

    text: str
    gold: frozenset[str]
    category: int


@dataclass
class Conversation:
    """One conversation: its namespace, turns in order and questions."""

    sample_id: str
    turns: list[Turn] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        """Each conversation is its own namespace."""
        return f"team:locomo-{self.sample_id}"


def session_time(text: str) -> datetime:
    """A session date such as "1:56 pm on 8 May, 2023" (no zone: UTC)."""
    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def gold_ids(evidence: Sequence[str]) -> list[str]:
    """Evidence entries as dialog ids ("D3:7"), leading zeros dropped."""
    return [f"D{int(a)}:{int(b)}" for e in evidence for a, b in _GOLD.findall(e)]


def load(path: Path | None = None) -> list[Conversation]:
    """Parse the data set into conversations (the protocol's turns and queries)."""
    raw = json.loads((path or data_dir() / DATA_FILE).read_text())
    out: list[Conversation] = []
    for item in raw:
        conv = Conversation(item["sample_id"])
        c = item["conversation"]
        sessions = sorted((int(m.group(1)), key) for key in c
                          if (m := _SESSION.match(key)) and isinstance(c[key], list))
        for _, key in sessions:
            when = session_time(c[f"{key}_date_time"])
            for t in c[key]:
                conv.turns.append(Turn(t["dia_id"], f"{t['speaker']}: {t['text']}", when))
        known = {t.dia_id for t in conv.turns}
        for qa in item["qa"]:
            if qa.get("category") not in CATEGORIES:
                continue
            gold = frozenset(g for g in gold_ids(qa.get("evidence") or []) if g in known)
            if gold:
                conv.questions.append(Question(qa["question"], gold, int(qa["category"])))
        out.append(conv)
    return out


def recall_at(ranked: Sequence[str], gold: frozenset[str], k: int) -> float:
    """|gold in the top k| / |gold|."""
    return len(gold & set(ranked[:k])) / len(gold)


@dataclass
class Scores:
    """Averages over a set of queries."""

    n: int
    r5: float
    r10: float
    ndcg10: float


def score(questions: Sequence[Question], ranked: Sequence[Sequence[str]]) -> Scores:
    """Recall@5, recall@10 and nDCG@10 averaged over the questions."""
    n = len(questions)
    if not n:
        return Scores(0, math.nan, math.nan, math.nan)
    pairs = list(zip(questions, ranked, strict=True))
    return Scores(n, sum(recall_at(r, q.gold, 5) for q, r in pairs) / n,
                  sum(recall_at(r, q.gold, 10) for q, r in pairs) / n,
                  sum(ndcg_at(r, q.gold) for q, r in pairs) / n)


def by_category(questions: Sequence[Question], ranked: Sequence[Sequence[str]]
                ) -> dict[str, Scores]:
    """Overall and per-category scores."""
    out = {"overall": score(questions, ranked)}
    for cat, name in CATEGORIES.items():
        idx = [i for i, q in enumerate(questions) if q.category == cat]
        out[name] = score([questions[i] for i in idx], [ranked[i] for i in idx])
    return out


def dialog_ranking(memory_ids: Sequence[str], dia_of: dict[str, list[str]]) -> list[str]:
    """Hits as dialog ids, best first (a memory that merged several turns maps to all)."""
    out: list[str] = []
    for mid in memory_ids:
        for d in dia_of.get(mid, []):
            if d not in out:
                out.append(d)
    return out
