"""Redaction corpus: every credential shape is caught, ordinary text is left unchanged.

The corpus (data/redaction_corpus.yaml) holds one positive per credential shape with the
substrings that must disappear, and ordinary sentences (prose, prose about passwords,
UUIDs, git SHAs, hashes, URLs, paths, versions, timestamps, emails) that must come back
byte for byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetmem.memory.domain.redaction import REDACTED, redact

ROOT = Path(__file__).resolve().parents[2]
CORPUS: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parent / "data" / "redaction_corpus.yaml").read_text(encoding="utf-8"))
POSITIVES: list[dict[str, Any]] = CORPUS["positives"]
NEGATIVES: list[str] = CORPUS["negatives"]


def test_corpus_is_big_enough() -> None:
    assert len({p["shape"] for p in POSITIVES}) == len(POSITIVES) >= 40
    assert len(set(NEGATIVES)) == len(NEGATIVES) >= 200


def test_every_credential_shape_is_redacted() -> None:
    missed = []
    for p in POSITIVES:
        result = redact(p["text"])
        left = [s for s in p["secrets"] if s in result.text]
        if left or result.count < 1 or REDACTED not in result.text:
            missed.append(f"{p['shape']}: {result.text!r}")
    assert not missed, f"{len(missed)}/{len(POSITIVES)} shapes missed:\n" + "\n".join(missed)


def test_ordinary_text_is_left_unchanged() -> None:
    changed = []
    for text in NEGATIVES:
        result = redact(text)
        if result.text != text or result.count:
            changed.append(f"{text!r} -> {result.text!r} ({result.kinds})")
    assert not changed, f"{len(changed)} false positives:\n" + "\n".join(changed)


@pytest.mark.parametrize("p", POSITIVES[:8], ids=lambda p: str(p["shape"]))
def test_redaction_is_idempotent(p: dict[str, Any]) -> None:
    once = redact(p["text"]).text
    assert redact(once).text == once


def test_overlapping_detectors_count_one_secret_once() -> None:
    # The AWS id is found by our pattern and by detect-secrets' AWSKeyDetector, the Stripe
    # key by ours twice over and the library's: one replacement each.
    result = redact("key AKIAIOSFODNN7EXAMPLE and sk_live_C4vynNdwifV0xbWhEpIjsXUa")
    assert result.text == f"key {REDACTED} and {REDACTED}" and result.count == 2


def test_the_detector_library_loads_on_first_use_only() -> None:
    # Importing the domain (every CLI start does) must not pay for detect-secrets' import.
    code = ("import sys; import fleetmem.memory.domain.redaction as r; "
            "assert 'detect_secrets' not in sys.modules; r.redact('x'); "
            "assert 'detect_secrets' in sys.modules")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        str(ROOT / p) for p in ("memory", "api", "mcp_server", "vault", "gc", "cli"))}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
