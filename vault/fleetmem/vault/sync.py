"""Export, import and two-way sync of an Obsidian vault through the MemoryService.

One run: read what was last synced, project the graph for the viewer, scan the notes,
apply human edits as the human principal (import), project again, then write every note
whose graph version changed, never over an edit that was not read, and remember the
checksums of both sides.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Literal

from fleetmem.memory import logs
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.services import Caller, MemoryService, ProgressFn, no_progress
from fleetmem.memory.settings import VaultSettings
from fleetmem.vault import layout
from fleetmem.vault.dayimport import import_days
from fleetmem.vault.importer import ImportContext, import_entities
from fleetmem.vault.projection import NoteSpec, Projection, build, sha
from fleetmem.vault.report import SyncReport
from fleetmem.vault.state import NoteState, VaultFiles, VaultState

logger = logging.getLogger(__name__)
Mode = Literal["export", "import", "sync"]


def principals(cfg: VaultSettings) -> tuple[Caller, Caller]:
    """(viewer, human) callers of a vault: the human writes, the viewer's view is shown."""
    human = cfg.human if cfg.human.startswith("human:") else f"human:{cfg.human}"
    return Caller(cfg.viewer or human, workflow_id="vault"), Caller(human, workflow_id="vault")


def vault_root(cfg: VaultSettings, path: Path | None) -> Path:
    """The vault folder from the command line or the settings.

    Raises:
        InvalidInput: neither gives one.
    """
    root = path or cfg.path
    if root is None:
        raise InvalidInput("no vault folder: pass --path DIR or set FLEETMEM_VAULT__PATH",
                           field="vault.path", rule="required")
    return Path(root).expanduser()


async def run(service: MemoryService, cfg: VaultSettings, mode: Mode,
              path: Path | None = None, progress: ProgressFn = no_progress) -> SyncReport:
    """One export, import or sync of the vault; see the module docstring. `progress`
    hears the notes checked and written ("notes", done, total)."""
    started = time.perf_counter()
    root = vault_root(cfg, path)
    viewer, human = principals(cfg)
    root.mkdir(parents=True, exist_ok=True)
    files = VaultFiles(root, cfg.max_note_bytes)
    with files.locked():
        state = await asyncio.to_thread(VaultState.load, root)
        before = await build(service, viewer, cfg)
        texts, ignored = await asyncio.to_thread(files.scan)
        report = SyncReport(mode=mode, vault=str(root), viewer=viewer.agent_id,
                            human=human.agent_id, namespaces=sorted(before.folders))
        report.warnings += before.warnings + state.dropped
        report.skipped += sorted(files.refused.values())
        report.warnings += [f"{p}: not a note of a shown namespace folder; ignored"
                            for p in ignored]
        if state.viewer and state.viewer != viewer.agent_id:
            report.warnings.append(f"the vault was last synced for {state.viewer}; it now "
                                   f"shows {viewer.agent_id}'s view")
        ic = ImportContext(service, viewer, human, cfg, files, state, before, texts, report)
        ic.hold.update(files.refused)  # a skipped file is neither imported, deleted nor written
        changed, missing = _changes(ic)
        if mode != "export":
            await import_entities(ic, changed["entity"], missing["entity"])
            await import_days(ic, changed["day"], missing["day"])
        after = await build(service, viewer, cfg) if report.graph_changed else before
        state.viewer, state.human = viewer.agent_id, human.agent_id
        await asyncio.to_thread(_export, ic, after, mode, progress)
        await asyncio.to_thread(state.save, root)
    _log(report, len(texts), time.perf_counter() - started)
    return report


def _log(report: SyncReport, files: int, seconds: float) -> None:
    """One line per run (files read, changes each way, conflicts, duration), WARNING when
    it left conflicts; then a line per conflict, saying which notes to merge."""
    logs.event(logger, "vault_sync", f"{report.summary()} ({files} notes read) in "
               f"{seconds:.3f}s", level=logging.WARNING if report.conflicts else logging.INFO,
               mode=report.mode, vault=report.vault, files=files, changes=report.changes(),
               conflicts=len(report.conflicts), errors=len(report.errors),
               duration_seconds=round(seconds, 6), agent_id=report.human,
               workflow_id="vault")
    for line in report.conflicts:
        logger.warning("vault: %s", line)


