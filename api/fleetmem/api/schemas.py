"""REST request bodies (`...Request`); responses are in `responses.py`.

Results are the service's own views (fleetmem.memory.services.views.records) wherever one fits, so
REST and MCP answer with the same shapes. Static rules are declared here for the OpenAPI
schema; the service still checks every rule (and the configurable limits) itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fleetmem.memory.services import MemoryInput

Kind = Literal["fact", "episode", "preference", "procedure", "observation"]
Mode = Literal["dense", "keyword", "graph"]
Role = Literal["user", "assistant", "tool", "system", "note"]
_ALL_MODES: tuple[Mode, ...] = ("dense", "keyword", "graph")
NAMESPACE_PATTERN = (r"^(?:agent:(?:human:)?[A-Za-z0-9][A-Za-z0-9._\-]{0,63}"
                     r"|team:[A-Za-z0-9][A-Za-z0-9._\-]{0,63}|global)$")
Namespace = Field(default=None, pattern=NAMESPACE_PATTERN, examples=["team:atlas"],
                  description="Target namespace; default: the caller's private `agent:<id>`.")
Name = Annotated[str, Field(min_length=1, max_length=200)]
_FORBID = ConfigDict(extra="forbid")


class RememberRequest(BaseModel):
    """One memory to write."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "text": "The payments service is owned by team Atlas.", "namespace": "team:atlas",
        "kind": "fact", "importance": 0.7, "tags": ["ownership"], "entities": ["payments"]}]})

    text: str = Field(min_length=1, description="The memory itself, in plain language.")
    namespace: str | None = Namespace
    kind: Kind = "fact"
    importance: float = Field(default=0.5, ge=0.0, le=1.0,
                              description="0..1; higher decays slower.")
    tags: list[str] = Field(default_factory=list)
    pinned: bool = Field(default=False, description="Pinned memories never decay.")
    entities: list[str] = Field(default_factory=list, description="Entity names the memory "
                                "is about (names found in the text are linked automatically).")
    valid_from: datetime | None = Field(default=None, description="When the fact became "
                                        "true; default: now.")
    metadata: dict[str, Any] = Field(
        default_factory=dict, examples=[{"source_id": "T-42", "channel": "ops"}],
        description="Your own JSON object, returned with the memory and filterable by "
        "exact top-level key/value; keys are letters, digits and underscores; at most 8 KB "
        "as JSON, 3 levels deep and 64 keys by default (422 naming the limit otherwise).")

    def to_input(self) -> MemoryInput:
        """The service's input model."""
        return MemoryInput(**self.model_dump())


class RememberBatchRequest(BaseModel):
    """Several memories, validated together before any is written."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"memories": [
        {"text": "Deploys happen on Tuesdays."},
        {"text": "Atlas prefers Postgres.", "namespace": "team:atlas", "kind": "preference"}]}]})

    memories: list[RememberRequest] = Field(min_length=1)


class RecallRequest(BaseModel):
    """A hybrid recall (dense + keyword + graph) over the caller's readable namespaces."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "query": "who owns payments?", "k": 5, "namespaces": ["team:atlas"]}]})

    query: str = Field(min_length=1, description="What to recall, in plain language.")
    k: int = Field(default=10, ge=1, description="Maximum hits (the service caps it).")
    namespaces: list[str] | None = Field(default=None, description="Only these readable "
                                         "namespaces; default: every readable one.")
    kinds: list[Kind] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list, description="Hits must carry every tag.")
    created_by: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    as_of: datetime | None = Field(default=None, description="Facts valid at this time.")
    max_tokens: int | None = Field(default=None, ge=1, description="Budget for hit texts.")
    session_id: str | None = Field(default=None, description="Also search this session's "
                                   "short-term buffer (default: the X-Session-Id header).")
    modes: list[Mode] = Field(default_factory=lambda: list(_ALL_MODES), min_length=1)
    include_archived: bool = False
    neighbours: bool = Field(default=True, description="The conversation turns next to the "
                             "best hits compete too (counted against k and max_tokens).")
    metadata: dict[str, Any] | None = Field(
        default=None, examples=[{"source_id": "T-42"}],
        description="Hits' metadata must hold every one of these top-level key/value pairs "
        "(string, integer or boolean values, compared with their JSON type); applied "
        "inside every search leg, before ranking.")


class CorrectRequest(BaseModel):
    """The corrected text of a memory; the old version stays as history."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "text": "The payments service is owned by team Borealis.",
        "reason": "ownership moved in January"}]})

    text: str = Field(min_length=1)
    kind: Kind | None = None
    importance: float | None = Field(default=None, ge=0.0, le=1.0)
    reason: str = Field(default="", max_length=2000)


class ShareRequest(BaseModel):
    """Copy a memory into another namespace the caller may write."""

    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [{"namespace": "team:atlas"}]})

    namespace: str = Field(pattern=NAMESPACE_PATTERN)


class EntityRequest(BaseModel):
    """An entity (reference-server shape)."""

    model_config = _FORBID

    name: Name
    entityType: Name  # noqa: N815
    observations: list[str] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


class CreateEntitiesRequest(BaseModel):
    """Entities to create; names that exist in the namespace are skipped."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "namespace": "team:atlas", "entities": [
            {"name": "payments", "entityType": "service",
             "observations": ["written in Go", "owned by team Atlas"]}]}]})

    namespace: str | None = Namespace
    entities: list[EntityRequest] = Field(min_length=1)


