"""`/metrics` on a served app (real uvicorn, real stores) names no agent and no namespace
unless detail is on and the scrape is an operator's: an admin agent's key on the main
port, or the loopback operator port."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from fleetmem.api.app import create_app
from fleetmem.gc.jobs import run_job
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import Forbidden
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.settings import GcSettings, MetricsSettings, Settings
from tests.conftest import ServiceFactory
from tests.e2e.mcp_support import bearer, free_port, serving

pytestmark = pytest.mark.asyncio

ALICE, BOB, OPS = bearer("alice-key"), bearer("bob-key"), bearer("ops-key")
AGENT_IDS = ("alice", "bob", "opsadmin", "scraper", "dana")
NAMESPACES = ("agent:alice", "agent:bob", "agent:opsadmin", "agent:scraper", "team:xenon")
TEAM = "xenon"


def _sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture
def agents_file(tmp_path: Path) -> Path:
    """alice and bob (writers, team xenon), opsadmin (an admin), scraper (an admin whose
    role only allows `stats`: the scraper docs/metrics.md recommends), human dana."""
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump({
        "roles": {"writer": {"allow": ["*"]}, "metrics": {"allow": ["stats"]}},
        "teams": {TEAM: ["alice", "bob"]},
        "agents": {
            "alice": {"key_sha256": _sha("alice-key"), "roles": ["writer"]},
            "bob": {"key_sha256": _sha("bob-key"), "roles": ["writer"]},
            "opsadmin": {"key_sha256": _sha("ops-key"), "roles": ["writer"], "admin": True},
            "scraper": {"key_sha256": _sha("scrape-key"), "roles": ["metrics"],
                        "admin": True},
        },
        "humans": {"dana": {"teams": [TEAM]}},
    }))
    return path


@asynccontextmanager
async def served(make_service: ServiceFactory, tmp_path: Path, agents_file: Path,
                 metrics: MetricsSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The served app (uvicorn in the test loop) with writes by alice and bob in their
    private namespaces and the team's, a refusal, a 401 and a GC run behind it."""
    service = await make_service(metrics=metrics, gc=GcSettings(enabled=False))
    settings = Settings(data_dir=tmp_path / "data", agents_file=agents_file,
                        metrics=metrics, gc=GcSettings(enabled=False))
    async with serving(create_app(settings, service)) as base, \
            httpx.AsyncClient(base_url=base, timeout=60) as client:
        for headers, body in (
                (ALICE, {"text": "Alice keeps the deploy runbook"}),
                (ALICE, {"text": "Xenon ships on Tuesdays", "namespace": f"team:{TEAM}"}),
                (BOB, {"text": "Bob prefers tabs", "namespace": "agent:bob"}),
                (BOB, {"text": "Xenon's pager is loud", "namespace": f"team:{TEAM}"})):
            r = await client.post("/v1/memories", json=body, headers=headers)
            assert r.status_code == 201, r.text
        r = await client.post("/v1/entities", headers=BOB, json={
            "entities": [{"name": "tabs", "entityType": "tool", "observations": []}]})
        assert r.status_code == 201, r.text
        r = await client.post("/v1/buffers/s-1/items", headers=ALICE,
                              json={"text": "draft note", "namespace": f"team:{TEAM}"})
        assert r.status_code == 201, r.text
        refused = await client.post("/v1/memories", headers=BOB,
                                    json={"text": "sneaky", "namespace": "agent:alice"})
        assert refused.status_code == 403
        assert (await client.get(f"/v1/namespaces/team:{TEAM}")).status_code == 401
        assert (await client.get(f"/v1/namespaces/team:{TEAM}",
                                 headers=ALICE)).status_code == 200
        await run_job(service, "decay")
        yield client


def assert_names_nobody(text: str) -> None:
    """No configured agent id, human, team or namespace anywhere in the body, and no label
    that could carry one."""
    lowered = text.lower()
    for name in (*AGENT_IDS, *NAMESPACES, TEAM):
        assert name not in lowered, f"/metrics names {name!r}"
    assert not re.search(r'\b(namespace|agent)="', text), "a namespace or agent label"


def assert_aggregates(text: str, denied: int = 1) -> None:
    """The totals are there: 4 active memories, 7 writes and the refusals of all agents."""
    assert 'fleetmem_memories{status="active"} 4.0' in text
    assert "fleetmem_entities 1.0" in text
    assert "fleetmem_buffer_items 1.0" in text
    # 4 memories, 1 entity, 1 buffer item (alice and bob), the decay run (system:gc)
    assert "fleetmem_usage_writes_total 7.0" in text
    assert f"fleetmem_usage_denied_total {denied}.0" in text
    assert ('fleetmem_http_requests_total{method="POST",route="/v1/memories",status="403"} '
            '1.0') in text
    assert 'route="/v1/namespaces/{namespace}",status="401"} 1.0' in text
    assert 'fleetmem_gc_runs_total{job="decay",outcome="ok"}' in text


