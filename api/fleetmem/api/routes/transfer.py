"""/v1/export and /v1/import: bulk copies of memories as NDJSON, for large stores.

Export streams one memory a line (`application/x-ndjson`), read page by page from the
service, so no store is ever held whole. Import streams the request body to a temporary
file (bounded by `api.max_import_bytes`, not by the body limit of other routes), then the
service scans it (malformed lines, namespaces: refused before anything is written) and
imports it batch by batch; the answer is the import's summary. Both are the service's
`export_memories`, `import_check` and `import_lines`, as for `fleetmem import|export`.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import StreamingResponse
from starlette.exceptions import HTTPException

from fleetmem.api.deps import CallerDep, ServiceDep, SettingsDep
from fleetmem.api.problems import problem_responses
from fleetmem.api.route_table import RouteTable
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.services import (
    EXPORT_PAGE_MAX,
    ExportedMemory,
    ImportReport,
    export_lines,
    file_source,
    run_import,
)

router = RouteTable(prefix="/v1", tags=["memories"])
NDJSON = "application/x-ndjson"
_FORMATS = "^(auto|fleetmem|mcp-memory|mem0)$"


@router.get("/export", summary="Export memories as NDJSON (streamed)",
            response_class=StreamingResponse,
            responses={**problem_responses(400, 401, 403, 422, 429, 503),
                       200: {"content": {NDJSON: {"schema": {"type": "string"}}},
                             "description": "One memory (as GET /v1/memories/{id} answers "
                             "it) per line, in every status, ordered by id."}})
async def export(service: ServiceDep, caller: CallerDep,
                 namespaces: Annotated[list[str] | None, Query(
                     description="Only these readable namespaces (repeat the parameter); "
                     "default: every namespace you may read.",
                     examples=[["team:atlas"]])] = None,
                 with_vectors: Annotated[bool, Query(
                     description="Add each memory's vector and model name (`embedding`); "
                     "an import into a store of the same model writes them without "
                     "encoding.")] = False) -> StreamingResponse:
    """Every memory of the namespaces you may read, with attribution, times, validity and
    status, as JSON Lines: the format `POST /v1/import` and `fleetmem import` read back."""
    first = await service.export_memories(caller, namespaces, None, EXPORT_PAGE_MAX,
                                          with_vectors)

    async def page(after: str | None) -> list[ExportedMemory]:
        if after is None:
            return first  # fetched before the answer started: its errors are a 4xx
        return await service.export_memories(caller, namespaces, after, EXPORT_PAGE_MAX,
                                             with_vectors)

    async def body() -> AsyncIterator[bytes]:
        async for line in export_lines(page):
            yield line.encode()

    return StreamingResponse(body(), media_type=NDJSON)


async def _spool(request: Request, limit: int, folder: str) -> Path:
    """The request body in a file (streamed, never whole in memory), refused past `limit`.

    Raises:
        HTTPException: 413, the body is larger than `limit` bytes.
    """
    path = Path(folder) / "import.ndjson"
    seen = 0
    with path.open("wb") as handle:
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > limit:
                raise HTTPException(413, f"the import body exceeds {limit} bytes "
                                    "(api.max_import_bytes); split the file and send the "
                                    "parts one after the other (a re-sent part is skipped)")
            handle.write(chunk)
    return path


@router.post("/import", summary="Import memories from NDJSON (streamed)",
             responses=problem_responses(400, 401, 403, 413, 422, 429, 503),
             openapi_extra={"requestBody": {"required": True, "content": {
                 NDJSON: {"schema": {"type": "string"}, "example":
                          '{"text": "Deploys are frozen on Fridays", "tags": ["ops"]}\n'}}}})
async def import_(request: Request, service: ServiceDep, caller: CallerDep,
                  settings: SettingsDep,
                  format: Annotated[str, Query(  # noqa: A002 - the parameter's public name
                      pattern=_FORMATS, description="auto (the first record decides), "
                      "fleetmem (our export), mcp-memory (the reference server's "
                      "memory.jsonl) or mem0 (get_all items, or its whole JSON answer).")
                  ] = "auto",
                  namespace: Annotated[str | None, Query(
                      description="Put every record into this namespace (default: the "
                      "namespace each record names, else your private one).")] = None,
                  strict: Annotated[bool, Query(
                      description="Refuse the whole import (nothing written) when a line "
                      "is malformed; default: report and skip it.")] = False
                  ) -> ImportReport:
    """Import memories: records already present are skipped (re-sending a body is safe),
    malformed lines are listed in `rejected` with their line numbers, a namespace you may
    not write is refused (403) before anything is written."""
    with tempfile.TemporaryDirectory(prefix="fleetmem-import-") as folder:
        path = await _spool(request, settings.api.max_import_bytes, folder)
        if path.stat().st_size == 0:
            raise InvalidInput("the body is empty: send one JSON record a line "
                               f"({NDJSON})", field="body", rule="not_empty")
        source = file_source(path, format)

        async def check(namespaces: list[str | None]) -> list[str]:
            return await service.import_check(caller, namespaces)

        async def write(lines: list[tuple[int, str]]) -> ImportReport:
            return await service.import_lines(caller, lines, source.format, namespace,
                                              strict)

        return await run_import(source, namespace=namespace, strict=strict, check=check,
                                write=write)
