"""Configuration: the only reader of the environment (prefix FLEETMEM_, nested with __)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """The per-user data folder used when nothing else is configured."""
    return Path(platformdirs.user_data_dir("fleetmem", appauthor=False))


class GraphSettings(BaseModel):
    """Which graph store runs and how to reach it."""

    backend: Literal["sqlite", "neo4j"] = "sqlite"
    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_user: str = "neo4j"
    neo4j_password: str = ""
    neo4j_database: str = "neo4j"


class VectorSettings(BaseModel):
    """Which vector index runs and how to reach it."""

    backend: Literal["edge", "qdrant", "neo4j"] = "edge"
    """`edge`: embedded Qdrant Edge in the data dir (one process). `qdrant`: a Qdrant
    server. `neo4j`: `:MemoryVector` nodes with Neo4j's native vector index on the graph's
    Neo4j (the `graph.neo4j_*` connection settings), so replicas sharing one Neo4j share
    their vectors with nothing else to run."""
    qdrant_url: str = "http://127.0.0.1:6333"
    qdrant_api_key: str = ""
    collection: str = "fleetmem_memories"
    """The Qdrant collection, or the `collection` property of the Neo4j vector nodes."""
    index_min_unindexed: int = Field(default=10_000, ge=0)
    """With `seal_points` 0 only: build the embedded engine's HNSW index (at startup and in
    the nightly reconcile job) once this many points are unindexed. Qdrant Edge's build
    holds the Python GIL, so the process pauses while it runs (about 25 s per 20k points
    on 2 cores); searches over the unindexed tail stay exact (brute force). 0 disables
    it."""
    seal_points: int = Field(default=50_000, ge=0)
    """The embedded engine writes to an active shard searched exactly; at this many points
    it is sealed and a child process builds its HNSW index while the service keeps
    serving (no pause in the service). Larger: fewer shards per search, slower exact
    search of the active one. 0: one shard, indexed in-process (pauses, see above)."""
    merge_fan_in: int = Field(default=0, ge=0, le=64)
    """With `seal_points`: once this many built shards are of one size tier (about
    `seal_points * merge_fan_in ** tier` points), a child process merges them into one, in
    the background, so a search asks fewer shards (5 at 1M points instead of 20 with 4).
    Off by default (0 or 1: never merge): opening a merged shard of 200k points holds the
    Python GIL for 2-4 s with this Qdrant Edge release, so each merge, and each start,
    pauses the service that long (docs/scale-out.md)."""
    merge_max_points: int = Field(default=250_000, ge=0)
    """No merge makes a shard larger than this. A merged shard is searched with a beam
    scaled by its size; on the bench's 1M store one shard of 1M points missed matches that
    shards of 200k found (docs/scale-out.md)."""


class EmbeddingSettings(BaseModel):
    """The embedding model: the bundled MiniLM on ONNX Runtime, or a local
    sentence-transformers folder on PyTorch (the `fleetmem[torch]` extra)."""

    runtime: Literal["auto", "onnx", "torch"] = "auto"
    """`onnx`: the bundled all-MiniLM-L6-v2 on ONNX Runtime (no torch). `torch`:
    sentence-transformers on PyTorch (needs `pip install 'fleetmem[torch]'`), for
    `model_path` or the bundled model. `auto`: `torch` when `model_path` is set, else
    `onnx`."""
    model_path: str = ""
    """Folder of a sentence-transformers model (torch runtime); empty means the bundled
    all-MiniLM-L6-v2."""
    cache_dir: Path | None = None
    """Where the ONNX graph built from the bundled weights is cached; empty means
    `<data_dir>/models`."""
    dimension: int = Field(default=384, ge=8, le=8192)
    """Vector size of the model; checked against the model on first use."""
    threads: int = Field(default=1, ge=1, le=64)
    """Intra-op threads of the encoder (ONNX Runtime or torch)."""
    batch_size: int = Field(default=64, ge=1, le=1024)
    """Texts per forward pass (texts are sorted by length first)."""

    @model_validator(mode="after")
    def _runtime_fits_model(self) -> EmbeddingSettings:
        if self.runtime == "onnx" and self.model_path:
            raise ValueError("embedding.runtime=onnx runs the bundled all-MiniLM-L6-v2 only; "
                             "for a model folder (embedding.model_path) use runtime torch "
                             "(pip install 'fleetmem[torch]') or leave runtime on auto")
        return self

    @property
    def use_torch(self) -> bool:
        """Whether this configuration runs on sentence-transformers/PyTorch."""
        return self.runtime == "torch" or (self.runtime == "auto" and bool(self.model_path))


class LimitSettings(BaseModel):
    """Input bounds enforced by the service for every door."""

    max_text_chars: int = Field(default=8_000, ge=16)
    max_batch: int = Field(default=256, ge=1)
    max_k: int = Field(default=100, ge=1)
    max_tags: int = Field(default=32, ge=0)
    max_observations: int = Field(default=256, ge=1)
    dedup_similarity: float = Field(default=0.96, ge=0.5, le=1.0)
    entities_from_text: bool = True
    """Create entities for the names a memory's text mentions (a turn's speaker, capitalised
    names) and link them, so the graph leg and `hop` reach it; off: only known entities
    are linked (see docs/entities.md)."""
    max_text_entities: int = Field(default=8, ge=0, le=64)
    """At most this many names per memory are taken from its text."""
    buffer_max_items: int = Field(default=500, ge=1)
    max_metadata_bytes: int = Field(default=8_192, ge=64)
    """A memory's `metadata` object, serialised as compact JSON, at most this many bytes."""
    max_metadata_depth: int = Field(default=3, ge=1, le=16)
    """Nesting of `metadata`, the object itself counted: 1 allows only scalar values, 3
    e.g. {"a": {"b": [1]}} (one more level is refused)."""
    max_metadata_keys: int = Field(default=64, ge=1)
    """Keys of `metadata` (top level) at most."""


