"""Witness lines and their comparison with the log (pure), and the witness file's writer:
a refused write is logged once and retried later, never raised into a commit."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from fleetmem.memory.domain import witness as rules
from fleetmem.memory.domain.witness import Anchor, AnchorCheck
from fleetmem.memory.stores.witness import FileWitness

KEY = b"k3y"


def h(n: int) -> str:
    return f"{n:064x}"


def test_lines_round_trip_and_a_key_catches_edits_and_forgeries() -> None:
    signed = rules.encode(Anchor(3, h(3), "t3"), KEY) + rules.encode(Anchor(7, h(7), "t7"), KEY)
    log = rules.parse(signed, KEY)
    assert [(a.seq, a.line) for a in log.anchors] == [(3, 1), (7, 2)] and not log.problems
    edited = signed.replace('"t3"', '"t4"')
    forged = signed + rules.encode(Anchor(9, h(9), "t9"), None)
    assert rules.parse(edited, None).problems == []  # without the key nobody can tell
    [problem] = rules.parse(edited, KEY).problems
    assert problem.startswith("witness line 1 (seq 3) has an HMAC that does not verify")
    [problem] = rules.parse(forged, KEY).problems
    assert problem.startswith("witness line 3 (seq 9) has no HMAC")
    assert rules.parse(signed, b"other key").problems  # a wrong key fails every line


def test_a_torn_last_line_warns_a_broken_middle_line_fails() -> None:
    good = rules.encode(Anchor(3, h(3), "t"), None)
    log = rules.parse(good + '{"seq": 4, "ha', None)
    assert len(log.anchors) == 1 and not log.problems and "torn" in log.warnings[0]
    log = rules.parse('{"seq": 4, "ha\n' + good, None)
    assert log.problems == ["witness line 1 is not valid JSON (edited?)"]
    assert rules.parse('{"seq": 0, "hash": "x", "at": "t", "kind": "anchor"}\n', None).problems


def test_anchor_check_names_removed_changed_and_missing_entries() -> None:
    anchors = [Anchor(s, h(s), f"t{s}", line=i) for i, s in enumerate((2, 4, 6, 9), start=1)]
    check = AnchorCheck(anchors)
    for seq in range(1, 7):  # 7..9 were cut; 4 was rewritten
        check.see(seq, h(seq) if seq != 4 else h(40))
    problems = check.finish(6)
    assert problems[0].startswith(f"the entry at seq 4 has hash {h(40)[:16]}")
    assert problems[1].startswith(f"the audit log ends at seq 6 but the witness anchored seq 9 "
                                  f"(hash {h(9)[:16]}")
    assert problems[1].endswith("entries 7-9 were removed")
    assert check.first_bad == 4 and check.checked == 4
    empty = AnchorCheck(anchors)
    assert empty.finish(0)[0].startswith("the audit log is empty but the witness anchored "
                                         "seq 9")
    gap = AnchorCheck(anchors)
    for seq in (1, 3, 4, 5, 6, 7, 8, 9):
        gap.see(seq, h(seq))
    assert gap.finish(9) == ["entries anchored by the witness are missing from the log "
                             "(seq 2)"]


def test_a_refused_write_is_logged_once_and_retried(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    w = FileWitness(tmp_path / "w.log")
    w.start((1, h(1)))
    assert w._fd is not None
    good = w._fd
    w._fd = os.open(tmp_path / "w.log", os.O_RDONLY)  # writes now fail (EBADF)
    for seq in range(2, 6):
        w.observe(seq, h(seq))  # never raises into the committing thread
    time.sleep(0.3)
    assert sum("cannot write the audit witness" in r.getMessage() for r in caplog.records) == 1
    os.close(w._fd)
    w._fd = good
    w.close()  # the shutdown anchor still lands
    assert [a.seq for a in w.read().anchors] == [1, 5]
