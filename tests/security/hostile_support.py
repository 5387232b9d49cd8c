"""Helpers of the hostile-input tests: a seeded store, a snapshot of everything stored
(memories, entities, relations, counts, vectors; not the audit log, which records refusals
on purpose), and the rules an answer to a hostile request must follow."""

from __future__ import annotations

from typing import Any

import httpx

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.service import MemoryService
from tests.security.world import TEAM

WRITERS = ("alice", "bob", "carol", "human:dana")
PROBLEM = "application/problem+json"
# What a tool error must carry: one of our error codes (argument errors the SDK finds are
# rewritten to invalid_input by mcp_server/fleetmem/mcp_server/server.py).
TOOL_ERROR_MARKS = ("invalid_input:", "forbidden:", "not_found:", "conflict:")


async def seed(service: MemoryService) -> str:
    """A little of everything, so that a request that changes something is seen; returns
    the id of alice's private memory."""
    alice = Caller("alice")
    first = await service.remember(alice, MemoryInput(text="Deploys are frozen on Fridays",
                                                      tags=["ops"]))
    await service.remember(alice, MemoryInput(text="The payments API runs on port 8443",
                                              namespace=TEAM))
    await service.create_entities(alice, [EntitySpec("Atlas", "team", ["owns payments"]),
                                          EntitySpec("Payments", "service", ["written in Go"])])
    await service.create_relations(alice, [RelationSpec("Atlas", "Payments", "owns")])
    await service.relate(Caller("bob"), "Bob", "works_at", "Acme", namespace=TEAM)
    await service.buffer_append(alice, "s-1", "the user asked for a rollback plan")
    return first.id


async def snapshot(service: MemoryService) -> dict[str, Any]:
    """Everything stored, as every writer sees it (access counts and the audit left out)."""
    out: dict[str, Any] = {"vectors": await service.ctx.vectors.count()}
    for agent in WRITERS:
        caller = Caller(agent)
        memories: list[tuple[Any, ...]] = []
        after: str | None = None
        while True:
            page = await service.list_memories(caller, None, after, 1000)
            memories += [(m.id, m.namespace, m.text, m.status, m.kind, tuple(m.tags),
                          m.valid_to, m.superseded_by, tuple(m.entities)) for m in page]
            if len(page) < 1000:
                break
            after = page[-1].id
        entities: list[tuple[Any, ...]] = []
        relations: list[tuple[Any, ...]] = []
        cursor: str | None = None
        while True:
            graph = await service.read_graph(caller, None, cursor, 500)
            entities += [(e.namespace, e.name, e.entityType, tuple(e.observations),
                          tuple(e.aliases), tuple(e.tags)) for e in graph.entities]
            relations += [(r.namespace, r.from_, r.relationType, r.to, r.valid_to)
                          for r in graph.relations]
            cursor = graph.next_cursor
            if not cursor:
                break
        counts = [(n.namespace, sorted(n.memories.items()), n.entities, n.relations,
                   n.buffer_items) for n in await service.list_namespaces(caller)]
        buffer = [(i.id, i.text, i.consolidated_into)
                  for i in await service.buffer_read(caller, "s-1", 500)]
        out[agent] = (memories, sorted(entities), sorted(relations, key=str), counts, buffer)
    return out


def problem_faults(r: httpx.Response, blame: str) -> list[str]:
    """What is wrong with the answer to a hostile request (empty: it is right)."""
    faults = []
    if not 400 <= r.status_code < 500:
        faults.append(f"status {r.status_code}, not 4xx")
    if not r.headers.get("content-type", "").startswith(PROBLEM):
        faults.append(f"content type {r.headers.get('content-type')}, not {PROBLEM}")
        return faults
    body = r.json()
    if not body.get("detail"):
        faults.append("the problem has no detail")
    said = f"{body.get('field') or ''} {body.get('detail') or ''} " + " ".join(
        f"{e.get('field') or ''} {e.get('message') or ''}" for e in body.get("errors") or [])
    if blame and blame.lower() not in said.lower():
        faults.append(f"the problem does not name {blame!r}: {said[:300]}")
    return faults


def tool_error_faults(is_error: bool, text: str, blame: str) -> list[str]:
    """What is wrong with a tool's answer to hostile arguments (empty: it is right)."""
    if not is_error:
        return [f"accepted: {text[:200]}"]
    if not any(mark in text for mark in TOOL_ERROR_MARKS):
        return [f"not a described error (a server exception?): {text[:300]}"]
    if blame and blame.lower() not in text.lower():
        return [f"the error does not name {blame!r}: {text[:300]}"]
    return []
