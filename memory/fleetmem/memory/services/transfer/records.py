"""Import and export records (pure): the line formats `fleetmem import` reads, what one
parsed line becomes, and the report of an import.

Formats:
- `fleetmem`: our export, one `MemoryView` per line (`fleetmem export`, `GET /v1/export`).
  Only `text` is required, so hand-written lines such as `{"text": "..."}` import too.
- `mcp-memory`: the reference MCP memory server's `memory.jsonl`: lines
  `{"type":"entity","name","entityType","observations":[...]}` and
  `{"type":"relation","from","to","relationType"}`.
- `mem0`: the items of a mem0 `get_all` answer (`{"id","memory","user_id","agent_id",
  "metadata","created_at","updated_at",...}`), one per line; `documents.mem0_items` turns
  a whole `get_all` JSON document into such lines.
- `markdown`: a folder of notes with frontmatter, turned into `fleetmem` lines with a
  `source` key by the vault (`fleetmem.vault.notes_import`).

A `fleetmem` line may carry its vector: `"embedding": {"model": "all-MiniLM-L6-v2",
"vector": [384 numbers]}` (what `fleetmem export --with-vectors` writes). The service uses
it instead of encoding the text when the model name and dimension are the store's; this is
the bulk path (no model call) and how a store is migrated.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from fleetmem.memory.domain.access import validate_namespace
from fleetmem.memory.errors import InvalidInput

FORMATS = ("fleetmem", "mcp-memory", "mem0", "markdown")
MAX_LINE_BYTES = 1_048_576
"""A line (one record) longer than this is refused without being parsed."""
_IMPORT_IDS = uuid.UUID("6d3c1f0e-9b7a-4c52-8e41-2f5a7b9c0d13")
"""uuid5 namespace of the ids derived for imported records (see `derived_id`)."""


def derived_id(*parts: str) -> str:
    """A stable id for an imported record: the same source key in the same namespace gives
    the same id on every run, so a re-run finds what it already imported."""
    return str(uuid.uuid5(_IMPORT_IDS, "\x1f".join(parts)))


class LineError(Exception):
    """A line that cannot be imported: its number and what is wrong with it."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


def _aware(value: datetime | None) -> datetime | None:
    """Times without a zone are taken as UTC (every stored time carries one)."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


Time = Annotated[datetime | None, AfterValidator(_aware)]


class _Attribution(BaseModel):
    model_config = ConfigDict(extra="ignore")
    created_by: str | None = None
    created_at: Time = None
    on_behalf_of: str | None = None
    workflow_id: str | None = None
    session_id: str | None = None


class EmbeddingLine(BaseModel):
    """A record's precomputed vector and the model that made it (checked by the service
    against its own model: `check_embedding`)."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=200)
    vector: list[Any] = Field(min_length=1, max_length=8192)


class FleetmemLine(BaseModel):
    """One line of our export (a `MemoryView`); everything but `text` is optional."""

    model_config = ConfigDict(extra="ignore")
    text: str
    id: str | None = None
    source: str | None = Field(default=None, max_length=2000)
    namespace: str | None = None
    kind: str = "fact"
    importance: float = 0.5
    tags: list[str] = Field(default_factory=list)
    status: str = "active"
    pinned: bool = False
    attribution: _Attribution = Field(default_factory=_Attribution)
    updated_at: Time = None
    valid_from: Time = None
    valid_to: Time = None
    access_count: int = Field(default=0, ge=0)
    last_accessed_at: Time = None
    supersedes: str | None = None
    superseded_by: str | None = None
    entities: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    embedding: EmbeddingLine | None = None


_NUMBERS = {int, float}


def check_embedding(embedding: EmbeddingLine, model: str, dimension: int
                    ) -> npt.NDArray[np.float32]:
    """The record's vector, unit length, when it was made by the store's model.

    Raises:
        InvalidInput: another model, another dimension, a value that is not a finite
            number, or a zero vector (each message says which and how to fix it).
    """
    if embedding.model != model:
        raise InvalidInput(f"embedding.model is {embedding.model!r} but this store encodes "
                           f"with {model!r}: vectors of another model cannot be mixed in; "
                           "drop the 'embedding' field to have the text encoded",
                           field="embedding.model", rule="model_match")
    values = embedding.vector
    if len(values) != dimension:
        raise InvalidInput(f"embedding.vector has {len(values)} values; {model} vectors "
                           f"have {dimension}", field="embedding.vector", rule="dimension")
    if not set(map(type, values)) <= _NUMBERS:  # bool, str, None, list...: say which
        i, x = next((i, x) for i, x in enumerate(values) if type(x) not in _NUMBERS)
        raise InvalidInput(f"embedding.vector[{i}] is {x!r}, not a finite number",
                           field="embedding.vector", rule="number")
    try:
        wide = np.asarray(values, dtype=np.float64)
    except OverflowError:  # an integer beyond float range
        wide = np.full(len(values), np.inf)
    if not np.isfinite(wide).all():
        i = int(np.flatnonzero(~np.isfinite(wide))[0])
        raise InvalidInput(f"embedding.vector[{i}] is {values[i]!r}, not a finite number",
                           field="embedding.vector", rule="number")
    vector = wide.astype(np.float32)
    norm = float(np.linalg.norm(vector))
    if not math.isfinite(norm) or norm == 0.0:
        raise InvalidInput("embedding.vector has no direction (all zeros or overflowing); "
                           "drop the 'embedding' field to have the text encoded",
                           field="embedding.vector", rule="number")
    return vector / np.float32(norm)


