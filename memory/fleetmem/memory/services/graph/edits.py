"""Graph operations the Obsidian vault needs beyond the reference set: edit an entity's
type, aliases and tags; rename an entity (relations, and wikilinks in other entities'
observations, follow it); list the active memories of namespaces page by page.

Edits also write (or archive) the memories that mirror them, so recall finds a renamed
entity or a new alias, attributed to whoever made the change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import Entity, MemoryStatus, Observation
from fleetmem.memory.domain.text import (
    fact_record,
    fact_texts,
    mirror_key,
    new_id,
    observation_record,
    relation_record,
    rewrite_links,
)
from fleetmem.memory.errors import Conflict, InvalidInput, NotFound
from fleetmem.memory.ports import EntityRef, MemoryFilter
from fleetmem.memory.services.graph import mirrors
from fleetmem.memory.services.graph.entities import observation_mirror, relation_mirror
from fleetmem.memory.services.graph.mirrors import Mirror, remember_mirrors
from fleetmem.memory.services.inputs import check_metadata_filter, check_name, check_tags
from fleetmem.memory.services.memories.remember import resolve_namespace
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.views.records import EntityView, MemoryView


async def _load(ctx: ServiceContext, ns: str, name: str) -> Entity:
    page = await ctx.entities.open_nodes([ns], [name])
    if not page.entities:
        raise NotFound(f"Entity with name {name} not found in {ns}", field="name",
                       rule="not_found")
    return page.entities[0]


def _facts(e: Entity) -> list[str]:
    return fact_texts(e.name, e.entity_type, e.aliases, e.tags)


def _fact(text: str, entity: str) -> Mirror:
    return (text, "fact", [entity], fact_record(text))


async def _retire(ctx: ServiceContext, caller: Caller, ns: str, operation: str,
                  records: Sequence[str]) -> None:
    """Archive the mirrors of records an edit replaced (the edit writes their successors)."""
    ids = await mirrors.mirror_ids(ctx, ns, records)
    await mirrors.archive(ctx, caller, ns, ids, operation=operation, forget=False)


async def update_entity(ctx: ServiceContext, caller: Caller, name: str,
                        namespace: str | None = None, *, entity_type: str | None = None,
                        aliases: Sequence[str] | None = None,
                        tags: Sequence[str] | None = None) -> EntityView:
    """Replace an entity's type, aliases and/or tags (None leaves a field as it is)."""
    ns = resolve_namespace(ctx, caller, namespace)
    old = await _load(ctx, ns, check_name(name, "name"))
    new = replace(
        old,
        entity_type=old.entity_type if entity_type is None
        else check_name(entity_type, "entityType"),
        aliases=old.aliases if aliases is None
        else tuple(dict.fromkeys(check_name(a, "aliases") for a in aliases)),
        tags=old.tags if tags is None else check_tags(list(tags), ctx.limits))
    if (new.entity_type, new.aliases, new.tags) == (old.entity_type, old.aliases, old.tags):
        return EntityView.of(old)
    new = replace(new, updated_at=ctx.now())
    await ctx.entities.update_entity(new)
    before, after = _facts(old), _facts(new)
    gone = [t for t in before if t not in after]
    if gone:
        await _retire(ctx, caller, ns, "update_entity", [fact_record(t) for t in gone])
    added = [_fact(t, new.name) for t in after if t not in before]
    if added:
        await remember_mirrors(ctx, caller, ns, "update_entity", added)
    await ctx.audit_log.append_audit([ctx.audit(caller, "update_entity", namespace=ns,
                                                target_ids=[new.id], detail=new.name[:500])])
    return EntityView.of(new)


