"""Short-term buffers per agent and session, and consolidation into long-term memory.

Nothing expires unseen: clearing a buffer, trimming it to its bound and the GC's expiry
all consolidate first.
"""

from __future__ import annotations

from datetime import datetime

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import BufferItem
from fleetmem.memory.domain.redaction import redact
from fleetmem.memory.domain.text import clean_text, new_id
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.services.inputs import MemoryInput, check_importance, check_name
from fleetmem.memory.services.memories.remember import remember_many, resolve_namespace
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.views.records import BufferItemView, ConsolidateResult

ROLES = ("user", "assistant", "tool", "system", "note")
_MIN_PROMOTE_CHARS = 12


def _session(session_id: object) -> str:
    return check_name(session_id, "session_id")


async def append(ctx: ServiceContext, caller: Caller, session_id: object, text: object, *,
                 role: str = "note", importance: float = 0.5,
                 namespace: str | None = None) -> BufferItemView:
    """Append one item to the caller's session buffer (redacted like every write)."""
    sid = _session(session_id)
    body = clean_text(text, "text", max_chars=ctx.limits.max_text_chars)
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role", rule="enum")
    ns = resolve_namespace(ctx, caller, namespace)
    item = BufferItem(id=new_id(), agent_id=caller.agent_id, session_id=sid, namespace=ns,
                      role=role, text=redact(body).text, created_at=ctx.now(),
                      importance=check_importance(importance), workflow_id=caller.workflow_id,
                      on_behalf_of=caller.on_behalf_of)
    await ctx.buffers.buffer_append([item])
    pending = await ctx.buffers.buffer_read(caller.agent_id, sid, ctx.limits.buffer_max_items + 1,
                                            include_consolidated=False)
    if len(pending) > ctx.limits.buffer_max_items:
        await consolidate(ctx, caller, sid)
    return BufferItemView.of(item)


async def read(ctx: ServiceContext, caller: Caller, session_id: object,
               limit: int = 50) -> list[BufferItemView]:
    """The latest items of the caller's own session buffer, oldest first."""
    if not 1 <= limit <= ctx.limits.buffer_max_items:
        raise InvalidInput(f"limit must be from 1 to {ctx.limits.buffer_max_items}",
                           field="limit", rule="range")
    items = await ctx.buffers.buffer_read(caller.agent_id, _session(session_id), limit)
    return [BufferItemView.of(i) for i in items]


async def clear(ctx: ServiceContext, caller: Caller, session_id: object) -> int:
    """Consolidate, then delete the caller's session buffer; return items deleted."""
    sid = _session(session_id)
    await consolidate(ctx, caller, sid)
    return await ctx.buffers.buffer_clear(caller.agent_id, sid)


async def consolidate(ctx: ServiceContext, caller: Caller, session_id: object, *,
                      min_importance: float = 0.0,
                      before: datetime | None = None) -> ConsolidateResult:
    """Promote the session's unconsolidated items into long-term memory (kind episode).

    Items below `min_importance` or too short to carry meaning are marked consolidated
    without a memory (seen, judged, not kept); dedup folds repeats into one memory. With
    `before`, only items created before it are consolidated (the GC's buffer expiry).
    """
    sid = _session(session_id)
    min_importance = check_importance(min_importance, "min_importance")
    items = await ctx.buffers.buffer_read(caller.agent_id, sid, ctx.limits.buffer_max_items * 4,
                                          include_consolidated=False)
    if before is not None:
        items = [i for i in items if i.created_at < before]
    keep = [i for i in items if i.importance >= min_importance
            and len(i.text.strip()) >= _MIN_PROMOTE_CHARS]
    skipped = [i for i in items if i not in keep]
    promoted = []
    for start in range(0, len(keep), ctx.limits.max_batch):
        chunk = keep[start:start + ctx.limits.max_batch]
        inputs = [MemoryInput(text=i.text, namespace=i.namespace, kind="episode",
                              importance=i.importance, tags=[f"session:{sid}"[:200]])
                  for i in chunk]
        session_caller = Caller(agent_id=caller.agent_id, on_behalf_of=caller.on_behalf_of,
                                workflow_id=caller.workflow_id, session_id=sid)
        results = await remember_many(ctx, session_caller, inputs, operation="consolidate")
        await ctx.buffers.buffer_mark_consolidated([(i.id, r.id) for i, r in
                                                    zip(chunk, results, strict=True)])
        promoted += results
    if skipped:
        await ctx.buffers.buffer_mark_consolidated([(i.id, "skipped") for i in skipped])
    return ConsolidateResult(agent_id=caller.agent_id, session_id=sid, promoted=promoted,
                             skipped=len(skipped))

