"""`fleetmem serve`'s stderr (issue 19): one structured line per GC job run, vault sync,
conflict opened and resolved and the store repair at start; FLEETMEM_LOG_FORMAT=json makes
every line, uvicorn's included, one JSON object with ts, level, logger, message and the
agent, workflow and request ids when known; no progress bar anywhere (stderr is a file
here, not a terminal). A real serve process on real stores."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.e2e.rest_support import ALICE, BOB, rest_agents
from tests.reliability.serve import ServeProcess, serving

TEAM = "team:atlas"
EVENTS = ("store_repair", "gc_run", "vault_sync", "conflict_opened", "conflict_resolved")
BAR_MARKS = ("\r", "━", "█", "it/s]", "%|")


def _lines(serve: ServeProcess) -> list[dict[str, Any]]:
    """Every line of serve's stderr since its start, each parsed as JSON (fails on a line
    that is not JSON: uvicorn's, a library's or a bar)."""
    text = serve.log_path.read_text(errors="replace")
    body = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("--- start")]
    parsed = []
    for ln in body:
        try:
            parsed.append(json.loads(ln))
        except json.JSONDecodeError as exc:
            raise AssertionError(f"a log line is not JSON: {ln!r}") from exc
    return parsed


def _by_event(lines: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        if "event" in line:
            found.setdefault(line["event"], []).append(line)
    return found


def _make_and_resolve_conflict(client: httpx.Client) -> str:
    """alice says the owner is alice, bob says bob; alice keeps both."""
    r = client.post("/v1/entities", headers=ALICE, json={"namespace": TEAM, "entities": [
        {"name": "Payments", "entityType": "service", "observations": ["owner: alice"]}]})
    assert r.status_code == 201, r.text
    r = client.post("/v1/entities/observations", headers=BOB, json={
        "namespace": TEAM, "observations": [{"entityName": "Payments",
                                             "contents": ["owner: bob"]}]})
    assert r.status_code == 201, r.text
    (item,) = client.get("/v1/conflicts", headers=ALICE).json()["items"]
    r = client.post(f"/v1/conflicts/{item['id']}/resolve", headers=ALICE,
                    json={"keep": "both"})
    assert r.status_code == 200, r.text
    return str(item["id"])


def test_json_log_lines_of_serve(tmp_path: Path) -> None:
    agents = tmp_path / "agents.yaml"
    agents.write_text(yaml.safe_dump(rest_agents()))
    env = {"FLEETMEM_LOG_FORMAT": "json", "FLEETMEM_LOG_LEVEL": "INFO",
           "FLEETMEM_AGENTS_FILE": str(agents), "FLEETMEM_GC__ENABLED": "true",
           "FLEETMEM_GC__DECAY_SCHEDULE": "every 1s",
           "FLEETMEM_VAULT__PATH": str(tmp_path / "vault"), "FLEETMEM_VAULT__HUMAN": "dana"}
    with serving(tmp_path / "data", tmp_path / "serve.log", env=env) as serve:
        with httpx.Client(base_url=serve.base_url, timeout=60) as client:
            conflict_id = _make_and_resolve_conflict(client)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            events = _by_event(_lines(serve))
            if all(e in events for e in EVENTS):
                break
            time.sleep(0.5)
        serve.stop()
    lines = _lines(serve)
    events = _by_event(lines)
    assert all(e in events for e in EVENTS), sorted(events)
    for line in lines:
        assert {"ts", "level", "logger", "message"} <= line.keys(), line
        assert line["ts"].endswith("Z") and "T" in line["ts"], line["ts"]
    uvicorn = [ln for ln in lines if ln["logger"].startswith("uvicorn")]
    assert any("Application startup complete" in ln["message"] for ln in uvicorn)
    assert any("/v1/conflicts" in ln["message"] for ln in uvicorn
               if ln["logger"] == "uvicorn.access"), "no access line in JSON"
    assert not any("color_message" in ln for ln in lines)

    repair = events["store_repair"][0]
    assert repair["outcome"] == "clean" and "finished" in repair["counts"]
    run = events["gc_run"][0]
    assert (run["job"], run["outcome"], run["agent_id"]) == ("decay", "ok", "system:gc")
    assert "seen" in run["counts"] and run["duration_seconds"] >= 0 and run["request_id"]
    sync = events["vault_sync"][0]
    assert sync["files"] >= 0 and "written" in sync["changes"] and sync["conflicts"] == 0
    assert (sync["agent_id"], sync["workflow_id"]) == ("human:dana", "vault")
    opened = [ln for ln in events["conflict_opened"] if ln["conflict_id"] == conflict_id]
    assert opened and opened[0]["agent_id"] == "bob" and opened[0]["namespace"] == TEAM
    assert len(opened[0]["request_id"]) == 16
    (resolved,) = [ln for ln in events["conflict_resolved"]
                   if ln["conflict_id"] == conflict_id]
    assert (resolved["keep"], resolved["resolved_by"], resolved["agent_id"]) == \
        ("both", "alice", "alice")
    assert resolved["request_id"] != opened[0]["request_id"]
    text = serve.log_path.read_text(errors="replace")
    assert not any(mark in text for mark in BAR_MARKS), "a progress bar on serve's stderr"


def test_text_log_lines_of_serve(tmp_path: Path) -> None:
    """The default format: readable lines, the same events, no bars."""
    env = {"FLEETMEM_LOG_LEVEL": "INFO", "FLEETMEM_GC__ENABLED": "true",
           "FLEETMEM_GC__DECAY_SCHEDULE": "every 1s"}
    with serving(tmp_path / "data", tmp_path / "serve.log", env=env) as serve:
        deadline = time.monotonic() + 60
        while "gc decay: ok" not in serve.log_path.read_text() and \
                time.monotonic() < deadline:
            time.sleep(0.5)
        serve.stop()
    text = serve.log_path.read_text(errors="replace")
    assert "INFO fleetmem.memory.services.maintenance.jobs: gc decay: ok, seen " in text
    assert "store repair at start: finished 0" in text
    assert "INFO uvicorn.error: Application startup complete." in text
    assert not any(line.lstrip().startswith("{") for line in text.splitlines())
    assert not any(mark in text for mark in BAR_MARKS), "a progress bar on serve's stderr"
