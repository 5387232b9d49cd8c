# ruff: noqa: F811  (pytest fixtures are imported from rest_support and used as arguments)
"""OpenTelemetry spans through both doors, caught by the SDK's in-memory exporter: a
request span per REST request and MCP tool call, the recall legs and the write path as
its children, ids on them and namespaces hashed unless detail is on; and tracing off
imports nothing of OpenTelemetry."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fleetmem.mcp_server.door import Identity
from fleetmem.mcp_server.server import build_server
from fleetmem.memory import tracing
from fleetmem.memory.settings import Settings
from tests.e2e.rest_support import ALICE, RestApi, agents_file, api  # noqa: F401 - fixtures

RECALL_LEGS = {"recall.embed", "recall.dense", "recall.keyword", "recall.graph",
               "recall.fuse", "recall.rows"}
WRITE_PATH = {"remember.embed", "remember.lookup", "remember.dedup",
              "remember.vector_upsert", "remember.graph_commit"}
TEXT = "The Zanzibar ledger is owned by team Atlas"
QUERY = "who owns the Zanzibar ledger"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def hashed(namespace: str) -> str:
    return hashlib.sha256(namespace.encode()).hexdigest()[:16]


class Spans(InMemorySpanExporter):
    """The in-memory exporter, knowing whether namespace names may be plain."""

    detail = False

    def expected(self, namespace: str) -> str:
        return namespace if self.detail else hashed(namespace)


@pytest.fixture
def spans(request: pytest.FixtureRequest) -> Iterator[Spans]:
    """Tracing on, spans kept in memory; an indirect parameter sets `metrics.detail`."""
    exporter = Spans()
    exporter.detail = getattr(request, "param", False)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider, detail=exporter.detail)
    try:
        yield exporter
    finally:
        tracing.uninstall()
        provider.shutdown()


def only(found: list[ReadableSpan], name: str) -> ReadableSpan:
    named = [s for s in found if s.name == name]
    assert len(named) == 1, [s.name for s in found]
    return named[0]


def descendants(found: list[ReadableSpan], root: ReadableSpan) -> set[str]:
    """Names of the spans below `root` (through any depth) in its trace."""
    by_id = {s.context.span_id: s for s in found}
    names: set[str] = set()
    for s in found:
        parent = s.parent
        while parent is not None and parent.span_id in by_id:
            if parent.span_id == root.context.span_id:
                assert s.context.trace_id == root.context.trace_id
                names.add(s.name)
                break
            parent = by_id[parent.span_id].parent
    return names


BOTH_DETAILS = pytest.mark.parametrize("spans", [False, True], ids=["hashed", "detail"],
                                       indirect=True)


def attribute_text(found: list[ReadableSpan]) -> str:
    return json.dumps([dict(s.attributes or {}) for s in found], default=list)


@BOTH_DETAILS
async def test_rest_recall_has_a_request_span_and_a_child_per_leg(
        api: RestApi, spans: Spans) -> None:
    await api.remember(TEXT, namespace="team:atlas")
    spans.clear()
    r = await api.client.post("/v1/memories/recall", json={"query": QUERY}, headers={
        **ALICE, "X-Workflow-Id": "wf-trace-1"})
    assert r.status_code == 200, r.text
    assert r.json()["hits"]
    found = list(spans.get_finished_spans())
    request = only(found, "fleetmem.recall")
    assert request.parent is None
    assert descendants(found, request) >= RECALL_LEGS, [s.name for s in found]
    attrs = dict(request.attributes or {})
    assert attrs["fleetmem.door"] == "rest"
    assert attrs["fleetmem.agent_id"] == "alice"
    assert attrs["fleetmem.workflow_id"] == "wf-trace-1"
    assert attrs["fleetmem.operation"] == "recall"
    namespaces = set(attrs["fleetmem.namespaces"])  # type: ignore[arg-type]
    assert {spans.expected("agent:alice"), spans.expected("team:atlas")} <= namespaces
    text = attribute_text(found)
    if not spans.detail:
        assert "team:atlas" not in text and "agent:alice" not in text
    assert "Zanzibar" not in text  # never the query or memory text


@BOTH_DETAILS
async def test_rest_remember_has_write_path_spans(api: RestApi,
                                                  spans: Spans) -> None:
    spans.clear()
    await api.remember(TEXT, namespace="team:atlas",
                       headers={**ALICE, "X-Workflow-Id": "wf-trace-2"})
    found = list(spans.get_finished_spans())
    request = only(found, "fleetmem.remember")
    assert descendants(found, request) >= WRITE_PATH, [s.name for s in found]
    attrs = dict(request.attributes or {})
    assert attrs["fleetmem.workflow_id"] == "wf-trace-2"
    assert attrs["fleetmem.namespace"] == spans.expected("team:atlas")
    group = only(found, "remember.group")
    assert dict(group.attributes or {})["fleetmem.namespace"] == spans.expected("team:atlas")
    text = attribute_text(found)
    assert "Zanzibar" not in text
    if not spans.detail:
        assert "team:atlas" not in text


async def test_a_refused_request_is_an_error_span_without_the_message(
        api: RestApi, spans: Spans) -> None:
    spans.clear()
    r = await api.client.post("/v1/memories/recall", headers=ALICE,
                              json={"query": QUERY, "namespaces": ["agent:bob"]})
    assert r.status_code == 403, r.text
    assert "agent:bob" in r.text  # the caller is told; the trace store is not
    found = list(spans.get_finished_spans())
    request = only(found, "fleetmem.recall")
    assert request.status.status_code.name == "ERROR"
    assert dict(request.attributes or {})["error.type"] == "Forbidden"
    events = json.dumps([[dict(e.attributes or {}) for e in s.events] for s in found],
                        default=list)
    assert "agent:bob" not in attribute_text(found) + events
    assert "agent:bob" not in (request.status.description or "")


async def test_rest_request_continues_the_callers_trace(api: RestApi,
                                                        spans: Spans) -> None:
    spans.clear()
    r = await api.client.post("/v1/memories/recall", json={"query": QUERY}, headers={
        **ALICE, "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    assert r.status_code == 200, r.text
    request = only(list(spans.get_finished_spans()), "fleetmem.recall")
    assert request.context.trace_id == int(TRACE_ID, 16)
    assert request.parent is not None and request.parent.span_id == int(PARENT_ID, 16)


async def test_mcp_tool_call_has_a_request_span(api: RestApi,
                                                spans: Spans) -> None:
    await api.remember(TEXT, namespace="team:atlas")
    spans.clear()
    async with Client(build_server(api.service, Identity("alice"))) as c:
        result = await c.call_tool("recall", {"query": QUERY})
        assert not result.is_error
    found = list(spans.get_finished_spans())
    request = only(found, "fleetmem.recall")
    attrs = dict(request.attributes or {})
    assert attrs["fleetmem.door"] == "mcp" and attrs["fleetmem.agent_id"] == "alice"
    assert descendants(found, request) >= RECALL_LEGS


async def test_endpoint_without_the_extra_warns_once_and_runs_untraced(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter",
                        None)  # as if the `otel` extra were not installed
    monkeypatch.setattr(tracing._state, "warned", False)
    settings = Settings(otel_exporter_otlp_endpoint="http://127.0.0.1:9")
    with caplog.at_level(logging.WARNING, logger="fleetmem.memory.tracing"):
        assert tracing.configure(settings) is False
        assert tracing.configure(settings) is False
    warnings = [r for r in caplog.records if "fleetmem[otel]" in r.getMessage()]
    assert len(warnings) == 1 and not tracing.enabled()


async def test_endpoint_with_the_extra_turns_tracing_on() -> None:
    settings = Settings(otel_exporter_otlp_endpoint="http://127.0.0.1:9/",
                        otel_service_name="fleetmem-test")
    try:
        assert tracing.configure(settings) is True and tracing.enabled()
        provider = tracing._state.provider
        assert provider.resource.attributes["service.name"] == "fleetmem-test"
    finally:
        provider = tracing._state.provider
        tracing.uninstall()
        provider.shutdown()  # nothing was recorded: nothing is sent
    assert tracing.traces_endpoint("http://h:4318/") == "http://h:4318/v1/traces"


OFF_PROBE = """
import asyncio, sys
from pathlib import Path
from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.services import Caller, MemoryInput, RecallQuery
from fleetmem.memory.settings import Settings

async def main() -> None:
    service = build_service(Settings(data_dir=Path(sys.argv[1])))
    await service.start()
    alice = Caller("alice")
    await service.remember(alice, MemoryInput(text="The ledger runs on port 8443"))
    hits = (await service.recall(alice, RecallQuery(query="ledger port"))).hits
    assert hits, "recall found nothing"
    await service.close()

asyncio.run(main())
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""


def test_tracing_off_imports_nothing_of_opentelemetry(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(HF_HUB_OFFLINE="1", FLEETMEM_LOG_LEVEL="WARNING",
               PYTHONPATH=os.pathsep.join(["memory", "api", "mcp_server", "vault", "gc",
                                           "cli"]))
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", OFF_PROBE, str(tmp_path / "data")], cwd=root,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