class ApiSettings(BaseModel):
    """REST door settings (owned by the REST API)."""

    max_body_bytes: int = Field(default=2_000_000, ge=1024)
    max_import_bytes: int = Field(default=1 << 30, ge=1024)
    """`POST /v1/import` streams its body to a temporary file up to this size (the body
    limit above does not apply to it)."""

    # --- connection limits of `fleetmem serve` (issue 21: slowloris, fd exhaustion) ---
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    """A connection whose request head (request line and headers) is not complete this
    long after its first byte (or after connecting) is closed with 408."""
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    """A request whose body is not complete this long after its head is closed."""
    keep_alive_seconds: float = Field(default=5.0, gt=0, le=600)
    """An idle keep-alive connection is closed after this long."""
    max_head_bytes: int = Field(default=65_536, ge=4096, le=1_048_576)
    """A request head larger than this is answered 431 and closed."""
    max_connections: int | None = Field(default=None, ge=1)
    """Open connections at most; more are closed at once. None: half the process fd
    limit (raised to its hard limit at start), at most 10,000."""
    max_connections_per_ip: int | None = Field(default=None, ge=0)
    """Open connections from one client address at most; 0: no per-address cap (set it
    behind a proxy that shares one address). None: a quarter of max_connections."""
    # --- end of connection limits ---


