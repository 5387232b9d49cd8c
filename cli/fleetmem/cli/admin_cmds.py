"""`fleetmem migrate --from-data-dir DIR`: copy an embedded store into the configured
servers (Neo4j graph, Qdrant vectors), verified by counts.

The target comes from the normal configuration (FLEETMEM_GRAPH__BACKEND=neo4j,
FLEETMEM_GRAPH__NEO4J_URI, FLEETMEM_VECTOR__BACKEND=qdrant, FLEETMEM_VECTOR__QDRANT_URL,
...). The copy reads a still store: it is refused, naming the pid, while `fleetmem serve`
owns the source folder.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import typer

from fleetmem.cli.common import JsonOption, emit_json, err, out
from fleetmem.cli.progress import bar
from fleetmem.cli.reach import refuse_if_owned
from fleetmem.memory.bootstrap import build_embedder, build_graph, build_vectors
from fleetmem.memory.errors import FleetmemError
from fleetmem.memory.services import MigrationReport, ProgressFn, migrate, no_progress
from fleetmem.memory.settings import GraphSettings, Settings, VectorSettings

SOURCE_GRAPH_FILE = "graph.sqlite3"  # what bootstrap.build_graph opens in a data folder


def source_settings(target: Settings, data_dir: Path) -> Settings:
    """The embedded configuration of the source folder (same embedding model)."""
    return target.model_copy(update={"data_dir": data_dir, "graph": GraphSettings(),
                                     "vector": VectorSettings()})


async def run_migration(target: Settings, data_dir: Path,
                        progress: ProgressFn = no_progress) -> MigrationReport:
    """Open both sides, copy, verify, close; `progress` hears the copy advance."""
    src = build_graph(source_settings(target, data_dir))
    dst = build_graph(target)
    embedder = build_embedder(target)
    vectors = build_vectors(target, embedder.dimension)
    loop = asyncio.get_running_loop()

    async def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return await loop.run_in_executor(None, embedder.embed, list(texts))

    await src.open()
    try:
        await dst.open()
        try:
            return await migrate(src, dst, vectors, embed=embed, progress=progress)
        finally:
            await vectors.close()
            await dst.close()
    finally:
        await src.close()


def migrate_cmd(
    from_data_dir: Path = typer.Option(..., "--from-data-dir",
                                       help="Data folder of the embedded store to copy."),
    as_json: bool = JsonOption,
) -> None:
    """Copy an embedded store into the configured Neo4j and Qdrant servers (target must be
    empty); exits 1 when the copy's counts do not match."""
    target = Settings()
    source = from_data_dir.expanduser().resolve()
    refuse_if_owned(source, "fleetmem migrate")  # the copy reads a still store
    if not (source / SOURCE_GRAPH_FILE).is_file():
        err.print(f"[red]error[/red]: no embedded store in {source} "
                  f"({SOURCE_GRAPH_FILE} is missing); pass the folder `fleetmem serve` used")
        raise typer.Exit(2)
    if target.graph.backend == "sqlite" and Path(target.data_dir).resolve() == source:
        err.print("[red]error[/red]: the target is the source itself; configure the servers "
                  "first (FLEETMEM_GRAPH__BACKEND=neo4j, FLEETMEM_VECTOR__BACKEND=qdrant, ...)")
        raise typer.Exit(2)
    try:
        with bar("migrate") as progress:
            report = asyncio.run(run_migration(target, source, progress))
    except FleetmemError as exc:
        err.print(f"[red]error[/red] ({exc.code}): {exc.message}")
        raise typer.Exit(2) from exc
    data = dataclasses.asdict(report) | {"verified": report.verified}
    if as_json:
        emit_json(data)
    else:
        for key, value in data.items():
            if key != "mismatches":
                out.print(f"{key}: {value}")
        for line in report.mismatches:
            err.print(f"[red]mismatch[/red] {line}")
    if not report.verified:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the migrate command."""
    app.command("migrate")(migrate_cmd)
