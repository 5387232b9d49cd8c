"""Applying human edits of dated memory notes: a new bullet is a new memory, an edited one
corrects its memory (the old text stays as history), a removed one forgets it (archived).

Memories are independent, so dated notes merge item by item against what was last synced:
only the same memory changed on both sides is a conflict.
"""

from __future__ import annotations

import asyncio
import re

from fleetmem.memory.errors import FleetmemError
from fleetmem.memory.services import MemoryInput
from fleetmem.vault.daynotes import parse_day
from fleetmem.vault.importer import ImportContext
from fleetmem.vault.projection import sha

_ID = re.compile(r"\^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", re.I)


def _ids_elsewhere(ic: ImportContext, path: str) -> set[str]:
    """Memory ids present in the namespace's other dated notes (a bullet moved between
    days is not a deletion)."""
    prefix = path.rsplit("/", 1)[0] + "/"
    return {m.lower() for p, text in ic.texts.items()
            if p.startswith(prefix) and p != path for m in _ID.findall(text)}


async def import_days(ic: ImportContext, changed: list[str], missing: list[str]) -> None:
    """Apply changed, new and deleted dated notes."""
    for path in changed:
        try:
            await _import_day(ic, path)
        except FleetmemError as exc:
            ic.error(path, exc)
    for path in missing:
        try:
            await _deleted_day(ic, path)
        except FleetmemError as exc:
            ic.error(path, exc)


async def _import_day(ic: ImportContext, path: str) -> None:
    ns = ic.before.namespace_of(path.split("/")[0])
    if ns is None:
        return
    entry = ic.state.notes.get(path)
    resolved = entry is not None and entry.conflict
    base = entry.memories if entry else {}
    graph = ic.before.memories.get(ns, {})
    svc, human = ic.service, ic.human
    elsewhere = _ids_elsewhere(ic, path)
    clashes: list[str] = []
    seen: set[str] = set()
    for line in await asyncio.to_thread(parse_day, ic.texts[path]):  # off the loop
        mine = sha(line.text)
        current = graph.get(line.id) if line.id else None
        if line.id:
            seen.add(line.id)
        if line.id and current is None and base.get(line.id) == mine:
            continue  # forgotten or corrected in the graph; the note will follow
        if current is None:
            result = await svc.remember(human, MemoryInput(text=line.text, namespace=ns))
            ic.report.created.append(f"memory {result.id} in {ns}"
                                     + (" (already known: reinforced)"
                                        if result.deduplicated else ""))
            continue
        if line.text == current.text or base.get(current.id) == mine:
            continue
        if current.id in base and base[current.id] != sha(current.text) and not resolved:
            clashes.append(current.id)
            continue
        view = await svc.correct(human, current.id, line.text,
                                 reason="edited in the Obsidian vault")
        ic.report.updated.append(f"memory {current.id} corrected by {view.id} in {ns}")
    for mid, was in base.items():
        current = graph.get(mid)
        if mid in seen or mid in elsewhere or current is None:
            continue
        if was != sha(current.text) and not resolved:
            clashes.append(mid)
            continue
        await svc.forget(human, mid)
        ic.report.deleted.append(f"memory {mid} in {ns} (archived)")
    if clashes:
        await ic.conflict(path, ic.before.notes.get(path),
                          f"{len(clashes)} memories changed both in the graph and in the vault")
    else:
        ic.imported[path] = sha(ic.texts[path])


async def _deleted_day(ic: ImportContext, path: str) -> None:
    ns = ic.before.namespace_of(path.split("/")[0])
    entry = ic.state.notes[path]
    if ns is None:
        return
    graph = ic.before.memories.get(ns, {})
    elsewhere = _ids_elsewhere(ic, path)
    for mid, was in entry.memories.items():
        current = graph.get(mid)
        if current is None or mid in elsewhere:
            continue
        if was != sha(current.text) and not entry.conflict:
            ic.report.conflicts.append(f"{path}: deleted in the vault, but memory {mid} changed "
                                       "in the graph since the last sync; kept")
            continue
        await ic.service.forget(ic.human, mid)
        ic.report.deleted.append(f"memory {mid} in {ns} (archived)")
