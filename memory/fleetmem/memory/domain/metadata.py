"""A memory's `metadata`: the writer's own bounded JSON object, and filters on it.

Keys (at every level) match `KEY_PATTERN`: letters, digits and underscores, so a key can
be placed in a JSON path or a payload key without quoting; the stores still pass every
key and value as a parameter. A filter is a set of top-level `key = value` pairs that
must all match, with scalar values only (string, integer, boolean): a stored value
matches when it is the same JSON value of the same type (`1` matches neither `"1"` nor
`true`, and floats cannot be filtered on, since exact float equality is a trap).

Nothing here does I/O; the limits come from `LimitSettings` through `services.inputs`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KEY_MAX_CHARS = 64

FilterValue = str | int | bool
MetadataFilter = tuple[tuple[str, FilterValue], ...]


class MetadataError(ValueError):
    """`metadata` breaks a rule: `where` is its JSON path, `rule` the rule's name."""

    def __init__(self, message: str, where: str, rule: str) -> None:
        super().__init__(message)
        self.where = where
        self.rule = rule


def check_key(key: object, where: str) -> str:
    """Return a valid key or raise MetadataError."""
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key) \
            or len(key) > KEY_MAX_CHARS:
        raise MetadataError(
            f"{where}: key {key!r} is not allowed; keys are 1-{KEY_MAX_CHARS} letters, digits "
            "or underscores, not starting with a digit (e.g. source_id)", where, "key")
    return key


def depth_of(value: object, where: str, max_depth: int, level: int = 1) -> None:
    """Check types and nesting. The metadata object itself is depth 1 and a value in it
    is at `level` 1, so a list or object at `level` L makes the depth L + 1: refused from
    L = `max_depth` on."""
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MetadataError(f"{where}: numbers must be finite (got {value!r})", where,
                                "type")
        return
    if isinstance(value, list | dict):
        if level >= max_depth:
            raise MetadataError(
                f"{where}: metadata is nested too deep (at most {max_depth} levels; "
                "flatten it, e.g. {\"a_b\": 1} instead of {\"a\": {\"b\": 1}})", where, "depth")
        if isinstance(value, list):
            for i, item in enumerate(value):
                depth_of(item, f"{where}[{i}]", max_depth, level + 1)
        else:
            for k, item in value.items():
                depth_of(item, f"{where}.{check_key(k, where)}", max_depth, level + 1)
        return
    raise MetadataError(f"{where}: values must be JSON (string, number, boolean, null, list "
                        f"or object), got {type(value).__name__}", where, "type")


def serialise(metadata: Mapping[str, object]) -> str:
    """Compact, key-sorted JSON: what the stores keep and the size limit counts."""
    return json.dumps(metadata, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def canonical(value: FilterValue) -> str:
    """A scalar as the string the vector payload and the Neo4j pair list hold: its JSON
    text, so `1`, `"1"` and `true` stay three different values."""
    return json.dumps(value, ensure_ascii=False)


def scalar_pairs(metadata: Mapping[str, object]) -> dict[str, str]:
    """The top-level pairs a filter can match: key -> `canonical` value."""
    return {k: canonical(v) for k, v in metadata.items() if isinstance(v, str | int)}


def pair_strings(metadata: Mapping[str, object]) -> list[str]:
    """The filterable pairs as `key=canonical value` strings (Neo4j's list property)."""
    return [f"{k}={v}" for k, v in sorted(scalar_pairs(metadata).items())]

