"""Security tests: print their counts at the end of the run (also logged to stderr) and,
when FLEETMEM_SECURITY_SUMMARY names a file, write them there (`make reliability` puts
the full profile's figures into bench/RELIABILITY.md that way)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.security.tally import log_summary, summary_lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = summary_lines()
    if lines:
        log_summary()
        terminalreporter.section("fleetmem security")
        for line in lines:
            terminalreporter.write_line(line)
        target = os.environ.get("FLEETMEM_SECURITY_SUMMARY")
        if target:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            Path(target).write_text("\n".join(lines) + "\n")
