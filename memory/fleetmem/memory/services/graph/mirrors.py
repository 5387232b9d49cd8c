"""Memories that mirror graph records (observations, relations, entity facts), so recall
finds the graph by meaning.

A mirror is linked to its record by provenance, not by text: its dedup key is
`mirror_key(namespace, record)`, which only these graph write paths produce. A graph
delete therefore archives exactly the memories written for the records it really
deleted, never an ordinary memory that reads the same (a crafted `delete_relations` of a
relation that does not exist archives nothing).

Archiving a mirror because its record was deleted takes the memory out of recall, which
is what `forget` does: the caller's roles must allow `forget` (checked before anything
changes, so a refused call changes nothing), and the archive is audited as a `forget`.
Edits that move a record (rename, a one-valued relation moving on) archive the old
mirror and write the new one in the same call: those are audited under the edit.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import MemoryStatus
from fleetmem.memory.domain.text import mirror_key
from fleetmem.memory.errors import Forbidden
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.remember import remember_many
from fleetmem.memory.services.runtime.context import ServiceContext

Mirror = tuple[str, str, list[str], str]
"""(memory text, kind, entity names, mirrored record) of one mirror to write."""


async def remember_mirrors(ctx: ServiceContext, caller: Caller, ns: str, operation: str,
                           items: Sequence[Mirror]) -> None:
    """Write mirrors in chunks of the batch limit (one per record; an existing active
    mirror of the same record is reused)."""
    step = ctx.limits.max_batch
    for start in range(0, len(items), step):
        chunk = items[start:start + step]
        await remember_many(ctx, caller,
                            [MemoryInput(text=t, namespace=ns, kind=k, entities=e)
                             for t, k, e, _ in chunk],
                            operation=operation, mirrors=[r for *_, r in chunk])


async def mirror_ids(ctx: ServiceContext, ns: str, records: Sequence[str]) -> list[str]:
    """Ids of the active memories mirroring these records (those that have one)."""
    keys = [mirror_key(ns, r) for r in dict.fromkeys(records)]
    if not keys:
        return []
    found = await ctx.memories.find_by_hashes(ns, keys)
    return list(dict.fromkeys(found[k] for k in keys if k in found))


def authorize_forget(ctx: ServiceContext, caller: Caller, ns: str, operation: str,
                     ids: Sequence[str]) -> None:
    """Refuse a delete that would archive memories unless the caller may `forget` them.

    Raises:
        Forbidden: rule `role` (the caller's roles deny `forget`) or `namespace_write`.
    """
    if not ids:
        return
    rule = ctx.policy.principal(caller.agent_id).denial_rule("forget")
    if rule is not None:
        raise Forbidden(
            f"operation 'forget' refused: {rule}. {operation} would archive {len(ids)} "
            "memories written for the records it deletes, and archiving a memory is a "
            "'forget'; nothing was changed. Ask an agent whose role allows 'forget'",
            rule="role")
    ctx.policy.check_write(caller.agent_id, ns)


async def archive(ctx: ServiceContext, caller: Caller, ns: str, ids: Sequence[str], *,
                  operation: str, forget: bool) -> list[str]:
    """Archive mirrors (restorable); audited as `forget` when `forget`, else as
    `operation`. Returns the ids that changed."""
    if not ids:
        return []
    audit = ctx.audit(caller, "forget" if forget else operation, namespace=ns,
                      target_ids=list(ids),
                      detail=f"{operation}: archived the memories of deleted records"
                      if forget else "")
    # like `forget`: no write undoes the vector delete, and reconcile never sees the
    # graph archived with the vector still there (or the reverse) as a difference
    async with ctx.namespace_lock(ns), ctx.tier_gate.shared():
        changed = await ctx.memories.set_status(list(ids), MemoryStatus.ARCHIVED, ctx.now(),
                                                [audit])
        if changed:
            await ctx.vectors.delete(changed)
    return changed
