"""The vault as the graph says it should be: every note's path and content for one viewer.

Built from service reads made as the viewer, so the vault never shows a namespace the
viewer may not read; private `agent:` namespaces appear only when configured.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from fleetmem.memory.services import (
    Caller,
    EntityView,
    MemoryService,
    MemoryView,
    RelationView,
    fact_texts,
    normalize,
    observation_text,
)
from fleetmem.memory.settings import VaultSettings
from fleetmem.vault import layout
from fleetmem.vault.daynotes import MemoryLine, render_day, render_index
from fleetmem.vault.markdown import EntityNote, Link, ObservationLine, RelationLine, render_entity

_PAGE = 500
LinkFn = Callable[[str, str], Link]


def sha(text: str) -> str:
    """Checksum of a note's content."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class NoteSpec:
    """One note the graph projects: where it goes and what it holds."""

    path: str
    kind: str
    namespace: str
    key: str
    content: str
    sha: str
    name: str = ""
    entity: EntityView | None = None
    memory_texts: dict[str, str] = field(default_factory=dict)
    """Dated notes: memory id -> checksum of its text."""


@dataclass
class Projection:
    """Every projected note plus the lookups import needs."""

    folders: dict[str, str]
    notes: dict[str, NoteSpec] = field(default_factory=dict)
    entity_paths: dict[str, str] = field(default_factory=dict)
    stems: dict[str, dict[str, str]] = field(default_factory=dict)
    """namespace -> stem key -> entity name."""
    entities: dict[str, dict[str, EntityView]] = field(default_factory=dict)
    """namespace -> lower-cased name -> entity."""
    relations: dict[str, list[RelationView]] = field(default_factory=dict)
    """entity id -> its current outgoing relations."""
    memories: dict[str, dict[str, MemoryView]] = field(default_factory=dict)
    """namespace -> id -> memory shown in a dated note."""
    warnings: list[str] = field(default_factory=list)

    def namespace_of(self, folder: str) -> str | None:
        """The shown namespace a folder holds, if any."""
        for ns, f in self.folders.items():
            if f == folder:
                return ns
        return None


async def shown_namespaces(service: MemoryService, viewer: Caller,
                           cfg: VaultSettings) -> tuple[dict[str, str], list[str]]:
    """(namespace -> access) the vault shows for the viewer, and warnings."""
    views = await service.list_namespaces(viewer)
    readable = {v.namespace: v.access for v in views}
    warnings = [f"namespace {ns} is not readable by {viewer.agent_id}; not shown"
                for ns in cfg.namespaces if ns not in readable]
    wanted = [ns for ns in readable if not cfg.namespaces or ns in cfg.namespaces]
    if not cfg.include_private:
        wanted = [ns for ns in wanted if not ns.startswith("agent:")]
    return {ns: readable[ns] for ns in wanted}, warnings


async def _read_namespace(service: MemoryService, viewer: Caller, ns: str
                          ) -> tuple[list[EntityView], list[RelationView], list[MemoryView]]:
    entities: list[EntityView] = []
    relations: list[RelationView] = []
    cursor: str | None = None
    while True:
        page = await service.read_graph(viewer, [ns], cursor, _PAGE)
        entities += page.entities
        relations += page.relations
        cursor = page.next_cursor
        if cursor is None:
            break
    memories: list[MemoryView] = []
    after: str | None = None
    while True:
        batch = await service.list_memories(viewer, [ns], after, 1000)
        memories += batch
        if len(batch) < 1000:
            break
        after = batch[-1].id
    return entities, relations, memories


async def build(service: MemoryService, viewer: Caller, cfg: VaultSettings) -> Projection:
    """Read the viewer's shown namespaces and render every note."""
    access, warnings = await shown_namespaces(service, viewer, cfg)
    folders: dict[str, str] = {}
    seen: dict[str, str] = {}
    for ns in sorted(access):
        folder = layout.namespace_folder(ns)
        if folder.casefold() in seen:
            warnings.append(f"namespace {ns} differs from {seen[folder.casefold()]} only in "
                            "letter case; not shown (folders would collide)")
            continue
        seen[folder.casefold()] = ns
        folders[ns] = folder
    data = {ns: await _read_namespace(service, viewer, ns) for ns in folders}
    # Rendering is pure CPU: off the event loop, so a large vault never stalls requests.
    return await asyncio.to_thread(_render, folders, access, data, warnings)


_Data = tuple[list[EntityView], list[RelationView], list[MemoryView]]


