"""The on-disk cache of the built ONNX graph: one folder per weights and graph version.

    <cache_dir>/all-MiniLM-L6-v2.<weights sha256 prefix>.g<graph version>/
        model.onnx   the graph (small), its tensors stored in model.data
        model.data   the weights, which ONNX Runtime maps from the file
        SHA256SUMS   sha256 of both files (`sha256sum -c SHA256SUMS` checks them by hand)

A folder is written under a temporary name and renamed into place, so readers see a
complete folder or none. A folder whose files do not match SHA256SUMS (or that cannot be
read) counts as missing: the caller rebuilds it. Keeping the weights outside the graph
file lets ONNX Runtime open the session in half the time of a single 90 MB file.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from fleetmem.memory.stores.embedding.bundled import sha256_of

logger = logging.getLogger(__name__)

GRAPH_FILE = "model.onnx"
DATA_FILE = "model.data"
SUMS_FILE = "SHA256SUMS"


def intact_graph(folder: Path) -> Path | None:
    """The cached graph file if the folder is complete and matches its checksums."""
    if not folder.is_dir():
        return None
    try:
        expected: dict[str, str] = {}
        for line in (folder / SUMS_FILE).read_text().splitlines():
            digest, _, name = line.partition("  ")
            expected[name] = digest
        if set(expected) != {GRAPH_FILE, DATA_FILE}:
            raise ValueError(f"{SUMS_FILE} lists {sorted(expected)}")
        for name, digest in expected.items():
            if sha256_of(folder / name) != digest:
                raise ValueError(f"{name} does not match its sha256")
    except (OSError, ValueError) as exc:
        logger.warning("the cached embedding graph in %s is damaged (%s): rebuilding it",
                       folder, exc)
        return None
    return folder / GRAPH_FILE


def store_graph(folder: Path, graph: bytes) -> Path | None:
    """Write `graph` (a serialized ONNX model with its weights inline) as a cache folder;
    return its graph file, or None (logged) when the folder cannot be written."""
    from onnx import load_model_from_string, save_model

    tmp: Path | None = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.",
                                    suffix=".tmp"))
        save_model(load_model_from_string(graph), tmp / GRAPH_FILE,
                   save_as_external_data=True, all_tensors_to_one_file=True,
                   location=DATA_FILE, size_threshold=1024)
        sums = "".join(f"{sha256_of(tmp / n)}  {n}\n" for n in (GRAPH_FILE, DATA_FILE))
        (tmp / SUMS_FILE).write_text(sums)
        for name in (GRAPH_FILE, DATA_FILE, SUMS_FILE):
            with (tmp / name).open("rb") as f:
                os.fsync(f.fileno())
        if folder.exists():  # damaged: replaced
            shutil.rmtree(folder)
        os.rename(tmp, folder)
        tmp = None
    except OSError as exc:
        if intact_graph(folder) is not None:  # another process stored it first
            return folder / GRAPH_FILE
        logger.warning("could not cache the embedding graph in %s (%s): it is kept in "
                       "memory for this process", folder, exc)
        return None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder / GRAPH_FILE
