"""Pure rules: safe file names, and Markdown rendering that parsing inverts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetmem.vault import layout
from fleetmem.vault.daynotes import MemoryLine, parse_day, render_day
from fleetmem.vault.markdown import (
    EntityNote,
    Link,
    ObservationLine,
    RelationLine,
    parse_entity,
    render_entity,
)

names = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\n\r"),
                min_size=1, max_size=220).map(str.strip).filter(bool)
line_text = st.text(st.characters(exclude_categories=["Cs", "Cc", "Zl", "Zp"]),
                    min_size=1, max_size=80).map(str.strip).filter(
    lambda t: bool(t) and not t.startswith(("#", "%%", "```", "~~~", "-", "*", "+"))
    and not t[0].isdigit())


@settings(max_examples=300, deadline=None)
@given(st.lists(names, min_size=1, max_size=30, unique_by=str.lower))
def test_entity_stems_are_safe_unique_and_stable(batch: list[str]) -> None:
    """Entity names are unique per namespace ignoring case; their stems must be too."""
    stems = layout.entity_stems(batch)
    assert set(stems) == set(batch)
    keys = [layout.stem_key(s) for s in stems.values()]
    assert len(set(keys)) == len(keys)  # distinct even on case-insensitive file systems
    for name, stem in stems.items():
        assert layout.is_safe_relative(layout.entity_path("team atlas", stem))
        assert "/" not in stem and "\\" not in stem and not stem.startswith((".", " "))
        assert not any(c in stem for c in ':*?"<>|#^[]') and not stem.endswith((".", " "))
        assert len(stem.encode()) <= 140
        kind = layout.classify(layout.entity_path("team atlas", stem))
        assert kind == ("entity", "team atlas", stem)
        assert stems[name] == layout.entity_stems(batch[::-1])[name]  # order-independent
        if layout.stem_for(name) == name:
            assert stem == name  # usable names are kept as they are


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=40))
def test_frontmatter_scalars_read_back_unchanged(value: str) -> None:
    from fleetmem.vault.markdown import dump_frontmatter, split_frontmatter

    data, body = split_frontmatter(dump_frontmatter({"k": value, "l": [value]}) + "body")
    assert data == {"k": value, "l": [value]} and body == "body"


def test_namespace_folders_round_trip() -> None:
    for ns in ("team:atlas", "agent:human:dana", "agent:bob-2", "global"):
        assert layout.folder_namespace(layout.namespace_folder(ns)) == ns
    assert layout.folder_namespace("..") is None
    assert layout.folder_namespace("random stuff") is None
    assert not layout.is_safe_relative("../x.md") and not layout.is_safe_relative("/etc/x.md")


@settings(max_examples=200, deadline=None)
@given(st.lists(line_text, max_size=6, unique=True),
       st.lists(st.tuples(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), line_text.filter(
           lambda t: not any(c in t for c in "[]|#^/"))), max_size=4, unique=True),
       st.lists(line_text.filter(lambda t: "," not in t), max_size=3, unique=True))
def test_entity_note_round_trip(observations: list[str], relations: list[tuple[str, str]],
                                tags: list[str]) -> None:
    note = EntityNote(
        id="3f2b8c1e-6d4a-4f7e-9a51-2c0e8b7d9f10", name="Ada: the 1st", entity_type="person",
        aliases=("Countess",), tags=tuple(t.lstrip("#") for t in tags if t.lstrip("#")),
        namespace="team:atlas", created_by="alice", updated_at="2026-01-01T00:00:00+00:00",
        observations=tuple(ObservationLine(o, "alice", "2026-01-01") for o in observations),
        relations=tuple(RelationLine(t, Link(target)) for t, target in relations))
    text = render_entity(note, "Ada: the 1st", show_name=True)
    parsed = parse_entity(text)
    assert parsed == note
    assert render_entity(parsed, "Ada: the 1st", show_name=True) == text


def test_parse_is_forgiving() -> None:
    text = ("---\ntype: tool\ntags: ['#infra', ops]\ncssclasses: [wide]\n---\n"
            "Free text becomes an observation.\n\n* starred bullet\n1. numbered\n"
            "- multi-line\n  continued here\n\n```\ncode stays one item\n```\n"
            "## Relations\n- depends on [[Postgres]], [[team atlas/Redis|the cache]]\n"
            "- [[Kafka#Topics]]\n- plain words under relations\n")
    note = parse_entity(text)
    assert note.entity_type == "tool" and note.tags == ("infra", "ops")
    assert note.ignored == ("cssclasses",)
    assert [o.text for o in note.observations] == [
        "Free text becomes an observation.", "starred bullet", "numbered",
        "multi-line\ncontinued here", "```\ncode stays one item\n```",
        "plain words under relations"]
    assert [(r.relation_type, r.link.stem, r.link.folder) for r in note.relations] == [
        ("depends on", "Postgres", None), ("depends on", "Redis", "team atlas"),
        ("related_to", "Kafka", None)]


def test_bad_frontmatter_is_reported() -> None:
    from fleetmem.memory.errors import InvalidInput

    try:
        parse_entity("---\ntype: [unclosed\n---\nbody\n")
    except InvalidInput as exc:
        assert "not valid YAML" in exc.message
    else:
        raise AssertionError("invalid YAML must be reported")


def test_day_note_round_trip() -> None:
    lines = [MemoryLine("Deploy freeze on Friday", "3f2b8c1e-6d4a-4f7e-9a51-2c0e8b7d9f10",
                        "fact", "alice", "09:30"),
             MemoryLine("two\nlines", "0f2b8c1e-6d4a-4f7e-9a51-2c0e8b7d9f11", "episode",
                        "human:dana", "10:00")]
    text = render_day("team:atlas", "2026-01-01", lines)
    assert parse_day(text) == lines
    added = parse_day(text + "- a new thought\n")
    assert added[-1] == MemoryLine("a new thought")
