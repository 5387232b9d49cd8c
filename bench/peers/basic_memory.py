"""basic-memory (PyPI, Python >= 3.12 venv) over its MCP stdio server, one note per memory."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

from bench.peers.base import BM_VENV, Item, Peer, clean_env

BIN = BM_VENV / "bin" / "basic-memory"
_TITLE = re.compile(r"^[nq]\d+$")


class BasicMemory(Peer):
    """write_note / search_notes; results map back to memories by note title."""

    name = "basic-memory"
    note = ("keyword (FTS) search: its semantic mode needs a fastembed model fetched from a "
            "model hub and SQLite extension loading, neither available offline here")

    def __init__(self) -> None:
        self._stack = AsyncExitStack()
        self._client: Client | None = None
        self._text: dict[str, str] = {}

    @staticmethod
    def installed() -> bool:
        return BIN.exists()

    async def start(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        env = clean_env(HOME=str(workdir / "home"), BASIC_MEMORY_HOME=str(workdir / "notes"),
                        BASIC_MEMORY_CONFIG_DIR=str(workdir / "config"),
                        BASIC_MEMORY_SEMANTIC_SEARCH_ENABLED="false")
        (workdir / "home").mkdir(exist_ok=True)
        params = StdioServerParameters(command=str(BIN), args=["mcp"], env=env)
        self._client = await self._stack.enter_async_context(Client(params))

    async def close(self) -> None:
        await self._stack.aclose()

    async def _call(self, tool: str, args: dict[str, Any]) -> Any:
        assert self._client is not None
        res = await self._client.call_tool(tool, args)
        if res.is_error:
            raise RuntimeError(f"basic-memory {tool}: {res.content}")
        return res

    async def ingest(self, items: Sequence[Item]) -> None:
        for it in items:
            await self.remember(it)

    async def remember(self, item: Item) -> float:
        t0 = time.perf_counter()
        await self._call("write_note", {"title": item.key, "content": item.text,
                                        "directory": "memories"})
        self._text[item.key] = item.text
        return (time.perf_counter() - t0) * 1000

    async def update(self, old: Item, new: Item) -> None:
        await self._call("write_note", {"title": old.key, "content": new.text,
                                        "directory": "memories"})
        self._text[old.key] = new.text

    async def search(self, query: str, k: int) -> tuple[list[str], float]:
        t0 = time.perf_counter()
        res = await self._call("search_notes", {"query": query, "page_size": k,
                                                "output_format": "json"})
        took = (time.perf_counter() - t0) * 1000
        texts = [self._text[t] for t in _titles(res) if t in self._text]
        return texts[:k], took


def _titles(res: Any) -> list[str]:
    """Note titles of a search_notes JSON answer, best first."""
    raw = res.structured_content
    if isinstance(raw, dict) and "result" in raw:
        raw = raw["result"]
    if raw is None and res.content:
        raw = res.content[0].text
    data = json.loads(raw) if isinstance(raw, str) else raw
    results = data.get("results", []) if isinstance(data, dict) else data or []
    out: list[str] = []
    for r in results:
        title = str(r.get("title") or r.get("permalink", "").rsplit("/", 1)[-1])
        if _TITLE.match(title) and title not in out:
            out.append(title)
    return out
