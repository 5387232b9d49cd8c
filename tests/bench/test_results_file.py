"""bench/RESULTS.md carries the included files as they are: none was edited on one side only."""

from __future__ import annotations

from pathlib import Path

from bench.assemble import INCLUDED, RESULTS, assemble, generated_head


def test_results_md_carries_the_included_files_unchanged() -> None:
    text = RESULTS.read_text()
    assert assemble(text) == text, (
        "bench/RESULTS.md differs from its included files (" + ", ".join(INCLUDED)
        + "): edit those, then run `python -m bench assemble`")


def test_assemble_replaces_an_edited_copy(tmp_path: Path) -> None:
    (tmp_path / "RELIABILITY.md").write_text("## Reliability\n\nnew figures\n")
    (tmp_path / "OTHER_RUNS.md").write_text("## Separate runs\n\nkept\n")
    stale = "# results\n\n| a | b |\n\n## Reliability\n\nold figures\n\n## Separate runs\n\nkept\n"
    assert generated_head(stale, tmp_path) == "# results\n\n| a | b |\n"
    assert assemble(stale, tmp_path) == ("# results\n\n| a | b |\n\n## Reliability\n\nnew "
                                         "figures\n\n## Separate runs\n\nkept\n")
