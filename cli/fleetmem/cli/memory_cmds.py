"""`fleetmem remember|recall|list|forget|stats|serve`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from fleetmem.api.local_ops import FORGET, LIST, RECALL, REMEMBER, STATS
from fleetmem.cli.common import (
    AgentOption,
    DataDirOption,
    JsonOption,
    emit_json,
    invoke,
    load_settings,
    out,
    setup_logging,
)
from fleetmem.cli.reach import embedded, refuse_if_owned
from fleetmem.memory.services import RememberResult


def remember_line(result: RememberResult) -> str:
    """`remember`'s one line: the full id (paste it into forget or correct) and what
    happened to the text."""
    what = "reinforced the existing memory" if result.deduplicated else "remembered"
    notes = [f"{result.redactions} secret(s) redacted"] if result.redactions else []
    if result.status != "active":
        notes.append(f"status {result.status}")
    return f"{what} {result.id} in {result.namespace}" + (f" ({'; '.join(notes)})"
                                                            if notes else "")


MetaOption = typer.Option(
    [], "--meta", help="key=value into the memory's metadata; repeat for several. The value "
    "is read as JSON when it parses (n=3 is a number, ok=true a boolean, id='\"3\"' a "
    "string), else as a string.")
WhereOption = typer.Option(
    [], "--where", help="Only memories whose metadata has key=value (value read as with "
    "remember --meta); repeat: every pair must match.")


def pairs(items: list[str], option: str) -> dict[str, object] | None:
    """`key=value` options as a metadata object (the service checks keys and limits)."""
    if not items:
        return None
    out: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected key=value, got {item!r}",
                                     param_hint=option)
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def remember(text: str = typer.Argument(..., help="The memory text."),
             agent: str = AgentOption,
             namespace: str | None = typer.Option(None, "--namespace", "-n"),
             kind: str = typer.Option("fact", "--kind", "-k"),
             importance: float = typer.Option(0.5, "--importance"),
             tag: list[str] = typer.Option([], "--tag", help="Repeat for several tags."),
             pinned: bool = typer.Option(False, "--pinned"),
             meta: list[str] = MetaOption,
             data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
    """Write one memory."""
    result = invoke(load_settings(data_dir), REMEMBER, agent=agent, text=text,
                    namespace=namespace, kind=kind, importance=importance, tags=tag,
                    pinned=pinned, metadata=pairs(meta, "--meta"))
    if as_json:
        emit_json(result)
    else:
        out.print(remember_line(result), soft_wrap=True, highlight=False, markup=False)


def recall(query: str = typer.Argument(..., help="What to recall."),
           agent: str = AgentOption, k: int = typer.Option(5, "--k"),
           namespace: list[str] = typer.Option([], "--namespace", "-n"),
           where: list[str] = WhereOption,
           neighbours: bool = typer.Option(True, "--neighbours/--no-neighbours", help=(
               "Let the conversation turns next to the best hits compete (counted in k).")),
           data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
    """Recall memories by meaning, keywords and graph."""
    result = invoke(load_settings(data_dir), RECALL, agent=agent, query=query, k=k,
                    namespaces=namespace or None, metadata=pairs(where, "--where"),
                    neighbours=neighbours)
    if as_json:
        emit_json(result)
        return
    from rich.table import Table  # rich loads only for terminal output
    from rich.text import Text

    # The id never wraps (it must stay copyable); the memory's text and facts wrap.
    table = Table("id", "score", "memory")
    table.columns[0].no_wrap = True
    table.columns[0].min_width = 36
    table.columns[2].overflow = "fold"
    for h in result.hits:
        m = h.memory
        table.add_row(m.id, f"{h.score:.3f}", Text.assemble(
            m.text, "\n", (f"{m.namespace} · by {m.attribution.created_by} · "
                           f"{m.attribution.created_at:%Y-%m-%d %H:%M}", "dim")))
    out.print(table)


def list_memories(agent: str = AgentOption,
                  namespace: list[str] = typer.Option([], "--namespace", "-n"),
                  where: list[str] = WhereOption,
                  after: str | None = typer.Option(None, "--after",
                                                   help="Start after this memory id."),
                  limit: int = typer.Option(50, "--limit"),
                  data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
    """List active memories by id, one page (an inventory; recall searches)."""
    items = invoke(load_settings(data_dir), LIST, agent=agent, namespaces=namespace or None,
                   after_id=after, limit=limit, metadata=pairs(where, "--where"))
    if as_json:
        emit_json(items)
        return
    for m in items:
        meta = f"  {json.dumps(m.metadata, ensure_ascii=False)}" if m.metadata else ""
        out.print(f"{m.id}  {m.namespace}  {m.text}{meta}", soft_wrap=True, highlight=False,
                  markup=False)


def forget(memory_id: str = typer.Argument(..., help="Id of the memory to archive."),
           agent: str = AgentOption, data_dir: Path | None = DataDirOption,
           as_json: bool = JsonOption) -> None:
    """Archive a memory (restorable with `fleetmem gc restore`)."""
    result = invoke(load_settings(data_dir), FORGET, agent=agent, memory_id=memory_id)
    if as_json:
        emit_json(result)
    else:
        out.print(f"archived {result.id}", soft_wrap=True, highlight=False)


def stats(agent: str = AgentOption,
          data_dir: Path | None = DataDirOption, as_json: bool = JsonOption) -> None:
    """Counts per namespace the agent may read."""
    result = invoke(load_settings(data_dir), STATS, agent=agent)
    if as_json:
        emit_json(result)
        return
    from rich.table import Table

    table = Table("namespace", "access", "memories", "entities", "relations", "buffer")
    for ns in result.namespaces:
        memories = ", ".join(f"{n} {status}" for status, n in ns.memories.items()) or "0"
        table.add_row(ns.namespace, ns.access, memories, str(ns.entities),
                      str(ns.relations), str(ns.buffer_items))
    out.print(table)
    out.print(f"total memories: {result.total_memories}; model: {result.embedding_model}")
    usage = Table("agent", "stored memories", "stored bytes", "writes", "reads", "denied",
                  "rate limited", "embed calls", title="usage (counters of the serving process)")
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
    if embedded(loaded):  # server backends serve any number of replicas
        refuse_if_owned(Path(loaded.data_dir), "fleetmem serve")
    # --host/--port go into the settings so everything that announces the address
    # (serve.json for the MCP stdio shim, the MCP auth metadata) tells the truth.
    settings = loaded.model_copy(update={"host": host or loaded.host,
                                         "port": port or loaded.port})
    setup_logging(settings.log_level, settings.log_format)
    # The model loads while the web stack imports (readiness waits for it either way).
    preload_embedder(settings)
    import uvicorn

    from fleetmem.api.app import create_app
    from fleetmem.api.connections import server_options

    app = create_app(settings)
    # Head, body and keep-alive deadlines and the connection cap (issue 21); ws="none"
    # among them: nothing is served over WebSockets, so uvicorn need not import them.
    # No logging config of uvicorn's own: its lines (access log included) propagate to the
    # handler set above, in FLEETMEM_LOG_FORMAT like every other line.
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None,
                log_level=settings.log_level.lower(), **server_options(settings.api))
