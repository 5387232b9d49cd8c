"""The watcher inside serve survives hostile files (issue 21): after each one it still syncs
a normal note edit, the event loop keeps answering, and /readyz and /metrics say whether the
vault is syncing."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from fleetmem.api.app import create_app
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.graph.entities import EntitySpec
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import Settings, VaultSettings
from fleetmem.vault.watcher import VaultWatcher, vault_background, watching
from tests.conftest import ManualClock
from tests.vault.conftest import ALICE, DANA, TEAM
from tests.vault.test_hostile_files import BOMB, DEEP
from tests.vault.test_watcher import _until


def _cfg(tmp_path: Path) -> VaultSettings:
    return VaultSettings(path=tmp_path / "vault", human="dana", debounce_ms=100,
                         poll_seconds=0.5, restart_max_seconds=0.2)


async def _edit_reaches_graph(service: MemoryService, note: Path, text: str) -> bool:
    note.write_text(note.read_text().replace("## Relations", f"- {text}\n\n## Relations"))

    async def in_graph() -> bool:
        page = await service.open_nodes(Caller(DANA), ["Alice"], [TEAM])
        return text in page.entities[0].observations

    async def written_back() -> bool:  # the next edit must not race the watcher's write
        return f"{text} *(human:dana" in note.read_text()

    return await _until(in_graph, 30) and await _until(written_back, 30)


class _Unblocker(threading.Thread):
    """Whoever opens the FIFO for reading is held 3 s, then released (EOF): without it a
    blocked reader would hang the test run instead of failing it."""

    def __init__(self, fifo: Path) -> None:
        super().__init__(daemon=True)
        self.fifo, self.stop, self.readers = fifo, threading.Event(), 0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # no reader (ENXIO) or gone
                time.sleep(0.05)
                continue
            self.readers += 1
            time.sleep(3)
            os.close(fd)


async def test_watcher_keeps_syncing_after_each_hostile_file(
        make_service: Callable[..., Awaitable[MemoryService]], tmp_path: Path) -> None:
    service = await make_service(clock=ManualClock())
    await service.create_entities(ALICE, [EntitySpec("Alice", "person", ["likes tea"])], TEAM)
    cfg = _cfg(tmp_path)
    folder = tmp_path / "vault" / "team atlas"
    note = folder / "Alice.md"
    state = tmp_path / "vault" / ".fleetmem" / "state.json"
    async with watching(service, cfg) as watcher:
        assert watcher is not None
        assert await _until(lambda: _exists(note))
        (folder / "evil.md").mkdir()
        assert await _edit_reaches_graph(service, note, "after a directory named evil.md")
        (folder / "Deep.md").write_text(DEEP)
        assert await _edit_reaches_graph(service, note, "after deep brackets")
        (folder / "Bomb.md").write_text(BOMB)
        assert await _edit_reaches_graph(service, note, "after an alias bomb")
        data = json.loads(state.read_text())
        data["notes"]["team atlas/Ghost.md"] = ["not", "an", "entry"]
        state.write_text(json.dumps(data))
        assert await _edit_reaches_graph(service, note, "after a malformed state entry")
        assert watcher.restarts == 0 and watcher.status.status == "syncing"


async def test_a_fifo_never_freezes_the_service(
        make_service: Callable[..., Awaitable[MemoryService]], tmp_path: Path) -> None:
    service = await make_service(clock=ManualClock())
    await service.create_entities(ALICE, [EntitySpec("Alice", "person", ["likes tea"])], TEAM)
    cfg = _cfg(tmp_path)
    note = tmp_path / "vault" / "team atlas" / "Alice.md"
    client = httpx.AsyncClient(transport=httpx.ASGITransport(
        app=create_app(Settings(data_dir=tmp_path / "data"), service=service)),
        base_url="http://fleetmem")
    async with watching(service, cfg) as watcher:
        assert watcher is not None
        assert await _until(lambda: _exists(note))
        fifo = note.with_name("pipe.md")
        os.mkfifo(fifo)
        unblock = _Unblocker(fifo)
        unblock.start()
        worst = 0.0
        loop = asyncio.get_running_loop()
        end = loop.time() + 8  # the watcher's debounce lets a batch through within ~5 s
        try:
            while loop.time() < end:
                t0 = time.monotonic()
                assert (await client.get("/healthz")).status_code == 200
                await asyncio.sleep(0.05)
                worst = max(worst, time.monotonic() - t0)
        finally:
            unblock.stop.set()
        assert worst < 1.0, f"the event loop stalled {worst:.1f} s"
        assert unblock.readers == 0
        assert await _edit_reaches_graph(service, note, "after a FIFO")
    await client.aclose()


async def _exists(path: Path) -> bool:
    return path.exists()


class _FailsOnce(VaultWatcher):
    """The real watcher whose first run meets an unexpected error (a bug to survive)."""

    failed = False

    async def run(self, stop: asyncio.Event) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("unexpected")
        await super().run(stop)


async def test_the_watcher_restarts_after_an_unexpected_error(
        make_service: Callable[..., Awaitable[MemoryService]], tmp_path: Path) -> None:
    service = await make_service(clock=ManualClock())
    await service.create_entities(ALICE, [EntitySpec("Alice", "person", ["likes tea"])], TEAM)
    watcher = _FailsOnce(service, _cfg(tmp_path))
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.supervise(stop))
    note = tmp_path / "vault" / "team atlas" / "Alice.md"
    assert await _until(lambda: _exists(note), 30)
    assert watcher.restarts == 1 and watcher.status.status == "syncing"
    assert await _edit_reaches_graph(service, note, "after a restart")
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_readyz_and_metrics_show_a_degraded_vault(
        make_service: Callable[..., Awaitable[MemoryService]], tmp_path: Path) -> None:
    service = await make_service(clock=ManualClock())
    await service.create_entities(ALICE, [EntitySpec("Alice", "person", ["likes tea"])], TEAM)
    settings = Settings(data_dir=tmp_path / "data", vault=_cfg(tmp_path))
    app = create_app(settings, service=service)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                               base_url="http://fleetmem")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    async with vault_background(app, service, settings):

        async def vault_is(status: str) -> bool:
            body = (await client.get("/readyz")).json()
            return bool(body.get("vault", {}).get("status") == status)

        assert await _until(lambda: vault_is("syncing"), 30)
        metrics = (await client.get("/metrics")).text
        assert "fleetmem_vault_syncing 1.0" in metrics
        trash = tmp_path / "vault" / ".fleetmem" / "trash"
        if trash.exists():
            trash.rmdir()
        trash.symlink_to(elsewhere, target_is_directory=True)
        (tmp_path / "vault" / "team atlas" / "Alice.md").write_text("- edited\n")
        assert await _until(lambda: vault_is("degraded"), 30)
        resp = await client.get("/readyz")
        assert resp.status_code == 200
        vault = resp.json()["vault"]
        assert "symlink" in vault["reason"] and "atlas" not in json.dumps(vault)
        assert "fleetmem_vault_syncing 0.0" in (await client.get("/metrics")).text
        trash.unlink()
        (tmp_path / "vault" / "team atlas" / "Alice.md").write_text("- edited again\n")
        assert await _until(lambda: vault_is("syncing"), 30)
    await client.aclose()
    assert not any(elsewhere.rglob("*"))
