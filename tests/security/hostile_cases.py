"""Hostile inputs for the REST and MCP doors: malformed and oversized arguments, broken
encodings, deep nesting, control and invalid Unicode, over-long ids and namespaces.

REST cases here, MCP cases and valid-but-strange input in `hostile_mcp_cases`. Each case
names the input that must be blamed (`blame`: the problem's `field`/`detail`, or the tool
error text, must mention it). Valid-but-strange text (Cypher-like, SQL-like, RTL,
combining marks, emoji, FTS5 syntax) is in `VERBATIM_TEXTS` and `QUERIES`: it must be
stored verbatim, or answered, never refused.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

MB = 1_000_000
BAD_ID = "3f2b8c1e-6d4a-4f7e-9a51-2c0e8b7d9f10"  # well formed, never written
MEMORY = "<an existing memory id>"  # replaced by a seeded memory's id
# A cursor that decodes to a lone surrogate (what a forged paging cursor may hold).
FORGED_CURSOR = base64.urlsafe_b64encode(b'["\\ud800", "\\udfff"]').decode()


def nested(depth: int, leaf: str = "1") -> bytes:
    """`depth` nested JSON arrays around a leaf."""
    return b"[" * depth + leaf.encode() + b"]" * depth


@dataclass(frozen=True)
class RestCase:
    """One hostile request and what the answer must blame."""

    name: str
    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    params: dict[str, Any] | None = None
    headers: dict[str, Any] = field(default_factory=dict)
    blame: str = ""
    valid: bool = False  # a valid (if odd) read: answered 2xx, nothing changes


@dataclass(frozen=True)
class McpCase:
    """One hostile tool call and what its error must blame."""

    name: str
    tool: str
    args: dict[str, Any]
    blame: str = ""
    valid: bool = False  # a valid (if odd) read: answered, nothing changes


def _body(raw: bytes) -> dict[str, Any]:
    return {"content": raw, "headers": {"content-type": "application/json"}}


REST_CASES = [
    # wrong types, missing fields, extra fields -------------------------------------------
    RestCase("text int", "POST", "/v1/memories", {"text": 123}, blame="text"),
    RestCase("text missing", "POST", "/v1/memories", {}, blame="text"),
    RestCase("text null", "POST", "/v1/memories", {"text": None}, blame="text"),
    RestCase("text object", "POST", "/v1/memories", {"text": {"$ne": ""}}, blame="text"),
    RestCase("importance string", "POST", "/v1/memories", {"text": "x", "importance": "high"},
             blame="importance"),
    RestCase("importance 2", "POST", "/v1/memories", {"text": "x", "importance": 2},
             blame="importance"),
    RestCase("kind unknown", "POST", "/v1/memories", {"text": "x", "kind": "rumour"},
             blame="kind"),
    RestCase("tags string", "POST", "/v1/memories", {"text": "x", "tags": "a,b"}, blame="tags"),
    RestCase("tags ints", "POST", "/v1/memories", {"text": "x", "tags": [1, 2]}, blame="tags"),
    RestCase("extra field", "POST", "/v1/memories", {"text": "x", "owner": "root"},
             blame="owner"),
    RestCase("valid_from garbage", "POST", "/v1/memories", {"text": "x", "valid_from": "soon"},
             blame="valid_from"),
    RestCase("top-level array", "POST", "/v1/memories", [{"text": "x"}]),
    RestCase("top-level string", "POST", "/v1/memories", "remember this"),
    RestCase("not json", "POST", "/v1/memories", **_body(b"text=remember+this")),
    RestCase("empty body", "POST", "/v1/memories", **_body(b"")),
    RestCase("truncated json", "POST", "/v1/memories", **_body(b'{"text": "x"')),
    RestCase("text/plain body", "POST", "/v1/memories", content=b'{"text": "plain"}',
             headers={"content-type": "text/plain"}),
    # oversized -------------------------------------------------------------------------------
    RestCase("1 MB text", "POST", "/v1/memories", {"text": "a" * MB}, blame="text"),
    RestCase("3 MB text", "POST", "/v1/memories", {"text": "a" * (3 * MB)}),
    RestCase("100k tags", "POST", "/v1/memories", {"text": "x", "tags": ["t"] * 100_000},
             blame="tags"),
    RestCase("10k-char tag", "POST", "/v1/memories", {"text": "x", "tags": ["t" * 10_000]},
             blame="tags"),
    RestCase("100k entities", "POST", "/v1/memories",
             {"text": "x", "entities": ["e"] * 100_000}, blame="entities"),
    RestCase("huge batch", "POST", "/v1/memories/batch",
             {"memories": [{"text": f"m{i}"} for i in range(20_000)]}, blame="memories"),
    RestCase("empty batch", "POST", "/v1/memories/batch", {"memories": []}, blame="memories"),
    RestCase("1e400", "POST", "/v1/memories", **_body(b'{"text": "x", "importance": 1e400}'),
             blame="importance"),
    RestCase("5000-digit number", "POST", "/v1/memories",
             **_body(b'{"text": "x", "importance": ' + b"9" * 5000 + b"}")),
    # deep nesting ------------------------------------------------------------------------
    RestCase("10k nested arrays", "POST", "/v1/memories",
             **_body(b'{"text": ' + nested(10_000) + b"}")),
    RestCase("10k nested objects", "POST", "/v1/memories",
             **_body(b'{"text": "x", "tags": ' + b'{"a":' * 10_000 + b"1" + b"}" * 10_001)),
    RestCase("100-deep tags", "POST", "/v1/memories",
             **_body(b'{"text": "x", "tags": ' + nested(100, '"t"') + b"}"), blame="tags"),
    RestCase("10k nested recall", "POST", "/v1/memories/recall",
             **_body(b'{"query": "x", "namespaces": ' + nested(10_000) + b"}")),
    # control characters and broken encodings ---------------------------------------------
    RestCase("NUL in text", "POST", "/v1/memories", {"text": "a\x00b"}, blame="text"),
    RestCase("escape in text", "POST", "/v1/memories", {"text": "bell \x07 and \x1b[31m"},
             blame="text"),
    RestCase("lone surrogate text", "POST", "/v1/memories",
             **_body(b'{"text": "lone \\ud800 half"}'), blame="text"),
    RestCase("lone surrogate tag", "POST", "/v1/memories",
             **_body(b'{"text": "fine text", "tags": ["\\udfff"]}'), blame="tags"),
    RestCase("lone surrogate entity", "POST", "/v1/entities",
             **_body(b'{"entities": [{"name": "a\\ud800", "entityType": "t"}]}'),
             blame="name"),
    RestCase("lone surrogate observation", "POST", "/v1/entities",
             **_body(b'{"entities": [{"name": "Ok", "entityType": "t", '
                     b'"observations": ["\\udc00"]}]}'), blame="observations"),
    RestCase("lone surrogate query", "POST", "/v1/memories/recall",
             **_body(b'{"query": "\\ud83d"}'), blame="query"),
    RestCase("lone surrogate created_by", "POST", "/v1/memories/recall",
             **_body(b'{"query": "x", "created_by": "\\ud800"}'), blame="created_by"),
    RestCase("lone surrogate recall tag", "POST", "/v1/memories/recall",
             **_body(b'{"query": "x", "tags": ["\\ud800"]}'), blame="tags"),
    RestCase("lone surrogate session", "POST", "/v1/memories/recall",
             **_body(b'{"query": "x", "session_id": "\\ud800"}'), blame="session_id"),
    RestCase("lone surrogate buffer text", "POST", "/v1/buffers/s-1/items",
             **_body(b'{"text": "\\ud800 note"}'), blame="text"),
    RestCase("lone surrogate names", "POST", "/v1/graph/open",
             **_body(b'{"names": ["\\ud800"]}'), blame="names"),
    RestCase("lone surrogate correct", "POST", f"/v1/memories/{MEMORY}/correct",
             **_body(b'{"text": "\\ud800"}'), blame="text"),
    RestCase("NUL correct", "POST", f"/v1/memories/{MEMORY}/correct", {"text": "a\x00"},
             blame="text"),
    RestCase("correct kind", "POST", f"/v1/memories/{MEMORY}/correct",
             {"text": "x", "kind": "rumour"}, blame="kind"),
    RestCase("share to other private", "POST", f"/v1/memories/{MEMORY}/share",
             {"namespace": "agent:bob"}, blame="namespace"),
    RestCase("share traversal", "POST", f"/v1/memories/{MEMORY}/share",
             {"namespace": "../team:atlas"}, blame="namespace"),
    RestCase("invalid UTF-8 body", "POST", "/v1/memories",
             **_body(b'{"text": "bad \xff\xfe bytes"}')),
    # over-long and malformed ids, names, namespaces ----------------------------------------
    RestCase("10k id", "GET", "/v1/memories/" + "a" * 10_000, blame="id"),
    RestCase("traversal id", "GET", "/v1/memories/..%2F..%2Fetc%2Fpasswd"),
    RestCase("NUL id", "GET", "/v1/memories/%00", blame="id"),
    RestCase("sql id", "DELETE", "/v1/memories/1%27%20OR%20%271%27%3D%271", blame="id"),
    RestCase("10k id history", "GET", "/v1/memories/" + "f" * 10_000 + "/history", blame="id"),
    RestCase("10k id correct", "POST", "/v1/memories/" + "0" * 10_000 + "/correct",
             {"text": "x"}, blame="id"),
    RestCase("10k namespace", "POST", "/v1/memories", {"text": "x",
                                                       "namespace": "team:" + "a" * 10_000},
             blame="namespace"),
    RestCase("traversal namespace", "POST", "/v1/memories",
             {"text": "x", "namespace": "agent:../../etc"}, blame="namespace"),
    RestCase("NUL namespace", "POST", "/v1/memories", {"text": "x", "namespace": "global\x00"},
             blame="namespace"),
    RestCase("cypher namespace", "POST", "/v1/memories",
             {"text": "x", "namespace": "team:a'}) DETACH DELETE n //"}, blame="namespace"),
    RestCase("10k namespace read", "GET", "/v1/namespaces/team:" + "a" * 10_000,
             blame="namespace"),
    RestCase("10k namespaces recall", "POST", "/v1/memories/recall",
             {"query": "x", "namespaces": ["team:" + "b" * 10_000]}, blame="namespaces"),
    RestCase("many namespaces", "POST", "/v1/memories/recall",
             {"query": "x", "namespaces": ["global"] * 100_000}, valid=True),
    RestCase("10k entity name", "GET", "/v1/entities/" + "n" * 10_000, blame="name"),
    RestCase("NUL entity name", "GET", "/v1/entities/a%00b", blame="name"),
    RestCase("newline entity", "POST", "/v1/entities",
             {"entities": [{"name": "a\nb", "entityType": "t"}]}, blame="name"),
    RestCase("201-char entity", "POST", "/v1/entities",
             {"entities": [{"name": "n" * 201, "entityType": "t"}]}, blame="name"),
    RestCase("no entityType", "POST", "/v1/entities", {"entities": [{"name": "x"}]},
             blame="entityType"),
    RestCase("300 observations", "POST", "/v1/entities", {"entities": [
        {"name": "x", "entityType": "t", "observations": [f"o{i}" for i in range(300)]}]},
             blame="observations"),
    RestCase("9k observation", "POST", "/v1/entities/observations", {"observations": [
        {"entityName": "Atlas", "contents": ["o" * 9000]}]}, blame="contents"),
    RestCase("10k-name open", "POST", "/v1/graph/open", {"names": ["x"] * 10_000},
             blame="names"),
    RestCase("empty open", "POST", "/v1/graph/open", {"names": [""]}, blame="names"),
    RestCase("long relation type", "POST", "/v1/relate",
             {"from": "a", "relationType": "r" * 201, "to": "b"}, blame="relationType"),
    RestCase("relation no from", "POST", "/v1/relations",
             {"relations": [{"to": "b", "relationType": "x"}]}, blame="from"),
    RestCase("delete no names", "POST", "/v1/entities/delete", {"entityNames": []},
             blame="entityNames"),
    RestCase("delete NUL name", "POST", "/v1/entities/delete", {"entityNames": ["\x00"]},
             blame="entityNames"),
    RestCase("rename to NUL", "POST", "/v1/entities/Atlas/rename", {"newName": "a\x00"},
             blame="newName"),
    # paging and limits ---------------------------------------------------------------------
    RestCase("graph limit 0", "GET", "/v1/graph", params={"limit": 0}, blame="limit"),
    RestCase("graph limit huge", "GET", "/v1/graph", params={"limit": 10**12}, blame="limit"),
    RestCase("graph limit text", "GET", "/v1/graph", params={"limit": "all"}, blame="limit"),
    RestCase("graph cursor 3k", "GET", "/v1/graph", params={"cursor": "c" * 3000},
             blame="cursor"),
    RestCase("recall k 0", "POST", "/v1/memories/recall", {"query": "x", "k": 0}, blame="k"),
    RestCase("recall k huge", "POST", "/v1/memories/recall", {"query": "x", "k": 10**9},
             blame="k"),
    RestCase("recall 1 MB query", "POST", "/v1/memories/recall", {"query": "q" * MB},
             blame="query"),
    RestCase("recall 1 MB session", "POST", "/v1/memories/recall",
             {"query": "x", "session_id": "s" * MB}, blame="session_id"),
    RestCase("recall bad mode", "POST", "/v1/memories/recall",
             {"query": "x", "modes": ["telepathy"]}, blame="modes"),
    RestCase("recall no modes", "POST", "/v1/memories/recall", {"query": "x", "modes": []},
             blame="modes"),
    RestCase("recall max_tokens 0", "POST", "/v1/memories/recall",
             {"query": "x", "max_tokens": 0}, blame="max_tokens"),
    RestCase("recall as_of garbage", "POST", "/v1/memories/recall",
             {"query": "x", "as_of": "yesterday-ish"}, blame="as_of"),
    RestCase("search empty", "GET", "/v1/graph/search", params={"query": ""}, blame="query"),
    RestCase("search NUL", "GET", "/v1/graph/search", params={"query": "a\x00"},
             blame="query"),
    RestCase("search 9k", "GET", "/v1/graph/search", params={"query": "s" * 9000},
             blame="query"),
    RestCase("buffer 201-char session", "POST", "/v1/buffers/" + "s" * 201 + "/items",
             {"text": "x"}, blame="session"),
    RestCase("buffer NUL session", "POST", "/v1/buffers/a%00b/items", {"text": "x"},
             blame="session"),
    RestCase("buffer role", "POST", "/v1/buffers/s-1/items", {"text": "x", "role": "root"},
             blame="role"),
    RestCase("buffer limit huge", "GET", "/v1/buffers/s-1", params={"limit": 10**9},
             blame="limit"),
    RestCase("consolidate importance", "POST", "/v1/buffers/s-1/consolidate",
             {"min_importance": 7}, blame="min_importance"),
    RestCase("audit cursor negative", "GET", "/v1/audit/events", params={"cursor": -1},
             blame="cursor"),
    RestCase("audit agent 10k", "GET", "/v1/audit/events", params={"agent": "a" * 10_000},
             blame="agent"),
    RestCase("conflicts status", "GET", "/v1/conflicts", params={"status": "'; DROP--"},
             blame="status"),
    RestCase("resolve long id", "POST", "/v1/conflicts/" + "c" * 100 + "/resolve",
             {"keep": "a"}, blame="conflict_id"),
    RestCase("resolve keep", "POST", f"/v1/conflicts/{BAD_ID}/resolve", {"keep": "c"},
             blame="keep"),
    RestCase("resolve unknown", "POST", f"/v1/conflicts/{BAD_ID}/resolve", {"keep": "a"}),
    # headers ----------------------------------------------------------------------------------
    RestCase("idempotency spaces", "POST", "/v1/memories", {"text": "x"},
             headers={"Idempotency-Key": "a b c"}, blame="Idempotency-Key"),
    RestCase("idempotency 10k", "POST", "/v1/memories", {"text": "x"},
             headers={"Idempotency-Key": "k" * 10_000}, blame="Idempotency-Key"),
    RestCase("workflow control", "POST", "/v1/memories", {"text": "x"},
             headers={"X-Workflow-Id": "wf\x01"}, blame="X-Workflow-Id"),
    RestCase("on-behalf traversal", "POST", "/v1/memories", {"text": "x"},
             headers={"X-On-Behalf-Of": "../../root"}, blame="X-On-Behalf-Of"),
    RestCase("latin-1 session header", "POST", "/v1/memories/recall", {"query": "x"},
             headers={"X-Session-Id": b"\xff\xfe"}, blame="X-Session-Id"),
    RestCase("bearer 10k", "GET", "/v1/stats",
             headers={"Authorization": "Bearer " + "k" * 10_000}, blame="Authorization"),
    RestCase("basic auth", "GET", "/v1/stats", headers={"Authorization": "Basic YTpi"},
             blame="Authorization"),
    RestCase("bearer cypher", "GET", "/v1/stats",
             headers={"Authorization": "Bearer ' OR 1=1 --"}, blame="Authorization"),
    RestCase("unknown route", "GET", "/v1/../../etc/passwd"),
    RestCase("wrong method", "PUT", "/v1/memories", {"text": "x"}),
]
