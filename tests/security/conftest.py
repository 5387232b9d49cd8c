"""Security tests: print their counts at the end of the run (also logged to stderr), so a
run's figures can be copied into bench/RESULTS.md."""

from __future__ import annotations

from typing import Any

from tests.security.tally import log_summary, summary_lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = summary_lines()
    if lines:
        log_summary()
        terminalreporter.section("fleetmem security")
        for line in lines:
            terminalreporter.write_line(line)
