"""/v1/entities, /v1/relations, /v1/graph: the knowledge graph (reference-server shapes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, status

from fleetmem.api.deps import CallerDep, IdempotencyKeyDep, ServiceDep
from fleetmem.api.problems import problem_responses
from fleetmem.api.responses import (
    CountResponse,
    DeletedEntitiesResponse,
    EntitiesResponse,
    ObservationsResponse,
    RelationsResponse,
)
from fleetmem.api.route_table import RouteTable
from fleetmem.api.schemas import (
    NAMESPACE_PATTERN,
    AddObservationsRequest,
    CreateEntitiesRequest,
    CreateRelationsRequest,
    DeleteEntitiesRequest,
    DeleteObservationsRequest,
    DeleteRelationsRequest,
    OpenNodesRequest,
    RelateRequest,
    RenameEntityRequest,
    UpdateEntityRequest,
)
from fleetmem.memory.services import EntitySpec, EntityView, GraphView, RelateResult, RelationSpec

router = RouteTable(prefix="/v1", tags=["graph"])

EntityName = Annotated[str, Path(description="The entity's name (case-insensitive).",
                                 examples=["payments"])]
Namespaces = Annotated[list[str] | None, Query(
    description="Only these readable namespaces (repeat the parameter); default: all.",
    examples=[["team:atlas"]])]
OneNamespace = Annotated[str | None, Query(
    pattern=NAMESPACE_PATTERN, description="The namespace; default: your private one.",
    examples=["team:atlas"])]
_READ = problem_responses(400, 401, 403, 404, 422, 429, 503)
_WRITE = problem_responses(400, 401, 403, 404, 409, 413, 422, 429, 503)


def _relations(body: CreateRelationsRequest | DeleteRelationsRequest) -> list[RelationSpec]:
    return [RelationSpec(r.from_, r.to, r.relationType) for r in body.relations]


@router.post("/entities", status_code=status.HTTP_201_CREATED, responses=_WRITE,
             summary="Create entities")
async def create_entities(body: CreateEntitiesRequest, service: ServiceDep, caller: CallerDep,
                          idempotency_key: IdempotencyKeyDep = None) -> EntitiesResponse:
    """Create entities with their first observations; existing names are skipped."""
    specs = [EntitySpec(e.name, e.entityType, e.observations, e.aliases, e.tags)
             for e in body.entities]
    entities = await service.create_entities(caller, specs, body.namespace,
                                             idempotency_key=idempotency_key)
    return EntitiesResponse(entities=entities)


@router.post("/entities/observations", status_code=status.HTTP_201_CREATED,
             responses=_WRITE, summary="Add observations to entities")
async def add_observations(body: AddObservationsRequest, service: ServiceDep,
                           caller: CallerDep,
                           idempotency_key: IdempotencyKeyDep = None) -> ObservationsResponse:
    """Add observations to existing entities (404 names a missing entity)."""
    items = [(o.entityName, o.contents) for o in body.observations]
    results = await service.add_observations(caller, items, body.namespace,
                                             idempotency_key=idempotency_key)
    return ObservationsResponse(results=results)


@router.post("/entities/observations/delete", responses=_WRITE,
             summary="Delete observations from entities")
async def delete_observations(body: DeleteObservationsRequest, service: ServiceDep,
                              caller: CallerDep,
                              idempotency_key: IdempotencyKeyDep = None) -> CountResponse:
    """Remove observations; the memories written for them are archived."""
    items = [(d.entityName, d.observations) for d in body.deletions]
    count = await service.delete_observations(caller, items, body.namespace,
                                              idempotency_key=idempotency_key)
    return CountResponse(count=count)


@router.post("/entities/delete", responses=_WRITE, summary="Delete several entities")
async def delete_entities(body: DeleteEntitiesRequest, service: ServiceDep, caller: CallerDep,
                          idempotency_key: IdempotencyKeyDep = None) -> DeletedEntitiesResponse:
    """Delete entities and their relations; their memories are archived (restorable)."""
    deleted = await service.delete_entities(caller, body.entityNames, body.namespace,
                                            idempotency_key=idempotency_key)
    return DeletedEntitiesResponse(deleted=deleted)


@router.get("/entities/{name}", responses=_READ, summary="Get one entity")
async def get_one_entity(name: EntityName, service: ServiceDep, caller: CallerDep,
                         namespace: OneNamespace = None) -> EntityView:
    """The entity from `namespace`, or from the first readable namespace holding it."""
    return await service.get_entity(caller, name, namespace)


@router.delete("/entities/{name}", responses=_WRITE, summary="Delete one entity")
async def delete_entity(name: EntityName, service: ServiceDep, caller: CallerDep,
                        namespace: OneNamespace = None,
                        idempotency_key: IdempotencyKeyDep = None) -> DeletedEntitiesResponse:
    """Delete an entity of a namespace you may write, with its relations."""
    deleted = await service.delete_entities(caller, [name], namespace,
                                            idempotency_key=idempotency_key)
    return DeletedEntitiesResponse(deleted=deleted)


@router.patch("/entities/{name}", responses=_WRITE, summary="Update an entity")
async def update_entity(name: EntityName, body: UpdateEntityRequest, service: ServiceDep,
                        caller: CallerDep,
                        idempotency_key: IdempotencyKeyDep = None) -> EntityView:
    """Replace an entity's type, aliases and/or tags; fields left out are kept."""
    return await service.update_entity(caller, name, body.namespace, entity_type=body.entityType,
                                       aliases=body.aliases, tags=body.tags,
                                       idempotency_key=idempotency_key)