def _render(folders: dict[str, str], access: dict[str, str], data: dict[str, _Data],
            warnings: list[str]) -> Projection:
    """Every note of the shown namespaces, from what the service returned."""
    proj = Projection(folders=folders, warnings=warnings)
    stems = {ns: layout.entity_stems(e.name for e in data[ns][0]) for ns in folders}
    counts = Counter(layout.stem_key(s) for ns in folders for s in stems[ns].values())

    def link(ns: str, name: str) -> Link:
        stem = stems[ns].get(name)
        if stem is None:
            return Link(name)
        ambiguous = counts[layout.stem_key(stem)] > 1
        target = f"{folders[ns]}/{stem}" if ambiguous else stem
        return Link(target, name if stem != name or ambiguous else None)

    for ns, folder in folders.items():
        entities, relations, memories = data[ns]
        proj.stems[ns] = {layout.stem_key(s): n for n, s in stems[ns].items()}
        proj.entities[ns] = {e.name.lower(): e for e in entities}
        outgoing: dict[str, list[RelationView]] = {}
        for r in relations:
            outgoing.setdefault(r.from_.lower(), []).append(r)
        mirrors: set[str] = set()
        for e in entities:
            rels = sorted(outgoing.get(e.name.lower(), []),
                          key=lambda r: (r.relationType, r.to.lower()))
            proj.relations[e.id] = rels
            mirrors |= {normalize(observation_text(e.name, o)) for o in e.observations}
            mirrors |= {normalize(relation_text_of(r)) for r in rels}
            mirrors |= {normalize(t) for t in fact_texts(e.name, e.entityType, e.aliases,
                                                         e.tags)}
            _add(proj, _entity_note(ns, folder, e, stems[ns][e.name], rels, link))
        shown = [m for m in memories if normalize(m.text) not in mirrors]
        proj.memories[ns] = {m.id: m for m in shown}
        days: dict[str, list[MemoryView]] = {}
        for m in sorted(shown, key=lambda m: (m.attribution.created_at, m.id)):
            days.setdefault(m.attribution.created_at.date().isoformat(), []).append(m)
        for day, items in days.items():
            _add(proj, _day_note(ns, folder, day, items))
        index = render_index(ns, folder, access[ns],
                             [(e.entityType, link(ns, e.name))
                              for e in sorted(entities, key=lambda e: e.name.casefold())],
                             sorted(days))
        _add(proj, NoteSpec(layout.index_path(folder), "index", ns, "index", index, sha(index)))
    return proj


def relation_text_of(r: RelationView) -> str:
    """The memory text that mirrors a relation view."""
    return f"{r.from_} {r.relationType.replace('_', ' ')} {r.to}"


def _add(proj: Projection, note: NoteSpec) -> None:
    proj.notes[note.path] = note
    if note.kind == "entity":
        proj.entity_paths[note.key] = note.path


def entity_note_of(e: EntityView, rels: Sequence[RelationView]) -> EntityNote:
    """The meaning of an entity as its note would show it (links by entity name)."""
    return EntityNote(
        id=e.id, name=e.name, entity_type=e.entityType, aliases=tuple(e.aliases),
        tags=tuple(e.tags), namespace=e.namespace, created_by=e.attribution.created_by,
        updated_at=e.updated_at.isoformat(),
        observations=tuple(ObservationLine(o.text, o.created_by, o.created_at.date().isoformat())
                           for o in e.observation_details),
        relations=tuple(RelationLine(r.relationType, Link(r.to)) for r in rels))


def _entity_note(ns: str, folder: str, e: EntityView, stem: str,
                 rels: Sequence[RelationView], link: LinkFn) -> NoteSpec:
    note = replace(entity_note_of(e, rels),
                   relations=tuple(RelationLine(r.relationType, link(ns, r.to)) for r in rels))
    content = render_entity(note, e.name, show_name=stem != e.name)
    return NoteSpec(layout.entity_path(folder, stem), "entity", ns, e.id, content, sha(content),
                    name=e.name, entity=e)


def _day_note(ns: str, folder: str, day: str, items: Sequence[MemoryView]) -> NoteSpec:
    lines = [MemoryLine(m.text, m.id, m.kind, m.attribution.created_by,
                        m.attribution.created_at.strftime("%H:%M")) for m in items]
    content = render_day(ns, day, lines)
    return NoteSpec(layout.day_path(folder, day), "day", ns, day, content, sha(content),
                    memory_texts={m.id: sha(m.text) for m in items})
