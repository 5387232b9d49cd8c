"""`fleetmem remember|recall|forget|stats|serve`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from fleetmem.cli.common import (
    DataDirOption,
    JsonOption,
    emit_json,
    load_settings,
    out,
    run_with_service,
    setup_logging,
)
from fleetmem.memory.services import Caller, MemoryInput, MemoryService, RecallQuery
from fleetmem.memory.settings import Settings

AgentOption = typer.Option(..., "--agent", "-a", help="Agent id acting (see the agents file).")


def _embedding(settings: Settings) -> Settings:
    """For a command that embeds: the model starts loading now, in the background, while
    the stores open (commands that do not embed never load it)."""
    from fleetmem.memory.bootstrap import preload_embedder

    preload_embedder(settings)
    return settings


def remember(text: str = typer.Argument(..., help="The memory text."),
             agent: str = AgentOption,
             namespace: str | None = typer.Option(None, "--namespace", "-n"),
             kind: str = typer.Option("fact", "--kind", "-k"),
             importance: float = typer.Option(0.5, "--importance"),
             tag: list[str] = typer.Option([], "--tag", help="Repeat for several tags."),
             pinned: bool = typer.Option(False, "--pinned"),
             data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
    """Write one memory."""
    async def go(s: MemoryService) -> object:
        return await s.remember(Caller(agent), MemoryInput(
            text=text, namespace=namespace, kind=kind, importance=importance, tags=tag,
            pinned=pinned))
    result = run_with_service(_embedding(load_settings(data_dir)), go)
    if as_json:
        emit_json(result)
    else:
        out.print(result)


def recall(query: str = typer.Argument(..., help="What to recall."),
           agent: str = AgentOption, k: int = typer.Option(5, "--k"),
           namespace: list[str] = typer.Option([], "--namespace", "-n"),
           data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
    """Recall memories by meaning, keywords and graph."""
    async def go(s: MemoryService) -> object:
        res = await s.recall(Caller(agent), RecallQuery(query=query, k=k,
                                                        namespaces=namespace or None))
        await s.flush()
        return res
    result = run_with_service(_embedding(load_settings(data_dir)), go)
    if as_json:
        emit_json(result)
        return
    table = Table("score", "text", "namespace", "by", "when", "id")
    for h in result.hits:  # type: ignore[attr-defined]
        m = h.memory
        table.add_row(f"{h.score:.4f}", m.text, m.namespace, m.attribution.created_by,
                      m.attribution.created_at.strftime("%Y-%m-%d %H:%M"), m.id)
    out.print(table)


def forget(memory_id: str = typer.Argument(..., help="Id of the memory to archive."),
           agent: str = AgentOption, data_dir: Path | None = DataDirOption,
           as_json: bool = JsonOption) -> None:
    """Archive a memory (restorable with `fleetmem gc restore`)."""
    result = run_with_service(load_settings(data_dir),
                              lambda s: s.forget(Caller(agent), memory_id))
    if as_json:
        emit_json(result)
    else:
        out.print(f"archived {result.id}")


def stats(agent: str = typer.Option("local", "--agent", "-a"),
          data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
    """Counts per namespace the agent may read."""
    result = run_with_service(load_settings(data_dir), lambda s: s.stats(Caller(agent)))
    if as_json:
        emit_json(result)
        return
    table = Table("namespace", "access", "memories", "entities", "relations", "buffer")
    for ns in result.namespaces:
        table.add_row(ns.namespace, ns.access, str(ns.memories), str(ns.entities),
                      str(ns.relations), str(ns.buffer_items))
    out.print(table)
    out.print(f"total memories: {result.total_memories}; model: {result.embedding_model}")
    usage = Table("agent", "stored memories", "stored bytes", "writes", "reads", "denied",
                  "rate limited", "embed calls", title="usage (counters: this process)")
    for u in result.usage:
        usage.add_row(u.agent_id, *(str(v) for v in (
            u.stored_memories, u.stored_bytes, u.writes, u.reads, u.denied, u.rate_limited,
            u.embed_calls)))
    out.print(usage)


def serve(host: str | None = typer.Option(None, "--host"),
          port: int | None = typer.Option(None, "--port"),
          data_dir: Path | None = DataDirOption) -> None:
    """Run the service: REST (/v1, /docs), MCP over HTTP (/mcp), scheduler, vault watcher."""
    from fleetmem.memory.bootstrap import preload_embedder

    loaded = load_settings(data_dir)
    # --host/--port go into the settings so everything that announces the address
    # (serve.json for the MCP stdio shim, the MCP auth metadata) tells the truth.
    settings = loaded.model_copy(update={"host": host or loaded.host,
                                         "port": port or loaded.port})
    setup_logging(settings.log_level)
    # The model loads while the web stack imports (readiness waits for it either way).
    preload_embedder(settings)
    import uvicorn

    from fleetmem.api.app import create_app
    from fleetmem.api.connections import server_options

    app = create_app(settings)
    # Head, body and keep-alive deadlines and the connection cap (issue 21); ws="none"
    # among them: nothing is served over WebSockets, so uvicorn need not import them.
    uvicorn.run(app, host=settings.host, port=settings.port,
                log_level=settings.log_level.lower(), **server_options(settings.api))
