"""`MemoryService`: the one service layer every door (MCP, REST, vault, GC, CLI) calls.

Each agent-facing method takes the `Caller` first and declares its operation
(`runtime.governance.operation`): authorisation, limits, idempotency, usage and audit
coverage are applied there, once, for every door; validation, redaction, dedup and
attribution live in the use cases under memories/, graph/ and oversight/. Operator work
(GC, audit verification, usage reports) is on `operator`.
"""

from __future__ import annotations

import asyncio

from fleetmem.memory.domain.redaction import redact
from fleetmem.memory.errors import BadRequest, StorageUnavailable
from fleetmem.memory.services.graph.methods import GraphMethods
from fleetmem.memory.services.maintenance import reconcile
from fleetmem.memory.services.memories.methods import MemoryMethods
from fleetmem.memory.services.operator import OperatorService
from fleetmem.memory.services.oversight import audit
from fleetmem.memory.services.oversight.methods import OversightMethods
from fleetmem.memory.services.runtime.agents_reload import PolicyVersion
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.transfer.methods import TransferMethods


class MemoryService(MemoryMethods, GraphMethods, OversightMethods, TransferMethods):
    """Every memory operation, for every caller, through one set of rules."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.operator = OperatorService(ctx)
        self._warming = False
        self._model_ready = False
        self._warmed = asyncio.Event()

    # identity -------------------------------------------------------------------------
    def authenticate(self, api_key: str | None) -> str | None:
        """The agent an API key belongs to; without a key, the open-access agent when no
        agents file is configured; None when nobody matches (the door answers 401)."""
        return self.ctx.policy.authenticate(api_key)

    def identify(self, api_key: str | None, claimed_agent: str | None) -> str | None:
        """The agent a request acts as, from its API key and the agent it claims (REST's
        `X-Agent-Id`): with no agents file and no key, the claimed agent (any well-formed
        id, as `fleetmem mcp` and the CLI's `--agent`) or else the local agent; otherwise
        the key's agent, which a claim may repeat but not contradict. None: the key matches
        nobody, or there is no key where one is needed (the door answers 401).

        Raises:
            BadRequest: the claim names another agent than the key's (rule `agent_header`).
        """
        agent = self.authenticate(api_key)
        if agent is None or not claimed_agent:
            return agent
        if not api_key and self.open_access_agent is not None:
            return claimed_agent
        if claimed_agent != agent:
            raise BadRequest(f"X-Agent-Id names {claimed_agent!r} but the API key is "
                             f"{agent!r}'s: with an agents file the key alone says who is "
                             "calling; drop the header or send that agent's key",
                             field="X-Agent-Id", rule="agent_header")
        return agent

    @property
    def open_access_agent(self) -> str | None:
        """The agent a request without credentials acts as (None when an agents file is
        configured: then every request must carry a key)."""
        return self.ctx.policy.open_access_agent

    def policy_version(self) -> PolicyVersion | None:
        """Which agents file version is in force and whether its last reload failed (None
        without an agents file: the single local open-access agent)."""
        source = self.ctx.agents_file
        return source.version if source is not None else None

    # lifecycle ----------------------------------------------------------------------
    async def start(self) -> dict[str, int]:
        """Open the stores, start the audit witness at the store's head, run the repair
        pass (finish or roll back half-done writes) and build the vector index when many
        points are unindexed (before serving anyone)."""
        await self.ctx.graph.open()
        await audit.start_witness(self.ctx)
        report = await reconcile.repair(self.ctx)
        report["indexed"] = await self.ctx.vectors.build_index(self.ctx.index_min_unindexed)
        return report

    async def close(self) -> None:
        """Flush batched writes, close the stores, then anchor the last audit head."""
        await self.ctx.reinforcer.close()
        await self.ctx.vectors.close()
        await self.ctx.graph.close()
        await audit.stop_witness(self.ctx)

    async def flush(self) -> None:
        """Write batched reinforcement and read-audit now (tests, shutdown)."""
        await self.ctx.reinforcer.flush()

    async def warm_up(self) -> None:
        """Load the embedding model now (one small encode), and the secret detectors
        redaction builds on first use, so the first write or recall after start does not
        pay for them; `ready` reports not-ready until the model is loaded (the detectors,
        about 0.2 s of imports, finish in the background: they do not hold readiness
        back, a write that comes first waits for them). Servers call it in the
        background as they start."""
        self._warming = True

        async def model() -> None:
            await self.ctx.embed(["warm-up"])
            self._model_ready = True

        try:
            await asyncio.gather(model(), asyncio.to_thread(redact, "warm-up"))
        finally:
            self._warmed.set()

    async def warmed(self) -> None:
        """Return once `warm_up` has finished (loaded or failed), at once when it has not
        begun: a door that loads heavy code of its own waits for it, so as not to slow
        the service's readiness (they share the interpreter and the cores)."""
        if self._warming:
            await self._warmed.wait()

    async def ready(self) -> None:
        """Raise StorageUnavailable unless every store answers (and, once `warm_up` has
        begun, until the embedding model is loaded)."""
        await self.ctx.graph.ping()
        await self.ctx.vectors.count()
        if self._warming and not self._model_ready:
            raise StorageUnavailable("embedding", retryable=True,
                                     detail="the embedding model is still loading")
