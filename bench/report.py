"""Collects figures as markdown tables, prints them as they come and writes RESULTS.md."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / ".work"
RESULTS = BENCH_DIR / "RESULTS.md"


def say(text: str = "") -> None:
    """Write a line to stdout (the benchmark's output; not an MCP process)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def fmt(value: object, digits: int = 2) -> str:
    """A table cell: floats rounded, NaN/None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


@dataclass
class Target:
    """One issue target: a measured ratio against its limit, met or missed."""

    name: str
    ratio: float
    limit: float
    higher_is_better: bool
    detail: str

    @property
    def met(self) -> bool | None:
        """None when the ratio could not be measured."""
        if math.isnan(self.ratio):
            return None
        return self.ratio >= self.limit if self.higher_is_better else self.ratio <= self.limit

    def row(self) -> list[str]:
        """Table row: target, ratio, limit, verdict, detail."""
        verdict = {True: "met", False: "**missed**", None: "not measured"}[self.met]
        sign = ">=" if self.higher_is_better else "<="
        return [self.name, fmt(self.ratio), f"{sign} {self.limit:g}", verdict, self.detail]


@dataclass
class Report:
    """Every section of one run, in order, plus the targets."""

    sections: list[tuple[str, list[str]]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def table(self, title: str, headers: Sequence[str], rows: Sequence[Sequence[object]],
              notes: Sequence[str] = ()) -> None:
        """Add a markdown table (and print it now)."""
        lines = ["| " + " | ".join(headers) + " |",
                 "| " + " | ".join("---" for _ in headers) + " |"]
        lines += ["| " + " | ".join(fmt(c) for c in r) + " |" for r in rows]
        if notes:
            lines.append("")
            lines += [f"- {n}" for n in notes]
        self.sections.append((title, lines))
        say(f"\n## {title}")
        for line in lines:
            say(line)

    def text(self, title: str, lines: Sequence[str]) -> None:
        """Add a free-text section (and print it now)."""
        self.sections.append((title, list(lines)))
        say(f"\n## {title}")
        for line in lines:
            say(line)

    def target(self, t: Target) -> None:
        """Record a target and print its verdict."""
        self.targets.append(t)
        r = t.row()
        say(f"target: {r[0]}: ratio {r[1]} (limit {r[2]}): {r[3]}  [{r[4]}]")

    def markdown(self, header: Sequence[str]) -> str:
        """The whole report as RESULTS.md text."""
        out = list(header)
        if self.targets:
            out += ["", "## Targets (ratios measured in this run)", "",
                    "| target | ratio | limit | verdict | measured |",
                    "| --- | --- | --- | --- | --- |"]
            out += ["| " + " | ".join(t.row()) + " |" for t in self.targets]
        for title, lines in self.sections:
            out += ["", f"## {title}", "", *lines]
        return "\n".join(out) + "\n"