@router.post("/entities/{name}/rename", responses=_WRITE, summary="Rename an entity")
async def rename_entity(name: EntityName, body: RenameEntityRequest, service: ServiceDep,
                        caller: CallerDep,
                        idempotency_key: IdempotencyKeyDep = None) -> EntityView:
    """Rename an entity: relations and links follow, the old name becomes an alias; 409
    when another entity already has the new name."""
    return await service.rename_entity(caller, name, body.newName, body.namespace,
                                       idempotency_key=idempotency_key)


@router.get("/entities/{name}/neighbours", responses=_READ, summary="An entity's neighbours")
async def neighbours(name: EntityName, service: ServiceDep, caller: CallerDep,
                     namespaces: Namespaces = None) -> GraphView:
    """The entity, its current relations and the entities at their other ends."""
    return await service.neighbours(caller, name, namespaces)


@router.post("/relations", status_code=status.HTTP_201_CREATED, responses=_WRITE,
             summary="Create relations")
async def create_relations(body: CreateRelationsRequest, service: ServiceDep,
                           caller: CallerDep,
                           idempotency_key: IdempotencyKeyDep = None) -> RelationsResponse:
    """Create relations between existing entities of one namespace; a relation already
    current is not created twice. 404 names an entity missing from the namespace (and the
    namespace holding it, if you can read one) and nothing is written; use `/v1/relate` to
    create missing endpoints."""
    relations = await service.create_relations(caller, _relations(body), body.namespace,
                                               one_valued=body.one_valued,
                                               idempotency_key=idempotency_key)
    return RelationsResponse(relations=relations)


@router.post("/relations/delete", responses=_WRITE, summary="Delete relations")
async def delete_relations(body: DeleteRelationsRequest, service: ServiceDep,
                           caller: CallerDep,
                           idempotency_key: IdempotencyKeyDep = None) -> CountResponse:
    """Delete relations; the memories written for them are archived."""
    count = await service.delete_relations(caller, _relations(body), body.namespace,
                                           idempotency_key=idempotency_key)
    return CountResponse(count=count)


@router.post("/relate", status_code=status.HTTP_201_CREATED, responses=_WRITE,
             summary="Relate two entities (creating missing ones)")
async def relate(body: RelateRequest, service: ServiceDep, caller: CallerDep,
                 idempotency_key: IdempotencyKeyDep = None) -> RelateResult:
    """Store one relation; missing endpoints are created in the namespace; `exclusive`
    closes old values. 409 (`other_namespace`) when a missing endpoint exists in another
    namespace you can read: relate there, or create the copy first."""
    return await service.relate(caller, body.from_, body.relationType, body.to,
                                namespace=body.namespace, from_type=body.fromType,
                                to_type=body.toType, exclusive=body.exclusive,
                                idempotency_key=idempotency_key)


@router.get("/graph", responses=_READ, summary="Read the graph, one page at a time")
async def read_graph(service: ServiceDep, caller: CallerDep, namespaces: Namespaces = None,
                     cursor: Annotated[str | None, Query(
                         max_length=2000, description="`next_cursor` of the previous page.")]
                     = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 50) -> GraphView:
    """A page of entities (and their relations) of the readable namespaces."""
    return await service.read_graph(caller, namespaces, cursor, limit)


@router.get("/graph/search", responses=_READ, summary="Search entities")
async def search_nodes(service: ServiceDep, caller: CallerDep,
                       query: Annotated[str, Query(min_length=1, examples=["payments"],
                                                   description="Substring of a name, type "
                                                   "or observation.")],
                       namespaces: Namespaces = None,
                       limit: Annotated[int, Query(ge=1, le=500)] = 50) -> GraphView:
    """Entities whose name, type or observations contain the query, with their relations."""
    return await service.search_nodes(caller, query, namespaces, limit)


@router.post("/graph/open", responses=_READ, summary="Open entities by name")
async def open_nodes(body: OpenNodesRequest, service: ServiceDep,
                     caller: CallerDep) -> GraphView:
    """The named entities and the relations among them."""
    return await service.open_nodes(caller, body.names, body.namespaces)
