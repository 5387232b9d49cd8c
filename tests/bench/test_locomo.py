"""bench/locomo.py: the protocol's parsing and metrics, and the skip when data is absent
(no LoCoMo data is read here)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.locomo import by_category, dialog_ranking, gold_ids, load, ndcg_at, session_time


def test_gold_ids_follow_the_protocol() -> None:
    assert gold_ids(["D8:6; D9:17"]) == ["D8:6", "D9:17"]
    assert gold_ids(["D:11:26", "D03:07"]) == ["D11:26", "D3:7"]
    assert gold_ids(["no id"]) == []


def test_session_time_is_utc() -> None:
    assert session_time("1:56 pm on 8 May, 2023") == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)


def test_load_keeps_categories_1_to_4_with_existing_evidence(tmp_path: Path) -> None:
    data = [{"sample_id": "conv-x", "conversation": {
        "speaker_a": "A", "speaker_b": "B", "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [{"speaker": "A", "dia_id": "D1:1", "text": "hi"},
                      {"speaker": "B", "dia_id": "D1:2", "text": "I moved to Oslo"}]},
        "qa": [{"question": "Where did B move?", "evidence": ["D1:2", "D7:1"], "category": 4},
               {"question": "adversarial", "evidence": ["D1:2"], "category": 5},
               {"question": "no evidence", "evidence": [], "category": 1},
               {"question": "gone", "evidence": ["D9:9"], "category": 2}]}]
    path = tmp_path / "locomo-dev.json"
    path.write_text(json.dumps(data))
    [conv] = load(path)
    assert conv.namespace == "team:locomo-conv-x"
    assert [t.text for t in conv.turns] == ["A: hi", "B: I moved to Oslo"]
    assert [(q.text, q.gold) for q in conv.questions] == \
        [("Where did B move?", frozenset({"D1:2"}))]


def test_metrics() -> None:
    gold = frozenset({"D1:2", "D3:4"})
    assert ndcg_at(["D1:2", "D3:4", "x"], gold) == pytest.approx(1.0)
    assert 0 < ndcg_at(["x", "D1:2"], gold) < 0.5
    ranking = dialog_ranking(["m1", "m2", "m1"], {"m1": ["D1:2", "D1:3"], "m2": ["D3:4"]})
    assert ranking == ["D1:2", "D1:3", "D3:4"]
    from bench.locomo import Question
    s = by_category([Question("q", gold, 1)], [ranking])
    assert s["overall"].r5 == 1.0 and s["multi-hop"].n == 1 and s["temporal"].n == 0


def test_the_suite_skips_when_the_data_is_absent(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.locomo_suite import run_locomo
    from bench.report import Report

    monkeypatch.setenv("FLEETMEM_LOCOMO_DIR", str(tmp_path / "nowhere"))
    assert run_locomo(object(), Report()) is False  # type: ignore[arg-type]


def test_the_rest_door_serves_this_checkouts_code() -> None:
    """`--door rest` starts `python -m fleetmem.cli` with this tree's source roots first on
    PYTHONPATH: a shared venv's `fleetmem` script may be another tree's code."""
    import os
    import subprocess
    import sys

    from bench.doors import TREE, tree_command, tree_env

    assert tree_command() == [sys.executable, "-m", "fleetmem.cli"]
    env = tree_env({**os.environ, "PYTHONPATH": "elsewhere"})
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(TREE / "memory")
    assert env["PYTHONPATH"].split(os.pathsep)[-1] == "elsewhere"
    out = subprocess.run([sys.executable, "-c", "import fleetmem.memory.settings as m, "
                          "fleetmem.cli.main as c; print(m.__file__); print(c.__file__)"],
                         env=env, capture_output=True, text=True, check=True).stdout.split()
    assert all(Path(f).is_relative_to(TREE) for f in out), out
