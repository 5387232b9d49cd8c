"""OpenTelemetry traces: off unless an OTLP endpoint is configured, and then one span per
service call (a REST request, an MCP tool call, a job) with children for the recall legs
and the write path.

Off (the default, or the `otel` extra missing) costs a function call per span: `span`
returns the shared `NO_SPAN` and nothing from `opentelemetry` is imported by this module.
On, spans go through a tracer provider of our own (never the global one: framework
instrumentation that would see it records URL paths, which can name namespaces) to the
OTLP/HTTP exporter, in batches. Spans carry ids (agent, workflow, operation, door) and
namespaces hashed (`namespace`) unless `settings.metrics.detail` is on; never memory
text. The current span lives in a context variable (OpenTelemetry's context), so legs run
as concurrent tasks nest under the request that started them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from fleetmem.memory.settings import Settings

logger = logging.getLogger(__name__)

AttributeValue = str | bool | int | float | Sequence[str]


class SpanLike(Protocol):
    """What a use case may do with the span it opened: add attributes."""

    def set_attribute(self, key: str, value: AttributeValue) -> object:
        """Set one attribute (ids and counts only, never memory text)."""
        ...


class _NoSpan:
    """The span of tracing off: a reusable context manager that does nothing."""

    __slots__ = ()

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Ignore the attribute."""


NO_SPAN = _NoSpan()
"""Shared by every span of tracing off (no allocation per span)."""


class _Live:
    """A started SDK span made current for the block, then ended. Lighter than the SDK's
    `start_as_current_span`, and a failure is recorded by its exception type only: an
    error message can name a namespace or quote input, which spans never carry."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: Any) -> None:
        self._span = span
        self._token: object = None

    def __enter__(self) -> SpanLike:
        self._token = _state.attach(_state.in_context(self._span))
        return cast(SpanLike, self._span)

    def __exit__(self, kind: type[BaseException] | None, exc: object, tb: object) -> None:
        _state.detach(self._token)
        if kind is not None:
            self._span.set_attribute("error.type", kind.__name__)
            self._span.set_status(_state.error(kind.__name__))
        self._span.end()


class _State:
    tracer: Any = None
    """The SDK tracer while tracing is on; None means off."""
    provider: Any = None
    current_span: Any = None
    propagator: Any = None
    server_kind: Any = None
    attach: Any = None
    detach: Any = None
    in_context: Any = None
    error: Any = None
    detail: bool = False
    warned: bool = False


_state = _State()
_door: ContextVar[tuple[str, str | None] | None] = ContextVar("fleetmem_trace_door",
                                                              default=None)


def enabled() -> bool:
    """Whether spans are recorded."""
    return _state.tracer is not None


def span(name: str, attributes: Mapping[str, AttributeValue] | None = None
         ) -> AbstractContextManager[SpanLike]:
    """A child span of the current one (`with tracing.span("recall.dense"): ...`)."""
    tracer = _state.tracer
    if tracer is None:
        return NO_SPAN
    return _Live(tracer.start_span(name, attributes=attributes))


def annotate(key: str, value: AttributeValue) -> None:
    """Set an attribute on the current span (a no-op when off)."""
    if _state.tracer is not None:
        _state.current_span().set_attribute(key, value)


def namespace(name: str) -> str:
    """A namespace as spans may carry it: a short sha256 hex unless detail is on. (The
    hash keeps names out of the trace store; it does not hide a name someone guesses.)"""
    if _state.detail:
        return name
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def annotate_namespaces(names: Sequence[str]) -> None:
    """Set `fleetmem.namespace` (one) or `fleetmem.namespaces` (several) on the current
    span, hashed unless detail is on."""
    if _state.tracer is None or not names:
        return
    if len(names) == 1:
        annotate("fleetmem.namespace", namespace(names[0]))
    else:
        annotate("fleetmem.namespaces", [namespace(n) for n in names])


def door(name: str, traceparent: str | None = None) -> AbstractContextManager[object]:
    """Mark the calls made inside the block as coming through door `name` ("rest", "mcp"),
    continuing the caller's trace when it sent a W3C `traceparent`. The doors' hook."""
    if _state.tracer is None:
        return NO_SPAN
    return _through(name, traceparent)


@contextmanager
def _through(name: str, traceparent: str | None) -> Iterator[None]:
    token = _door.set((name, traceparent))
    try:
        yield
    finally:
        _door.reset(token)


def request(operation: str, agent_id: str, *, workflow_id: str | None = None,
            on_behalf_of: str | None = None) -> AbstractContextManager[SpanLike]:
    """The span of one governed service call: `fleetmem.<operation>`, a server span when
    a door marked the call, the parent of every span the call opens."""
    tracer = _state.tracer
    if tracer is None:
        return NO_SPAN
    attributes: dict[str, AttributeValue] = {"fleetmem.operation": operation,
                                             "fleetmem.agent_id": agent_id}
    if workflow_id:
        attributes["fleetmem.workflow_id"] = workflow_id
    if on_behalf_of:
        attributes["fleetmem.on_behalf_of"] = on_behalf_of
    marked = _door.get()
    parent = None
    kind: Any = None
    if marked is not None:
        attributes["fleetmem.door"] = marked[0]
        kind = _state.server_kind
        if marked[1] and not _state.current_span().get_span_context().is_valid:
            parent = _state.propagator.extract({"traceparent": marked[1]})
    options: dict[str, Any] = {"attributes": attributes, "context": parent}
    if kind is not None:
        options["kind"] = kind
    return _Live(tracer.start_span(f"fleetmem.{operation}", **options))


def traces_endpoint(base: str) -> str:
    """Where OTLP/HTTP traces go for the base URL of `OTEL_EXPORTER_OTLP_ENDPOINT`."""
    return f"{base.rstrip('/')}/v1/traces"


def configure(settings: Settings) -> bool:
    """Turn tracing on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (once per process; later
    calls keep the tracer in place). Without the `otel` extra, warn once and stay off.
    Returns whether tracing is on."""
    endpoint = settings.otel_exporter_otlp_endpoint.strip()
    if not endpoint or _state.tracer is not None:
        return _state.tracer is not None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        if not _state.warned:
            _state.warned = True
            logger.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the OpenTelemetry SDK "
                           "is not installed (%s): running without traces; install "
                           "'fleetmem[otel]' to send them", exc)
        return False
    provider = TracerProvider(resource=Resource.create(
        {"service.name": settings.otel_service_name or "fleetmem"}))
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=traces_endpoint(endpoint))))
    install(provider, detail=settings.metrics.detail)
    logger.info("traces go to %s as service %s", traces_endpoint(endpoint),
                settings.otel_service_name)
    return True


def install(provider: Any, *, detail: bool = False) -> None:
    """Record spans with `provider` (an SDK `TracerProvider`; tests give one with an
    in-memory exporter). `detail` puts plain namespace names on spans."""
    from opentelemetry import context, trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    def error(name: str) -> trace.Status:
        return trace.Status(trace.StatusCode.ERROR, name)

    _state.attach = context.attach
    _state.detach = context.detach
    _state.in_context = trace.set_span_in_context
    _state.error = error
    _state.provider = provider
    _state.current_span = trace.get_current_span
    _state.propagator = TraceContextTextMapPropagator()
    _state.server_kind = trace.SpanKind.SERVER
    _state.detail = detail
    _state.tracer = provider.get_tracer("fleetmem")


def uninstall() -> None:
    """Turn tracing off (spans already ended stay with the provider; it is not shut
    down: its owner does that)."""
    _state.tracer = None
    _state.provider = None
    _state.detail = False
