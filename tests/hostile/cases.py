"""The full hostile-fleet tier as `make reliability` runs it: each case of issue 21 replayed
on its own at full size (asserted: the service stays ready, nothing breaks, bob's recall
p95 within RATIO_LIMIT of his idle p95), then every attacker at once (every check asserted
but the ratio, which is reported: on a 2-core machine the sum of all attackers' work,
including the attackers' own process, is more than one agent's fair share can absorb; see
docs/reliability.md).

The hostile vault files (FIFO, directory, alias bomb, deep brackets, crafted state,
symlinks) are dropped in every run; the cases differ in which attackers run beside them.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from tests.hostile.fleet import RATIO_LIMIT, HostileResult, Sizes, hostile_sizes, run_hostile_fleet
from tests.hostile.report import hostile_lines

PARTS = ("flood", "sessions", "slow", "random-files")
"""Attackers a run may leave out (`--hostile-without`)."""


@dataclass(frozen=True)
class Case:
    """One run of the tier: its name and the attackers left out."""

    name: str
    without: frozenset[str]
    ratio_asserted: bool = True


CASES = (
    Case("flood (3 clients of maximum batches) + session hoarder",
         frozenset({"slow", "random-files"})),
    Case("unfinished request heads (3,000 slots, reopened as the server closes them)",
         frozenset({"flood", "sessions", "random-files"})),
    Case("vault fuzz (every hostile file + 1,000 random files)",
         frozenset({"flood", "sessions", "slow"})),
    Case("everything at once", frozenset(), ratio_asserted=False),
)


def without(sizes: Sizes, parts: frozenset[str] | set[str]) -> Sizes:
    """`sizes` with the named attackers left out (see PARTS)."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown attacker {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(PARTS)}")
    return dataclasses.replace(
        sizes, flood_clients=0 if "flood" in parts else sizes.flood_clients,
        sessions=0 if "sessions" in parts else sizes.sessions,
        slow_connections=0 if "slow" in parts else sizes.slow_connections,
        vault_files=0 if "random-files" in parts else sizes.vault_files)


@dataclass
class CaseResult:
    """A case and what its run measured."""

    case: Case
    result: HostileResult

    @property
    def ok(self) -> bool:
        """Every check held (the ratio only where the case asserts it)."""
        r = self.result
        return not r.problems and bool(r.attack.times) and \
            (r.latency_ok or not self.case.ratio_asserted)


async def run_cases(work: Path, attack_seconds: float) -> list[CaseResult]:
    """Every case in CASES, one after another, each against a fresh service."""
    out = []
    for n, case in enumerate(CASES):
        sizes = without(hostile_sizes(attack_seconds), case.without)
        out.append(CaseResult(case, await run_hostile_fleet(work / f"case-{n}", sizes)))
    return out


def cases_table(results: list[CaseResult]) -> list[str]:
    """One row per case: bob's idle and attack p95, the ratio, the vault checks."""
    lines = ["| case | bob idle p95 | under attack p95 | ratio | vault after the fuzz: "
             "syncing / note -> REST / REST -> note | other broken checks |",
             "| --- | ---: | ---: | ---: | --- | ---: |"]
    for cr in results:
        r, v = cr.result, cr.result.vault
        verdict = ("met" if r.latency_ok else "NOT met") if cr.case.ratio_asserted \
            else "reported"
        lines.append(
            f"| {cr.case.name} | {r.idle.p(95) * 1000:.0f} ms | {r.attack.p(95) * 1000:.0f} ms"
            f" | **{r.ratio:.1f}x** {verdict} (limit {RATIO_LIMIT:g}x) | "
            f"{_secs(v.syncing_after)} / {_secs(v.legit_note_seconds)} / "
            f"{_secs(v.rest_note_seconds)} | {len(r.problems)} |")
    return lines


def _secs(s: float | None) -> str:
    return "never" if s is None else f"{s:.1f} s"


def hostile_section(results: list[CaseResult], seconds: float) -> list[str]:
    """The full hostile tier: the cases' table, then each case's own table."""
    lines = [f"### Hostile fleet (issue 21), full tier: `python -m bench.reliability "
             f"--only-hostile --hostile-seconds {seconds:g}`", "",
             "Each case of the issue replayed on its own against a fresh `fleetmem serve` "
             "(ratio asserted), then every attacker at once (ratio reported; every other "
             "check asserted). Each ratio is to the idle phase of its own run.", ""]
    lines += cases_table(results) + [""]
    for cr in results:
        lines += hostile_lines(cr.result, f"case: {cr.case.name}") + [""]
    return lines


def parse_without(text: str) -> str:
    """`--hostile-without`: a comma-separated subset of PARTS."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown attacker {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    return ",".join(parts)
