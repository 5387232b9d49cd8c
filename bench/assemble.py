"""bench/RESULTS.md = the tables of the last `python -m bench all` run + the included files.

The included files (`INCLUDED`) are where other commands and people write: `make reliability`
writes RELIABILITY.md, separate runs are kept by hand in OTHER_RUNS.md, PROFILE_NOTES.md
holds the profile findings. RESULTS.md carries a copy of each, so it must be rebuilt after
any of them changes (`python -m bench assemble`); a test checks that it was.
"""

from __future__ import annotations

from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "RESULTS.md"
INCLUDED = ("RELIABILITY.md", "OTHER_RUNS.md", "PROFILE_NOTES.md")
"""Sections other commands write (`make reliability`) or that are kept by hand (separate
runs, profile notes), appended to RESULTS.md after the `all` run's tables."""


def included_text(folder: Path = BENCH) -> str:
    """The included files as RESULTS.md carries them (each after a blank line)."""
    text = ""
    for name in INCLUDED:
        notes = folder / name
        if notes.exists():
            text += "\n" + notes.read_text()
    return text


def generated_head(results: str, folder: Path = BENCH) -> str:
    """The part of a RESULTS.md text that the `all` run wrote: everything before the first
    line of the first included file found in it."""
    firsts = [(folder / n).read_text().split("\n", 1)[0] for n in INCLUDED
              if (folder / n).exists()]
    lines = results.split("\n")
    for i, line in enumerate(lines):
        if line and line in firsts:
            cut = i - 1 if i and not lines[i - 1] else i  # the blank line before it
            return "\n".join(lines[:cut]) + ("\n" if cut else "")
    return results


def assemble(results: str, folder: Path = BENCH) -> str:
    """RESULTS.md rebuilt: its generated head, then the included files as they are now."""
    return generated_head(results, folder) + included_text(folder)


def main() -> int:
    """`python -m bench assemble`: rewrite RESULTS.md from its head and the included files."""
    from bench.report import say

    RESULTS.write_text(assemble(RESULTS.read_text()))
    say(f"wrote {RESULTS}")
    return 0
