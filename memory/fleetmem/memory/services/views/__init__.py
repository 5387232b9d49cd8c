"""Every view and report the service returns: plain pydantic models, no behaviour."""

from fleetmem.memory.services.views.oversight import (
    AuditHeadView,
    AuditVerification,
    ClaimView,
    ConflictView,
    EntityBrief,
    NamespaceSummaryView,
    RelateResult,
    ResolutionView,
    WitnessView,
)
from fleetmem.memory.services.views.records import (
    AgentUsageView,
    AttributionView,
    AuditEventView,
    BufferItemView,
    ConsolidateResult,
    EntityView,
    ExportedMemory,
    GraphView,
    MemoryView,
    NamespaceView,
    ObservationResult,
    ObservationView,
    RecallHit,
    RecallResult,
    RelationView,
    RememberBatchResult,
    RememberResult,
    StatsView,
)
from fleetmem.memory.services.views.reports import (
    BufferExpiryReport,
    CloseSupersededReport,
    DecayReport,
    GcItem,
    GcReport,
    OrphanReport,
    PurgeReport,
    ReconcileReport,
)

__all__ = [
    "AgentUsageView", "AttributionView", "AuditEventView", "AuditHeadView",
    "AuditVerification",
    "BufferExpiryReport", "BufferItemView", "ClaimView", "CloseSupersededReport",
    "ConflictView", "ConsolidateResult", "DecayReport", "EntityBrief", "EntityView",
    "GcItem", "GcReport", "GraphView", "ExportedMemory", "MemoryView",
    "NamespaceSummaryView", "NamespaceView",
    "ObservationResult", "ObservationView", "OrphanReport", "PurgeReport", "RecallHit",
    "RecallResult", "ReconcileReport", "RelateResult", "RelationView", "RememberBatchResult",
    "RememberResult", "ResolutionView", "StatsView", "WitnessView",
]
