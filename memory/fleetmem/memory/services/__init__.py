"""The service layer's public surface: everything a door (REST, MCP, CLI, vault, GC) may
import from the core besides `errors`, `settings` and `bootstrap` (which builds the
adapters and the service).

Use cases live in the groups below this package (`memories/`, `graph/`, `oversight/`,
`maintenance/`, `runtime/`); doors never import them directly (tests/test_architecture.py).
"""

from fleetmem.memory import telemetry as store_timing
from fleetmem.memory.domain.access import (
    AGENT_ID_RE,
    NAMESPACE_RE,
    READ_OPERATIONS,
    WRITE_OPERATIONS,
    Caller,
)
from fleetmem.memory.domain.models import NamespaceStats
from fleetmem.memory.domain.text import fact_texts, normalize, observation_text
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.services.inputs import KINDS, MemoryInput
from fleetmem.memory.services.maintenance.jobs import SYSTEM_CALLER, JobSlot
from fleetmem.memory.services.maintenance.migrate import MigrationReport, migrate
from fleetmem.memory.services.memories.recall import MODES, RecallQuery
from fleetmem.memory.services.operator import OperatorService
from fleetmem.memory.services.oversight.metrics import MetricFamily
from fleetmem.memory.services.runtime.agents_reload import (
    PolicyVersion,
    agents_reload_background,
)
from fleetmem.memory.services.runtime.idempotency import KEY_RE
from fleetmem.memory.services.runtime.progress import ProgressFn, no_progress
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.services.transfer.driver import (
    ImportSource,
    export_lines,
    file_source,
    read_lines,
    run_import,
)
from fleetmem.memory.services.transfer.methods import EXPORT_PAGE_MAX
from fleetmem.memory.services.transfer.records import (
    FORMATS,
    ImportReport,
    LineError,
    RejectedLine,
    derived_id,
)
from fleetmem.memory.services.views import (
    AgentUsageView,
    AttributionView,
    AuditEventView,
    AuditHeadView,
    AuditVerification,
    BufferExpiryReport,
    BufferItemView,
    ClaimView,
    CloseSupersededReport,
    ConflictView,
    ConsolidateResult,
    DecayReport,
    EntityBrief,
    EntityView,
    ExportedMemory,
    GcItem,
    GcReport,
    GraphView,
    MemoryView,
    NamespaceSummaryView,
    NamespaceView,
    ObservationResult,
    ObservationView,
    OrphanReport,
    PurgeReport,
    RecallHit,
    RecallResult,
    ReconcileReport,
    RelateResult,
    RelationView,
    RememberBatchResult,
    RememberResult,
    ResolutionView,
    StatsView,
    WitnessView,
)
from fleetmem.memory.tracing import door as trace_door

__all__ = [
    "AGENT_ID_RE", "AgentUsageView", "AttributionView", "AuditEventView", "AuditHeadView",
    "AuditVerification", "BufferExpiryReport", "BufferItemView", "Caller", "ClaimView",
    "CloseSupersededReport",
    "ConflictView", "ConsolidateResult", "DecayReport", "EntityBrief", "EntitySpec",
    "EntityView", "ExportedMemory",
    "fact_texts", "GcItem", "GcReport", "GraphView", "JobSlot", "KEY_RE",
    "KINDS", "MemoryInput", "MemoryService", "MemoryView", "MetricFamily", "migrate",
    "MigrationReport", "MODES", "NAMESPACE_RE", "NamespaceStats", "NamespaceSummaryView",
    "NamespaceView", "normalize", "observation_text", "ObservationResult", "ObservationView",
    "OperatorService", "OrphanReport", "PurgeReport", "READ_OPERATIONS", "RecallHit", "RecallQuery",
    "RecallResult", "ReconcileReport", "RelateResult", "RelationSpec", "RelationView",
    "RememberBatchResult", "RememberResult", "ResolutionView", "StatsView", "store_timing",
    "SYSTEM_CALLER", "trace_door", "WitnessView", "WRITE_OPERATIONS",
    "agents_reload_background", "PolicyVersion",  # agents-file reload
    "ProgressFn", "no_progress",  # long jobs report how far they got
    "EXPORT_PAGE_MAX", "export_lines", "file_source", "FORMATS", "ImportReport",  # transfer
    "ImportSource", "LineError", "read_lines", "RejectedLine", "run_import", "derived_id",
]