class ObservationRequest(BaseModel):
    """Observations to add to one existing entity."""

    model_config = _FORBID

    entityName: Name  # noqa: N815
    contents: list[str] = Field(min_length=1)


class AddObservationsRequest(BaseModel):
    """Observations to add to existing entities."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "observations": [{"entityName": "payments", "contents": ["p99 latency is 120 ms"]}]}]})

    namespace: str | None = Namespace
    observations: list[ObservationRequest] = Field(min_length=1)


class ObservationDeletionRequest(BaseModel):
    """Observations to remove from one entity."""

    model_config = _FORBID

    entityName: Name  # noqa: N815
    observations: list[str] = Field(min_length=1)


class DeleteObservationsRequest(BaseModel):
    """Observations to remove; their memories are archived."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "deletions": [{"entityName": "payments", "observations": ["written in Go"]}]}]})

    namespace: str | None = Namespace
    deletions: list[ObservationDeletionRequest] = Field(min_length=1)


class DeleteEntitiesRequest(BaseModel):
    """Entities to delete with their relations; their memories are archived."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "entityNames": ["payments"], "namespace": "team:atlas"}]})

    namespace: str | None = Namespace
    entityNames: list[str] = Field(min_length=1)  # noqa: N815


class RelationRequest(BaseModel):
    """A relation (reference-server shape)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Name = Field(alias="from")
    to: Name
    relationType: Name  # noqa: N815


class CreateRelationsRequest(BaseModel):
    """Relations between existing entities of the namespace (a missing one is a 404 naming
    it); a relation already current is not created twice."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "relations": [{"from": "alice", "to": "payments", "relationType": "maintains"}]}]})

    namespace: str | None = Namespace
    relations: list[RelationRequest] = Field(min_length=1)
    one_valued: bool = Field(default=False, description="Close current relations of the "
                             "same type from the same entity (e.g. `works_at` moves on).")


class DeleteRelationsRequest(BaseModel):
    """Relations to delete; their memories are archived."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "relations": [{"from": "alice", "to": "payments", "relationType": "maintains"}]}]})

    namespace: str | None = Namespace
    relations: list[RelationRequest] = Field(min_length=1)


class RelateRequest(BaseModel):
    """One relation; missing endpoint entities are created in the namespace (409 when one
    exists only in another namespace you can read)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra={
        "examples": [{"from": "alice", "relationType": "works_at", "to": "Acme",
                      "fromType": "person", "toType": "company", "exclusive": True}]})

    from_: Name = Field(alias="from")
    relationType: Name  # noqa: N815
    to: Name
    namespace: str | None = Namespace
    fromType: Name = "entity"  # noqa: N815
    toType: Name = "entity"  # noqa: N815
    exclusive: bool = False


class UpdateEntityRequest(BaseModel):
    """New type, aliases and/or tags of an entity (a field left out is kept)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "entityType": "service", "aliases": ["payments-api"], "tags": ["tier-1"]}]})

    namespace: str | None = Namespace
    entityType: Name | None = None  # noqa: N815
    aliases: list[str] | None = None
    tags: list[str] | None = None


class RenameEntityRequest(BaseModel):
    """A new name; relations and links follow, the old name becomes an alias."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "newName": "payments-api"}]})

    newName: Name  # noqa: N815
    namespace: str | None = Namespace


class OpenNodesRequest(BaseModel):
    """Entities to read by name, with the relations among them."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "names": ["payments", "alice"]}]})

    names: list[str] = Field(min_length=1, max_length=500)
    namespaces: list[str] | None = None


class BufferAppendRequest(BaseModel):
    """One item for the caller's short-term buffer of a session."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "text": "User asked to migrate payments to Postgres 17.", "role": "user",
        "importance": 0.8}]})

    text: str = Field(min_length=1)
    role: Role = "note"
    importance: float = Field(default=0.5, ge=0.0, le=1.0)
    namespace: str | None = Namespace


class ConsolidateRequest(BaseModel):
    """Promote a session's buffer into long-term memory."""

    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [{"min_importance": 0.3}]})

    min_importance: float = Field(default=0.0, ge=0.0, le=1.0,
                                  description="Items below this are marked seen, not kept.")


class ResolveConflictRequest(BaseModel):
    """Which claim of a conflict to keep, and why."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "keep": "b", "note": "the ownership moved in January"}]})

    keep: Literal["a", "b", "both"]
    note: str = Field(default="", max_length=1000)