async def test_a_scrape_without_a_key_names_no_agent_and_no_namespace(
        make_service: ServiceFactory, tmp_path: Path, agents_file: Path) -> None:
    async with served(make_service, tmp_path, agents_file, MetricsSettings()) as client:
        r = await client.get("/metrics")
        assert r.status_code == 200
        assert_names_nobody(r.text)
        assert_aggregates(r.text)
        # without detail an operator's key changes nothing; anyone else's is refused
        r = await client.get("/metrics", headers=OPS)
        assert r.status_code == 200
        assert_names_nobody(r.text)
        assert (await client.get("/metrics", headers=ALICE)).status_code == 403


async def test_detail_goes_to_an_operator_key_and_the_loopback_port_only(
        make_service: ServiceFactory, tmp_path: Path, agents_file: Path) -> None:
    port = free_port()
    metrics = MetricsSettings(detail=True, operator_port=port)
    async with served(make_service, tmp_path, agents_file, metrics) as client:
        public = await client.get("/metrics")
        assert public.status_code == 200
        assert_names_nobody(public.text)
        assert_aggregates(public.text)

        r = await client.get("/metrics", headers=ALICE)  # a key, but not an operator's
        assert r.status_code == 403 and r.json()["rule"] == "admin_only"
        assert "xenon" not in r.text
        r = await client.get("/metrics", headers=bearer("not-a-key"))
        assert r.status_code == 401 and "xenon" not in r.text

        async with httpx.AsyncClient() as local:
            on_port = (await local.get(f"http://127.0.0.1:{port}/metrics")).text
        for detailed in ((await client.get("/metrics", headers=OPS)).text, on_port):
            assert_aggregates(detailed, denied=2)  # bob's write and alice's scrape
            for ns, n in (("agent:alice", 1), ("agent:bob", 1), (f"team:{TEAM}", 2)):
                assert (f'fleetmem_namespace_memories{{namespace="{ns}",status="active"}} '
                        f'{n}.0') in detailed
            assert f'fleetmem_namespace_buffer_items{{namespace="team:{TEAM}"}} 1.0' in detailed
            assert 'fleetmem_agent_writes_total{agent="alice"} 3.0' in detailed
            assert 'fleetmem_agent_denied_total{agent="bob"} 1.0' in detailed

        # the refused detailed scrape is audited as a denial of alice's
        events = await client.get("/v1/audit/events?outcome=denied", headers=OPS)
        assert any(e["agent_id"] == "alice" and "admin_only" in e["detail"]
                   for e in events.json()["items"]), events.text


async def test_the_operator_port_is_loopback_only_and_aggregate_without_detail(
        make_service: ServiceFactory, tmp_path: Path, agents_file: Path) -> None:
    port = free_port()
    async with served(make_service, tmp_path, agents_file,
                      MetricsSettings(operator_port=port)):
        async with httpx.AsyncClient() as local:
            r = await local.get(f"http://127.0.0.1:{port}/metrics")
            assert r.status_code == 200
            assert_names_nobody(r.text)
            assert_aggregates(r.text)
            assert (await local.get(f"http://127.0.0.1:{port}/v1/stats")).status_code == 404
        tcp = Path("/proc/net/tcp")  # Linux: the listening sockets, address:port in hex
        if tcp.exists():
            listening = {line.split()[1] for line in tcp.read_text().splitlines()[1:]
                         if line.split()[3] == "0A"}
            assert f"0100007F:{port:04X}" in listening  # 127.0.0.1
            assert f"00000000:{port:04X}" not in listening  # not every interface


async def test_the_service_decides_detail_and_a_metrics_only_operator_can_do_nothing_else(
        make_service: ServiceFactory) -> None:
    service = await make_service(metrics=MetricsSettings(detail=True))
    await service.remember(Caller("alice"), MemoryInput(text="Alice keeps the runbook"))
    public = await service.operator.public_metrics()
    assert {label for f in public for label in f.labels} <= {"status"}
    scraper = Caller("scraper")
    detailed = {f.name: f for f in await service.operator.operator_metrics(scraper)}
    assert (("agent:alice", "active"), 1.0) in detailed["fleetmem_namespace_memories"].samples
    assert (("alice",), 1.0) in detailed["fleetmem_agent_stored_memories"].samples
    for refused in (service.operator.gc_decay(scraper), service.audit_query(scraper),
                    service.remember(scraper, MemoryInput(text="not a writer"))):
        with pytest.raises(Forbidden):
            await refused
    with pytest.raises(Forbidden, match="admin") as denied:
        await service.operator.operator_metrics(Caller("bob"))
    assert denied.value.rule == "admin_only"
