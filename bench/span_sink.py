"""A local OTLP/HTTP trace receiver for benchmarks: `fleetmem serve` sends its spans here
(OTEL_EXPORTER_OTLP_ENDPOINT), so a benchmark can read where a served call's time went.

Loopback only, protobuf bodies only (what fleetmem's exporter sends); nothing is stored
beyond the span names, attributes of interest and times.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True)
class Span:
    """One received span: times in ns since the epoch (the sender's wall clock)."""

    name: str
    trace_id: bytes
    span_id: bytes
    parent_id: bytes
    start_ns: int
    end_ns: int
    door: str

    @property
    def ms(self) -> float:
        """The span's duration in milliseconds."""
        return (self.end_ns - self.start_ns) / 1e6


class SpanSink:
    """Receives OTLP/HTTP trace exports on 127.0.0.1 (a free port) while running."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sink.receive(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Quiet: the benchmark's stdout is its report."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="bench-span-sink")

    @property
    def endpoint(self) -> str:
        """The base URL for OTEL_EXPORTER_OTLP_ENDPOINT."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> SpanSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def receive(self, body: bytes) -> None:
        """Decode one ExportTraceServiceRequest and keep its spans."""
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        got: list[Span] = []
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                for s in scope.spans:
                    door = next((a.value.string_value for a in s.attributes
                                 if a.key == "fleetmem.door"), "")
                    got.append(Span(s.name, bytes(s.trace_id), bytes(s.span_id),
                                    bytes(s.parent_span_id), int(s.start_time_unix_nano),
                                    int(s.end_time_unix_nano), door))
        with self._lock:
            self.spans.extend(got)

    def snapshot(self) -> list[Span]:
        """The spans received so far."""
        with self._lock:
            return list(self.spans)
