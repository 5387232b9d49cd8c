"""Every /v1 operation with a minimal well-formed request, for the cross-cutting tests
(401, 403, OpenAPI coverage). A test checks this list against the OpenAPI schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MID = "3f2b8c1e-6d4a-4f7e-9a51-2c0e8b7d9f10"  # well-formed, never written


@dataclass(frozen=True)
class RouteCase:
    """One operation: method, template, concrete path and a valid body."""

    method: str
    template: str
    path: str
    body: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    write: bool = True
    admin: bool = False
    """Only admin agents may call it (403 admin_only for anyone else)."""

    @property
    def id(self) -> str:
        return f"{self.method} {self.template}"


ENTITY = {"name": "payments", "entityType": "service"}
RELATION = {"from": "alice", "to": "payments", "relationType": "maintains"}

ROUTES = [
    RouteCase("POST", "/v1/memories", "/v1/memories", {"text": "Deploys happen on Tuesdays"}),
    RouteCase("POST", "/v1/memories/batch", "/v1/memories/batch",
              {"memories": [{"text": "Deploys happen on Tuesdays"}]}),
    RouteCase("GET", "/v1/memories", "/v1/memories", write=False),
    RouteCase("POST", "/v1/memories/recall", "/v1/memories/recall", {"query": "deploys"},
              write=False),
    RouteCase("GET", "/v1/memories/{memory_id}", f"/v1/memories/{MID}", write=False),
    RouteCase("DELETE", "/v1/memories/{memory_id}", f"/v1/memories/{MID}"),
    RouteCase("GET", "/v1/memories/{memory_id}/history", f"/v1/memories/{MID}/history",
              write=False),
    RouteCase("POST", "/v1/memories/{memory_id}/correct", f"/v1/memories/{MID}/correct",
              {"text": "Deploys happen on Wednesdays"}),
    RouteCase("POST", "/v1/memories/{memory_id}/restore", f"/v1/memories/{MID}/restore"),
    RouteCase("POST", "/v1/memories/{memory_id}/share", f"/v1/memories/{MID}/share",
              {"namespace": "team:atlas"}),
    RouteCase("GET", "/v1/export", "/v1/export", write=False),
    # an NDJSON body of one line (httpx writes the JSON on one line)
    RouteCase("POST", "/v1/import", "/v1/import", {"text": "Deploys happen on Tuesdays"}),
    RouteCase("POST", "/v1/entities", "/v1/entities", {"entities": [ENTITY]}),
    RouteCase("POST", "/v1/entities/observations", "/v1/entities/observations",
              {"observations": [{"entityName": "payments", "contents": ["written in Go"]}]}),
    RouteCase("POST", "/v1/entities/observations/delete", "/v1/entities/observations/delete",
              {"deletions": [{"entityName": "payments", "observations": ["written in Go"]}]}),
    RouteCase("POST", "/v1/entities/delete", "/v1/entities/delete",
              {"entityNames": ["payments"]}),
    RouteCase("GET", "/v1/entities/{name}", "/v1/entities/payments", write=False),
    RouteCase("DELETE", "/v1/entities/{name}", "/v1/entities/payments"),
    RouteCase("PATCH", "/v1/entities/{name}", "/v1/entities/payments",
              {"tags": ["tier-1"]}),
    RouteCase("POST", "/v1/entities/{name}/rename", "/v1/entities/payments/rename",
              {"newName": "payments-api"}),
    RouteCase("GET", "/v1/entities/{name}/neighbours", "/v1/entities/payments/neighbours",
              write=False),
    RouteCase("POST", "/v1/relations", "/v1/relations", {"relations": [RELATION]}),
    RouteCase("POST", "/v1/relations/delete", "/v1/relations/delete",
              {"relations": [RELATION]}),
    RouteCase("POST", "/v1/relate", "/v1/relate",
              {"from": "alice", "relationType": "maintains", "to": "payments"}),
    RouteCase("GET", "/v1/graph", "/v1/graph", write=False),
    RouteCase("GET", "/v1/graph/search", "/v1/graph/search", params={"query": "pay"},
              write=False),
    RouteCase("POST", "/v1/graph/open", "/v1/graph/open", {"names": ["payments"]},
              write=False),
    RouteCase("POST", "/v1/buffers/{session_id}/items", "/v1/buffers/s-1/items",
              {"text": "the user prefers short answers"}),
    RouteCase("GET", "/v1/buffers/{session_id}", "/v1/buffers/s-1", write=False),
    RouteCase("DELETE", "/v1/buffers/{session_id}", "/v1/buffers/s-1"),
    RouteCase("POST", "/v1/buffers/{session_id}/consolidate", "/v1/buffers/s-1/consolidate",
              {}),
    RouteCase("GET", "/v1/namespaces", "/v1/namespaces", write=False),
    RouteCase("GET", "/v1/namespaces/{namespace}", "/v1/namespaces/team:atlas", write=False),
    RouteCase("GET", "/v1/stats", "/v1/stats", write=False),
    RouteCase("GET", "/v1/audit/events", "/v1/audit/events", write=False),
    RouteCase("GET", "/v1/audit/verify", "/v1/audit/verify", write=False, admin=True),
    RouteCase("GET", "/v1/audit/head", "/v1/audit/head", write=False, admin=True),
    RouteCase("GET", "/v1/conflicts", "/v1/conflicts", write=False),
    RouteCase("POST", "/v1/conflicts/{conflict_id}/resolve", f"/v1/conflicts/{MID}/resolve",
              {"keep": "both"}),
]
