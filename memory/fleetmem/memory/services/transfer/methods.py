"""`MemoryService` methods of bulk import and export; each declares its operation and
delegates to one use case. Doors drive them: `transfer.driver.run_import` reads a file or
a request body and calls `import_check` once, then `import_lines` batch after batch;
export pages through `export_memories`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import MemoryStatus
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.ports import MemoryFilter
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.runtime.governance import operation
from fleetmem.memory.services.runtime.operations import META, READ, WRITE
from fleetmem.memory.services.transfer import importing
from fleetmem.memory.services.transfer.records import ImportReport
from fleetmem.memory.services.views.records import EmbeddingView, ExportedMemory, MemoryView

EXPORT_PAGE_MAX = 1000
_ALL_STATUSES = tuple(MemoryStatus)


class TransferMethods:
    """Bulk import (batches of lines) and export (pages of memories)."""

    ctx: ServiceContext

    @operation("export", READ, bulk=True)
    async def export_memories(self, caller: Caller, namespaces: Sequence[str] | None = None,
                              after_id: str | None = None, limit: int = 500,
                              with_vectors: bool = False) -> list[ExportedMemory]:
        """A page of the memories of readable namespaces in every status (active, archived,
        superseded), ordered by id: pass the last id as `after_id` for the next page.
        `with_vectors` adds each memory's vector and model name (`embedding`), which an
        import into a store of the same model writes without encoding."""
        if isinstance(limit, bool) or not isinstance(limit, int) \
                or not 1 <= limit <= EXPORT_PAGE_MAX:
            raise InvalidInput(f"limit must be from 1 to {EXPORT_PAGE_MAX}", field="limit",
                               rule="range")
        ns = self.ctx.policy.scope_reads(caller.agent_id, namespaces)
        flt = MemoryFilter(namespaces=ns, statuses=_ALL_STATUSES)
        memories = await self.ctx.memories.list_memories(flt, after_id, limit)
        vectors = await self.ctx.memories.get_vectors([m.id for m in memories]) \
            if with_vectors else {}
        model = self.ctx.embedder.model_name
        return [ExportedMemory(**MemoryView.of(m).__dict__, embedding=None if m.id not in
                               vectors else EmbeddingView(model=model,
                                                          vector=vectors[m.id].tolist()))
                for m in memories]

    @operation("import", META, also=("remember",))
    async def import_check(self, caller: Caller,
                           namespaces: Sequence[str | None]) -> list[str]:
        """Refuse an import before anything is written: the caller must be allowed to
        import and to write every namespace the file names (None: its private one).
        Returns the namespaces the import will write."""
        return importing.target_namespaces(self.ctx, caller, list(namespaces) or [None])

    @operation("import", WRITE, also=("remember",), cost="lines")
    async def import_lines(self, caller: Caller, lines: Sequence[tuple[int, str]],
                           record_format: str = "fleetmem", namespace: str | None = None,
                           strict: bool = False) -> ImportReport:
        """Import one batch of numbered lines (at most the batch limit): records already
        in are skipped, a line that breaks a rule is reported with its number (with
        `strict`, refused: nothing of the batch is written). `namespace` puts every
        record there instead of the namespace it names."""
        if len(lines) > self.ctx.limits.max_batch:
            raise InvalidInput(f"an import batch holds at most {self.ctx.limits.max_batch} "
                               f"lines (got {len(lines)})", field="lines", rule="max_items")
        # the service: its graph methods (self is the whole MemoryService)
        graph = cast(importing.GraphCalls, self)
        return await importing.import_lines(self.ctx, graph, caller, lines, record_format,
                                            namespace, strict)
