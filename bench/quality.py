"""A seeded agent-memory quality set with gold answers: facts about people, services,
decisions and preferences; updates that supersede earlier facts; paraphrased questions;
multi-hop questions that need a relation (service -> owner -> the owner's facts).

Pure and deterministic: the same (scale, seed) gives the same set on every machine.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from bench import workload
from bench.workload import FIRST, LAST

TEAMS = ("Atlas", "Borealis", "Cygnus", "Draco", "Electra", "Fornax", "Gemini", "Hydra")
ROLES = ("backend engineer", "site reliability engineer", "data engineer", "security engineer",
         "frontend engineer", "engineering manager", "platform engineer", "QA engineer")
CITIES = ("Lisbon", "Nairobi", "Toronto", "Osaka", "Krakow", "Austin", "Bangalore", "Oslo",
          "Santiago", "Melbourne", "Dublin", "Seoul", "Accra", "Montreal", "Tallinn", "Porto")
EDITORS = ("Neovim", "VS Code", "Emacs", "IntelliJ IDEA", "Helix", "Zed", "Sublime Text")
LANGS = ("Rust", "Go", "Python", "TypeScript", "Kotlin", "Elixir", "Haskell", "OCaml")
DATABASES = ("Postgres", "MySQL", "DynamoDB", "Cassandra", "MongoDB", "CockroachDB", "Redis",
             "ClickHouse", "SQLite", "Elasticsearch")
DOMAINS = ("payments", "ledger", "identity", "search", "notifications", "billing", "inventory",
           "checkout", "catalog", "shipping", "pricing", "analytics", "media", "profiles",
           "reporting", "scheduling", "fraud", "loyalty", "returns", "messaging", "onboarding",
           "compliance", "forecasting", "tax")
KINDS = ("api", "worker", "gateway", "store", "pipeline")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SPOKEN = ("Portuguese", "Swahili", "French", "Japanese", "Polish", "Spanish", "Hindi",
          "Norwegian", "Korean", "German")
SLOS = ("99.9", "99.95", "99.99", "99.5", "99.0")
CADENCES = ("daily", "twice a week", "every Monday", "on every merge", "weekly")
PURPOSES = (("message queue", ("Kafka", "RabbitMQ", "NATS", "SQS")),
            ("feature flags", ("LaunchDarkly", "Unleash", "Flagsmith")),
            ("tracing", ("OpenTelemetry", "Jaeger", "Zipkin")),
            ("deployments", ("Argo CD", "Flux", "Spinnaker")),
            ("secrets", ("Vault", "SOPS", "AWS Secrets Manager")))


@dataclass(frozen=True)
class Fact:
    """One memory to write: `key` is how gold answers name it."""

    key: str
    text: str
    entities: tuple[str, ...]
    kind: str = "fact"
    replaces: str | None = None
    """Key of the earlier fact this one supersedes (an update)."""


@dataclass(frozen=True)
class Relation:
    """A typed edge between two named entities."""

    source: str
    relation: str
    target: str


@dataclass(frozen=True)
class Question:
    """A question, the keys that answer it, and what kind of question it is."""

    text: str
    gold: tuple[str, ...]
    category: str
    stale: tuple[str, ...] = ()
    """Superseded keys that must not be served as the answer."""


@dataclass
class QualitySet:
    """Entities, facts in write order, later updates, relations and questions."""

    entities: dict[str, str] = field(default_factory=dict)
    facts: list[Fact] = field(default_factory=list)
    updates: list[Fact] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)

    def text_of(self) -> dict[str, str]:
        """Key -> text for every fact and update."""
        return {f.key: f.text for f in [*self.facts, *self.updates]}


def generate(scale: int = 3, seed: int = 2026, noise: int | None = None) -> QualitySet:
    """Build the set: 8*scale people, 5*scale services, about 48*scale facts and updates,
    plus `noise` (default 300*scale) ops-log memories that answer no question."""
    rng = random.Random(seed)
    qs = QualitySet()
    names = [f"{a} {b}" for a in FIRST for b in LAST]
    rng.shuffle(names)
    people = names[: 8 * scale]
    services = rng.sample([f"{d}-{k}" for d in DOMAINS for k in KINDS], 5 * scale)
    counter = iter(range(1_000_000))

    def add(text: str, entities: Sequence[str], kind: str = "fact",
            replaces: str | None = None, update: bool = False) -> str:
        key = f"q{next(counter):05d}"
        (qs.updates if update else qs.facts).append(
            Fact(key, text, tuple(entities), kind, replaces))
        return key

    where: dict[str, str] = {}
    pref_key: dict[str, str] = {}
    for team in TEAMS[: max(2, scale)]:
        qs.entities[team] = "team"
    teams = list(qs.entities)
    for p in people:
        qs.entities[p] = "person"
        team, role, city = rng.choice(teams), rng.choice(ROLES), rng.choice(CITIES)
        editor, lang = rng.choice(EDITORS), rng.choice(LANGS)
        qs.relations.append(Relation(p, "member_of", team))
        k_team = add(f"{p} works on the {team} team as a {role}.", [p, team])
        where[p] = add(f"{p} is based in {city}.", [p])
        pref_key[p] = add(f"{p} prefers {editor} as an editor and writes most code in {lang}.",
                          [p], kind="preference")
        k_join = add(f"{p} joined the company in {rng.randint(2012, 2025)}.", [p])
        add(f"{p} is on call every {rng.choice(WEEKDAYS)} and handles {rng.choice(TEAMS)} "
            "escalations.", [p])
        add(f"{p} speaks {rng.choice(SPOKEN)} and mentors new hires.", [p])
        first = p.split()[0]
        qs.questions += [
            Question(f"When did {p} start working here?", (k_join,), "paraphrase"),
            Question(f"Which group does {p} belong to?", (k_team,), "paraphrase"),
            Question(f"What text editor does {first} {p.split()[1]} like to use?",
                     (pref_key[p],), "paraphrase"),
        ]
        if rng.random() < 0.35:  # people move: the newer fact supersedes the older one
            new_city = rng.choice([c for c in CITIES if c != city])
            old = where[p]
            where[p] = add(f"{p} relocated to {new_city} this spring.", [p], replaces=old,
                           update=True)
            qs.questions.append(Question(f"In which city does {p} live now?", (where[p],),
                                         "update", stale=(old,)))
        else:
            qs.questions.append(Question(f"In which city does {p} live?", (where[p],),
                                         "paraphrase"))
    for s in services:
        qs.entities[s] = "service"
        owner = rng.choice(people)
        db = rng.choice(DATABASES)
        qs.relations.append(Relation(s, "owned_by", owner))
        k_owner = add(f"The {s} service is owned by {owner}.", [s, owner])
        k_db = add(f"{s} stores its data in {db}.", [s])
        k_port = add(f"{s} listens on port {rng.randint(3000, 9999)} in production.", [s])
        k_slo = add(f"{s} has an availability target of {rng.choice(SLOS)} percent.", [s])
        k_lang = add(f"{s} is written in {rng.choice(LANGS)}.", [s])
        add(f"{s} deploys {rng.choice(CADENCES)} through the shared pipeline.", [s])
        purpose, options = rng.choice(PURPOSES)
        k_dec = add(f"Decision: {s} adopts {rng.choice(options)} for {purpose}, approved after "
                    f"a design review led by {owner}.", [s, owner])
        qs.questions += [
            Question(f"Who is responsible for {s}?", (k_owner,), "paraphrase"),
            Question(f"Which TCP port does {s} serve traffic on?", (k_port,), "paraphrase"),
            Question(f"What uptime objective does {s} promise?", (k_slo,), "paraphrase"),
            Question(f"Which programming language is {s} implemented in?", (k_lang,),
                     "paraphrase"),
            Question(f"What did we choose for {purpose} in {s}?", (k_dec,), "paraphrase"),
            Question(f"Where is the person who owns {s} located?", (k_owner, where[owner]),
                     "multi-hop"),
            Question(f"What editor does the owner of {s} prefer?", (k_owner, pref_key[owner]),
                     "multi-hop"),
        ]
        if rng.random() < 0.4:
            new_db = rng.choice([d for d in DATABASES if d != db])
            k_new = add(f"{s} migrated off {db}; it now keeps its data in {new_db}.", [s],
                        replaces=k_db, update=True)
            qs.questions.append(Question(f"Which database backs {s} today?", (k_new,),
                                         "update", stale=(k_db,)))
        else:
            qs.questions.append(Question(f"Which database backs {s}?", (k_db,), "paraphrase"))
    n_noise = 300 * scale if noise is None else noise
    for i, text in enumerate(workload.memories(n_noise, seed=seed)):
        qs.facts.insert(rng.randrange(len(qs.facts) + 1),
                        Fact(f"n{i:06d}", text, (), "episode"))
    return qs


def recall_at(ranked: Sequence[str], gold: Sequence[str], k: int) -> float:
    """Share of the gold keys found in the top k."""
    top = set(ranked[:k])
    return sum(g in top for g in gold) / len(gold)


def ndcg_at(ranked: Sequence[str], gold: Collection[str], k: int = 10) -> float:
    """Binary-relevance nDCG@k."""
    rel = set(gold)
    dcg = sum(1 / math.log2(i + 2) for i, key in enumerate(ranked[:k]) if key in rel)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(rel), k)))
    return dcg / ideal


@dataclass
class Scores:
    """Averages over the questions, overall and by category."""

    recall5: float
    recall10: float
    ndcg10: float
    by_category: dict[str, float]
    stale_in_top5: float
    """Share of update questions whose superseded answer still shows in the top 5."""


def score(qs: QualitySet, ranked: Sequence[Sequence[str]]) -> Scores:
    """Score one system's ranked keys (one list per question, in question order)."""
    r5 = [recall_at(r, q.gold, 5) for q, r in zip(qs.questions, ranked, strict=True)]
    r10 = [recall_at(r, q.gold, 10) for q, r in zip(qs.questions, ranked, strict=True)]
    nd = [ndcg_at(r, q.gold) for q, r in zip(qs.questions, ranked, strict=True)]
    cats: dict[str, list[float]] = {}
    for q, v in zip(qs.questions, r5, strict=True):
        cats.setdefault(q.category, []).append(v)
    upd = [(q, r) for q, r in zip(qs.questions, ranked, strict=True) if q.stale]
    stale = sum(any(s in r[:5] for s in q.stale) for q, r in upd) / max(1, len(upd))
    return Scores(sum(r5) / len(r5), sum(r10) / len(r10), sum(nd) / len(nd),
                  {c: sum(v) / len(v) for c, v in sorted(cats.items())}, stale)
