"""Entity notes <-> Markdown (pure): YAML frontmatter, observation bullets, relation lines.

Rendering is deterministic (the same entity always gives the same bytes) and parsing is
its inverse on the meaning of a note, so an unedited note never looks changed. Parsing is
forgiving: any line a human writes outside the relations section becomes an observation,
so nothing typed into a note is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from fleetmem.memory.errors import InvalidInput
from fleetmem.vault.guard import load_frontmatter

_FRONTMATTER = re.compile(r"\A---[ \t]*\n(.*?)(?:\n)?^---[ \t]*(?:\n|\Z)", re.DOTALL | re.M)
_LINK = re.compile(r"\[\[([^\[\]|#^]*)(?:[#^][^\[\]|]*)?(?:\|([^\[\]]*))?\]\]")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_OBS_META = re.compile(r"\s+\*\((?P<by>[^()*\n]+?), (?P<date>\d{4}-\d{2}-\d{2})\)\*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
INDENT = "  "
_PLAIN = re.compile(r"^[^\s\-?:,\[\]{}#&*!|>'\"%@`](?:[^\n\r\t\\\"]*[^\s:])?$")
_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class Link:
    """A wikilink: `[[target]]` or `[[target|display]]`; target may hold a folder prefix."""

    target: str
    display: str | None = None

    def render(self) -> str:
        """The link as Markdown."""
        return f"[[{self.target}|{self.display}]]" if self.display else f"[[{self.target}]]"

    @property
    def stem(self) -> str:
        """The note name the link points at (without folder)."""
        return self.target.rsplit("/", 1)[-1].strip()

    @property
    def folder(self) -> str | None:
        """The folder prefix of the link, if any."""
        return self.target.rsplit("/", 1)[0].strip() if "/" in self.target else None


@dataclass(frozen=True)
class ObservationLine:
    """One observation bullet: text plus the author and date shown after it."""

    text: str
    author: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class RelationLine:
    """One relation line: `- relation_type [[Target]]`."""

    relation_type: str
    link: Link


@dataclass(frozen=True)
class EntityNote:
    """The meaning of an entity note. None means the field is absent from the note."""

    id: str | None = None
    name: str | None = None
    entity_type: str | None = None
    aliases: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    namespace: str | None = None
    created_by: str | None = None
    updated_at: str | None = None
    observations: tuple[ObservationLine, ...] = ()
    relations: tuple[RelationLine, ...] = ()
    ignored: tuple[str, ...] = field(default=(), compare=False)
    """Frontmatter keys the vault does not keep (reported, never imported)."""


def _yaml_scalar(value: object) -> str:
    """A YAML scalar that reads back as the same string: plain when unambiguous, else
    double-quoted (JSON escapes are valid YAML)."""
    text = "" if value is None else str(value)
    if value is None:
        return "null"
    if text.isprintable() and _PLAIN.match(text) and ": " not in text and " #" not in text \
            and _implicit_tag(text) == _STR_TAG:
        return text
    return _quoted(text)


def _implicit_tag(text: str) -> str:
    """The type YAML would read an unquoted scalar as (bool, int, date, ... or str)."""
    return str(_RESOLVER.resolve(yaml.ScalarNode, text, (True, False)))  # type: ignore[no-untyped-call]


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar; anything not printable is escaped (\\u / \\U)."""
    out = ['"']
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c.isprintable():
            out.append(c)
        else:
            out.append(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
    return "".join(out) + '"'


def dump_frontmatter(data: dict[str, Any]) -> str:
    """YAML frontmatter block, keys in the given order (hand-written: PyYAML's emitter
    was most of the time of a 10k-note export)."""
    lines = ["---"]
    for key, value in data.items():
        if isinstance(value, list):
            lines.append(f"{key}: []" if not value else f"{key}:")
            lines += [f"- {_yaml_scalar(v)}" for v in value]
        else:
            lines.append(f"{key}: {_yaml_scalar(value)}")
    return "\n".join(lines) + "\n---\n"


def split_frontmatter(text: str) -> tuple[dict[str, Any], str]:
    """(frontmatter mapping, body) of a note; a note without frontmatter has `{}`.

    Raises:
        InvalidInput: the frontmatter is not valid YAML or not a mapping, or breaks the
            budgets of `fleetmem.vault.guard` (size, aliases, depth).
    """
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    m = _FRONTMATTER.match(text)
    if not m:
        return {}, text
    data = load_frontmatter(m.group(1)) or {}
    if not isinstance(data, dict):
        raise InvalidInput("the properties (frontmatter) must be 'key: value' lines",
                           field="frontmatter", rule="yaml")
    return data, text[m.end():]


def _scalar(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _string_list(value: object, strip_hash: bool = False) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else str(value).split(",")
    out = [str(v).strip() for v in items if v is not None]
    if strip_hash:
        out = [v.lstrip("#") for v in out]
    return tuple(dict.fromkeys(v for v in out if v))


def render_observation(o: ObservationLine) -> str:
    """A bullet, continuation lines indented, author and date after the text."""
    meta = f" *({o.author}, {o.date})*" if o.author and o.date else ""
    lines = o.text.split("\n")
    return "\n".join([f"- {lines[0]}", *(f"{INDENT}{x}" for x in lines[1:])]) + meta


def render_entity(note: EntityNote, title: str, show_name: bool) -> str:
    """The Markdown of an entity note (`show_name` when the file name cannot hold the name)."""
    fm: dict[str, Any] = {"id": note.id}
    if show_name:
        fm["name"] = note.name
    fm.update({"type": note.entity_type, "aliases": list(note.aliases or ()),
               "tags": list(note.tags or ()), "namespace": note.namespace,
               "created_by": note.created_by, "updated_at": note.updated_at})
    parts = [dump_frontmatter(fm), f"# {title}\n", "\n## Observations\n"]
    parts += [render_observation(o) + "\n" for o in note.observations]
    parts.append("\n## Relations\n")
    parts += [f"- {r.relation_type} {r.link.render()}\n" for r in note.relations]
    return "".join(parts)


def note_items(body: str) -> list[tuple[str, str]]:
    """(section, text) of each item in a note body; continuation lines joined with \\n."""
    section, items, current = "observations", [], None
    in_fence: list[str] | None = None
    for raw in body.split("\n"):
        line = raw.rstrip()
        if in_fence is not None:
            in_fence.append(raw)
            if _FENCE.match(line):
                items.append((section, "\n".join(in_fence)))
                in_fence = None
            continue
        if _FENCE.match(line):
            in_fence, current = [raw], None
            continue
        heading = _HEADING.match(line)
        if heading:
            current = None
            if len(heading.group(1)) > 1:
                section = "relations" if "relation" in heading.group(2).lower() \
                    else "observations"
            continue
        if not line.strip() or line.strip().startswith("%%"):
            current = None
            continue
        if current is not None and raw.startswith((INDENT, "\t")) and not _BULLET.match(raw):
            items[current] = (items[current][0], items[current][1] + "\n" +
                              raw.removeprefix(INDENT).removeprefix("\t").rstrip())
            continue
        items.append((section, _BULLET.sub("", line, count=1).strip()))
        current = len(items) - 1
    if in_fence is not None:
        items.append((section, "\n".join(in_fence)))
    return items


def parse_observation(text: str) -> ObservationLine:
    """Split the author and date shown after an observation off its text."""
    m = _OBS_META.search(text)
    if m:
        return ObservationLine(text[: m.start()].strip(), m.group("by"), m.group("date"))
    return ObservationLine(text.strip())


def parse_relation(text: str) -> list[RelationLine]:
    """Relations of one line: the words before the first link are the type (default
    `related_to`); every link on the line is a target."""
    links = list(_LINK.finditer(text))
    if not links:
        return []
    rel_type = text[: links[0].start()].strip().rstrip(":").strip() or "related_to"
    return [RelationLine(rel_type, Link(m.group(1).strip(),
                                        (m.group(2) or "").strip() or None))
            for m in links if m.group(1).strip()]


def parse_entity(text: str) -> EntityNote:
    """The meaning of an entity note.

    Raises:
        InvalidInput: the frontmatter is not valid YAML.
    """
    fm, body = split_frontmatter(text)
    observations: list[ObservationLine] = []
    relations: list[RelationLine] = []
    for section, item in note_items(body):
        rels = parse_relation(item) if section == "relations" else []
        if rels:
            relations += rels
        elif item:
            obs = parse_observation(item)
            if obs.text:
                observations.append(obs)
    known = {"id", "name", "type", "aliases", "tags", "namespace", "created_by", "updated_at"}
    return EntityNote(
        id=_scalar(fm.get("id")), name=_scalar(fm.get("name")),
        entity_type=_scalar(fm.get("type")),
        aliases=_string_list(fm["aliases"]) if "aliases" in fm else None,
        tags=_string_list(fm["tags"], strip_hash=True) if "tags" in fm else None,
        namespace=_scalar(fm.get("namespace")), created_by=_scalar(fm.get("created_by")),
        updated_at=_scalar(fm.get("updated_at")),
        observations=tuple(observations), relations=tuple(dict.fromkeys(relations)),
        ignored=tuple(sorted(str(k) for k in fm if k not in known)))
