"""Native memory tools: remember, remember_batch, recall, get_memory, list_memories,
forget, restore, correct, history, share.

Each body parses the arguments, makes one `MemoryService` call and returns the service's
view (published as the tool's output schema).
"""

from datetime import datetime
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel, Field

from fleetmem.mcp_server.door import (
    DESTRUCTIVE,
    IDEMPOTENT_WRITE,
    READ,
    WRITE,
    Door,
    IdempotencyKey,
)
from fleetmem.memory.services import (
    KINDS,
    MODES,
    MemoryInput,
    MemoryView,
    RecallQuery,
    RecallResult,
    RememberResult,
)

MemoryId = Annotated[str, Field(description="The memory's id, as returned by remember/recall.")]
WriteNamespace = Annotated[str | None, Field(
    description="Where to write: 'agent:<your id>' (private, the default), 'team:<name>' or "
                "'global'. Call list_namespaces to see what you may write.")]
ReadNamespaces = Annotated[list[str] | None, Field(
    description="Only search these namespaces (default: every namespace you may read).")]
MetadataWhere = Annotated[dict[str, Any] | None, Field(
    description="Only memories whose metadata holds every one of these top-level key/value "
                "pairs (string, integer or boolean values), e.g. {\"source_id\": \"T-42\"}.")]


class HistoryResponse(BaseModel):
    """The versions of a memory, oldest first."""

    versions: list[MemoryView]


class RememberBatchResponse(BaseModel):
    """One result per memory, in input order."""

    results: list[RememberResult]


class MemoriesPage(BaseModel):
    """A page of memories ordered by id."""

    items: list[MemoryView]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null "
                                    "when this was the last one.")


