"""What every use case shares: the stores, the embedder, the clock, the access policy."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from fleetmem.memory.domain import audit as audit_rules
from fleetmem.memory.domain.access import AccessPolicy, Caller
from fleetmem.memory.domain.metadata import scalar_pairs
from fleetmem.memory.domain.models import AuditEvent, Memory, MemoryStatus
from fleetmem.memory.ports import (
    AuditStore,
    AuditWitness,
    BufferStore,
    Clock,
    Embedder,
    EntityGraph,
    GraphStore,
    MemoryFilter,
    MemoryStore,
    UpkeepStore,
    VectorIndex,
    VectorPoint,
)
from fleetmem.memory.services.runtime import request_scope
from fleetmem.memory.services.runtime.agents_reload import AgentsFile
from fleetmem.memory.services.runtime.background import Reinforcer
from fleetmem.memory.services.runtime.batching import EmbedBatcher, model_pools
from fleetmem.memory.services.runtime.operations import SYSTEM_PREFIX
from fleetmem.memory.services.runtime.quotas import Governor
from fleetmem.memory.services.runtime.tiergate import TierGate
from fleetmem.memory.services.runtime.workshare import WorkShare
from fleetmem.memory.settings import (
    GcSettings,
    GovernanceSettings,
    LimitSettings,
    MetricsSettings,
)

logger = logging.getLogger(__name__)


class SystemClock:
    """The real clock (UTC)."""

    def now(self) -> datetime:
        """Current UTC time."""
        return datetime.now(UTC)


@dataclass
class ServiceContext:
    """Dependencies of the use cases, built by `bootstrap`."""

    graph: GraphStore
    vectors: VectorIndex
    embedder: Embedder
    policy: AccessPolicy
    limits: LimitSettings = field(default_factory=LimitSettings)
    gc: GcSettings = field(default_factory=GcSettings)
    index_min_unindexed: int = 10_000
    governance: GovernanceSettings = field(default_factory=GovernanceSettings)
    clock: Clock = field(default_factory=SystemClock)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    agents_file: AgentsFile | None = None
    """The agents file `policy` came from; it swaps `policy` when the file changes."""
    witness: AuditWitness | None = None
    """Where the audit chain's head is anchored outside the store (None: nowhere)."""
    _ns_locks: defaultdict[str, asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock))
    tier_gate: TierGate = field(default_factory=TierGate)
    """Held shared by every write across its graph and vector steps, exclusively by the
    jobs that compare the tiers while they re-check and fix (see `tiergate`)."""
    embed_calls: int = 0
    reinforcer: Reinforcer = field(init=False)
    _batcher: EmbedBatcher = field(init=False, repr=False)
    _model_pools: tuple[ThreadPoolExecutor, ThreadPoolExecutor] = field(init=False, repr=False)
    governor: Governor = field(init=False)
    work_share: WorkShare = field(init=False)
    """Per-agent slots for calls in progress (see `workshare`)."""

    def __post_init__(self) -> None:
        self.reinforcer = Reinforcer(self.graph, self.graph)
        self.governor = Governor(self.governance)
        self._model_pools = model_pools(self.governance.bulk_embed_nice)
        self._batcher = EmbedBatcher(self.embedder, *self._model_pools)
        self.work_share = WorkShare(self.governance.concurrent_requests_per_agent,
                                    self.governance.concurrent_batches_per_agent)

    # The narrow ports: each is `graph` itself, typed as the one aggregate a use case
    # needs, so a use case's calls say which part of the store it depends on. `graph`
    # stays for the lifecycle (open, close, ping) and for copying a whole store.
    @property
    def memories(self) -> MemoryStore:
        """The graph store as the memory port (write, read, search, change memories)."""
        return self.graph

    @property
    def entities(self) -> EntityGraph:
        """The graph store as the entity-graph port (entities, observations, relations)."""
        return self.graph

    @property
    def buffers(self) -> BufferStore:
        """The graph store as the short-term buffer port."""
        return self.graph

    @property
    def audit_log(self) -> AuditStore:
        """The graph store as the oversight port (audit chain, queries, stats, usage,
        conflicts); named so because `audit` builds an event."""
        return self.graph

    @property
    def upkeep(self) -> UpkeepStore:
        """The graph store as the upkeep port (repair, reconcile, GC, job slots,
        idempotency records)."""
        return self.graph

    def now(self) -> datetime:
        """Current time from the injected clock."""
        return self.clock.now()

    async def embed(self, texts: Sequence[str], *, agent: str | None = None
                    ) -> npt.NDArray[np.float32]:
        """Embed off the event loop: one encode at a time (CPU-bound), scheduled fairly
        between agents, requests that arrive while one runs encoded together in the next
        (see `EmbedBatcher`). `agent` is whose work it is: by default the caller of the
        request in progress. Charged to that caller's `texts_per_minute` unless the
        request prepaid its texts (see `prepay_texts`).

        Raises:
            RateLimited: the caller's first embedding in this request is over its limit.
        """
        scope = request_scope.current()
        if scope is not None:
            if scope.prepaid_texts >= len(texts):
                scope.prepaid_texts -= len(texts)
            else:
                self._charge_texts(scope, len(texts) - scope.prepaid_texts)
                scope.prepaid_texts = 0
        self.embed_calls += 1
        request_scope.note_embed(len(texts))
        if agent is None:
            agent = scope.caller.agent_id if scope is not None else ""
        return await self._batcher.embed(texts, agent)

    def work_slot(self, caller: Caller, items: int) -> AbstractAsyncContextManager[None]:
        """Hold one of the caller's slots for a call of `items` items (system principals
        hold none): its further calls wait in its own queue (see `workshare`)."""
        if caller.agent_id.startswith(SYSTEM_PREFIX):
            return contextlib.nullcontext()
        return self.work_share.slot(caller.agent_id, items)

    def prepay_texts(self, count: int) -> None:
        """Charge `count` texts the request is about to embed (over several calls) to the
        caller's `texts_per_minute` at once: refused whole, before anything is written,
        rather than part-way through.

        Raises:
            RateLimited: rule `texts_per_minute`.
        """
        scope = request_scope.current()
        if scope is not None and count > 0:
            self._charge_texts(scope, count)
            scope.prepaid_texts += count

    def _charge_texts(self, scope: request_scope.RequestScope, count: int) -> None:
        """Only a request's first charge may be refused; later ones (a use case embedding
        again) are taken on credit so a request is never refused half done."""
        caller = scope.caller
        if caller.agent_id.startswith(SYSTEM_PREFIX):
            return
        per_minute = self.governor.limits_for(
            self.policy.principal(caller.agent_id)).texts_per_minute
        self.governor.take_texts(caller.agent_id, per_minute, count, self.now(),
                                 may_refuse=not scope.texts_charged)
        scope.texts_charged = True

    def namespace_lock(self, namespace: str) -> asyncio.Lock:
        """Serialises dedup-then-insert within one namespace in this process."""
        return self._ns_locks[namespace]

    def audit(self, caller: Caller, operation: str, *, namespace: str | None = None,
              target_ids: Sequence[str] = (), outcome: str = "ok",
              detail: str = "") -> AuditEvent:
        """Build an audit event attributed to the caller."""
        request_scope.note_audit()
        return audit_rules.event(operation, caller.agent_id, self.now(), outcome=outcome,
                                 namespace=namespace, target_ids=tuple(target_ids),
                                 on_behalf_of=caller.on_behalf_of,
                                 workflow_id=caller.workflow_id, detail=detail)

    @staticmethod
    def point(m: Memory, vector: npt.NDArray[np.float32]) -> VectorPoint:
        """The vector-tier record of a memory."""
        return VectorPoint(id=m.id, vector=vector, namespace=m.namespace, kind=m.kind.value,
                           status=m.status.value, created_by=m.attribution.created_by,
                           created_at=m.created_at.timestamp(), tags=m.tags,
                           metadata=tuple(sorted(scalar_pairs(m.metadata).items())))

    @staticmethod
    def active_filter(namespaces: Sequence[str]) -> MemoryFilter:
        """Active memories of the given namespaces."""
        return MemoryFilter(namespaces=tuple(namespaces), statuses=(MemoryStatus.ACTIVE,))
