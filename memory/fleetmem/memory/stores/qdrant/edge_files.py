"""The files beside the sealed shards of the embedded vector tier (`edge_shards`), and how
an open puts them in order after a stop at any point of a build or merge.

In `<path>.sealed/`: each sealed shard is a folder named by its number, with a
`<n>.indexed` marker once built. A shard being built has a `<m>.pending` marker and its
export's files (`<m>.export.ids`, `<m>.export.f32`) until its replacement of its sources
is committed by `<m>.merge.json`; the manifest goes once the sources are removed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from fleetmem.memory.stores.qdrant.edge_build import INDEX_VERSION, export_files

INDEXED = ".indexed"
"""Suffix of the marker beside a sealed shard whose index is built (it holds
`edge_build.INDEX_VERSION`; a shard whose marker holds another is built again)."""
PENDING = ".pending"
"""Suffix of the marker beside a shard being built, until its replacement is committed."""
MANIFEST = ".merge.json"
"""Suffix of the file that commits a replacement: `{"target": m, "sources": [...]}`."""
EXPORT = ".export"
"""Stem suffix of an export's files (`edge_build.IDS`, `edge_build.VECTORS`)."""


def recover(root: Path) -> None:
    """Before the shards are opened: finish the replacements that were committed, drop the
    builds that were not (and what an earlier release's interrupted build left)."""
    for manifest in root.glob(f"*{MANIFEST}"):
        plan = json.loads(manifest.read_text(encoding="utf-8"))
        remove_sources(root, str(plan["target"]), [str(s) for s in plan["sources"]])
    for pending in root.glob(f"*{PENDING}"):
        drop(root / pending.name.removesuffix(PENDING))
    for stale in (*root.glob(f"*{EXPORT}.*"), *root.glob(f"*{MANIFEST}.tmp")):
        stale.unlink(missing_ok=True)
    for stale in root.glob("*.building"):  # left by releases before merging
        shutil.rmtree(stale, ignore_errors=True)
    for old in root.glob("*.old"):  # their swap interrupted between its renames
        live = old.with_name(old.name.removesuffix(".old"))
        if live.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.rename(live)


def commit(root: Path, target: str, sources: list[str]) -> None:
    """Mark `target` built and write the manifest that commits its replacement of
    `sources` (fsynced, renamed into place): from here an open finishes the swap."""
    (root / f"{target}{INDEXED}").write_text(INDEX_VERSION)
    manifest = root / f"{target}{MANIFEST}"
    pending = manifest.with_name(manifest.name + ".tmp")
    with pending.open("w", encoding="utf-8") as out:
        json.dump({"target": target, "sources": sources}, out)
        out.flush()
        os.fsync(out.fileno())
    pending.rename(manifest)


def export_stem(target: Path) -> Path:
    """The stem of the export a shard is built from (see `edge_build.export_files`)."""
    return target.with_name(target.name + EXPORT)


def drop(folder: Path) -> None:
    """Remove a shard that was being built: its folder, markers and export files."""
    shutil.rmtree(folder, ignore_errors=True)
    for suffix in (PENDING, INDEXED):
        folder.with_name(folder.name + suffix).unlink(missing_ok=True)
    for export in export_files(export_stem(folder)):
        export.unlink(missing_ok=True)


def remove_sources(root: Path, target: str, sources: list[str]) -> None:
    """Finish a committed replacement (idempotent): remove the sources, then the new
    shard's pending marker and the manifest."""
    for name in sources:
        shutil.rmtree(root / name, ignore_errors=True)
        (root / f"{name}{INDEXED}").unlink(missing_ok=True)
    (root / f"{target}{PENDING}").unlink(missing_ok=True)
    (root / f"{target}{MANIFEST}").unlink(missing_ok=True)


def built(folder: Path) -> bool:
    """Whether the sealed shard's index was built with this release's `INDEX_VERSION`."""
    marker = folder.with_name(folder.name + INDEXED)
    try:
        return marker.read_text().strip() == INDEX_VERSION
    except OSError:
        return False
