"""Redaction cost per memory text (it runs on every write path).

    .venv/bin/python -m bench.redaction_cost [--against <git ref>]

Texts come from the redaction corpus (tests/unit/data/redaction_corpus.yaml): ordinary
sentences joined to 200 characters, conversational ones only, 200-character texts that
hold one secret, and 8,000-character texts (the default `max_text_chars`). Figures are CPU
time per text (`time.process_time`, the median of 5 rounds), so a busy machine inflates
them less than wall time would. `--against` also times the redaction module as it was at
a git ref (loaded from `git show`), for a before/after table.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "unit" / "data" / "redaction_corpus.yaml"
MODULE = "memory/fleetmem/memory/domain/redaction.py"


def _texts() -> dict[str, list[str]]:
    corpus: dict[str, Any] = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    negatives: list[str] = corpus["negatives"]
    rng = random.Random(20)

    def joined(source: list[str], size: int, count: int) -> list[str]:
        out = []
        for _ in range(count):
            text = ""
            while len(text) < size:
                text += rng.choice(source) + " "
            out.append(text[:size])
        return out

    with_secret = [(p["text"] + " " + joined(negatives, 200, 1)[0])[:max(200, len(p["text"]))]
                   for p in corpus["positives"]]
    return {"200 chars, ordinary": joined(negatives, 200, 300),
            "200 chars, conversational": joined(negatives[:40], 200, 300),
            "200 chars, one secret": with_secret,
            "8,000 chars, ordinary": joined(negatives, 8000, 20)}


def _per_text(fn: Callable[[str], object], texts: list[str]) -> float:
    rounds = []
    for _ in range(5):
        t0 = time.process_time()
        for text in texts:
            fn(text)
        rounds.append((time.process_time() - t0) / len(texts) * 1e6)
    return statistics.median(rounds)


def _module_at(ref: str) -> Callable[[str], object]:
    source = subprocess.run(["git", "show", f"{ref}:{MODULE}"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "redaction_at_ref.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("redaction_at_ref", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.redact  # type: ignore[no-any-return]


def main() -> None:
    """Print a table of redaction cost per text (microseconds of CPU)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", help="a git ref whose redaction module to time too")
    args = parser.parse_args()
    from fleetmem.memory.domain.redaction import redact

    redact("warm up: builds the detectors once")
    old = _module_at(args.against) if args.against else None
    head = "| texts | count | now us/text |" + (f" {args.against} us/text |" if old else "")
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for name, texts in _texts().items():
        row = f"| {name} | {len(texts)} | {_per_text(redact, texts):.1f} |"
        if old is not None:
            row += f" {_per_text(old, texts):.1f} |"
        lines.append(row)
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