class McpSettings(BaseModel):
    """MCP door settings (owned by the MCP server)."""

    agent: str = ""
    """Agent identity of a stdio client; empty means `default_agent`."""
    api_key: str = ""
    """Key the stdio shim presents to a running service (FLEETMEM_MCP__API_KEY)."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """Host headers accepted at /mcp when serving a real hostname, e.g. ["mem.example:*"]
    (loopback is always accepted; with none given on a non-loopback bind, any host is)."""
    start_timeout: float = Field(default=180.0, gt=0)
    """Seconds `fleetmem mcp` waits for the service it started to answer."""

    # --- streamable HTTP sessions (issue 21: one agent must not starve the fleet) ---
    sessions_per_agent: int = Field(default=32, ge=1, le=10_000)
    """Open MCP sessions one agent may hold at /mcp. At the cap, a new `initialize` closes
    that agent's oldest idle session; with none idle it is refused (HTTP 429)."""
    sessions_per_minute: int = Field(default=120, ge=0, le=1_000_000)
    """New MCP sessions one agent may open per minute (a minute's worth may come at once;
    0: no limit). Beyond it `initialize` is refused (HTTP 429 with
    Retry-After) before any session is opened or closed."""
    session_idle_seconds: float = Field(default=600.0, gt=0, le=86_400)
    """A session with no request in flight for this long is closed (background sweep)."""
    max_sessions: int = Field(default=4096, ge=2, le=1_000_000)
    """Open MCP sessions for all agents together (each holds ~43 KB). Must exceed
    `sessions_per_agent`, so no single agent can reach it; when it is reached the oldest
    idle session of the agent holding the most is closed, else refused (HTTP 503)."""

    @model_validator(mode="after")
    def _one_agent_cannot_fill_the_server(self) -> McpSettings:
        if self.max_sessions <= self.sessions_per_agent:
            raise ValueError(
                f"mcp.max_sessions ({self.max_sessions}) must be greater than "
                f"mcp.sessions_per_agent ({self.sessions_per_agent}), or one agent could "
                "hold every MCP session; raise FLEETMEM_MCP__MAX_SESSIONS")
        return self
    # --- end of the session block ---


class VaultSettings(BaseModel):
    """Obsidian vault sync settings (owned by the vault)."""

    path: Path | None = None
    """The vault folder; when set, `fleetmem serve` keeps it in two-way sync."""
    human: str = "human"
    """The human whose edits the vault imports (acts as `human:<human>`)."""
    viewer: str = ""
    """Whose view the vault shows (an agent id or `human:<name>`); empty: the human."""
    namespaces: list[str] = Field(default_factory=list)
    """Namespaces to show (must be readable by the viewer); empty: every readable one."""
    include_private: bool = False
    """Show private `agent:<id>` namespaces (only the viewer's own are ever readable)."""
    new_entity_type: str = "note"
    """Entity type of a note created in Obsidian without a `type` property."""
    debounce_ms: int = Field(default=1500, ge=50, le=60_000)
    """Quiet time after the last file change before the watcher syncs."""
    poll_seconds: float = Field(default=5.0, ge=0.5, le=3600)
    """How often the watcher checks the graph for changes (one cheap audit query)."""
    full_sync_seconds: float = Field(default=600.0, ge=10, le=86_400)
    """A full sync at least this often, whatever the change signals say."""
    # -- hostile vault files (issue 21) --
    max_note_bytes: int = Field(default=1_048_576, ge=1024, le=1 << 30)
    """Notes larger than this are not read: skipped and reported, the sync goes on."""
    restart_max_seconds: float = Field(default=60.0, ge=0.1, le=3600)
    """Longest wait before the watcher restarts after an unexpected error (backoff)."""


