"""`relate`: one typed relation between two entities, creating missing endpoints first.

`create_relations` refuses relations whose endpoints do not exist; an agent saying "Alice
works_at Acme" expects the fact to be stored, so `relate` creates the missing entities and
can close the previous value of a one-valued relation. It does not create an endpoint
whose name another readable namespace holds (that would silently shadow it with a second
copy): see `endpoints.refuse_copies`.
"""

from __future__ import annotations

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.graph import endpoints
from fleetmem.memory.services.graph import entities as graph_ops
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.services.inputs import check_name
from fleetmem.memory.services.memories.remember import resolve_namespace
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.views.oversight import RelateResult
from fleetmem.memory.services.views.records import RelationView


async def relate(ctx: ServiceContext, caller: Caller, from_entity: str, relation_type: str,
                 to_entity: str, *, namespace: str | None = None, from_type: str = "entity",
                 to_type: str = "entity", exclusive: bool = False) -> RelateResult:
    """Store `from_entity -relation_type-> to_entity`, creating missing endpoints.

    With `exclusive`, the relation is one-valued: the current relations of the same type
    from `from_entity` to other entities are closed (kept as history).

    Raises:
        Conflict: an endpoint missing from the namespace exists in another readable one.
    """
    spec = RelationSpec(check_name(from_entity, "from"), check_name(to_entity, "to"),
                        check_name(relation_type, "relationType"))
    types = (check_name(from_type, "fromType"), check_name(to_type, "toType"))
    ns = resolve_namespace(ctx, caller, namespace)
    await endpoints.refuse_copies(ctx, caller, ns, [("from", spec.from_entity),
                                                    ("to", spec.to_entity)])
    made = await graph_ops.create_entities(
        ctx, caller, [EntitySpec(spec.from_entity, types[0]),
                      EntitySpec(spec.to_entity, types[1])], ns)
    created = await graph_ops.create_relations(ctx, caller, [spec], ns, one_valued=exclusive)
    if created:
        return RelateResult(relation=created[0], created=True,
                            created_entities=[e.name for e in made])
    current = [r for r in await ctx.entities.relations_of([ns], [spec.from_entity], None)
               if r.relation_type == spec.relation_type
               and r.from_entity.lower() == spec.from_entity.lower()
               and r.to_entity.lower() == spec.to_entity.lower()]
    return RelateResult(relation=RelationView.of(current[0]), created=False,
                        created_entities=[e.name for e in made])
