"""The audit witness: the chain's head anchored outside the database, so that removing the
last entries (or all of them) directly in the store, as an attacker with file access
would, fails verification and names what is missing. On SQLite and Neo4j."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from neo4j import GraphDatabase

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.audit import GENESIS
from fleetmem.memory.services.graph.entities import EntitySpec
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.services.views.oversight import AuditHeadView
from fleetmem.memory.settings import AuditSettings
from tests.conftest import ServiceFactory
from tests.contract.conftest import GRAPH_BACKENDS
from tests.contract.test_service_on_neo4j import neo4j_graph
from tests.neo4j_fixtures import Neo4jTarget

ALICE = Caller("alice", workflow_id="wf-witness")
KEY = "witness-key-6f1d0c"


@dataclass
class Backend:
    """How to build a service on one graph backend, and to cut its audit log directly."""

    name: str
    data: Path
    overrides: dict[str, object]
    cut: Callable[[int], None]
    """Delete every audit entry after seq `keep` in the store itself (not the service)."""


def _cut_sqlite(data: Path) -> Callable[[int], None]:
    def cut(keep: int) -> None:
        with sqlite3.connect(data / "graph.sqlite3") as conn:
            conn.execute("DELETE FROM audit WHERE seq > ?", (keep,))
    return cut


def _cut_neo4j(target: Neo4jTarget) -> Callable[[int], None]:
    def cut(keep: int) -> None:
        auth = (target.user, target.password) if target.password else None
        with GraphDatabase.driver(target.uri, auth=auth) as driver, driver.session() as s:
            s.run("MATCH (a:AuditEvent) WHERE a.seq > $keep DETACH DELETE a",
                  keep=keep).consume()
            # a careful attacker also moves the head back, so new entries link cleanly
            s.run("MATCH (h:AuditHead {id: 'audit'}) OPTIONAL MATCH (a:AuditEvent {seq: $keep}) "
                  "SET h.seq = $keep, h.hash = coalesce(a.hash, $genesis)",
                  keep=keep, genesis=GENESIS).consume()
    return cut


@pytest.fixture(params=GRAPH_BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    data = tmp_path / "data"
    if request.param == "neo4j":
        target: Neo4jTarget = request.getfixturevalue("neo4j_clean")
        return Backend("neo4j", data, {"graph": neo4j_graph(target)}, _cut_neo4j(target))
    return Backend("sqlite", data, {}, _cut_sqlite(data))


async def _open(make_service: ServiceFactory, b: Backend, **extra: object) -> MemoryService:
    return await make_service(data_dir=b.data, **b.overrides, **extra)


async def _write(service: MemoryService, n: int, prefix: str = "svc") -> None:
    for i in range(n):  # one committed, audited write each
        await service.create_entities(ALICE, [EntitySpec(f"{prefix}-{i}", "service")])


async def _anchored(service: MemoryService) -> AuditHeadView:
    """The head, once the witness's writer thread has anchored it."""
    for _ in range(500):
        head = await service.operator.audit_head()
        if head.witness.seq == head.seq:
            return head
        await asyncio.sleep(0.01)
    raise AssertionError(f"the witness never anchored the head: {head}")


def _lines(b: Backend) -> list[dict[str, object]]:
    text = (b.data / "audit-witness.log").read_text()
    return [json.loads(line) for line in text.splitlines()]


async def test_an_untampered_log_verifies_across_restarts(make_service: ServiceFactory,
                                                          backend: Backend) -> None:
    service = await _open(make_service, backend)
    await _write(service, 6)
    head = await _anchored(service)
    result = await service.operator.verify_audit_chain()
    assert result.ok, result.problems
    assert result.head_seq == head.seq >= 6 and result.witness.seq == head.seq
    assert result.witness.anchors_checked == result.witness.anchors >= 1
    await service.close()
    again = await _open(make_service, backend)
    await _write(again, 2, prefix="later")
    await _anchored(again)
    assert await again.operator.verify_audit() is None
    assert _lines(backend)[-1]["seq"] == (await again.operator.audit_head()).seq


@pytest.mark.parametrize("removed", [1, 5, "all"])
async def test_removing_the_last_entries_fails_and_names_them(
        make_service: ServiceFactory, backend: Backend, removed: int | str) -> None:
    service = await _open(make_service, backend)
    await _write(service, 8)
    top = (await _anchored(service)).seq
    keep = 0 if removed == "all" else top - int(removed)
    backend.cut(keep)

    result = await service.operator.verify_audit_chain()
    assert not result.ok
    assert result.first_bad is None  # what is left is a perfect chain: only the witness sees
    ends = "the audit log is empty" if keep == 0 else f"the audit log ends at seq {keep}"
    [problem] = result.problems
    assert problem.startswith(f"{ends} but the witness anchored seq {top} (hash "
                              f"{head_hash(result.witness.hash)}")
    assert problem.endswith(f"entries {keep + 1}-{top} were removed")
    assert result.head_seq == keep and result.first_bad_seq == keep + 1
    assert await service.operator.verify_audit() == keep + 1

    # a restart does not re-anchor the cut log, and new entries do not paper over it
    await service.close()
    again = await _open(make_service, backend)
    await _write(again, 1, prefix="after")
    verdict = await again.operator.verify_audit_chain()
    assert not verdict.ok, verdict
    assert verdict.first_bad_seq in (keep + 1, keep + 2)  # keep+1 was rewritten: anchored?
    assert any(f"seq {top}" in p or f"at seq {keep + 1} has hash" in p
               for p in verdict.problems), verdict.problems


