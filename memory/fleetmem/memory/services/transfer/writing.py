"""Writing imported memories as they are: ids, attribution, times, validity and status
kept (nothing is deduplicated or re-attributed here; `importing` decided what to write).

The same batch write as `remember_batch`: texts are embedded in chunks of the model's batch
size, every chunk queued at once so encoding chunk i + 1 overlaps writing chunk i; each
namespace's share is written by `remember.store_group` (quota, vectors, then the memories
with their audit event in one graph transaction). Archived memories get no vector point,
as after `forget`. A memory given with its vector (an import carrying vectors of the
store's model) is not encoded: only the others of a chunk go to the model.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import Memory
from fleetmem.memory.ports import Vector
from fleetmem.memory.services.memories.context import keyword_context
from fleetmem.memory.services.memories.remember import EMBED_CHUNK, store_group

if TYPE_CHECKING:
    from fleetmem.memory.services.runtime.context import ServiceContext

logger = logging.getLogger(__name__)


async def write_memories(ctx: ServiceContext, caller: Caller, memories: Sequence[Memory],
                         given: Sequence[Vector | None] | None = None) -> None:
    """Write complete memories (see the module docstring); `given` holds, per memory, its
    checked unit vector or None to encode its text.

    Raises:
        RateLimited: the caller's texts_per_minute or a namespace's memory quota (checked
            before anything of a namespace's share is written).
    """
    if not memories:
        return
    known: list[Vector | None] = list(given) if given is not None else [None] * len(memories)
    ctx.prepay_texts(sum(v is None for v in known))
    chunks = [list(memories[i:i + EMBED_CHUNK]) for i in range(0, len(memories), EMBED_CHUNK)]
    embeddings = [asyncio.create_task(_vectors(ctx, chunk, known[i:i + EMBED_CHUNK]))
                  for i, chunk in zip(range(0, len(memories), EMBED_CHUNK), chunks,
                                      strict=True)]
    # The keyword context remember gives a memory (its event date, the dates its text
    # names), so imported history is found by date too; records carry no session, so no
    # preceding turn. dateparser is CPU work: off the event loop.
    try:
        contexts = await asyncio.to_thread(
            lambda: {m.id: keyword_context(m.text, m.valid_from, None) for m in memories})
        for chunk, embedding in zip(chunks, embeddings, strict=True):
            vectors = list(await embedding)
            for ns in sorted({m.namespace for m in chunk}):
                pairs = [(m, v) for m, v in zip(chunk, vectors, strict=True)
                         if m.namespace == ns]
                async with ctx.namespace_lock(ns):
                    await store_group(ctx, caller, ns, [m for m, _ in pairs],
                                      [v for _, v in pairs], "import", contexts)
    finally:
        for task in embeddings:
            task.cancel()


async def _vectors(ctx: ServiceContext, chunk: list[Memory],
                   known: list[Vector | None]) -> list[Vector]:
    """The chunk's vectors: the given ones, the model's for the rest (one call)."""
    missing = [i for i, v in enumerate(known) if v is None]
    out = list(known)
    if missing:
        encoded = await ctx.embed([chunk[i].text for i in missing])
        for i, vector in zip(missing, encoded, strict=True):
            out[i] = vector
    return [v for v in out if v is not None]
