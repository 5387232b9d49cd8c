"""Applying human edits of entity notes to the graph, through the service, as the human.

Each changed note is compared with the last synced state: a note changed only in the vault
is applied (renames first, then new entities, edits, relations, deletions); a note whose
entity also changed in the graph is a conflict, kept on both sides and reported.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace

from fleetmem.memory.errors import Conflict, FleetmemError
from fleetmem.memory.services import Caller, EntitySpec, EntityView, MemoryService, RelationSpec
from fleetmem.memory.settings import VaultSettings
from fleetmem.vault import layout
from fleetmem.vault.markdown import EntityNote, Link, parse_entity
from fleetmem.vault.projection import NoteSpec, Projection, sha
from fleetmem.vault.report import SyncReport
from fleetmem.vault.state import NoteState, VaultFiles, VaultState

logger = logging.getLogger(__name__)


@dataclass
class _Plan:
    path: str
    namespace: str
    note: EntityNote
    entity: EntityView | None
    state: NoteState | None
    name: str = ""


@dataclass
class ImportContext:
    """Everything one import run shares; also what the export step needs to know."""

    service: MemoryService
    viewer: Caller
    human: Caller
    cfg: VaultSettings
    files: VaultFiles
    state: VaultState
    before: Projection
    texts: dict[str, str]
    report: SyncReport
    imported: dict[str, str] = field(default_factory=dict)
    """Paths whose content was applied (or found equal) -> checksum of that content."""
    hold: set[str] = field(default_factory=set)
    """Paths export must leave alone this run (conflicts, errors, pending)."""
    written: dict[str, str] = field(default_factory=dict)
    """Paths written during import -> checksum written."""
    applied: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Entity notes applied -> (namespace, entity name)."""
    extra_names: dict[str, dict[str, str]] = field(default_factory=dict)
    renamed: dict[str, dict[str, str]] = field(default_factory=dict)

    def error(self, path: str, exc: FleetmemError) -> None:
        """Report a note that could not be applied and keep it for the next run."""
        self.report.errors.append(f"{path}: {exc.message}")
        self.hold.add(path)

    def spec_of(self, entity_id: str) -> NoteSpec | None:
        """The projected note of an entity id before this run's changes."""
        path = self.before.entity_paths.get(entity_id)
        return self.before.notes.get(path) if path else None

    def resolve(self, ns: str, link: Link) -> str | None:
        """The entity name a wikilink in a note of `ns` points at (None: another namespace)."""
        folder = self.before.folders[ns]
        if link.folder is not None and link.folder != folder:
            return None
        key = layout.stem_key(link.stem)
        name = (self.extra_names.get(ns, {}).get(key)
                or self.before.stems.get(ns, {}).get(key) or link.stem)
        return self.renamed.get(ns, {}).get(name.lower(), name)

    def meaning(self, ns: str, note: EntityNote) -> tuple[object, ...]:
        """What an entity note says, independent of formatting and order."""
        return (note.entity_type, tuple(sorted(note.aliases or ())),
                tuple(sorted(note.tags or ())), frozenset(o.text for o in note.observations),
                frozenset((r.relation_type, (self.resolve(ns, r.link) or "").lower())
                          for r in note.relations))

    async def conflict(self, path: str, spec: NoteSpec | None, why: str) -> None:
        """Keep the vault's note, put the graph's version next to it, report both."""
        target = layout.conflict_path(path)
        content = spec.content if spec is not None else (
            "# Deleted in the graph\n\nThis entity was deleted in the graph after the last "
            "sync, while its note was edited. Delete this file to re-create the entity from "
            "the note, or delete the note to accept the deletion.\n")
        if self.files.write(target, content, None):
            self.written[target] = sha(content)
            self.report.conflicts.append(f"{path}: {why}; the graph's version is in {target}")
        else:
            self.report.conflicts.append(f"{path}: {why}; {target} already exists, so the "
                                         "graph's version was not written: delete or rename "
                                         "it and sync again")
        entry = self.state.notes.get(path)
        if entry is not None:
            entry.conflict = True
        else:
            self.state.notes[path] = NoteState("entity", spec.namespace if spec else "",
                                               spec.key if spec else "",
                                               spec.name if spec else "", "", "",
                                               conflict=True)
        self.hold.add(path)


def _parse_all(texts: dict[str, str]) -> dict[str, EntityNote | FleetmemError]:
    """Each note parsed, or the error that refused it."""
    out: dict[str, EntityNote | FleetmemError] = {}
    for path, text in texts.items():
        try:
            out[path] = parse_entity(text)
        except FleetmemError as exc:
            out[path] = exc
    return out