def head_hash(digest: str | None) -> str:
    """How problems quote a hash."""
    assert digest is not None
    return digest[:16]


async def test_an_edited_witness_line_fails_with_the_key(make_service: ServiceFactory,
                                                         backend: Backend,
                                                         caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    caplog.set_level(logging.DEBUG)
    signed = {"audit": AuditSettings(witness_key=KEY)}  # type: ignore[arg-type]
    service = await _open(make_service, backend, **signed)
    await _write(service, 4)
    await _anchored(service)
    await service.close()
    path = backend.data / "audit-witness.log"
    lines = path.read_text().splitlines()
    assert all("mac" in json.loads(line) for line in lines)
    first = json.loads(lines[0])
    first["at"] = "2020-01-01T00:00:00.000+00:00"  # same anchor, another time: only the
    lines[0] = json.dumps(first)                  # HMAC can tell
    path.write_text("\n".join(lines) + "\n")

    again = await _open(make_service, backend, **signed)
    result = await again.operator.verify_audit_chain()
    assert not result.ok
    assert any(p.startswith("witness line 1 ") and "HMAC that does not verify" in p
               for p in result.problems), result.problems
    await again.close()
    # a forged line without an HMAC fails too; without the key neither is noticed
    with path.open("a") as f:
        f.write(json.dumps({"seq": 1, "hash": "f" * 64, "at": "x", "kind": "anchor"}) + "\n")
    unsigned = await _open(make_service, backend)
    problems = (await unsigned.operator.verify_audit_chain()).problems
    assert not any("HMAC" in p for p in problems)
    await unsigned.close()
    signed_again = await _open(make_service, backend, **signed)
    problems = (await signed_again.operator.verify_audit_chain()).problems
    assert any("has no HMAC" in p for p in problems), problems
    assert KEY not in caplog.text


async def test_a_store_without_witness_starts_one_at_its_head(make_service: ServiceFactory,
                                                              backend: Backend,
                                                              caplog: pytest.LogCaptureFixture
                                                              ) -> None:
    caplog.set_level(logging.INFO)
    old = await _open(make_service, backend,
                      audit=AuditSettings(witness=False))
    await _write(old, 3)
    before = await old.operator.verify_audit_chain()
    assert before.ok and before.warnings and not before.witness.enabled
    await old.close()
    assert not (backend.data / "audit-witness.log").exists()

    upgraded = await _open(make_service, backend)
    head = await upgraded.operator.audit_head()
    assert head.witness.seq == head.seq >= 3
    assert [(x["seq"], x["kind"]) for x in _lines(backend)] == [(head.seq, "start")]
    assert sum("started at seq" in r.getMessage() for r in caplog.records) == 1
    assert (await upgraded.operator.verify_audit_chain()).ok
    backend.cut(head.seq - 1)
    assert await upgraded.operator.verify_audit() == head.seq


async def test_a_torn_last_line_is_reported_not_fatal(make_service: ServiceFactory,
                                                      backend: Backend) -> None:
    service = await _open(make_service, backend)
    await _write(service, 3)
    await _anchored(service)
    await service.close()
    path = backend.data / "audit-witness.log"
    with path.open("a") as f:
        f.write('{"at":"2026-01-01T00:00:00.000+00:00","hash":"ab')  # crash mid-write
    from fleetmem.memory.stores.witness import FileWitness
    torn = FileWitness(path).read()
    assert not torn.problems and torn.warnings and "torn" in torn.warnings[0]

    again = await _open(make_service, backend)
    await _write(again, 1, prefix="after")
    await _anchored(again)
    result = await again.operator.verify_audit_chain()
    assert result.ok, result.problems
    assert path.read_text().endswith("}\n")


async def test_every_n_entries_and_always_at_shutdown(make_service: ServiceFactory,
                                                      backend: Backend) -> None:
    service = await _open(make_service, backend, audit=AuditSettings(witness_every=5))
    await _write(service, 12)
    head = await service.operator.audit_head()
    await service.close()
    lines = _lines(backend)
    # The last head is anchored at shutdown, unless the writer thread already anchored it
    # (the head moved >= 5 past the previous anchor and the thread got there first: a
    # matter of timing on a loaded machine, which once failed this check as written).
    assert lines[-1]["seq"] == head.seq
    assert lines[-1]["kind"] == "shutdown" or (
        lines[-1]["kind"] == "anchor" and len(lines) > 1
        and head.seq - int(str(lines[-2]["seq"])) >= 5), lines[-2:]
    seqs = [int(str(x["seq"])) for x in lines if x["kind"] == "anchor"]
    assert seqs and all(b - a >= 5 for a, b in zip(seqs, seqs[1:], strict=False))