def _changes(ic: ImportContext) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Notes changed (or new) in the vault and notes deleted from it since the last sync."""
    changed: dict[str, list[str]] = {"entity": [], "day": [], "index": []}
    missing: dict[str, list[str]] = {"entity": [], "day": [], "index": []}
    unshown: set[str] = set()
    for path, text in ic.texts.items():
        kind = layout.classify(path)
        if kind is None:
            continue
        if ic.before.namespace_of(kind[1]) is None:
            unshown.add(kind[1])
            continue
        entry = ic.state.notes.get(path)
        if entry is not None and entry.conflict:
            if _pending(ic, path):
                continue
        elif entry is not None and sha(text) == entry.file:
            continue
        changed[kind[0]].append(path)
    for path, entry in ic.state.notes.items():
        if path in ic.files.refused:
            continue  # present but skipped: not a deletion
        if path not in ic.texts and not (entry.conflict and _pending(ic, path)):
            missing.setdefault(entry.kind, []).append(path)
    ic.report.warnings += [f"folder {f!r} is not a namespace this vault shows; ignored"
                           for f in sorted(unshown)]
    return changed, missing


def _pending(ic: ImportContext, path: str) -> bool:
    """Whether a conflict on `path` waits for the human (its conflict copy still exists)."""
    if ic.files.exists(layout.conflict_path(path)):
        ic.report.pending.append(f"{path}: conflict not resolved yet (delete "
                                 f"{layout.conflict_path(path)} once the note is right)")
        ic.hold.add(path)
        return True
    return False


def _record(state: VaultState, spec: NoteSpec, file_sha: str) -> None:
    state.notes[spec.path] = NoteState(spec.kind, spec.namespace, spec.key, spec.name,
                                       file_sha, spec.sha, dict(spec.memory_texts))


def _export(ic: ImportContext, after: Projection, mode: Mode,
            progress: ProgressFn = no_progress) -> None:
    """Write the notes whose graph version changed; trash the notes the graph dropped."""
    state, report, files = ic.state, ic.report, ic.files
    targets: dict[str, str] = {}
    for path, (ns, name) in ic.applied.items():
        entity = after.entities.get(ns, {}).get(name.lower())
        if entity is not None and entity.id in after.entity_paths:
            targets[path] = after.entity_paths[entity.id]
    refresh = set(ic.imported) | set(targets.values())
    moved: list[tuple[str, str]] = []
    paths = sorted(set(after.notes) | set(state.notes) | set(ic.imported))
    for done, path in enumerate(paths, 1):
        if done % 50 == 0 or done == len(paths):
            progress("notes", done, len(paths))
        if path in ic.hold:
            continue
        entry = state.notes.get(path)
        spec = after.notes.get(path)
        cur = ic.written.get(path) or (sha(ic.texts[path]) if path in ic.texts else None)
        dirty = cur != (entry.file if entry else None)
        if spec is None:
            if path in ic.imported:
                moved.append((path, cur or ""))
            elif entry is not None and cur is None:
                del state.notes[path]
            elif entry is not None and not dirty:
                if mode != "import" and files.trash(path, cur):
                    report.trashed.append(path)
                    del state.notes[path]
            elif entry is not None:
                report.pending.append(f"{path}: edited in the vault, gone from the graph")
            continue
        if path in ic.imported:
            changed_graph = spec.sha != (entry.graph if entry else None)
            if cur != spec.sha and changed_graph:
                _write(ic, spec, cur)
            else:
                _record(state, spec, cur or spec.sha)
        elif cur == spec.sha:
            _record(state, spec, cur)
        elif not dirty or spec.kind == "index":
            if cur is None and entry is not None:
                report.pending.append(f"{path}: deleted in the vault; not applied ({mode})")
            elif mode != "import" or path in refresh:
                _write(ic, spec, cur)
        else:
            report.pending.append(f"{path}: edited in the vault; not applied ({mode})")
    for path, cur in moved:
        target = targets.get(path)
        if target is not None and files.exists(target) and files.trash(path, cur):
            report.trashed.append(f"{path} (now at its canonical name)")
            state.notes.pop(path, None)


def _write(ic: ImportContext, spec: NoteSpec, expected: str | None) -> None:
    if ic.files.write(spec.path, spec.content, expected):
        ic.report.written.append(spec.path)
        _record(ic.state, spec, spec.sha)
    else:
        ic.report.pending.append(f"{spec.path}: changed while syncing; will sync again")
