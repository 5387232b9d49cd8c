"""Reading one memory, its history, and moving it through its lifecycle: correct
(atomic supersede), forget (archive), restore, share; plus the startup repair pass."""

from __future__ import annotations

import logging
from dataclasses import replace

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import Attribution, CommitState, Memory, MemoryStatus
from fleetmem.memory.domain.redaction import redact
from fleetmem.memory.domain.text import clean_text, content_hash, new_id, validate_id
from fleetmem.memory.errors import Conflict, InvalidInput, NotFound
from fleetmem.memory.services.inputs import MemoryInput, check_importance, check_kind
from fleetmem.memory.services.memories.entity_links import create_text_entities, relink
from fleetmem.memory.services.memories.remember import remember_many
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.views.records import MemoryView, RememberResult

logger = logging.getLogger(__name__)


async def load_readable(ctx: ServiceContext, caller: Caller, memory_id: object,
                        field: str = "id") -> Memory:
    """The memory if the caller may read it; otherwise NotFound (never revealing whether
    it exists in a namespace the caller cannot read)."""
    mid = validate_id(memory_id, field)
    found = await ctx.memories.get_memories([mid], ctx.policy.readable(caller.agent_id))
    if not found:
        raise NotFound(f"no memory {mid} among the namespaces you can read", field=field,
                       rule="not_found")
    return found[0]


async def load_writable(ctx: ServiceContext, caller: Caller, memory_id: object) -> Memory:
    """The memory if the caller may change it (checks its namespace; the operation was
    authorised by the service method's declaration)."""
    memory = await load_readable(ctx, caller, memory_id)
    ctx.policy.check_write(caller.agent_id, memory.namespace)
    return memory


async def get(ctx: ServiceContext, caller: Caller, memory_id: object) -> MemoryView:
    """One memory with its attribution."""
    return MemoryView.of(await load_readable(ctx, caller, memory_id))


async def history(ctx: ServiceContext, caller: Caller, memory_id: object) -> list[MemoryView]:
    """The supersede chain of a memory, oldest first (only readable versions)."""
    memory = await load_readable(ctx, caller, memory_id)
    chain = await ctx.memories.history(memory.id, ctx.policy.readable(caller.agent_id))
    return [MemoryView.of(m) for m in chain]


async def correct(ctx: ServiceContext, caller: Caller, memory_id: object, text: object, *,
                  kind: str | None = None, importance: float | None = None,
                  reason: str = "") -> MemoryView:
    """Atomically supersede a memory: close the old fact's validity, write the new one,
    linked to the entities its text names like any write (`entity_links.relink`).

    Raises:
        Conflict: the memory is not active (already corrected, archived).
    """
    old = await load_writable(ctx, caller, memory_id)
    body = clean_text(text, "text", max_chars=ctx.limits.max_text_chars)
    if old.status is not MemoryStatus.ACTIVE:
        raise Conflict(f"memory {old.id} is {old.status.value}; correct its current version "
                       f"{old.superseded_by or ''}".strip(), field="id", rule="not_active")
    red = redact(body)
    now = ctx.now()
    new = Memory(
        id=new_id(), namespace=old.namespace, text=red.text.strip(),
        kind=check_kind(kind) if kind is not None else old.kind,
        importance=check_importance(importance) if importance is not None else old.importance,
        tags=old.tags,
        attribution=Attribution(created_by=caller.agent_id, created_at=now,
                                on_behalf_of=caller.on_behalf_of, workflow_id=caller.workflow_id,
                                session_id=caller.session_id),
        updated_at=now, valid_from=now, pinned=old.pinned, supersedes=old.id,
        content_hash=content_hash(old.namespace, red.text), commit_state=CommitState.COMMITTED,
        entity_names=old.entity_names, metadata=old.metadata)
    new, new_names = await relink(ctx, old, new)
    vector = (await ctx.embed([new.text]))[0]
    # Graph commit and vector write under the namespace lock, like every status change: a
    # forget landing in between would otherwise have its vector delete undone here. The
    # tier gate (shared) keeps reconcile from acting on the new memory before its vector
    # is written.
    async with ctx.namespace_lock(old.namespace), ctx.tier_gate.shared():
        created = await create_text_entities(ctx, caller, old.namespace, [new], new_names)
        ok = await ctx.memories.supersede(old.id, new, vector, now, [ctx.audit(
            caller, "correct", namespace=old.namespace, target_ids=[old.id, new.id],
            detail=redact(reason).text[:500]), *([created] if created is not None else [])])
        if not ok:
            raise Conflict(f"memory {old.id} was changed concurrently; read it again and "
                           "retry", field="id", rule="concurrent_update")
        closed = replace(old, status=MemoryStatus.SUPERSEDED, valid_to=now,
                         superseded_by=new.id)
        old_vec = (await ctx.memories.get_vectors([old.id])).get(old.id)
        points = [ctx.point(new, vector)]
        if old_vec is not None:
            points.append(ctx.point(closed, old_vec))
        await ctx.vectors.upsert(points)
    return MemoryView.of(new)


