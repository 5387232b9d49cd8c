"""The reference MCP knowledge-graph memory server (npm), over stdio with the SDK client."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

from bench.peers.base import NODE_DIR, Item, Peer, clean_env

BIN = NODE_DIR / "node_modules" / ".bin" / "mcp-server-memory"


def _payload(result: Any) -> dict[str, Any]:
    if result.is_error:
        raise RuntimeError(f"reference server error: {result.content}")
    text = result.content[0].text if result.content else "{}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = result.structured_content or {}
    return data if isinstance(data, dict) else {"items": data}


class ReferenceServer(Peer):
    """Entities with observations in a JSONL file; search_nodes is a substring match."""

    name = "reference MCP memory server"
    note = ("substring search over names/types/observations only (no embedding, no ranking): "
            "a question that is not a literal substring finds nothing")

    def __init__(self) -> None:
        self._stack = AsyncExitStack()
        self._client: Client | None = None
        self._entities: set[str] = set()

    @staticmethod
    def installed() -> bool:
        return BIN.exists()

    async def start(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        params = StdioServerParameters(command=str(BIN), args=[], env=clean_env(
            MEMORY_FILE_PATH=str(workdir / "memory.jsonl")))
        self._client = await self._stack.enter_async_context(Client(params))

    async def close(self) -> None:
        await self._stack.aclose()

    async def _call(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        assert self._client is not None
        return _payload(await self._client.call_tool(tool, args))

    async def ingest(self, items: Sequence[Item]) -> None:
        new: dict[str, tuple[str, list[str]]] = {}
        more: dict[str, list[str]] = {}
        for it in items:
            ent = it.entity or f"journal-{int(it.key.lstrip('nq') or 0) % 100:02d}"
            if ent in self._entities:
                more.setdefault(ent, []).append(it.text)
            else:
                new.setdefault(ent, (it.entity_type, []))[1].append(it.text)
        if new:
            await self._call("create_entities", {"entities": [
                {"name": n, "entityType": t, "observations": obs}
                for n, (t, obs) in new.items()]})
            self._entities |= set(new)
        if more:
            await self._call("add_observations", {"observations": [
                {"entityName": n, "contents": obs} for n, obs in more.items()]})

    async def remember(self, item: Item) -> float:
        t0 = time.perf_counter()
        await self.ingest([item])
        return (time.perf_counter() - t0) * 1000

    async def relate(self, relations: Sequence[tuple[str, str, str]]) -> None:
        await self._call("create_relations", {"relations": [
            {"from": s, "to": t, "relationType": r} for s, r, t in relations]})

    async def update(self, old: Item, new: Item) -> None:
        ent = old.entity or f"journal-{int(old.key.lstrip('nq') or 0) % 100:02d}"
        await self._call("delete_observations", {"deletions": [
            {"entityName": ent, "observations": [old.text]}]})
        await self.ingest([Item(new.key, new.text, ent, new.entity_type)])

    async def search(self, query: str, k: int) -> tuple[list[str], float]:
        t0 = time.perf_counter()
        data = await self._call("search_nodes", {"query": query})
        took = (time.perf_counter() - t0) * 1000
        q = query.lower()
        first: list[str] = []
        rest: list[str] = []
        for e in data.get("entities", []):
            for o in e.get("observations", []):
                (first if q in o.lower() else rest).append(o)
        return (first + rest)[:k], took
