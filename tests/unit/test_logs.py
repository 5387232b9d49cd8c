"""The log set-up (issue 19): text or JSON lines on stderr, the service call's ids on the
lines logged inside it, structured fields of `event`; and the CLI's progress bars, drawn
on a terminal only."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
from rich.console import Console

from fleetmem.cli.progress import bar, new_progress
from fleetmem.memory import logs
from fleetmem.memory.services import no_progress


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_lines_carry_the_call_ids_and_event_fields(
        capsys: pytest.CaptureFixture[str], restore_logging: None) -> None:
    logs.configure("INFO", "json")
    log = logging.getLogger("fleetmem.test")
    log.info("outside any call")
    with logs.bound("alice", "wf-1") as ids:
        logs.event(log, "gc_run", "gc decay: ok", job="decay", counts={"seen": 2})
        log.warning("explicit wins", extra={"agent_id": "bob"})
    log.debug("below the level")
    outside, inside, explicit = (json.loads(x) for x in capsys.readouterr().err.splitlines())
    assert outside.keys() == {"ts", "level", "logger", "message"}
    assert (outside["level"], outside["logger"]) == ("INFO", "fleetmem.test")
    assert inside == inside | {"message": "gc decay: ok", "event": "gc_run", "job": "decay",
                               "counts": {"seen": 2}, "agent_id": "alice",
                               "workflow_id": "wf-1", "request_id": ids.request_id}
    assert explicit["agent_id"] == "bob" and explicit["request_id"] == ids.request_id
    assert logs.current_ids() is None


def test_a_none_id_is_left_out(capsys: pytest.CaptureFixture[str],
                               restore_logging: None) -> None:
    logs.configure("INFO", "json")
    with logs.bound("alice", None):
        logging.getLogger("x").info("m", extra={"workflow_id": None})
    line = json.loads(capsys.readouterr().err)
    assert "workflow_id" not in line and line["agent_id"] == "alice"


def test_tasks_started_in_a_call_keep_its_ids(capsys: pytest.CaptureFixture[str],
                                              restore_logging: None) -> None:
    logs.configure("INFO", "json")

    async def main() -> None:
        with logs.bound("alice", None):
            await asyncio.create_task(asyncio.sleep(0, logging.getLogger("x").info("t")))

    asyncio.run(main())
    assert json.loads(capsys.readouterr().err)["agent_id"] == "alice"


def test_text_is_the_default(capsys: pytest.CaptureFixture[str],
                             restore_logging: None) -> None:
    logs.configure("INFO")
    with logs.bound("alice", None):
        logs.event(logging.getLogger("fleetmem.t"), "e", "hello", n=1)
    line = capsys.readouterr().err.strip()
    assert line.endswith(" INFO fleetmem.t: hello") and not line.startswith("{")


def test_no_bar_when_stderr_is_not_a_terminal() -> None:
    quiet = Console(file=io.StringIO(), force_terminal=False)
    assert new_progress(quiet) is None
    with bar("vault export", quiet) as progress:
        assert progress is no_progress
        progress("notes", 1, 2)
    assert quiet.file.getvalue() == ""  # type: ignore[attr-defined]


def test_a_bar_per_stage_on_a_terminal() -> None:
    tty = Console(file=io.StringIO(), force_terminal=True, width=100)
    with bar("migrate", tty) as progress:
        progress("memories", 5, 10)
        progress("memories", 10, 10)
        progress("audit events", 7, None)
    shown = tty.file.getvalue()  # type: ignore[attr-defined]
    assert "migrate: memories" in shown and "10/10" in shown
    assert "migrate: audit events" in shown
