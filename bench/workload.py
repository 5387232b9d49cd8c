"""A seeded, deterministic agent-memory corpus for throughput and latency runs.

Texts look like what coding and ops agents write (who changed what, where, why), with
enough independent slots that two texts are rarely near-duplicates (the service dedups
cosine >= 0.96, which would make an ingest count lie).
"""

from __future__ import annotations

import random

FIRST = ("Priya", "Marcus", "Lena", "Tomas", "Aiko", "Omar", "Grace", "Diego", "Sofia", "Jonas",
         "Mei", "Ravi", "Elena", "Kofi", "Hannah", "Yusuf", "Clara", "Mateo", "Ingrid", "Sami",
         "Noor", "Felix", "Amara", "Pavel", "Lucia", "Tariq", "Freya", "Bruno", "Keiko", "Idris")
LAST = ("Shah", "Okafor", "Lindqvist", "Novak", "Tanaka", "Haddad", "Kim", "Alvarez", "Rossi",
        "Berg", "Chen", "Iyer", "Petrova", "Mensah", "Weber", "Demir", "Fischer", "Silva",
        "Larsen", "Nakamura", "Aziz", "Moreau", "Eze", "Kowalski", "Costa", "Rahman", "Holm",
        "Duarte", "Sato", "Bello")
SYSTEMS = ("payments", "ledger", "auth", "search", "notifications", "billing", "inventory",
           "checkout", "catalog", "shipping", "recommendations", "analytics", "gateway",
           "profile", "reporting", "scheduler", "ingest", "export", "media", "pricing")
SUFFIX = ("api", "worker", "service", "gateway", "cron", "consumer")
REGIONS = ("eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1", "ap-northeast-1")
TOPICS = ("retry storm", "connection pool exhaustion", "slow cold start", "memory leak",
          "stale cache entries", "clock skew", "a flaky integration test", "TLS certificate expiry",
          "a schema migration lock", "noisy alerts", "high p99 latency", "a race in the consumer",
          "duplicate webhook deliveries", "missing idempotency keys", "an N+1 query")
FIXES = ("added jittered backoff", "raised the pool size to 40", "moved config loading off the "
         "hot path", "pinned the client library", "added a cache TTL of 5 minutes",
         "switched to monotonic clocks", "quarantined the test", "automated certificate renewal",
         "split the migration into batches", "tuned the alert thresholds",
         "added a composite index", "introduced a per-key lock", "deduplicated by delivery id",
         "required idempotency keys on writes", "batched the lookups")
TOOLS = ("Postgres", "Redis", "Kafka", "SQLite", "Terraform", "Grafana", "Sentry", "Vault",
         "Kubernetes", "GitHub Actions", "Prometheus", "OpenTelemetry", "Nginx", "RabbitMQ")
TEMPLATES = (
    "{person} deployed {system} version {v} to {region} after fixing {topic}; {fix}.",
    "Incident {n}: {system} in {region} suffered {topic}. {person} {fix} and wrote the postmortem.",
    "{person} prefers {tool} for {system} because it simplifies {topic} handling.",
    "Decision {n}: the {system} team adopts {tool}; {person} owns the rollout in {region}.",
    "{person} reviewed pull request #{n} on {system}: it {fix} to address {topic}.",
    "On-call note {n}: if {system} shows {topic} in {region}, page {person} first.",
    "{system} depends on {tool}; {person} measured {n} requests per second in {region}.",
    "Runbook for {system}: when {topic} appears, {fix}. Contact {person} (since release {v}).",
)
QUESTIONS = (
    "who fixed {topic} in {system}?",
    "what did {person} change in {system}?",
    "which tool does the {system} team use?",
    "who should be paged for {system} problems in {region}?",
    "how was {topic} resolved?",
    "what does {person} prefer for {system}?",
)


def _slots(rng: random.Random, i: int) -> dict[str, str]:
    system = f"{rng.choice(SYSTEMS)}-{rng.choice(SUFFIX)}"
    return {"person": f"{rng.choice(FIRST)} {rng.choice(LAST)}", "system": system,
            "region": rng.choice(REGIONS), "topic": rng.choice(TOPICS), "fix": rng.choice(FIXES),
            "tool": rng.choice(TOOLS), "n": str(1000 + i),
            "v": f"{rng.randint(1, 9)}.{rng.randint(0, 40)}.{rng.randint(0, 99)}"}


def memories(n: int, seed: int = 7, offset: int = 0) -> list[str]:
    """`n` distinct memory texts (text i depends only on seed and offset + i)."""
    out: list[str] = []
    for i in range(offset, offset + n):
        rng = random.Random(seed * 1_000_003 + i)
        out.append(rng.choice(TEMPLATES).format(**_slots(rng, i)))
    return out


def queries(n: int, seed: int = 11) -> list[str]:
    """`n` natural-language questions over the same vocabulary."""
    rng = random.Random(seed)
    return [rng.choice(QUESTIONS).format(**_slots(rng, i)) for i in range(n)]