def note_name(path: str, note: EntityNote, entry: NoteState | None, old_path: str) -> str:
    """The entity name a note stands for: a renamed file renames the entity, and so does an
    edited `name` property; otherwise the name stays what it was."""
    stem = path.rsplit("/", 1)[-1][: -len(layout.NOTE_EXT)]
    if entry is not None and old_path == path:
        return str(note.name) if note.name and note.name != entry.name else (entry.name or stem)
    if note.name and layout.stem_key(layout.stem_for(note.name)) == layout.stem_key(stem):
        return str(note.name)
    return stem


async def import_entities(ic: ImportContext, changed: list[str], missing: list[str]) -> None:
    """Apply changed, new, renamed and deleted entity notes."""
    parsed: dict[str, EntityNote] = {}
    # Parsed off the event loop: even a bounded parse of many notes must not stall requests.
    outcomes = await asyncio.to_thread(_parse_all, {p: ic.texts[p] for p in changed})
    for path, outcome in outcomes.items():
        if isinstance(outcome, FleetmemError):
            ic.error(path, outcome)
        else:
            parsed[path] = outcome
    for path, note in parsed.items():
        if note.ignored:
            ic.report.warnings.append(f"{path}: properties {', '.join(note.ignored)} are not "
                                      "kept (fleetmem stores type, aliases and tags)")
    renames: dict[str, str] = {}
    for old in missing:
        entry = ic.state.notes[old]
        for path, note in parsed.items():
            if (path not in ic.state.notes and path not in renames and note.id == entry.key
                    and path.split("/")[0] == old.split("/")[0]):
                renames[path] = old
                break
    plans = [p for p in [await _plan(ic, path, note, renames.get(path, path))
                         for path, note in parsed.items()] if p is not None]
    applied: list[_Plan] = []
    for plan in sorted(plans, key=lambda p: p.entity is None):
        try:
            await _apply(ic, plan)
            applied.append(plan)
            ic.imported[plan.path] = sha(ic.texts[plan.path])
            ic.applied[plan.path] = (plan.namespace, plan.name)
        except FleetmemError as exc:
            ic.error(plan.path, exc)
    for plan in applied:
        try:
            await _relations(ic, plan)
        except FleetmemError as exc:
            ic.error(plan.path, exc)
            ic.imported.pop(plan.path, None)
    for old in missing:
        if old not in renames.values():
            try:
                await _delete(ic, old)
            except FleetmemError as exc:
                ic.error(old, exc)


async def _plan(ic: ImportContext, path: str, note: EntityNote, old: str) -> _Plan | None:
    ns = ic.before.namespace_of(path.split("/")[0])
    if ns is None:
        return None
    entry = ic.state.notes.get(old)
    if entry is None:
        spec = ic.before.notes.get(path)
        if spec is None and note.id:
            existing = ic.spec_of(note.id)
            if existing is not None and existing.path != path and ic.files.exists(existing.path):
                note = replace(note, id=None)  # a copy of another note: a new entity
        if spec is not None and spec.kind == "entity":
            if ic.meaning(ns, note) == ic.meaning(ns, parse_entity(spec.content)):
                ic.imported[path] = sha(ic.texts[path])
            else:
                await ic.conflict(path, spec, "the note differs from the graph and there is no "
                                  "record of the last sync")
            return None
        if not ic.texts[path].strip():
            return None  # an empty new note (e.g. Obsidian's "Untitled"): wait for content
        plan = _Plan(path, ns, note, None, None)
    else:
        spec = ic.spec_of(entry.key)
        graph_changed = (spec.sha if spec else None) != entry.graph
        if graph_changed and not entry.conflict:
            if spec is not None and \
                    ic.meaning(ns, note) == ic.meaning(ns, parse_entity(spec.content)):
                ic.imported[path] = sha(ic.texts[path])
                return None
            why = ("deleted in the graph" if spec is None else "changed in the graph") + \
                " and edited in the vault since the last sync"
            await ic.conflict(path, spec, why)
            return None
        plan = _Plan(path, ns, note, spec.entity if spec else None, entry)
    plan.name = note_name(path, note, entry, old)
    return plan


def _remember_name(ic: ImportContext, ns: str, name: str) -> None:
    ic.extra_names.setdefault(ns, {})[layout.stem_key(layout.stem_for(name))] = name
    ic.extra_names[ns][layout.stem_key(name)] = name