def restored_status(memory: Memory) -> MemoryStatus:
    """Where an archived memory goes back to: a version that was corrected before it was
    forgotten returns to history (`superseded`), never to being current again."""
    return MemoryStatus.SUPERSEDED if memory.superseded_by else MemoryStatus.ACTIVE


async def set_archived(ctx: ServiceContext, caller: Caller, memory_id: object,
                       archived: bool) -> MemoryView:
    """Forget (archive: out of recall, restorable) or restore a memory."""
    operation = "forget" if archived else "restore"
    mid = validate_id(memory_id)
    found = await ctx.memories.get_memories([mid], ctx.policy.readable(caller.agent_id))
    if not found:
        raise NotFound(f"no memory {mid} among the namespaces you can read", field="id",
                       rule="not_found")
    memory = found[0]
    ctx.policy.check_write(caller.agent_id, memory.namespace)
    if not archived and memory.status is not MemoryStatus.ARCHIVED:
        raise Conflict(f"memory {mid} is {memory.status.value}, not archived", field="id",
                       rule="not_archived")
    target = MemoryStatus.ARCHIVED if archived else restored_status(memory)
    now = ctx.now()
    async with ctx.namespace_lock(memory.namespace), ctx.tier_gate.shared():  # see `correct`
        changed = await ctx.memories.set_status([mid], target, now, [ctx.audit(
            caller, operation, namespace=memory.namespace, target_ids=[mid])])
        if archived:
            await ctx.vectors.delete([mid])
        elif changed:
            vec = (await ctx.memories.get_vectors([mid])).get(mid)
            if vec is not None:
                await ctx.vectors.upsert([ctx.point(replace(memory, status=target), vec)])
    return MemoryView.of(replace(memory, status=target, updated_at=now))


async def share(ctx: ServiceContext, caller: Caller, memory_id: object,
                namespace: object) -> RememberResult:
    """Copy a readable memory into another namespace the caller may write (e.g. a team)."""
    memory = await load_readable(ctx, caller, memory_id)
    if not isinstance(namespace, str):
        raise InvalidInput("namespace must be a string", field="namespace", rule="type")
    if namespace == memory.namespace:
        raise InvalidInput("the memory is already in that namespace", field="namespace",
                           rule="different_namespace")
    inp = MemoryInput(text=memory.text, namespace=namespace, kind=memory.kind.value,
                      importance=memory.importance,
                      tags=[*memory.tags, f"shared-from:{memory.id}"][:ctx.limits.max_tags],
                      pinned=memory.pinned, entities=list(memory.entity_names),
                      metadata=dict(memory.metadata))
    return (await remember_many(ctx, caller, [inp], operation="share"))[0]
