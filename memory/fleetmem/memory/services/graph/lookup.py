"""Reading one entity by name, for doors that address an entity as a resource."""

from __future__ import annotations

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import NotFound
from fleetmem.memory.services.inputs import check_name
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.views.records import EntityView


async def get_entity(ctx: ServiceContext, caller: Caller, name: object,
                     namespace: str | None = None) -> EntityView:
    """The named entity from `namespace`, or from the first readable namespace holding it
    (private first, then teams, then global).

    Raises:
        NotFound: no readable namespace holds an entity of that name.
        Forbidden: `namespace` is not readable by the caller.
    """
    entity = check_name(name, "name")
    scope = ctx.policy.scope_reads(caller.agent_id, None if namespace is None else [namespace])
    page = await ctx.entities.open_nodes(scope, [entity])
    if not page.entities:
        raise NotFound(f"no entity named {entity} among the namespaces you can read",
                       field="name", rule="not_found")
    first = min(page.entities, key=lambda e: scope.index(e.namespace))
    return EntityView.of(first)
