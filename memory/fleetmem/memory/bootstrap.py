"""The only place that chooses and builds adapters from settings."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import cast

from threadpoolctl import threadpool_limits

from fleetmem.memory import tracing
from fleetmem.memory.agents import load_policy
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.ports import AuditWitness, Clock, Embedder, GraphStore, VectorIndex
from fleetmem.memory.services.runtime.agents_reload import AgentsFile
from fleetmem.memory.services.runtime.context import ServiceContext, SystemClock
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import Settings

logger = logging.getLogger(__name__)

_EMBEDDERS: dict[tuple[object, ...], Embedder] = {}


def build_embedder(settings: Settings) -> Embedder:
    """The configured embedder, shared per configuration within the process. Nothing of
    the model loads here: the first `embed` loads it, so commands that never embed stay
    fast (ONNX Runtime by default; sentence-transformers/torch when configured)."""
    e = settings.embedding
    if e.use_torch:
        key: tuple[object, ...] = ("torch", e.model_path, e.threads)
        if key not in _EMBEDDERS:
            from fleetmem.memory.stores.embedding.sentence_transformer import (
                SentenceTransformerEmbedder,
            )

            _EMBEDDERS[key] = SentenceTransformerEmbedder(e.model_path, e.threads,
                                                          e.batch_size, e.dimension)
        return _EMBEDDERS[key]
    cache = e.cache_dir or Path(settings.data_dir) / "models"
    key = ("onnx", str(cache), e.threads, e.batch_size, e.dimension)
    if key not in _EMBEDDERS:
        from fleetmem.memory.stores.embedding.onnx_embedder import OnnxEmbedder

        _EMBEDDERS[key] = OnnxEmbedder(cache, e.threads, e.batch_size, e.dimension)
    return _EMBEDDERS[key]


def preload_embedder(settings: Settings) -> None:
    """Start loading the configured embedder's model in a background thread. For `serve`,
    which loads it right after start anyway: the load (reading and checking the graph,
    ONNX Runtime's session) then overlaps with importing the web stack. A failure here is
    only logged; the first `embed` loads again and reports it."""
    load = getattr(build_embedder(settings), "load", None)
    if not callable(load):
        return

    def run() -> None:
        try:
            load()
        except Exception as exc:  # noqa: BLE001 - reported by the first embed
            logger.debug("preloading the embedding model failed: %s", exc)

    # Not a daemon: the interpreter waits for the load before it exits (a command that
    # fails fast would otherwise tear ONNX Runtime down mid-load and abort).
    threading.Thread(target=run, name="fleetmem-model-preload", daemon=False).start()


def build_graph(settings: Settings) -> GraphStore:
    """SQLite in the data dir, or Neo4j when configured."""
    if settings.graph.backend == "neo4j":
        from fleetmem.memory.stores.neo4j.graph_store import Neo4jGraphStore

        return Neo4jGraphStore(settings.graph.neo4j_uri, settings.graph.neo4j_user,
                               settings.graph.neo4j_password, settings.graph.neo4j_database)
    from fleetmem.memory.stores.sqlite.graph_store import SqliteGraphStore

    return SqliteGraphStore(Path(settings.data_dir) / "graph.sqlite3")


def build_vectors(settings: Settings, dimension: int) -> VectorIndex:
    """Qdrant Edge in the data dir, a Qdrant server, or Neo4j's vector index on the graph's
    Neo4j, as configured."""
    if settings.vector.backend == "neo4j":
        from fleetmem.memory.stores.neo4j.vector_index import Neo4jVectorIndex

        g = settings.graph
        return Neo4jVectorIndex(g.neo4j_uri, g.neo4j_user, g.neo4j_password,
                                g.neo4j_database, settings.vector.collection, dimension)
    if settings.vector.backend == "qdrant":
        try:
            from fleetmem.memory.stores.qdrant.server_index import QdrantServerVectorIndex
        except ImportError as exc:
            if not (exc.name or "").startswith("qdrant_client"):
                raise
            raise InvalidInput(
                "vector.backend qdrant (a Qdrant server) needs qdrant-client: "
                "pip install 'fleetmem[qdrant]', or set FLEETMEM_VECTOR__BACKEND=edge for the "
                "embedded Qdrant Edge", field="vector.backend", rule="qdrant_missing") from exc

        return QdrantServerVectorIndex(settings.vector.qdrant_url, settings.vector.collection,
                                       dimension, settings.vector.qdrant_api_key or None)
    from fleetmem.memory.stores.qdrant.edge_index import EdgeVectorIndex

    return EdgeVectorIndex(Path(settings.data_dir) / "vectors", dimension,
                           seal_points=settings.vector.seal_points,
                           merge_fan_in=settings.vector.merge_fan_in,
                           merge_max_points=settings.vector.merge_max_points)


def build_witness(settings: Settings) -> AuditWitness | None:
    """The audit witness file (None when turned off)."""
    a = settings.audit
    if not a.witness:
        return None
    from fleetmem.memory.stores.witness import WITNESS_FILE, FileWitness

    key = a.witness_key.get_secret_value().encode() if a.witness_key else None
    return FileWitness(a.witness_path or Path(settings.data_dir) / WITNESS_FILE, key,
                       a.witness_every)


def limit_blas_threads() -> None:
    """Keep numpy's BLAS on the calling thread (process-wide). Its own pool took both of
    the 2 cores for each matrix product, the model's included: the model encoded 37.5
    sentences/s beside a numpy search loop against 66.3 with one BLAS thread (72.6
    alone), and the exact search of a 50k-point shard in memory (`edge_exact`) got slower
    than Qdrant Edge's whenever the other core was busy (bench/OTHER_RUNS.md, issue 22).
    The service's threads are the model's (`embedding.threads`) and its executors'."""
    threadpool_limits(limits=1, user_api="blas")


def build_service(settings: Settings, *, embedder: Embedder | None = None,
                  clock: Clock | None = None) -> MemoryService:
    """Assemble a MemoryService (call `await service.start()` before use); turns traces
    on when an OTLP endpoint is configured."""
    tracing.configure(settings)
    limit_blas_threads()
    emb = embedder or build_embedder(settings)
    from fleetmem.memory.telemetry import Timed

    graph = cast(GraphStore, Timed(build_graph(settings), settings.graph.backend))
    # The store label of the vectors' metrics: "neo4j-vectors" keeps them apart from the
    # graph's "neo4j" series when both tiers are in Neo4j.
    vector_label = "neo4j-vectors" if settings.vector.backend == "neo4j" \
        else settings.vector.backend
    vectors = cast(VectorIndex, Timed(build_vectors(settings, emb.dimension), vector_label))
    agents_file = AgentsFile(settings.agents_file) if settings.agents_file else None
    policy = agents_file.load() if agents_file else \
        load_policy(None, settings.default_agent)
    ctx = ServiceContext(
        graph=graph, vectors=vectors, embedder=emb, policy=policy, agents_file=agents_file,
        limits=settings.limits, gc=settings.gc, governance=settings.governance,
        index_min_unindexed=settings.vector.index_min_unindexed,
        clock=clock or SystemClock(), metrics=settings.metrics,
        witness=build_witness(settings))
    return MemoryService(ctx)


def backup_embedded(settings: Settings, target: Path) -> dict[str, object]:
    """Snapshot the embedded stores of `settings.data_dir` into `target` (safe online)."""
    from fleetmem.memory.stores.sqlite import backup

    return backup.backup(Path(settings.data_dir), target)


def restore_embedded(settings: Settings, source: Path, *, force: bool = False) -> dict[str, object]:
    """Restore a backup into `settings.data_dir`; the vector index is rebuilt on next start."""
    from fleetmem.memory.stores.sqlite import backup

    return backup.restore(source, Path(settings.data_dir), force=force)