async def rename_entity(ctx: ServiceContext, caller: Caller, name: str, new_name: str,
                        namespace: str | None = None) -> EntityView:
    """Rename an entity: observations (with their authors), relations and links in other
    entities' observations follow; the old name becomes an alias. The entity gets a new id.

    Raises:
        NotFound: no entity `name` in the namespace.
        Conflict: another entity is already called `new_name`.
    """
    ns = resolve_namespace(ctx, caller, namespace)
    old = await _load(ctx, ns, check_name(name, "name"))
    target = check_name(new_name, "newName")
    if target == old.name:
        return EntityView.of(old)
    if target.lower() != old.name.lower():
        if (await ctx.entities.open_nodes([ns], [target])).entities:
            raise Conflict(f"an entity named {target} already exists in {ns}; choose another "
                           "name or merge the two by hand", field="newName", rule="exists")
        renamed = await _move(ctx, caller, ns, old, target)
    else:  # a case-only rename goes through a temporary name (names are case-insensitive)
        temp = await _move(ctx, caller, ns, old, f"{old.name} (renaming {new_id()[:8]})")
        renamed = await _move(ctx, caller, ns, temp, target, alias=old.name)
    await remember_mirrors(ctx, caller, ns, "rename_entity",
                           [_fact(f"{old.name} was renamed to {renamed.name}", renamed.name)])
    await ctx.audit_log.append_audit([ctx.audit(caller, "rename_entity", namespace=ns,
                                                target_ids=[old.id, renamed.id],
                                                detail=f"{old.name} -> {renamed.name}"[:500])])
    return EntityView.of(renamed)


async def _move(ctx: ServiceContext, caller: Caller, ns: str, old: Entity, target: str,
                alias: str | None = None) -> Entity:
    """Copy `old` under the new name with its relations, then delete it (both exist for a
    moment, never neither)."""
    now = ctx.now()
    keep_alias = alias or old.name
    aliases = tuple(a for a in dict.fromkeys([*old.aliases, keep_alias])
                    if a.lower() != target.lower() and "(renaming " not in a)
    new = replace(old, id=new_id(), name=target, aliases=aliases, updated_at=now)
    if not await ctx.entities.create_entities([new]):
        raise Conflict(f"an entity named {target} appeared in {ns} meanwhile; retry",
                       field="newName", rule="exists")
    rels = await ctx.entities.relations_of([ns], [old.name], None)
    low = old.name.lower()
    moved = [replace(r, id=new_id(),
                     from_entity=target if r.from_entity.lower() == low else r.from_entity,
                     to_entity=target if r.to_entity.lower() == low else r.to_entity)
             for r in rels]
    if moved:
        await ctx.entities.create_relations(moved)
    linking = [e for e in await ctx.entities.search_nodes([ns], f"[[{old.name}", 1000)
               if e.id != old.id]
    await ctx.entities.delete_entities([EntityRef(ns, old.name)], now)
    stale = [observation_record(old.name, o.text) for o in old.observations]
    stale += [relation_record(r) for r in rels]
    fresh = [observation_mirror(target, o.text) for o in old.observations]
    fresh += [relation_mirror(r) for r in moved]
    renamed_facts = fact_texts(target, old.entity_type, old.aliases, old.tags)
    for was, becomes in zip(_facts(old), renamed_facts, strict=True):
        if await ctx.memories.find_by_hash(ns, mirror_key(ns, fact_record(was))) is not None:
            stale.append(fact_record(was))
            fresh.append(_fact(becomes, target))
    if alias is None:
        fresh.append(_fact(f"{target} is also known as {old.name}", target))
    for e in linking:
        for o in e.observations:
            text = rewrite_links(o.text, old.name, target)
            if text == o.text:
                continue
            await ctx.entities.delete_observations(EntityRef(ns, e.name), [o.text], now)
            await ctx.entities.add_observations(EntityRef(ns, e.name),
                                                [Observation(text, o.created_by, o.created_at)],
                                                now)
            stale.append(observation_record(e.name, o.text))
            fresh.append(observation_mirror(e.name, text))
    if stale:
        await _retire(ctx, caller, ns, "rename_entity", stale)
    if fresh and "(renaming " not in target:
        await remember_mirrors(ctx, caller, ns, "rename_entity", fresh)
    return new


async def list_memories(ctx: ServiceContext, caller: Caller, namespaces: Sequence[str] | None,
                        after_id: str | None = None, limit: int = 500,
                        metadata: Mapping[str, object] | None = None) -> list[MemoryView]:
    """A page of the active memories of readable namespaces, ordered by id; with
    `metadata`, only those whose metadata holds every given top-level pair."""
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be from 1 to 1000", field="limit", rule="range")
    ns = ctx.policy.scope_reads(caller.agent_id, namespaces)
    flt = MemoryFilter(namespaces=ns, statuses=(MemoryStatus.ACTIVE,),
                       metadata=check_metadata_filter(metadata, ctx.limits))
    return [MemoryView.of(m) for m in await ctx.memories.list_memories(flt, after_id, limit)]
