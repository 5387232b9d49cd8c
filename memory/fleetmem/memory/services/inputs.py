"""Inputs the service accepts (shared by every door) and their validation rules.

Doors parse wire formats into these models; the rules that depend on configuration
(limits, kinds, namespaces) are checked here, once, for every door.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from fleetmem.memory.domain.access import validate_namespace
from fleetmem.memory.domain.metadata import (
    MetadataError,
    MetadataFilter,
    check_key,
    depth_of,
    serialise,
)
from fleetmem.memory.domain.models import MemoryKind
from fleetmem.memory.domain.text import clean_text
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.settings import LimitSettings

KINDS = tuple(k.value for k in MemoryKind)
_NAME_MAX = 200


class MemoryInput(BaseModel):
    """One memory to write."""

    text: str = Field(description="The memory itself, in plain language.",
                      examples=["The payments service is owned by team Atlas."])
    namespace: str | None = Field(default=None, description="Target namespace; default: the "
                                  "caller's private namespace `agent:<id>`.")
    kind: str = Field(default="fact", description="One of: " + ", ".join(KINDS))
    importance: float = Field(default=0.5, description="0..1; higher decays slower.")
    tags: list[str] = Field(default_factory=list)
    pinned: bool = Field(default=False, description="Pinned memories never decay.")
    entities: list[str] = Field(default_factory=list, description="Entity names this memory is "
                                "about (names found in the text are linked automatically).")
    valid_from: datetime | None = None
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Your own JSON object (source ids, ...), returned "
        "with the memory and filterable by exact top-level key/value; bounded in size, depth "
        "and keys (settings `limits.max_metadata_*`).", examples=[{"source_id": "T-42"}])


def check_kind(kind: object, field: str = "kind") -> MemoryKind:
    """Return the MemoryKind or raise naming the allowed values."""
    if isinstance(kind, str) and kind in KINDS:
        return MemoryKind(kind)
    raise InvalidInput(f"{field} must be one of {', '.join(KINDS)} (got {kind!r})",
                       field=field, rule="enum")


def check_importance(value: object, field: str = "importance") -> float:
    """Return importance as a float in [0, 1] or raise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) \
            or not 0.0 <= float(value) <= 1.0:
        raise InvalidInput(f"{field} must be a number between 0 and 1 (got {value!r})",
                           field=field, rule="range")
    return float(value)


def check_name(value: object, field: str) -> str:
    """Validate an entity name or relation type: a bounded single-line string."""
    name = clean_text(value, field, max_chars=_NAME_MAX)
    if "\n" in name or "\r" in name:
        raise InvalidInput(f"{field} must be a single line", field=field, rule="single_line")
    return name.strip()


def check_tags(tags: object, limits: LimitSettings, field: str = "tags") -> tuple[str, ...]:
    """Validate a tag list: strings, bounded count and length."""
    if not isinstance(tags, list | tuple):
        raise InvalidInput(f"{field} must be a list of strings", field=field, rule="type")
    if len(tags) > limits.max_tags:
        raise InvalidInput(f"{field} has {len(tags)} entries; the limit is {limits.max_tags}",
                           field=field, rule="max_items")
    return tuple(dict.fromkeys(check_name(t, f"{field}[{i}]") for i, t in enumerate(tags)))


def check_metadata(value: object, limits: LimitSettings,
                   field: str = "metadata") -> dict[str, object]:
    """Validate a memory's metadata: a JSON object within the configured limits."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{field} must be a JSON object (got {type(value).__name__})",
                           field=field, rule="type")
    if len(value) > limits.max_metadata_keys:
        raise InvalidInput(f"{field} has {len(value)} keys; the limit is "
                           f"{limits.max_metadata_keys} (limits.max_metadata_keys): merge "
                           "or drop some", field=field, rule="max_keys")
    out = dict(value)
    try:
        for k, item in out.items():
            depth_of(item, f"{field}.{check_key(k, field)}", limits.max_metadata_depth)
    except MetadataError as exc:
        raise InvalidInput(str(exc), field=exc.where, rule=exc.rule) from exc
    size = len(serialise(out).encode())
    if size > limits.max_metadata_bytes:
        raise InvalidInput(f"{field} is {size} bytes as JSON; the limit is "
                           f"{limits.max_metadata_bytes} (limits.max_metadata_bytes): keep "
                           "large content in the text or elsewhere and store its id",
                           field=field, rule="max_bytes")
    return out


def check_metadata_filter(value: object, limits: LimitSettings,
                          field: str = "metadata") -> MetadataFilter:
    """Validate a metadata filter: top-level keys with string, integer or boolean values
    that must all match."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{field} must be an object of key: value pairs that must all "
                           "match", field=field, rule="type")
    if len(value) > limits.max_metadata_keys:
        raise InvalidInput(f"{field} has {len(value)} pairs; the limit is "
                           f"{limits.max_metadata_keys}", field=field, rule="max_keys")
    pairs: list[tuple[str, str | int | bool]] = []
    for k, v in value.items():
        try:
            key = check_key(k, field)
        except MetadataError as exc:
            raise InvalidInput(str(exc), field=field, rule="key") from exc
        if not isinstance(v, str | int) or (isinstance(v, str) and len(v) > 1000):
            raise InvalidInput(f"{field}.{key}: filter values are strings (at most 1000 "
                               "characters), integers or booleans (got "
                               f"{type(v).__name__}); floats, null, lists and objects "
                               "cannot be filtered on", field=f"{field}.{key}", rule="type")
        pairs.append((key, v))
    return tuple(sorted(pairs))


def check_k(k: object, limits: LimitSettings, field: str = "k") -> int:
    """Validate a result count."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= limits.max_k:
        raise InvalidInput(f"{field} must be an integer from 1 to {limits.max_k} (got {k!r})",
                           field=field, rule="range")
    return k


def check_memory_input(inp: MemoryInput, limits: LimitSettings, prefix: str = "") -> MemoryInput:
    """Check every rule of one memory input; raise InvalidInput naming the field."""
    clean_text(inp.text, f"{prefix}text", max_chars=limits.max_text_chars)
    if inp.namespace is not None:
        validate_namespace(inp.namespace, f"{prefix}namespace")
    check_kind(inp.kind, f"{prefix}kind")
    check_importance(inp.importance, f"{prefix}importance")
    check_tags(inp.tags, limits, f"{prefix}tags")
    if len(inp.entities) > limits.max_tags:
        raise InvalidInput(f"{prefix}entities: at most {limits.max_tags} names",
                           field=f"{prefix}entities", rule="max_items")
    for i, name in enumerate(inp.entities):
        check_name(name, f"{prefix}entities[{i}]")
    check_metadata(inp.metadata, limits, f"{prefix}metadata")
    return inp
