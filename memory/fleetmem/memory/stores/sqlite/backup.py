"""Online backup and restore of the embedded deployment.

The graph file holds everything, vectors included; the Qdrant Edge folder is an index
rebuilt from it. So a backup is a consistent SQLite snapshot (the online backup API,
safe while `fleetmem serve` writes) packed with a manifest, and a restore puts the
snapshot in place and drops the index, which the startup repair rebuilds. The audit
witness of the replaced data is moved aside (kept as evidence): it anchors entries the
restored log never had, and a new witness starts at the restored head.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from fleetmem.memory.errors import Conflict, InvalidInput
from fleetmem.memory.stores.witness import WITNESS_FILE

logger = logging.getLogger(__name__)
GRAPH_FILE = "graph.sqlite3"
VECTOR_DIR = "vectors"
FORMAT = "fleetmem-backup/1"


def backup(data_dir: Path, target: Path) -> dict[str, object]:
    """Write a consistent snapshot of `data_dir` to the tar.gz `target`; return the manifest."""
    source = data_dir / GRAPH_FILE
    if not source.exists():
        raise InvalidInput(f"no fleetmem data in {data_dir} (missing {GRAPH_FILE})",
                           field="data_dir", rule="no_data")
    with tempfile.TemporaryDirectory() as tmp:
        snap = Path(tmp) / GRAPH_FILE
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(snap)
        try:
            src.backup(dst)
            counts = {
                "memories": dst.execute("SELECT COUNT(*) FROM memories").fetchone()[0],
                "entities": dst.execute("SELECT COUNT(*) FROM entities").fetchone()[0],
                "audit": dst.execute("SELECT COUNT(*) FROM audit").fetchone()[0],
            }
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
            src.close()
        manifest: dict[str, object] = {"format": FORMAT, "created_at":
                                       datetime.now(UTC).isoformat(), "counts": counts}
        (Path(tmp) / "manifest.json").write_text(json.dumps(manifest, indent=2))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(Path(tmp) / "manifest.json", arcname="manifest.json")
            tar.add(snap, arcname=GRAPH_FILE)
        partial.replace(target)  # never leave a half-written backup under the real name
    return manifest


def restore(source: Path, data_dir: Path, *, force: bool = False) -> dict[str, object]:
    """Restore a backup into `data_dir` (refuses a non-empty one unless `force`)."""
    if not source.is_file():
        raise InvalidInput(f"backup file {source} does not exist", field="from", rule="exists")
    if (data_dir / GRAPH_FILE).exists() and not force:
        raise Conflict(f"{data_dir} already holds fleetmem data; stop the service and pass "
                       "--force to replace it", field="data_dir", rule="not_empty")
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(source, "r:gz") as tar:
        names = set(tar.getnames())
        if names != {"manifest.json", GRAPH_FILE}:
            raise InvalidInput(f"{source} is not a fleetmem backup", field="from",
                               rule="format")
        tar.extractall(tmp, filter="data")
        manifest = json.loads((Path(tmp) / "manifest.json").read_text())
        if manifest.get("format") != FORMAT:
            raise InvalidInput(f"unsupported backup format {manifest.get('format')!r}",
                               field="from", rule="format")
        data_dir.mkdir(parents=True, exist_ok=True)
        for stale in (GRAPH_FILE, GRAPH_FILE + "-wal", GRAPH_FILE + "-shm"):
            (data_dir / stale).unlink(missing_ok=True)
        shutil.rmtree(data_dir / VECTOR_DIR, ignore_errors=True)
        shutil.rmtree(data_dir / (VECTOR_DIR + ".sealed"), ignore_errors=True)  # its shards
        shutil.move(str(Path(tmp) / GRAPH_FILE), data_dir / GRAPH_FILE)
    result = dict(manifest)
    witness = data_dir / WITNESS_FILE
    if witness.exists():  # it anchors entries the restored log never had: keep it aside
        aside = witness.with_name(
            f"{WITNESS_FILE}.before-restore-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}")
        witness.rename(aside)
        logger.warning("restore: the audit witness was moved to %s (it anchors the replaced "
                       "log); a new one starts at the restored log's head", aside.name)
        result["witness_moved_to"] = aside.name
    return result