class GcSettings(BaseModel):
    """Decay and garbage-collection settings (owned by the GC jobs; see docs/gc.md)."""

    enabled: bool = True
    """Run the scheduler inside `fleetmem serve` (`fleetmem gc run` works either way)."""
    archive_threshold: float = Field(default=0.05, ge=0.0, lt=1.0)
    """The decay sweep archives active memories whose retention falls below this."""
    half_life_days: dict[str, float] = Field(default_factory=dict)
    """Per-kind half-life overrides in days, e.g. {"episode": 7}; others keep defaults."""
    decay_exempt_namespaces: list[str] = Field(default_factory=list)
    """Namespace patterns (fnmatch, e.g. "team:*") the decay sweep never archives."""
    purge_after_days: float = Field(default=90.0, ge=0.0)
    """An archived memory is purged only after staying archived this long."""
    purge_namespaces: list[str] = Field(default_factory=list)
    """Namespace patterns where purge (hard delete) is allowed; empty: purge nowhere."""
    keep_namespaces: list[str] = Field(default_factory=list)
    """Namespace patterns never purged, even when `purge_namespaces` matches (wins)."""
    buffer_ttl_hours: float = Field(default=72.0, gt=0.0)
    """Buffer items older than this are consolidated, then expired."""
    buffer_min_importance: float = Field(default=0.0, ge=0.0, le=1.0)
    """Expiring buffer items below this importance are judged, not promoted."""
    orphan_grace_days: float = Field(default=30.0, ge=0.0)
    """Entities with no observations, relations or memories are deleted after this."""
    batch_size: int = Field(default=500, ge=1, le=10_000)
    report_max_items: int = Field(default=10_000, ge=0)
    """Items listed per report (counts are always exact; `items_truncated` says so)."""
    misfire_grace_seconds: int = Field(default=600, ge=1)
    decay_schedule: str = "every 6h"
    """Schedules: "every <n>[s|m|h|d]", "cron <5 fields>" (UTC) or "off"."""
    purge_schedule: str = "cron 30 3 * * *"
    buffers_schedule: str = "every 1h"
    superseded_schedule: str = "every 6h"
    orphans_schedule: str = "cron 0 4 * * *"
    reconcile_schedule: str = "cron 0 5 * * *"
    # --- reconcile and writes in flight (issue 20) ---
    reconcile_settle_seconds: float = Field(default=2.0, ge=0.0, le=600.0)
    """Reconcile drops a vector the graph does not list only after this long and a
    re-check: a write in flight in another process on the same graph (vector first, then
    the graph commit) finishes meanwhile. Writes of this process are excluded by a lock
    and need no wait; 0 turns the wait off."""


class GovernanceSettings(BaseModel):
    """Rate limits, quotas and conflict rules (owned by governance).

    Limits are per agent; 0 means unlimited. A role in the agents file may set its own
    `limits` (the strictest of an agent's roles wins over these defaults).
    """

    requests_per_minute: int = Field(default=0, ge=0)
    """Service calls per agent per minute (token bucket, bursts up to the limit)."""
    writes_per_day: int = Field(default=0, ge=0)
    """Write operations per agent per UTC day (a batch counts each item)."""
    memories_per_namespace: int = Field(default=0, ge=0)
    """Stored memories (active + archived) a namespace may hold before writes are refused."""
    quota_retry_seconds: int = Field(default=3600, ge=1)
    """`retry_after` given when a namespace is full (space frees only when memories go)."""
    one_valued_relations: list[str] = Field(default_factory=list)
    """Relation types with one current target per subject (e.g. works_at, reports_to)."""
    attribute_conflicts: bool = True
    """Treat `key: value` observations as attributes and flag differing values by
    different agents on the same entity as conflicts."""
    audit_reads: bool = True
    """Record reads that return results (memory, entity, buffer ids) in the audit."""
    audit_bulk_read_ids: bool = False
    """List every id in the audit entries of paged bulk reads (read_graph, exports such as
    the vault sync); by default they record the count only."""

    # fair work (issue 21) -------------------------------------------------------------
    texts_per_minute: int = Field(default=0, ge=0)
    """Texts per agent per minute sent to the embedding model (token bucket, bursts up to
    the limit; each text of a batch counts, a recall counts its question). 0 = unlimited:
    the embedding queue already serves agents round-robin, so a flood slows only its
    sender; set it to cap what one agent may spend of the model."""
    concurrent_requests_per_agent: int = Field(default=16, ge=0)
    """Service calls of one agent in progress at once; more wait, in the agent's own
    queue, for one of them to finish (0 = unlimited). Bounds one agent's share of the
    stores' worker threads whatever number of connections it opens."""
    concurrent_batches_per_agent: int = Field(default=1, ge=0)
    """Of those, batches (more than 4 items, e.g. `remember_batch`) in progress at once;
    an agent's further batches wait their turn (0 = unlimited)."""
    bulk_embed_nice: int = Field(default=10, ge=0, le=19)
    """How much lower the CPU priority of the bulk embedding thread is than the rest of
    the process (Linux), so batches give way to questions and to the event loop."""

    # conflict resolution policy (issue 20) ------------------------------------------
    conflict_resolution: Literal["any", "third_party"] = "any"
    """Who may resolve a conflict: `any` agent allowed `conflicts_resolve` that may write
    its namespace, or only a `third_party` (neither claim's author, nor acting on behalf
    of one). A team may override it in the agents file (`team_policies`)."""


