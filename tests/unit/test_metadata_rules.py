"""Metadata rules (issue 18): limits from the settings, JSON-typed matching."""

from __future__ import annotations

import pytest

from fleetmem.memory.domain.metadata import pair_strings, scalar_pairs
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.services.inputs import check_metadata, check_metadata_filter
from fleetmem.memory.settings import LimitSettings

LIMITS = LimitSettings()


def test_limits_follow_the_settings() -> None:
    flat = LimitSettings(max_metadata_depth=1)
    assert check_metadata({"a": 1, "b": "x", "c": None}, flat) == {"a": 1, "b": "x", "c": None}
    with pytest.raises(InvalidInput, match="at most 1 levels") as info:
        check_metadata({"a": [1]}, flat)
    assert (info.value.field, info.value.rule) == ("metadata.a", "depth")
    small = LimitSettings(max_metadata_bytes=64)
    with pytest.raises(InvalidInput, match="limits.max_metadata_bytes") as info:
        check_metadata({"k": "é" * 30}, small)  # 60 characters, more than 64 bytes as UTF-8
    assert info.value.rule == "max_bytes"
    assert check_metadata(None, LIMITS) == {}


@pytest.mark.parametrize(("value", "rule"), [
    ("text", "type"), ([1], "type"), ({"n": float("nan")}, "type"),
    ({"n": {1, 2}}, "type"), ({"x" * 65: 1}, "key"), ({"a": {"b-c": 1}}, "key"),
])
def test_bad_metadata_names_the_rule(value: object, rule: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_metadata(value, LIMITS)
    assert info.value.rule == rule


def test_matching_keeps_json_types() -> None:
    meta = {"n": 1, "s": "1", "b": True, "f": 0.5, "obj": {"x": 1}}
    assert scalar_pairs(meta) == {"n": "1", "s": '"1"', "b": "true"}
    assert pair_strings(meta) == ["b=true", "n=1", 's="1"']
    assert check_metadata_filter({"b": True, "a": "x"}, LIMITS) == (("a", "x"), ("b", True))
    with pytest.raises(InvalidInput, match="floats"):
        check_metadata_filter({"f": 0.5}, LIMITS)
    with pytest.raises(InvalidInput, match="key/value|key: value"):
        check_metadata_filter("a=b", LIMITS)
