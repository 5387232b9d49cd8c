"""Valid-but-strange input is data, not an attack surface: Cypher- and SQL-like text, RTL
overrides, combining marks, zero-width joiners and emoji are stored and returned verbatim
through REST and MCP (and nothing else changes); FTS5 syntax in a query is answered;
entity names shaped like paths or device names stay inside the vault; raw MCP requests
that cannot be parsed are JSON-RPC errors, never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import httpx

from fleetmem.api.app import create_app
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.ports import Embedder
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.settings import VaultSettings
from fleetmem.vault.sync import run as vault_run
from tests.e2e.mcp_support import http_client, serving
from tests.security.doors import Door
from tests.security.hostile_cases import nested
from tests.security.hostile_mcp_cases import QUERIES, VERBATIM_TEXTS
from tests.security.hostile_support import seed, snapshot
from tests.security.tally import TALLY
from tests.security.world import TEAM, World, bearer, open_world

PATH_NAMES = ["../../etc/passwd", "/etc/passwd", "..\\..\\Windows\\win.ini",
              "C:\\Windows\\System32\\drivers\\etc\\hosts", "\\\\server\\share\\x", "CON",
              "con.txt", "PRN", "AUX", "NUL", "COM1", "LPT9.md", "trailing dot.", "dots...",
              ".", "..", "...", "~", "~root", "$HOME", "%2e%2e%2f", "a/b/c", "a:b",
              '*?<>|"', ".hidden", ".fleetmem", ".obsidian", "_index", "X.conflict",
              "Memories", "note.md", "#^[]|", "\u202egnp.exe", "\U0001f680 launch",
              "e\u0301\u0301", "'}) DETACH DELETE n //", "'; DROP TABLE entities; --"]


async def _remember_verbatim(world: World, door: Door, text: str) -> list[str]:
    """Store `text`, read it back by id and by recall; what is wrong (empty: right)."""
    before = await snapshot(world.service)
    out = await door.remember(text, None, [])
    TALLY["hostile_tried"] += 1
    TALLY["hostile_5xx"] += out.status >= 500
    if not out.ok:
        return [f"refused: {out.text[:300]}"]
    mid = out.body["id"]
    got = await door.get(mid)
    stored = got.body["text"] if door.kind == "rest" else got.body["versions"][0]["text"]
    faults = [] if stored == text else [f"stored {stored!r}"]
    for modes in (None, ["keyword"]):
        args: dict[str, Any] = {"query": text, "k": 10, **({"modes": modes} if modes else {})}
        found = await (door.http("POST", "/v1/memories/recall", args) if door.kind == "rest"
                       else door.tool("recall", args))
        if mid not in [h["memory"]["id"] for h in found.body["hits"]]:
            faults.append(f"recall {modes or 'hybrid'} does not find it: {found.text[:200]}")
    after = await snapshot(world.service)
    me = door.agent
    new = [m for m in after[me][0] if m not in before[me][0]]
    # The only other change allowed: entities created from the text's names (issue 18),
    # tagged so, in the memory's namespace, each word of the name taken from the text.
    grown = [e for e in after[me][1] if e not in before[me][1]]
    from_text = all(e[5] == ("from-text",) and e[0] == out.body["namespace"]
                    and all(w in text for w in e[1].split()) for e in grown)
    if [m[0] for m in new] != [mid] or not from_text or after[me][2] != before[me][2] \
            or any(e not in after[me][1] for e in before[me][1]):
        faults.append("something else changed")
    if any(after[a] != before[a] for a in after if a not in (me, "vectors")):
        faults.append("another agent's view changed")
    return faults


async def test_strange_text_is_stored_verbatim(embedder: Embedder) -> None:
    failures: list[str] = []
    async with open_world(embedder) as world:
        await seed(world.service)
        for text in VERBATIM_TEXTS:
            for door in (Door(world, "carol", "rest"), Door(world, "human:dana", "mcp")):
                failures += [f"{door.kind} {text!r}: {f}"
                             for f in await _remember_verbatim(world, door, text)]
        # A body in UTF-16 is still JSON (RFC 8259 parsers may accept it): read correctly.
        r = await world.rest.post("/v1/memories", headers={
            **bearer("carol"), "content-type": "application/json"},
            content=json.dumps({"text": "utf16 body \u2713"}).encode("utf-16"))
        TALLY["hostile_tried"] += 1
        if r.status_code == 201:
            got = await world.rest.get(f"/v1/memories/{r.json()['id']}",
                                       headers=bearer("carol"))
            assert got.json()["text"] == "utf16 body \u2713"
        else:
            assert 400 <= r.status_code < 500, r.text
    assert not failures, "\n".join(failures)


async def test_strange_names_observations_and_relation_types_round_trip(
        embedder: Embedder) -> None:
    async with open_world(embedder) as world:
        await seed(world.service)
        for i, door in enumerate((Door(world, "alice", "rest"), Door(world, "bob", "mcp"))):
            names = PATH_NAMES[i::2]
            for name, text in zip(names, VERBATIM_TEXTS * 4, strict=False):
                TALLY["hostile_tried"] += 1
                out = await door.create_entity(name, [text], TEAM)
                assert out.ok, (name, out.text)
                # Acme is a team entity (Atlas is alice's private one: relate would refuse
                # to copy it into the team).
                rel = await door.relate(name, text[:200].replace("\n", " "), "Acme", TEAM)
                assert rel.ok, (name, rel.text)
                opened = await door.open_nodes([name, "Acme"])
                entity = next(e for e in opened.body["entities"]
                              if e["namespace"] == TEAM and e["name"] != "Acme")
                assert (entity["name"], entity["observations"]) == (name, [text]), entity
                assert [r["relationType"] for r in opened.body["relations"]
                        if r["from"] == name] == [text[:200].replace("\n", " ")], opened.text


async def test_search_syntax_in_queries_is_answered_and_changes_nothing(
        embedder: Embedder) -> None:
    failures: list[str] = []
    async with open_world(embedder) as world:
        await seed(world.service)
        before = await snapshot(world.service)
        for query in QUERIES:
            for door in (Door(world, "alice", "rest"), Door(world, "alice", "mcp")):
                for what, out in (("recall", await door.recall(query)),
                                  ("search_nodes", await door.search_nodes(query))):
                    TALLY["hostile_tried"] += 1
                    TALLY["hostile_5xx"] += out.status >= 500
                    if not out.ok:
                        failures.append(f"{door.kind} {what} {query!r}: {out.text[:200]}")
        assert await snapshot(world.service) == before
    assert not failures, "\n".join(failures)


async def test_path_like_entity_names_stay_inside_the_vault(embedder: Embedder) -> None:
    async with open_world(embedder) as world:
        service, dana = world.service, Caller("human:dana")
        await service.create_entities(dana, [EntitySpec(n, "thing", [f"about {n}"])
                                             for n in PATH_NAMES], TEAM)
        await service.create_relations(dana, [RelationSpec(PATH_NAMES[0], n, "links")
                                              for n in PATH_NAMES[1:]], TEAM)
        TALLY["hostile_tried"] += len(PATH_NAMES)
        outside = {p for p in world.root.rglob("*") if "vault" not in p.parts}
        root = world.root / "vault"
        cfg = VaultSettings(human="dana")
        report = await vault_run(service, cfg, "export", root)
        assert not report.errors, report.errors
        assert {p for p in world.root.rglob("*") if "vault" not in p.parts} - outside <= {
            p for p in world.root.rglob("*") if "data" in p.relative_to(world.root).parts}
        files = [p for p in root.rglob("*") if p.is_file()]
        assert all(p.resolve().is_relative_to(root.resolve()) for p in files)
        notes = [p for p in (root / "team atlas").glob("*.md") if p.name != "_index.md"]
        assert len(notes) == len(PATH_NAMES), sorted(p.name for p in notes)
        assert (root / ".fleetmem" / "state.json").is_file()  # not clobbered by a note
        before = await snapshot(service)
        again = await vault_run(service, cfg, "sync", root)
        assert not again.errors and again.summary().endswith("nothing to do"), \
            again.summary()
        assert await snapshot(service) == before
        page = await service.open_nodes(dana, PATH_NAMES, [TEAM])
        assert sorted(e.name for e in page.entities) == sorted(PATH_NAMES)


async def test_long_astral_names_page_through_rest(embedder: Embedder) -> None:
    """Regression: a graph page ending on a 200-emoji name made a 3300-character cursor
    that REST then refused (cursors are bounded to 2000 characters)."""
    async with open_world(embedder) as world:
        door = Door(world, "alice", "rest")
        names = [chr(0x1F600 + i) * 200 for i in range(3)]
        for name in names:
            assert (await door.create_entity(name, [], None)).ok
        pages = await door.read_graph_pages(limit=1)
        assert all(p.ok for p in pages), [p.text[:200] for p in pages if not p.ok]
        assert sorted(e["name"] for p in pages for e in p.body["entities"]) == sorted(names)


async def test_idempotency_key_of_another_operation_is_refused(embedder: Embedder) -> None:
    """Regression: MCP remember took any idempotency key, so 'share k1' read the record REST
    stored for a share with key k1 and crashed on it."""
    async with open_world(embedder) as world:
        mid = await seed(world.service)
        r = await world.rest.post(f"/v1/memories/{mid}/share", json={"namespace": TEAM},
                                  headers={**bearer("alice"), "Idempotency-Key": "k1"})
        assert r.status_code == 201, r.text
        result = await world.mcp["alice"].call_tool(
            "remember", {"text": "another fact", "idempotency_key": "share k1"})
        text = "\n".join(getattr(b, "text", "") for b in result.content)
        assert result.is_error and "invalid_input" in text and "idempotency" in text, text


async def test_unparsable_mcp_requests_over_http_are_json_rpc_errors(
        embedder: Embedder) -> None:
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}
    headers = {**bearer("alice"), "Accept": "application/json, text/event-stream",
               "Content-Type": "application/json", "MCP-Protocol-Version": "2026-07-28",
               "Mcp-Method": "tools/call", "Mcp-Name": "remember"}
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "remember", "arguments": {"text": "PLACE"}, "_meta": meta}}
    raw = json.dumps(call).encode()
    bodies = {"10k nested arguments": raw.replace(b'"PLACE"', nested(10_000)),
              "invalid UTF-8": raw.replace(b"PLACE", b"\xff\xfe"),
              "truncated": raw[:40], "lone surrogate": raw.replace(b"PLACE", b"\\ud800")}
    async with open_world(embedder) as world:
        await seed(world.service)
        before = await snapshot(world.service)
        app = create_app(world.settings, service=world.service)
        async with serving(app) as base, httpx.AsyncClient(timeout=60) as client:
            for name, body in bodies.items():
                r = await client.post(f"{base}/mcp", content=body, headers=headers)
                TALLY["hostile_tried"] += 1
                TALLY["hostile_5xx"] += r.status_code >= 500
                assert r.status_code < 500, (name, r.status_code, r.text[:300])
                answer = r.json()
                if "error" in answer:  # a JSON-RPC error: parse error or invalid params
                    assert answer["error"]["message"], (name, answer)
                else:  # parsed: the tool refused the text and said why
                    assert answer["result"]["isError"], (name, answer)
                    assert "invalid_input" in json.dumps(answer), (name, answer)
            async with http_client(f"{base}/mcp", bearer("alice")) as sdk:
                alive = await sdk.call_tool("list_namespaces", {})
                assert not alive.is_error
        assert await snapshot(world.service) == before