async def _apply(ic: ImportContext, plan: _Plan) -> None:
    svc, human, ns, note, name = ic.service, ic.human, plan.namespace, plan.note, plan.name
    e = plan.entity
    if e is None:
        created = await svc.create_entities(human, [EntitySpec(
            name=name, entity_type=note.entity_type or ic.cfg.new_entity_type,
            observations=[o.text for o in note.observations], aliases=note.aliases or (),
            tags=note.tags or ())], ns)
        if not created:
            raise _exists(name, ns)
        _remember_name(ic, ns, name)
        ic.report.created.append(f"entity {name} in {ns}")
        return
    if name != e.name:
        await svc.rename_entity(human, e.name, name, ns)
        ic.renamed.setdefault(ns, {})[e.name.lower()] = name
        _remember_name(ic, ns, name)
        ic.report.renamed.append(f"{e.name} -> {name} in {ns}")
    changes: dict[str, object] = {}
    if note.entity_type and note.entity_type != e.entityType:
        changes["entity_type"] = note.entity_type
    if note.aliases is not None and list(note.aliases) != e.aliases:
        changes["aliases"] = [a for a in note.aliases if a.lower() != name.lower()]
    if note.tags is not None and list(note.tags) != e.tags:
        changes["tags"] = list(note.tags)
    if changes:
        await svc.update_entity(human, name, ns, **changes)  # type: ignore[arg-type]
        ic.report.updated.append(f"entity {name} in {ns}: {', '.join(sorted(changes))}")
    want = list(dict.fromkeys(o.text for o in note.observations))
    add = [w for w in want if w not in e.observations]
    remove = [h for h in e.observations if h not in want]
    if add:
        await svc.add_observations(human, [(name, add)], ns)
        ic.report.created += [f"observation of {name}: {t}" for t in add]
    if remove:
        await svc.delete_observations(human, [(name, remove)], ns)
        ic.report.deleted += [f"observation of {name}: {t}" for t in remove]


def _exists(name: str, ns: str) -> FleetmemError:
    return Conflict(f"an entity named {name} already exists in {ns}; edit its note instead "
                    "or give this note another name", field="name", rule="exists")


async def _relations(ic: ImportContext, plan: _Plan) -> None:
    ns, name = plan.namespace, plan.name
    want: dict[tuple[str, str], str] = {}
    for r in plan.note.relations:
        target = ic.resolve(ns, r.link)
        if target is None:
            ic.report.warnings.append(f"{plan.path}: [[{r.link.target}]] points into another "
                                      "namespace; relations stay within one namespace")
            continue
        want[(r.relation_type, target.lower())] = target
    have = {}
    if plan.entity is not None:
        have = {(r.relationType, ic.renamed.get(ns, {}).get(r.to.lower(), r.to).lower()): r.to
                for r in ic.before.relations.get(plan.entity.id, [])}
    add = [(t, target) for (t, low), target in want.items() if (t, low) not in have]
    remove = [(t, target) for (t, low), target in have.items() if (t, low) not in want]
    known = set(ic.before.entities.get(ns, {})) | {n.lower() for n in
                                                   ic.extra_names.get(ns, {}).values()}
    missing = list(dict.fromkeys(target for _t, target in add if target.lower() not in known))
    if missing:
        await ic.service.create_entities(ic.human, [EntitySpec(m, ic.cfg.new_entity_type)
                                                    for m in missing], ns)
        for m in missing:
            _remember_name(ic, ns, m)
        ic.report.created += [f"entity {m} in {ns} (linked from {name})" for m in missing]
    if add:
        await ic.service.create_relations(ic.human, [RelationSpec(name, target, t)
                                                     for t, target in add], ns)
        ic.report.created += [f"relation {name} {t} {target}" for t, target in add]
    if remove:
        await ic.service.delete_relations(ic.human, [RelationSpec(name, target, t)
                                                     for t, target in remove], ns)
        ic.report.deleted += [f"relation {name} {t} {target}" for t, target in remove]


async def _delete(ic: ImportContext, path: str) -> None:
    entry = ic.state.notes[path]
    spec = ic.spec_of(entry.key)
    if spec is None or spec.entity is None:
        return  # gone from the graph as well
    if spec.sha != entry.graph and not entry.conflict:
        if ic.files.write(spec.path, spec.content, None):
            ic.written[spec.path] = spec.sha
        ic.report.conflicts.append(f"{path}: deleted in the vault but changed in the graph "
                                   f"since the last sync; the note was restored at {spec.path}")
        return
    ic.files.keep_in_trash(path, spec.content)
    await ic.service.delete_entities(ic.human, [spec.entity.name], spec.namespace)
    ic.report.deleted.append(f"entity {spec.entity.name} in {spec.namespace} (memories "
                             f"archived; last note kept in {layout.STATE_DIR}/trash)")