class MetricsSettings(BaseModel):
    """What `/metrics` and traces may reveal (owned by telemetry)."""

    detail: bool = False
    """Per-namespace and per-agent series (and plain namespace names on trace spans);
    off by default because they name who exists and how much each holds."""
    operator_port: int | None = Field(default=None, ge=1, le=65535)
    """When set, `fleetmem serve` also answers `GET /metrics` on 127.0.0.1:<port> (loopback
    only, no key): the operator's scrape, with the per-namespace and per-agent series when
    `detail` is on. Off by default; on the main port detail needs an admin agent's key."""


# --- agents-file reload (issue 20, part 6) ------------------------------------------------
class AgentsReloadSettings(BaseModel):
    """Re-reading the agents file while `fleetmem serve` runs (owned by agents_reload)."""

    enabled: bool = True
    """Watch the agents file and put a changed, valid version in force within seconds."""
    poll_seconds: float = Field(default=5.0, gt=0, le=3600)
    """Also re-check the file this often, for changes file events miss (network mounts)."""
# --- end agents-file reload ----------------------------------------------------------------


# --- audit witness (issue 20, part 3) ------------------------------------------------
class AuditSettings(BaseModel):
    """The audit witness: the chain's head also written outside the database."""

    witness: bool = True
    """Anchor the audit chain's head in a file outside the database (detects a cut tail)."""
    witness_path: Path | None = None
    """Where; default `<data_dir>/audit-witness.log`. Another disk, or a file with an
    append-only attribute, is harder to rewrite together with the database."""
    witness_every: int = Field(default=1, ge=1, le=1_000_000)
    """Anchor once the head moved this many entries (1: after every commit that appended
    one, coalesced under load); the last head is always anchored at shutdown."""
    witness_key: SecretStr | None = None
    """HMAC-SHA256 key for witness lines (a secret, never logged). When set, a line without
    a valid HMAC fails verification."""


class Settings(BaseSettings):
    """Everything configurable; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="FLEETMEM_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    agents_file: Path | None = None
    default_agent: str = "local"
    """The agent used when no agents file exists, and by `fleetmem mcp` over stdio."""
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=1, le=65535)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    """stderr lines as text, or one JSON object per line (ts, level, logger, message, the
    agent, workflow and request ids when known, and the fields of structured lines)."""
    graph: GraphSettings = Field(default_factory=GraphSettings)
    vector: VectorSettings = Field(default_factory=VectorSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    mcp: McpSettings = Field(default_factory=McpSettings)
    vault: VaultSettings = Field(default_factory=VaultSettings)
    gc: GcSettings = Field(default_factory=GcSettings)
    governance: GovernanceSettings = Field(default_factory=GovernanceSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    agents_reload: AgentsReloadSettings = Field(default_factory=AgentsReloadSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)

    # --- traces (issue 20, OpenTelemetry): the standard variables, without our prefix ---
    otel_exporter_otlp_endpoint: str = Field(default="", validation_alias=AliasChoices(
        "OTEL_EXPORTER_OTLP_ENDPOINT", "otel_exporter_otlp_endpoint"))
    """OTLP/HTTP base URL (e.g. http://127.0.0.1:4318); set, spans go to <url>/v1/traces
    (needs the `otel` extra). Empty: no traces, and nothing of OpenTelemetry is loaded."""
    otel_service_name: str = Field(default="fleetmem", validation_alias=AliasChoices(
        "OTEL_SERVICE_NAME", "otel_service_name"))
    """The `service.name` resource attribute of the spans."""
