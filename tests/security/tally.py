"""Counts the security tests keep for the run's summary (bench/RESULTS.md records them):
hostile inputs tried and server errors seen, isolation examples and leaks found."""

from __future__ import annotations

import logging

logger = logging.getLogger("fleetmem.security")

TALLY: dict[str, int] = {"hostile_tried": 0, "hostile_5xx": 0, "isolation_examples": 0,
                         "isolation_steps": 0, "isolation_canaries": 0, "isolation_leaks": 0}


def summary_lines() -> list[str]:
    """The summary lines, or none when no security test ran."""
    lines = []
    if TALLY["hostile_tried"]:
        lines.append(f"hostile inputs tried: {TALLY['hostile_tried']}, "
                     f"5xx: {TALLY['hostile_5xx']}")
    if TALLY["isolation_examples"]:
        lines.append(f"isolation examples: {TALLY['isolation_examples']}, steps: "
                     f"{TALLY['isolation_steps']}, canaries planted: "
                     f"{TALLY['isolation_canaries']}, leaks: {TALLY['isolation_leaks']} "
                     "(examples that leaked)")
    return lines


def log_summary() -> None:
    """Log the summary lines (stderr)."""
    for line in summary_lines():
        logger.warning("%s", line)
