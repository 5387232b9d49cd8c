"""Short-term buffer tools (buffer_append, buffer_read, buffer_clear, consolidate) and
list_namespaces."""

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel, Field

from fleetmem.mcp_server.door import DESTRUCTIVE, READ, WRITE, Door, IdempotencyKey
from fleetmem.memory.services import BufferItemView, ConsolidateResult, NamespaceView

SessionId = Annotated[str, Field(description="Your current session or conversation id; "
                                 "pick one and reuse it for the whole session.")]


class BufferResponse(BaseModel):
    """The session's short-term items, oldest first."""

    items: list[BufferItemView]


class ClearedResponse(BaseModel):
    """How many buffer items were deleted."""

    count: int


class NamespacesResponse(BaseModel):
    """The namespaces you can see, with your access and their counts."""

    agent_id: str
    namespaces: list[NamespaceView]


def register(mcp: MCPServer[Any], door: Door) -> None:
    """Add the buffer and namespace tools to `mcp`."""

    @mcp.tool(annotations=WRITE, title="Append to the short-term buffer")
    async def buffer_append(
        ctx: Context[Any, Any],
        session_id: SessionId,
        text: Annotated[str, Field(description="A turn, tool result or note worth keeping "
                                   "for this session.")],
        role: Annotated[str, Field(description="What it is: 'user', 'assistant', 'tool', "
                                   "'system' or 'note'.")] = "note",
        importance: Annotated[float, Field(description="0..1; consolidate promotes items at "
                                           "or above its min_importance.")] = 0.5,
        namespace: Annotated[str | None, Field(description="Namespace the item is promoted "
                                               "into (default: your private one).")] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> BufferItemView:
        """Keep something in your short-term memory for the current session (cheap, no
        deduplication). Recall with the same session_id shows these items first; call
        consolidate at the end of the session to promote what matters to long-term memory.
        Unconsolidated items are consolidated before they expire."""
        with door.calling(ctx) as caller:
            return await door.service.buffer_append(caller, session_id, text, role=role,
                                                     importance=importance,
                                                     namespace=namespace,
                                                     idempotency_key=idempotency_key)

    @mcp.tool(annotations=READ, title="Read the short-term buffer")
    async def buffer_read(
        ctx: Context[Any, Any],
        session_id: SessionId,
        limit: Annotated[int, Field(description="At most this many items.")] = 50,
    ) -> BufferResponse:
        """Read your short-term buffer for a session, oldest first."""
        with door.calling(ctx) as caller:
            return BufferResponse(items=await door.service.buffer_read(caller, session_id,
                                                                       limit))

    @mcp.tool(annotations=DESTRUCTIVE, title="Clear the short-term buffer")
    async def buffer_clear(ctx: Context[Any, Any], session_id: SessionId,
                           idempotency_key: IdempotencyKey = None) -> ClearedResponse:
        """End a session's short-term buffer: its items are consolidated into long-term
        memory first (as consolidate does), then deleted. count is the items deleted."""
        with door.calling(ctx) as caller:
            return ClearedResponse(count=await door.service.buffer_clear(
                caller, session_id, idempotency_key=idempotency_key))

    @mcp.tool(annotations=WRITE, title="Consolidate a session")
    async def consolidate(
        ctx: Context[Any, Any],
        session_id: SessionId,
        min_importance: Annotated[float, Field(description="Only promote items at least "
                                               "this important (0..1).")] = 0.0,
        idempotency_key: IdempotencyKey = None,
    ) -> ConsolidateResult:
        """Promote a session's short-term items into long-term memory (deduplicated and
        attributed to you), e.g. at the end of a task. Items already consolidated are not
        promoted twice."""
        with door.calling(ctx) as caller:
            return await door.service.consolidate(caller, session_id,
                                                  min_importance=min_importance,
                                                  idempotency_key=idempotency_key)

    @mcp.tool(annotations=READ, title="List namespaces")
    async def list_namespaces(ctx: Context[Any, Any]) -> NamespacesResponse:
        """List the namespaces you can read or write (your private one, your teams', global)
        with counts and team members. Use a namespace name in remember, share or recall."""
        with door.calling(ctx) as caller:
            return NamespacesResponse(agent_id=caller.agent_id,
                                      namespaces=await door.service.list_namespaces(caller))
