"""Property-based fuzzing of the REST API against its own OpenAPI schema (schemathesis):
no 5xx, and every response (status, content type, headers, body) matches the schema.

The app runs with its own started service inside schemathesis' ASGI event loop (the
lifespan below owns it), so generated requests hit real embedded stores. Examples are
bounded so the run stays short.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fleetmem.api.app import create_app
from fleetmem.memory.bootstrap import build_service
from fleetmem.memory.ports import Embedder
from fleetmem.memory.settings import Settings
from tests.e2e.rest_routes import ROUTES
from tests.e2e.rest_support import ALICE, rest_agents

MAX_EXAMPLES = 6


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx: Any, value: Any) -> bytes:
    """POST /v1/import's body (documented as a string of JSON lines): sent as it is."""
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) \
        else (json.dumps(value) + "\n").encode()


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, ignored_auth]


@pytest.fixture(scope="module")
def fuzz_schema(tmp_path_factory: pytest.TempPathFactory,
                embedder: Embedder) -> Iterator[Any]:
    """The OpenAPI schema of an app whose lifespan starts and closes its own service."""
    root = tmp_path_factory.mktemp("fuzz")
    agents = root / "agents.yaml"
    agents.write_text(yaml.safe_dump(rest_agents()))
    cfg = Settings(data_dir=root / "data", agents_file=agents)
    embedder.embed(["load the model before the first timed request"])
    app = create_app(cfg, service=build_service(cfg, embedder=embedder))

    async def owned(scope: Any, receive: Any, send: Any) -> None:
        """The app, plus a lifespan that owns a service. schemathesis ends the lifespan
        after each test, so each start gets a fresh service on the same data folder."""
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        service = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                service = build_service(cfg, embedder=embedder)
                await service.start()
                app.state.service = service
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if service is not None:
                    await service.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # Loaded from the document rather than over HTTP, which would run a lifespan (and a
    # service) just to read the schema.
    loaded = schemathesis.openapi.from_dict(json.loads(json.dumps(app.openapi())))
    loaded.app = owned
    loaded.location = "/openapi.json"
    yield loaded
    asgi.shutdown_lifespans()


OPERATIONS = [r.id for r in ROUTES] + ["GET /metrics", "GET /healthz", "GET /readyz"]


@pytest.fixture(scope="module")
def operations(fuzz_schema: Any) -> dict[str, Any]:
    """Every operation of the schema by label (`METHOD /path`)."""
    found = {}
    for result in fuzz_schema.get_all_operations():
        operation = result.ok()
        found[operation.label] = operation
    return found


def test_the_fuzzed_operations_are_every_operation(operations: dict[str, Any]) -> None:
    assert set(operations) == set(OPERATIONS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("label", OPERATIONS)
def test_api_conforms_to_its_schema(operations: dict[str, Any], label: str,
                                    mode: GenerationMode) -> None:
    """Valid and invalid requests alike: never a 5xx, always the documented answer."""
    @given(case=operations[label].as_strategy(mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        case.call_and_validate(headers=ALICE, checks=CHECKS, timeout=120)

    try:
        run()
    except Unsatisfiable:
        pytest.skip(f"no {mode.value} request can be generated for {label}")
