"""One interface over both doors for one agent: every operation the security tests use, as
a REST request or an MCP tool call, answering an `Outcome` that keeps the full raw text of
the response (what a leak scan must read: bodies, problem details, tool error texts)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import TextResourceContents

from tests.security.world import World, bearer

Json = dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What a door answered: success, HTTP status (MCP: 200 or 400), parsed body, raw text."""

    ok: bool
    status: int
    body: Any
    text: str


def rest_outcome(r: httpx.Response) -> Outcome:
    try:
        body: Any = r.json()
    except ValueError:
        body = None
    return Outcome(r.is_success, r.status_code, body, r.text)


def mcp_outcome(result: Any) -> Outcome:
    texts = "\n".join(getattr(block, "text", "") for block in result.content)
    structured = result.structured_content
    raw = texts + ("\n" + json.dumps(structured) if structured is not None else "")
    return Outcome(not result.is_error, 400 if result.is_error else 200,
                   structured if structured is not None else texts, raw)


class Door:
    """The operations of one agent through one door ("rest" or "mcp")."""

    def __init__(self, world: World, agent: str, kind: str) -> None:
        self.world, self.agent, self.kind = world, agent, kind
        self.headers = bearer(agent)

    # plumbing ------------------------------------------------------------------------
    async def http(self, method: str, path: str, body: Json | None = None,
                   params: Any = None) -> Outcome:
        r = await self.world.rest.request(method, path, json=body, params=params,
                                          headers=self.headers)
        return rest_outcome(r)

    async def tool(self, name: str, args: Json) -> Outcome:
        client: Client = self.world.mcp[self.agent]
        return mcp_outcome(await client.call_tool(name, args))

    async def resource(self, uri: str) -> Outcome:
        """Read an MCP resource; an error is an Outcome with ok False and its message."""
        client: Client = self.world.mcp[self.agent]
        try:
            result = await client.read_resource(uri)
        except MCPError as exc:  # how the SDK reports a resource error
            return Outcome(False, 400, None, str(exc))
        text = "".join(c.text for c in result.contents if isinstance(c, TextResourceContents))
        return Outcome(True, 200, json.loads(text) if text else None, text)

    def _rest(self) -> bool:
        return self.kind == "rest"

    # writes ------------------------------------------------------------------------------
    async def remember(self, text: str, namespace: str | None, tags: list[str]) -> Outcome:
        args = {"text": text, "namespace": namespace, "tags": tags}
        if self._rest():
            return await self.http("POST", "/v1/memories", args)
        return await self.tool("remember", args)

    async def create_entity(self, name: str, observations: list[str],
                            namespace: str | None) -> Outcome:
        entity = {"name": name, "entityType": "project", "observations": observations}
        args = {"entities": [entity], "namespace": namespace}
        if self._rest():
            return await self.http("POST", "/v1/entities", args)
        return await self.tool("create_entities", args)

    async def relate(self, frm: str, rtype: str, to: str, namespace: str | None) -> Outcome:
        if self._rest():
            return await self.http("POST", "/v1/relate", {"from": frm, "relationType": rtype,
                                                          "to": to, "namespace": namespace})
        return await self.tool("relate", {"from_entity": frm, "relation_type": rtype,
                                          "to_entity": to, "namespace": namespace})

    async def add_observations(self, name: str, contents: list[str],
                               namespace: str | None) -> Outcome:
        args = {"observations": [{"entityName": name, "contents": contents}],
                "namespace": namespace}
        if self._rest():
            return await self.http("POST", "/v1/entities/observations", args)
        return await self.tool("add_observations", args)

    async def delete_entities(self, names: list[str], namespace: str | None) -> Outcome:
        args = {"entityNames": names, "namespace": namespace}
        if self._rest():
            return await self.http("POST", "/v1/entities/delete", args)
        return await self.tool("delete_entities", args)

    async def buffer_append(self, session: str, text: str, namespace: str | None) -> Outcome:
        if self._rest():
            return await self.http("POST", f"/v1/buffers/{quote(session, safe='')}/items",
                                   {"text": text, "namespace": namespace})
        return await self.tool("buffer_append", {"session_id": session, "text": text,
                                                 "namespace": namespace})

    async def consolidate(self, session: str) -> Outcome:
        if self._rest():
            return await self.http("POST",
                                   f"/v1/buffers/{quote(session, safe='')}/consolidate", {})
        return await self.tool("consolidate", {"session_id": session})

    async def correct(self, memory_id: str, text: str) -> Outcome:
        if self._rest():
            return await self.http("POST", f"/v1/memories/{quote(memory_id, safe='')}/correct",
                                   {"text": text})
        return await self.tool("correct", {"id": memory_id, "text": text})

    async def forget(self, memory_id: str) -> Outcome:
        if self._rest():
            return await self.http("DELETE", f"/v1/memories/{quote(memory_id, safe='')}")
        return await self.tool("forget", {"id": memory_id})

    async def share(self, memory_id: str, namespace: str) -> Outcome:
        if self._rest():
            return await self.http("POST", f"/v1/memories/{quote(memory_id, safe='')}/share",
                                   {"namespace": namespace})
        return await self.tool("share", {"id": memory_id, "namespace": namespace})

    # reads -------------------------------------------------------------------------------
    async def recall(self, query: str, *, namespaces: list[str] | None = None,
                     tags: list[str] | None = None, session_id: str | None = None,
                     include_archived: bool = False) -> Outcome:
        args: Json = {"query": query, "k": 100, "include_archived": include_archived}
        for key, value in (("namespaces", namespaces), ("tags", tags),
                           ("session_id", session_id)):
            if value is not None:
                args[key] = value
        if self._rest():
            return await self.http("POST", "/v1/memories/recall", args)
        return await self.tool("recall", args)

    async def history(self, memory_id: str) -> Outcome:
        if self._rest():
            return await self.http("GET", f"/v1/memories/{quote(memory_id, safe='')}/history")
        return await self.tool("history", {"id": memory_id})

    async def get(self, memory_id: str) -> Outcome:
        """GET one memory (REST); over MCP, the history tool is the by-id read."""
        if self._rest():
            return await self.http("GET", f"/v1/memories/{quote(memory_id, safe='')}")
        return await self.history(memory_id)

    async def search_nodes(self, query: str) -> Outcome:
        if self._rest():
            return await self.http("GET", "/v1/graph/search", params={"query": query})
        return await self.tool("search_nodes", {"query": query})

    async def open_nodes(self, names: list[str]) -> Outcome:
        if self._rest():
            return await self.http("POST", "/v1/graph/open", {"names": names})
        return await self.tool("open_nodes", {"names": names})

    async def neighbours(self, name: str) -> Outcome:
        if self._rest():
            return await self.http("GET", f"/v1/entities/{quote(name, safe='')}/neighbours")
        return await self.resource(f"memory://entity/{quote(name, safe='')}")

    async def entity(self, name: str) -> Outcome:
        """One entity by name: GET /v1/entities/{name} (REST), open_nodes (MCP)."""
        if self._rest():
            return await self.http("GET", f"/v1/entities/{quote(name, safe='')}")
        return await self.open_nodes([name])

    async def read_graph_pages(self, limit: int = 7) -> list[Outcome]:
        """Every page of the readable graph (small pages, so paging is exercised)."""
        pages: list[Outcome] = []
        cursor: str | None = None
        while len(pages) < 200:
            args: Json = {"limit": limit, **({"cursor": cursor} if cursor else {})}
            page = await (self.http("GET", "/v1/graph", params=args) if self._rest()
                          else self.tool("read_graph", args))
            pages.append(page)
            cursor = page.body.get("next_cursor") if page.ok else None
            if not cursor:
                return pages
        raise AssertionError("read_graph did not end after 200 pages")

    async def namespaces(self) -> Outcome:
        if self._rest():
            return await self.http("GET", "/v1/namespaces")
        return await self.tool("list_namespaces", {})

    async def namespace_summary(self, namespace: str) -> Outcome:
        if self._rest():
            return await self.http("GET", f"/v1/namespaces/{quote(namespace, safe=':')}")
        return await self.resource(f"memory://namespace/{namespace}")

    async def buffer_read(self, session: str) -> Outcome:
        if self._rest():
            return await self.http("GET", f"/v1/buffers/{quote(session, safe='')}")
        return await self.tool("buffer_read", {"session_id": session})

    # REST-only views (MCP has no tool for them) --------------------------------------------
    async def rest_only(self) -> list[Outcome]:
        """stats, the memory listing, the audit log and the conflicts list (REST)."""
        out = [await self.http("GET", "/v1/stats"),
               await self.http("GET", "/v1/conflicts", params={"status": "all"})]
        cursor: str | None = "0"
        while cursor:
            page = await self.http("GET", "/v1/audit/events",
                                   params={"cursor": cursor, "limit": 1000})
            out.append(page)
            cursor = page.body.get("next_cursor") if page.ok else None
        after: str | None = None
        while True:
            page = await self.http("GET", "/v1/memories",
                                   params={"limit": 1000, **({"cursor": after} if after else {})})
            out.append(page)
            after = page.body.get("next_cursor") if page.ok else None
            if not after:
                return out