def register(mcp: MCPServer[Any], door: Door) -> None:
    """Add the native memory tools to `mcp`."""

    @mcp.tool(annotations=WRITE, title="Remember a fact")
    async def remember(
        ctx: Context[Any, Any],
        text: Annotated[str, Field(description="One self-contained statement in plain "
                                   "language, e.g. 'The payments API is owned by team Atlas'.")],
        kind: Annotated[str, Field(description="One of: " + ", ".join(KINDS))] = "fact",
        importance: Annotated[float, Field(description="0..1; important memories fade slower.")]
        = 0.5,
        tags: Annotated[list[str] | None, Field(description="Short labels for filtering.")]
        = None,
        namespace: WriteNamespace = None,
        pinned: Annotated[bool, Field(description="Pinned memories never decay.")] = False,
        entities: Annotated[list[str] | None, Field(
            description="Entity names the memory is about (names already in the graph that "
                        "appear in the text are linked automatically).")] = None,
        metadata: Annotated[dict[str, Any] | None, Field(
            description="Your own JSON object kept with the memory (e.g. source ids), "
                        "returned with it and filterable in recall/list_memories; keys are "
                        "letters, digits and underscores; small (8 KB, 3 levels).")] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> RememberResult:
        """Store a long-term memory: a fact, decision, preference, procedure or episode worth
        keeping beyond this conversation. Near-duplicates are merged (deduplicated=true) and
        secrets are redacted. Memories are private to you unless you name a team or global
        namespace. Returns the memory's id."""
        with door.calling(ctx) as caller:
            return await door.service.remember(caller, MemoryInput(
                text=text, kind=kind, importance=importance, tags=tags or [],
                namespace=namespace, pinned=pinned, entities=entities or [],
                metadata=metadata or {}),
                idempotency_key=idempotency_key)

    @mcp.tool(annotations=WRITE, title="Remember several facts")
    async def remember_batch(
        ctx: Context[Any, Any],
        memories: Annotated[list[MemoryInput], Field(
            description="The memories to write, each like remember's arguments (text, "
                        "kind, importance, tags, namespace, pinned, entities, metadata).")],
        idempotency_key: IdempotencyKey = None,
    ) -> RememberBatchResponse:
        """Store several long-term memories in one call (e.g. the facts of a finished
        task). All are validated before any is written, so a bad one writes nothing;
        each is deduplicated and redacted as with remember. Results in input order."""
        with door.calling(ctx) as caller:
            return RememberBatchResponse(results=await door.service.remember_batch(
                caller, memories, idempotency_key=idempotency_key))

    @mcp.tool(annotations=READ, title="Recall memories")
    async def recall(
        ctx: Context[Any, Any],
        query: Annotated[str, Field(description="What you want to know, in natural language.")],
        k: Annotated[int, Field(description="How many memories to return (1..100).")] = 10,
        namespaces: ReadNamespaces = None,
        kinds: Annotated[list[str] | None, Field(
            description="Only these kinds: " + ", ".join(KINDS))] = None,
        tags: Annotated[list[str] | None, Field(description="Only memories with all these "
                                                "tags.")] = None,
        created_by: Annotated[str | None, Field(description="Only memories written by this "
                                                "agent id.")] = None,
        as_of: Annotated[datetime | None, Field(
            description="Answer as of this time (ISO 8601): facts valid then.")] = None,
        max_tokens: Annotated[int | None, Field(description="Stop adding memories past this "
                                                "many tokens.")] = None,
        session_id: Annotated[str | None, Field(
            description="Your session id: its short-term buffer is returned first.")] = None,
        modes: Annotated[list[str] | None, Field(
            description="Retrieval modes, any of: " + ", ".join(sorted(MODES)))] = None,
        include_archived: Annotated[bool, Field(description="Also search forgotten "
                                                "(archived) memories.")] = False,
        metadata: MetadataWhere = None,
        neighbours: Annotated[bool, Field(description="Let the conversation turns next to the "
                                          "best hits compete too (the reply after the turn "
                                          "that has your words); counted against k.")] = True,
    ) -> RecallResult:
        """Search your memory by meaning, keywords and the knowledge graph. Call this before
        answering questions about people, projects, decisions or preferences you may have
        seen before. Each hit carries who wrote it, when, why it scored and whether it is
        disputed; only namespaces you may read are searched."""
        with door.calling(ctx) as caller:
            return await door.service.recall(caller, RecallQuery(
                query=query, k=k, namespaces=namespaces, kinds=kinds or (), tags=tags or (),
                created_by=created_by, as_of=as_of, max_tokens=max_tokens,
                session_id=session_id, include_archived=include_archived,
                modes=MODES if modes is None else frozenset(modes), metadata=metadata,
                neighbours=neighbours))

    @mcp.tool(annotations=READ, title="Get a memory")
    async def get_memory(ctx: Context[Any, Any], id: MemoryId) -> MemoryView:
        """Read one memory by id, with who wrote it, when, on whose behalf, its status and
        validity."""
        with door.calling(ctx) as caller:
            return await door.service.get(caller, id)

    @mcp.tool(annotations=READ, title="List memories")
    async def list_memories(
        ctx: Context[Any, Any],
        namespaces: ReadNamespaces = None,
        cursor: Annotated[str | None, Field(description="next_cursor from the previous "
                                            "page; omit for the first page.",
                                            max_length=64)] = None,
        limit: Annotated[int, Field(description="Memories per page (1..1000).")] = 100,
        metadata: MetadataWhere = None,
    ) -> MemoriesPage:
        """List the active memories you can read, ordered by id, one page at a time (an
        inventory, not a search: use recall to find memories by meaning)."""
        with door.calling(ctx) as caller:
            items = await door.service.list_memories(caller, namespaces, cursor, limit,
                                                     metadata=metadata)
        return MemoriesPage(items=items,
                            next_cursor=items[-1].id if len(items) == limit else None)

    @mcp.tool(annotations=DESTRUCTIVE, title="Forget a memory")
    async def forget(ctx: Context[Any, Any], id: MemoryId,
                     idempotency_key: IdempotencyKey = None) -> MemoryView:
        """Forget a memory that is wrong or no longer useful: it leaves recall but is
        archived, not destroyed (restore brings it back). To replace a wrong fact with
        the right one, use correct instead."""
        with door.calling(ctx) as caller:
            return await door.service.forget(caller, id, idempotency_key=idempotency_key)

    @mcp.tool(annotations=IDEMPOTENT_WRITE, title="Restore a forgotten memory")
    async def restore(ctx: Context[Any, Any], id: MemoryId,
                      idempotency_key: IdempotencyKey = None) -> MemoryView:
        """Bring back a memory that was forgotten (archived), e.g. by mistake: it returns
        to recall. A version corrected before it was forgotten returns to its history as
        superseded, not to recall. Fails when the memory is not archived."""
        with door.calling(ctx) as caller:
            return await door.service.restore(caller, id, idempotency_key=idempotency_key)

    @mcp.tool(annotations=WRITE, title="Correct a memory")
    async def correct(
        ctx: Context[Any, Any],
        id: MemoryId,
        text: Annotated[str, Field(description="The corrected statement, complete on its "
                                   "own.")],
        kind: Annotated[str | None, Field(description="New kind (default: unchanged).")]
        = None,
        importance: Annotated[float | None, Field(description="New importance 0..1 (default: "
                                                  "unchanged).")] = None,
        reason: Annotated[str, Field(description="Why it changed, kept in history.")] = "",
        idempotency_key: IdempotencyKey = None,
    ) -> MemoryView:
        """Replace a memory with a corrected version in one atomic step: the old version
        stops being current (its validity ends now) but stays in history; recall returns the
        new one. Returns the new version."""
        with door.calling(ctx) as caller:
            return await door.service.correct(caller, id, text, kind=kind,
                                              importance=importance, reason=reason,
                                              idempotency_key=idempotency_key)

    @mcp.tool(annotations=READ, title="History of a memory")
    async def history(ctx: Context[Any, Any], id: MemoryId) -> HistoryResponse:
        """Show every version of a memory (each correction), oldest first, with who changed
        it and when."""
        with door.calling(ctx) as caller:
            return HistoryResponse(versions=await door.service.history(caller, id))

    @mcp.tool(annotations=WRITE, title="Share a memory with a team")
    async def share(
        ctx: Context[Any, Any],
        id: MemoryId,
        namespace: Annotated[str, Field(description="Target namespace you may write, "
                                        "usually 'team:<name>' or 'global'.")],
        idempotency_key: IdempotencyKey = None,
    ) -> RememberResult:
        """Copy one of your memories into a shared namespace so teammates can recall it. The
        copy is attributed to you and tagged with the original's id; the original stays."""
        with door.calling(ctx) as caller:
            return await door.service.share(caller, id, namespace, idempotency_key=idempotency_key)
