"""Entity and relation use cases, equivalent to the reference knowledge-graph memory server
(create_entities, create_relations, add_observations, delete_*, read_graph, search_nodes,
open_nodes) plus `relate` with temporal validity.

Observations and relations are also written as long-term memories linked to their
entities, so recall finds them by meaning and graph expansion can follow them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import Attribution, Entity, Observation, Relation
from fleetmem.memory.domain.redaction import redact
from fleetmem.memory.domain.text import (
    clean_text,
    new_id,
    observation_record,
    observation_text,
    relation_record,
    relation_text,
)
from fleetmem.memory.errors import InvalidInput, NotFound
from fleetmem.memory.ports import EntityRef
from fleetmem.memory.services.graph import conflicts, endpoints, mirrors
from fleetmem.memory.services.graph.mirrors import Mirror, remember_mirrors
from fleetmem.memory.services.inputs import check_name, check_tags
from fleetmem.memory.services.memories.remember import resolve_namespace
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.views.records import (
    EntityView,
    GraphView,
    ObservationResult,
    RelationView,
)


@dataclass(frozen=True)
class EntitySpec:
    """An entity to create (reference shape)."""

    name: str
    entity_type: str
    observations: Sequence[str] = ()
    aliases: Sequence[str] = ()
    tags: Sequence[str] = ()


@dataclass(frozen=True)
class RelationSpec:
    """A relation to create or delete (reference shape)."""

    from_entity: str
    to_entity: str
    relation_type: str


def _attribution(ctx: ServiceContext, caller: Caller) -> Attribution:
    return Attribution(created_by=caller.agent_id, created_at=ctx.now(),
                       on_behalf_of=caller.on_behalf_of, workflow_id=caller.workflow_id,
                       session_id=caller.session_id)


_PAGE_MAX = 500  # entities per graph page, names per open_nodes (the REST bounds too)
_CURSOR_MAX = 2000


def _check_page_limit(limit: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _PAGE_MAX:
        raise InvalidInput(f"limit must be from 1 to {_PAGE_MAX}", field="limit", rule="range")


def _check_list(items: Sequence[object], field: str, limit: int) -> None:
    if len(items) == 0:
        raise InvalidInput(f"{field} must not be empty", field=field, rule="not_empty")
    if len(items) > limit:
        raise InvalidInput(f"{field} holds at most {limit} items (got {len(items)})",
                           field=field, rule="max_items")


def _check_observations(ctx: ServiceContext, obs: Sequence[object], field: str) -> list[str]:
    if len(obs) > ctx.limits.max_observations:
        raise InvalidInput(f"{field} holds at most {ctx.limits.max_observations} items",
                           field=field, rule="max_items")
    # Observations are stored on the entity as well as in memories: redact them here, once,
    # so no door can store a secret (deletions compare against the same redacted text).
    return [redact(clean_text(o, f"{field}[{i}]",
                              max_chars=ctx.limits.max_text_chars)).text.strip()
            for i, o in enumerate(obs)]


def observation_mirror(entity: str, text: str) -> Mirror:
    """The mirror memory of one observation."""
    return (observation_text(entity, text), "observation", [entity],
            observation_record(entity, text))


def relation_mirror(r: Relation) -> Mirror:
    """The mirror memory of one relation."""
    return (relation_text(r), "fact", [r.from_entity, r.to_entity], relation_record(r))


async def create_entities(ctx: ServiceContext, caller: Caller, specs: Sequence[EntitySpec],
                          namespace: str | None = None) -> list[EntityView]:
    """Create entities that do not exist yet in the namespace; return the new ones."""
    _check_list(specs, "entities", ctx.limits.max_batch)
    ns = resolve_namespace(ctx, caller, namespace)
    a = _attribution(ctx, caller)
    entities = []
    for i, s in enumerate(specs):
        name = check_name(s.name, f"entities[{i}].name")
        obs = _check_observations(ctx, list(s.observations), f"entities[{i}].observations")
        entities.append(Entity(
            id=new_id(), namespace=ns, name=name,
            entity_type=check_name(s.entity_type, f"entities[{i}].entityType"), attribution=a,
            updated_at=a.created_at,
            aliases=tuple(check_name(x, f"entities[{i}].aliases") for x in s.aliases),
            tags=check_tags(list(s.tags), ctx.limits, f"entities[{i}].tags"),
            observations=tuple(Observation(o, caller.agent_id, a.created_at)
                               for o in dict.fromkeys(obs))))
    created = await ctx.entities.create_entities(entities)
    items = [observation_mirror(e.name, o.text) for e in created for o in e.observations]
    if items:
        await remember_mirrors(ctx, caller, ns, "create_entities", items)
    await ctx.audit_log.append_audit([ctx.audit(caller, "create_entities", namespace=ns,
                                                target_ids=[e.id for e in created])])
    return [EntityView.of(e) for e in created]


async def add_observations(ctx: ServiceContext, caller: Caller,
                           items: Sequence[tuple[str, Sequence[str]]],
                           namespace: str | None = None) -> list[ObservationResult]:
    """Add observations to existing entities (NotFound names the missing entity)."""
    _check_list(items, "observations", ctx.limits.max_batch)
    ns = resolve_namespace(ctx, caller, namespace)
    now = ctx.now()
    results: list[ObservationResult] = []
    memories: list[Mirror] = []
    checked = [(check_name(name, f"observations[{i}].entityName"),
                _check_observations(ctx, list(contents), f"observations[{i}].contents"))
               for i, (name, contents) in enumerate(items)]
    for name, _contents in checked:
        if not (await ctx.entities.open_nodes([ns], [name])).entities:
            raise NotFound(f"Entity with name {name} not found in {ns}",
                           field="entityName", rule="not_found")
    added_to: list[tuple[str, list[Observation]]] = []
    for name, contents in checked:
        added = await ctx.entities.add_observations(
            EntityRef(ns, name), [Observation(c, caller.agent_id, now) for c in contents], now)
        texts = [o.text for o in added or []]
        results.append(ObservationResult(entityName=name, addedObservations=texts))
        memories += [observation_mirror(name, t) for t in texts]
        added_to.append((name, list(added or [])))
    if memories:
        await remember_mirrors(ctx, caller, ns, "add_observations", memories)
    for name, added_obs in added_to:  # both facts are kept; the disagreement is recorded
        await conflicts.record_attribute_conflicts(ctx, caller, ns, name, added_obs)
    return results


async def create_relations(ctx: ServiceContext, caller: Caller, specs: Sequence[RelationSpec],
                           namespace: str | None = None, *,
                           one_valued: bool = False) -> list[RelationView]:
    """Create relations between existing entities of the namespace; a relation already
    current is not created twice (the result lists only new ones).

    An end missing from the namespace refuses the whole call before anything is written
    (NotFound naming it; see `endpoints`): nothing is skipped silently.

    With `one_valued` (or a type listed in `governance.one_valued_relations`), a new
    relation closes the validity of the caller's current relations of the same type from
    the same entity (e.g. `works_at` moves on), keeping them as history. When another agent
    wrote the current relation, both stay current and a conflict is opened for review.
    """
    _check_list(specs, "relations", ctx.limits.max_batch)
    ns = resolve_namespace(ctx, caller, namespace)
    a = _attribution(ctx, caller)
    relations = [Relation(id=new_id(), namespace=ns,
                          from_entity=check_name(s.from_entity, f"relations[{i}].from"),
                          to_entity=check_name(s.to_entity, f"relations[{i}].to"),
                          relation_type=check_name(s.relation_type,
                                                   f"relations[{i}].relationType"),
                          attribution=a, valid_from=a.created_at)
                 for i, s in enumerate(specs)]
    await endpoints.require_endpoints(ctx, caller, ns, [
        (r.from_entity, r.to_entity, f"relations[{i}]") for i, r in enumerate(relations)])
    contested: list[conflicts.Contested] = []
    for r in relations:
        if conflicts.is_one_valued(ctx, r.relation_type, one_valued):
            current = [x for x in await ctx.entities.relations_of([ns], [r.from_entity], None)
                       if x.relation_type == r.relation_type
                       and x.from_entity.lower() == r.from_entity.lower()
                       and x.to_entity.lower() != r.to_entity.lower()]
            if conflicts.others(caller, current):  # another agent's fact: keep both
                contested.append(conflicts.Contested(r, conflicts.others(caller, current)))
            elif current:
                await ctx.entities.close_relations(ns, r.from_entity, r.relation_type, a.created_at)
                old = await mirrors.mirror_ids(ctx, ns, [relation_record(x) for x in current])
                await mirrors.archive(ctx, caller, ns, old, operation="close_relation",
                                      forget=False)
    created = await ctx.entities.create_relations(relations)
    if created:
        await remember_mirrors(ctx, caller, ns, "create_relations",
                               [relation_mirror(r) for r in created])
    await conflicts.record_relation_conflicts(ctx, caller, ns, created, contested)
    return [RelationView.of(r) for r in created]


async def delete_entities(ctx: ServiceContext, caller: Caller, names: Sequence[str],
                          namespace: str | None = None) -> list[str]:
    """Delete entities and their relations; the memories written for their observations
    and relations are archived (restorable), which needs `forget` (see `mirrors`)."""
    _check_list(names, "entityNames", ctx.limits.max_batch)
    ns = resolve_namespace(ctx, caller, namespace)
    checked = [check_name(n, f"entityNames[{i}]") for i, n in enumerate(names)]
    page = await ctx.entities.open_nodes([ns], checked)
    rels = await ctx.entities.relations_of([ns], checked, None)
    records = [observation_record(e.name, o.text) for e in page.entities
               for o in e.observations]
    ids = await mirrors.mirror_ids(ctx, ns, records + [relation_record(r) for r in rels])
    mirrors.authorize_forget(ctx, caller, ns, "delete_entities", ids)
    deleted = await ctx.entities.delete_entities([EntityRef(ns, n) for n in checked], ctx.now())
    await mirrors.archive(ctx, caller, ns, ids, operation="delete_entities", forget=True)
    await ctx.audit_log.append_audit([ctx.audit(caller, "delete_entities", namespace=ns,
                                                detail=", ".join(deleted)[:500])])
    return deleted


async def delete_observations(ctx: ServiceContext, caller: Caller,
                              items: Sequence[tuple[str, Sequence[str]]],
                              namespace: str | None = None) -> int:
    """Remove observations from entities; the memories written for the observations that
    existed are archived, which needs `forget` (checked before anything changes)."""
    _check_list(items, "deletions", ctx.limits.max_batch)
    ns = resolve_namespace(ctx, caller, namespace)
    checked = [(check_name(name, f"deletions[{i}].entityName"),
                _check_observations(ctx, list(obs), f"deletions[{i}].observations"))
               for i, (name, obs) in enumerate(items)]
    page = await ctx.entities.open_nodes([ns], [name for name, _ in checked])
    held = {e.name.lower(): e for e in page.entities}
    records: list[str] = []
    for name, texts in checked:
        entity = held.get(name.lower())
        present = {o.text for o in entity.observations} if entity else set()
        records += [observation_record(entity.name, t) for t in texts
                    if entity and t in present]
    ids = await mirrors.mirror_ids(ctx, ns, records)
    mirrors.authorize_forget(ctx, caller, ns, "delete_observations", ids)
    total = 0
    for name, texts in checked:
        total += await ctx.entities.delete_observations(EntityRef(ns, name), texts, ctx.now())
    await mirrors.archive(ctx, caller, ns, ids, operation="delete_observations", forget=True)
    await ctx.audit_log.append_audit([ctx.audit(caller, "delete_observations", namespace=ns,
                                                target_ids=ids, detail=f"count={total}")])
    return total


async def delete_relations(ctx: ServiceContext, caller: Caller, specs: Sequence[RelationSpec],
                           namespace: str | None = None) -> int:
    """Delete relations; the memories written for the relations that existed are
    archived, which needs `forget` (checked before anything changes)."""
    _check_list(specs, "relations", ctx.limits.max_batch)
    ns = resolve_namespace(ctx, caller, namespace)
    a = _attribution(ctx, caller)
    relations = [Relation(id="", namespace=ns,
                          from_entity=check_name(s.from_entity, f"relations[{i}].from"),
                          to_entity=check_name(s.to_entity, f"relations[{i}].to"),
                          relation_type=check_name(s.relation_type,
                                                   f"relations[{i}].relationType"),
                          attribution=a, valid_from=a.created_at) for i, s in enumerate(specs)]
    wanted = {relation_record(r) for r in relations}
    current = await ctx.entities.relations_of([ns], [r.from_entity for r in relations], None)
    ids = await mirrors.mirror_ids(ctx, ns, [relation_record(r) for r in current
                                            if relation_record(r) in wanted])
    mirrors.authorize_forget(ctx, caller, ns, "delete_relations", ids)
    n = await ctx.entities.delete_relations(relations, ctx.now())
    await mirrors.archive(ctx, caller, ns, ids, operation="delete_relations", forget=True)
    await ctx.audit_log.append_audit([ctx.audit(caller, "delete_relations", namespace=ns,
                                                target_ids=ids, detail=f"count={n}")])
    return n


async def read_graph(ctx: ServiceContext, caller: Caller, namespaces: Sequence[str] | None,
                     cursor: str | None, limit: int) -> GraphView:
    """A page of the readable graph (never floods: `limit` entities per page)."""
    ns = ctx.policy.scope_reads(caller.agent_id, namespaces)
    _check_page_limit(limit)
    if cursor is not None:
        clean_text(cursor, "cursor", max_chars=_CURSOR_MAX, allow_empty=True)
    page = await ctx.entities.read_graph(ns, cursor, limit)
    return GraphView(entities=[EntityView.of(e) for e in page.entities],
                     relations=[RelationView.of(r) for r in page.relations],
                     next_cursor=page.next_cursor)


async def search_nodes(ctx: ServiceContext, caller: Caller, query: object,
                       namespaces: Sequence[str] | None, limit: int = 50) -> GraphView:
    """Entities whose name, type or observations contain the query, and their relations."""
    text = clean_text(query, "query", max_chars=ctx.limits.max_text_chars)
    _check_page_limit(limit)
    ns = ctx.policy.scope_reads(caller.agent_id, namespaces)
    found = await ctx.entities.search_nodes(ns, text.strip(), limit)
    names = [e.name for e in found]
    page = await ctx.entities.open_nodes(ns, names)
    return GraphView(entities=[EntityView.of(e) for e in found],
                     relations=[RelationView.of(r) for r in page.relations])


async def open_nodes(ctx: ServiceContext, caller: Caller, names: Sequence[str],
                     namespaces: Sequence[str] | None) -> GraphView:
    """The named entities and the relations among them."""
    _check_list(names, "names", _PAGE_MAX)
    checked = [check_name(n, f"names[{i}]") for i, n in enumerate(names)]
    ns = ctx.policy.scope_reads(caller.agent_id, namespaces)
    page = await ctx.entities.open_nodes(ns, checked)
    return GraphView(entities=[EntityView.of(e) for e in page.entities],
                     relations=[RelationView.of(r) for r in page.relations])


async def neighbours(ctx: ServiceContext, caller: Caller, name: str,
                     namespaces: Sequence[str] | None) -> GraphView:
    """An entity, its current relations and the entities at their other ends."""
    entity = check_name(name, "name")
    ns = ctx.policy.scope_reads(caller.agent_id, namespaces)
    rels = await ctx.entities.relations_of(ns, [entity], None)
    names = {entity, *(r.from_entity for r in rels), *(r.to_entity for r in rels)}
    page = await ctx.entities.open_nodes(ns, sorted(names))
    if not page.entities:
        raise NotFound(f"no entity named {entity} among the namespaces you can read",
                       field="name", rule="not_found")
    return GraphView(entities=[EntityView.of(e) for e in page.entities],
                     relations=[RelationView.of(r) for r in rels])
