"""`fleetmem gc run` and `fleetmem gc restore` against a data folder aged by a manual clock."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetmem.cli.main import app
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.inputs import MemoryInput
from tests.conftest import ManualClock, ServiceFactory


async def invoke(*args: str) -> tuple[int, str]:
    """Run the CLI in a thread (it runs its own event loop)."""
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args))
    return result.exit_code, result.output


@pytest.fixture
async def aged(make_service: ServiceFactory, tmp_path: Path) -> tuple[Path, str, str]:
    """A data folder whose memories were written 400 days ago (then the service closed)."""
    data = tmp_path / "aged"
    clock = ManualClock(datetime.now(UTC) - timedelta(days=400))
    service = await make_service(data_dir=data, clock=clock)
    alice = Caller("alice")
    faded = await service.remember(alice, MemoryInput(
        text="Sprint 12 demo went fine, nothing notable", kind="episode", importance=0.1))
    pinned = await service.remember(alice, MemoryInput(
        text="The production database is Postgres 16", pinned=True))
    await service.close()
    return data, faded.id, pinned.id


async def test_dry_run_json_then_run_then_restore(aged: tuple[Path, str, str]) -> None:
    data, faded, pinned = aged
    code, output = await invoke("gc", "run", "decay", "--dry-run", "--json",
                                "--data-dir", str(data))
    assert code == 0, output
    [report] = json.loads(output)
    assert report["job"] == "decay" and report["dry_run"] is True
    assert [i["id"] for i in report["items"]] == [faded]
    item = report["items"][0]
    assert item["score"] < 0.05 and item["age_days"] > 399 and "retention" in item["reason"]

    code, output = await invoke("gc", "run", "decay", "--data-dir", str(data))
    assert code == 0, output
    assert faded in output and "archived 1" in output and pinned not in output

    code, output = await invoke("gc", "restore", faded, "--json", "--data-dir", str(data))
    assert code == 0, output
    assert json.loads(output)["status"] == "active"


async def test_all_jobs_run_in_order_and_bad_names_are_refused(
        aged: tuple[Path, str, str]) -> None:
    data, _, _ = aged
    code, output = await invoke("gc", "run", "--json", "--data-dir", str(data))
    assert code == 0, output
    assert [r["job"] for r in json.loads(output)] == [
        "buffers", "superseded", "decay", "purge", "orphans", "reconcile"]
    code, output = await invoke("gc", "run", "compact", "--data-dir", str(data))
    assert code == 2 and "unknown GC job" in output


async def test_slot_option_runs_a_slot_once(aged: tuple[Path, str, str]) -> None:
    data, _, _ = aged
    args = ("gc", "run", "decay", "--slot", "2026-01-01T03", "--json", "--data-dir", str(data))
    first = json.loads((await invoke(*args))[1])[0]
    second = json.loads((await invoke(*args))[1])[0]
    assert first["skipped"] is None and first["archived"] == 1
    assert second["skipped"] is not None
