"""Pure domain rules: redaction, namespaces and roles, scoring, audit chain, text checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from fleetmem.memory.domain import audit
from fleetmem.memory.domain.access import AccessPolicy, Principal, Role, validate_namespace
from fleetmem.memory.domain.models import Attribution, Memory, MemoryKind
from fleetmem.memory.domain.redaction import redact
from fleetmem.memory.domain.scoring import retention
from fleetmem.memory.domain.text import (
    asks_about,
    clean_text,
    normalize,
    numbers_in,
    stem,
    validate_id,
)
from fleetmem.memory.errors import Forbidden, InvalidInput

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _memory(**kw: object) -> Memory:
    base = Memory(id="m", namespace="agent:a", text="t", kind=MemoryKind.FACT, importance=0.5,
                  tags=(), attribution=Attribution("a", T0), updated_at=T0, valid_from=T0)
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "secret"), [
    ("password=hunter22x", "hunter22x"),
    ("postgres://app:s3cr3tpw@db:5432/x", "s3cr3tpw"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijk", "eyJhbGci"),
    ("aws AKIAABCDEFGHIJKLMNOP here", "AKIAABCDEFGHIJKLMNOP"),
    ("token ghp_abcdefghijklmnopqrstuvwxyz0123", "ghp_abcdefghij"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA\n-----END OPENSSH PRIVATE KEY-----",
     "b3BlbnNzaA"),
    ("api_key: 'AbCdEf123456'", "AbCdEf123456"),
])
def test_redaction_removes_secrets(text: str, secret: str) -> None:
    result = redact(text)
    assert secret not in result.text and result.count >= 1


def test_redaction_leaves_plain_text_alone() -> None:
    text = "The password policy requires 12 characters; see https://wiki/passwords"
    assert redact(text).text == text and redact(text).count == 0


def test_namespace_format() -> None:
    for ok in ("agent:alice", "team:atlas", "global", "agent:human:dana"):
        assert validate_namespace(ok) == ok
    for bad in ("agent:", "team:../x", "Global", "agent:a b", "user:x", "", 3):
        with pytest.raises(InvalidInput):
            validate_namespace(bad)


def test_roles_deny_wins_and_unknown_agents_are_refused() -> None:
    crawler = Role("crawler", allow=frozenset({"remember", "recall"}),
                   deny=frozenset({"forget"}))
    policy = AccessPolicy(principals={"c": Principal("c", roles=(crawler,))})
    policy.check_operation("c", "remember")
    with pytest.raises(Forbidden) as exc:
        policy.check_operation("c", "forget")
    assert "crawler" in exc.value.message
    with pytest.raises(Forbidden):
        policy.check_operation("c", "correct")
    with pytest.raises(Forbidden):
        policy.readable("nobody")


def test_read_scope_refuses_foreign_namespaces() -> None:
    policy = AccessPolicy(principals={"a": Principal("a", teams=frozenset({"x"}))})
    assert policy.scope_reads("a", None) == ("agent:a", "team:x", "global")
    assert policy.scope_reads("a", ["team:x"]) == ("team:x",)
    with pytest.raises(Forbidden):
        policy.scope_reads("a", ["agent:b"])


def test_retention_decays_with_age_and_is_reinforced() -> None:
    m = _memory()
    ages = [retention(m, T0 + timedelta(days=d)) for d in (0, 10, 100, 1000)]
    assert ages == sorted(ages, reverse=True) and ages[0] == 1.0
    used = replace(m, access_count=10)
    assert retention(used, T0 + timedelta(days=100)) > retention(m, T0 + timedelta(days=100))
    assert retention(replace(m, pinned=True), T0 + timedelta(days=10_000)) == 1.0
    pref = replace(m, kind=MemoryKind.PREFERENCE)
    episode = replace(m, kind=MemoryKind.EPISODE)
    later = T0 + timedelta(days=60)
    assert retention(pref, later) > retention(episode, later)


@pytest.mark.parametrize(("question", "relation", "asked"), [
    ("Where is the person who owns payments-api located?", "owned_by", True),
    ("What editor does the owner of payments-api prefer?", "owned_by", True),
    ("Who is responsible for payments-api?", "owned_by", False),
    ("Which team is Priya a member of?", "member_of", True),
    ("Which group does Priya belong to?", "member_of", False),
    ("What does payments depend on?", "depends_on", True),
])
def test_questions_ask_about_the_relations_they_name(question: str, relation: str,
                                                    asked: bool) -> None:
    assert asks_about(question, relation) is asked


def test_stem_meets_word_forms() -> None:
    assert {stem(w) for w in ("own", "owns", "owned", "owner", "owners")} == {"own"}
    assert stem("is") == "is" and stem("bus") == "bus"


def test_audit_chain_detects_tampering() -> None:
    events, prev = [], audit.GENESIS
    for i in range(5):
        e = audit.seal(audit.event("remember", "a", T0, target_ids=(str(i),)), i + 1, prev)
        events.append(e)
        prev = e.hash
    assert audit.first_broken(events) is None
    events[2] = replace(events[2], detail="tampered")
    assert audit.first_broken(events) == 3


def test_text_rules() -> None:
    assert normalize("  Hello,   WORLD! ") == "hello, world"
    assert numbers_in("port 8080 v1.2.3") == {"8080", "1.2.3"}
    assert validate_id("3F2B8C1E-6D4A-4F7E-9A51-2C0E8B7D9F10") == \
        "3f2b8c1e-6d4a-4f7e-9a51-2c0e8b7d9f10"
    with pytest.raises(InvalidInput):
        clean_text(42, "text", max_chars=10)