class McpLine(BaseModel):
    """One line of the reference server's memory.jsonl."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    type: str
    name: str | None = None
    entityType: str | None = None  # noqa: N815 - the reference server's field names
    observations: list[str] = Field(default_factory=list)
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    relationType: str | None = None  # noqa: N815


class Mem0Line(BaseModel):
    """One memory of a mem0 `get_all` answer."""

    model_config = ConfigDict(extra="ignore")
    memory: str
    id: str | None = None
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    metadata: dict[str, Any] | None = None
    categories: list[str] | None = None
    created_at: Time = None
    updated_at: Time = None


@dataclass(frozen=True)
class MemoryRecord:
    """A memory to import, from any format."""

    line: int
    data: FleetmemLine
    key: str
    """The stable source key (derives the id when the line has none)."""
    native: bool
    """Our own format: kept as it is (ids, attribution, status, no dedup by content)."""


@dataclass(frozen=True)
class EntityRecord:
    """An entity of the reference server's format (its observations become memories)."""

    line: int
    name: str
    entity_type: str
    observations: tuple[str, ...]


@dataclass(frozen=True)
class RelationRecord:
    """A relation of the reference server's format."""

    line: int
    from_entity: str
    to_entity: str
    relation_type: str


Record = MemoryRecord | EntityRecord | RelationRecord


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}"
                     for e in exc.errors()[:5])


def _json(line: int, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LineError(line, f"not valid JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(value, dict):
        raise LineError(line, "a line must hold one JSON object")
    return value


def detect(text: str) -> str:
    """The format of a JSON line (what `--format auto` picks from the first line)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return "fleetmem"
    if isinstance(value, dict):
        if value.get("type") in ("entity", "relation"):
            return "mcp-memory"
        if "memory" in value and "text" not in value:
            return "mem0"
    return "fleetmem"


def parse_line(fmt: str, line: int, text: str) -> Record:
    """Parse one line of `fmt` (the shape only: the service checks every rule on write).

    Raises:
        LineError: the line is not valid JSON or not a record of `fmt`.
    """
    if len(text.encode()) > MAX_LINE_BYTES:
        raise LineError(line, f"longer than {MAX_LINE_BYTES} bytes; split the record")
    value = _json(line, text)
    try:
        if fmt == "mcp-memory":
            return _mcp(line, McpLine.model_validate(value))
        if fmt == "mem0":
            return _mem0(line, Mem0Line.model_validate(value))
        data = FleetmemLine.model_validate(value)
    except ValidationError as exc:
        raise LineError(line, f"not a {fmt} record: {_errors(exc)}") from exc
    if data.namespace is not None:
        try:
            validate_namespace(data.namespace)
        except InvalidInput as exc:
            raise LineError(line, exc.message) from exc
    key = data.source or ""
    return MemoryRecord(line, data, key, native=data.source is None)


def _mcp(line: int, m: McpLine) -> Record:
    if m.type == "entity":
        if not m.name or not m.entityType:
            raise LineError(line, "an entity needs 'name' and 'entityType'")
        return EntityRecord(line, m.name, m.entityType, tuple(m.observations))
    if m.type == "relation":
        if not m.from_ or not m.to or not m.relationType:
            raise LineError(line, "a relation needs 'from', 'to' and 'relationType'")
        return RelationRecord(line, m.from_, m.to, m.relationType)
    raise LineError(line, f"type must be 'entity' or 'relation' (got {m.type!r})")


def _mem0(line: int, m: Mem0Line) -> MemoryRecord:
    tags = ["mem0", *(f"{label}:{value}" for label, value in (
        ("user", m.user_id), ("agent", m.agent_id), ("run", m.run_id)) if value),
        *(m.categories or [])]
    # mem0's metadata is our metadata (checked by the same limits as any write)
    data = FleetmemLine(text=m.memory, tags=list(dict.fromkeys(tags))[:32],
                        metadata=dict(m.metadata or {}),
                        attribution=_Attribution(created_at=m.created_at),
                        updated_at=m.updated_at or m.created_at, valid_from=m.created_at)
    return MemoryRecord(line, data, f"mem0:{m.id or m.memory}", native=False)


class RejectedLine(BaseModel):
    """A line that was not imported: its number (a note's path for Markdown) and why."""

    line: int
    source: str | None = None
    reason: str


class ImportReport(BaseModel):
    """What an import (or one batch of it) did.

    `skipped` counts records already present (a re-run skips what the first run imported);
    `mapped` counts memories whose id belonged to a memory of another namespace and got a
    new stable id; entities, relations and observations count graph records of the
    reference server's format (observations are also written as memories)."""

    format: str = "fleetmem"
    read: int = 0
    imported: int = 0
    skipped: int = 0
    mapped: int = 0
    redactions: int = 0
    entities: int = 0
    relations: int = 0
    observations: int = 0
    rejected: list[RejectedLine] = Field(default_factory=list)

    def add(self, other: ImportReport) -> None:
        """Add another batch's counts to this report."""
        for name in ("read", "imported", "skipped", "mapped", "redactions", "entities",
                     "relations", "observations"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejected += other.rejected

