"""Oversight tools: stats, namespace_summary, audit_events, conflicts_list and
conflicts_resolve (the REST /v1/stats, /v1/namespaces/{ns}, /v1/audit/events and
/v1/conflicts operations). Each body makes one `MemoryService` call; who may see or
resolve what is the service's rule, not the tool's."""

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel, Field

from fleetmem.mcp_server.door import READ, WRITE, Door, IdempotencyKey
from fleetmem.memory.services import (
    AuditEventView,
    ConflictView,
    NamespaceSummaryView,
    StatsView,
)

Filter = Annotated[str | None, Field(max_length=200)]


class AuditEventsResponse(BaseModel):
    """A page of audit entries, oldest first."""

    items: list[AuditEventView]
    next_cursor: int | None = Field(description="Pass as cursor for the next page; null "
                                    "when this was the last one.")


class ConflictsResponse(BaseModel):
    """Conflicts between agents' facts, oldest first."""

    items: list[ConflictView]


def register(mcp: MCPServer[Any], door: Door) -> None:
    """Add the oversight tools to `mcp`."""

    @mcp.tool(annotations=READ, title="Memory statistics")
    async def stats(ctx: Context[Any, Any]) -> StatsView:
        """Counts over the namespaces you can read: memories by status, entities, relations
        and buffer items per namespace, the total, the embedding model, and your own usage
        against your limits."""
        with door.calling(ctx) as caller:
            return await door.service.stats(caller)

    @mcp.tool(annotations=READ, title="Summarise a namespace")
    async def namespace_summary(
        ctx: Context[Any, Any],
        namespace: Annotated[str, Field(description="A namespace you may read, e.g. "
                                        "'team:atlas', 'global' or 'agent:<your id>'.")],
    ) -> NamespaceSummaryView:
        """One namespace at a glance: your access, its members, memory/entity/relation
        counts and its first entities (also readable as the resource
        memory://namespace/{ns})."""
        with door.calling(ctx) as caller:
            return await door.service.namespace_summary(caller, namespace)

    @mcp.tool(annotations=READ, title="Audit events")
    async def audit_events(
        ctx: Context[Any, Any],
        cursor: Annotated[int, Field(description="Return entries after this seq: "
                                     "next_cursor of the previous page (0: from the "
                                     "start).")] = 0,
        limit: Annotated[int, Field(description="Entries per page (1..1000).")] = 100,
        agent: Annotated[str | None, Field(description="Only entries by this agent id.",
                                           max_length=200)] = None,
        workflow: Annotated[str | None, Field(description="Only entries of this workflow "
                                              "id.", max_length=200)] = None,
        memory_id: Annotated[str | None, Field(description="Only entries about this "
                                               "memory.", max_length=64)] = None,
        operation: Annotated[str | None, Field(description="Only this operation, e.g. "
                                               "'remember' or 'forget'.", max_length=64)]
        = None,
        outcome: Annotated[str | None, Field(description="Only this outcome, e.g. 'ok' or "
                                             "'denied'.", max_length=32)] = None,
    ) -> AuditEventsResponse:
        """Who did what, when and on whose behalf: the audit entries about the namespaces
        you can read (and your own), oldest first, one page at a time. Use it to find out
        who wrote or changed a memory."""
        with door.calling(ctx) as caller:
            events = await door.service.audit_query(
                caller, agent=agent, workflow=workflow, memory_id=memory_id,
                operation=operation, outcome=outcome, after_seq=cursor, limit=limit)
        return AuditEventsResponse(
            items=events, next_cursor=events[-1].seq if len(events) == limit else None)

    @mcp.tool(annotations=READ, title="List conflicts")
    async def conflicts_list(
        ctx: Context[Any, Any],
        status: Annotated[Literal["open", "resolved", "all"], Field(
            description="Which conflicts: open (default), resolved or all.")] = "open",
        namespace: Annotated[str | None, Field(description="Only this namespace (default: "
                                               "every namespace you may read).")] = None,
        limit: Annotated[int, Field(description="At most this many (1..1000).")] = 100,
    ) -> ConflictsResponse:
        """Facts two agents assert differently (e.g. different owners of one service).
        Both claims are kept and flagged disputed in recall until someone resolves the
        conflict with conflicts_resolve."""
        with door.calling(ctx) as caller:
            items = await door.service.conflicts_list(
                caller, status=None if status == "all" else status, namespace=namespace,
                limit=limit)
        return ConflictsResponse(items=items)

    @mcp.tool(annotations=WRITE, title="Resolve a conflict")
    async def conflicts_resolve(
        ctx: Context[Any, Any],
        conflict_id: Annotated[str, Field(description="The conflict's id, from "
                                          "conflicts_list.", max_length=64)],
        keep: Annotated[Literal["a", "b", "both"], Field(
            description="Keep claim a (the earlier fact), b (the newer) or both.")],
        note: Annotated[str, Field(description="Why, kept with the resolution.",
                                   max_length=1000)] = "",
        idempotency_key: IdempotencyKey = None,
    ) -> ConflictView:
        """Settle a conflict between two agents' facts: the claim not kept stops being
        current (kept as history). Who chose what, when and why is recorded. Fails when
        the conflict was already resolved, or when the namespace's policy wants someone
        other than the two agents who made the claims."""
        with door.calling(ctx) as caller:
            return await door.service.conflicts_resolve(caller, conflict_id, keep, note,
                                                        idempotency_key=idempotency_key)
