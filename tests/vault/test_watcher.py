"""The watcher inside serve: a note edited on disk reaches the graph, a graph write reaches
the note, and its own writes do not make it sync again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, cast

import pytest

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.graph.entities import EntitySpec
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import Settings, VaultSettings
from fleetmem.vault.watcher import VaultWatcher, vault_background, watching
from tests.conftest import ManualClock
from tests.vault.conftest import ALICE, DANA, TEAM


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 60) -> bool:
    """Poll a condition; a generous bound, never a timing assertion."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        if await check():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_watcher_syncs_both_ways(make_service: Callable[..., Awaitable[MemoryService]],
                                       tmp_path: Path) -> None:
    service = await make_service(clock=ManualClock())
    await service.create_entities(ALICE, [EntitySpec("Alice", "person", ["likes tea"])], TEAM)
    cfg = VaultSettings(path=tmp_path / "vault", human="dana", debounce_ms=100,
                        poll_seconds=0.5)
    note = tmp_path / "vault" / "team atlas" / "Alice.md"
    async with watching(service, cfg) as watcher:
        assert watcher is not None
        assert await _until(lambda: _exists(note))
        note.write_text(note.read_text().replace("## Relations",
                                                 "- owns the pager\n\n## Relations"))

        async def in_graph() -> bool:
            page = await service.open_nodes(Caller(DANA), ["Alice"], [TEAM])
            return "owns the pager" in page.entities[0].observations

        assert await _until(in_graph)
        assert await _until(lambda: _contains(note, "owns the pager *(human:dana"))
        await service.add_observations(ALICE, [("Alice", ["moved to Porto"])], TEAM)
        assert await _until(lambda: _contains(note, "moved to Porto"))
        settled = watcher.syncs
        await asyncio.sleep(1.5)  # our own writes echo back as events: they must not resync
        assert not watcher.files_changed([])
        assert watcher.syncs == settled


async def _exists(path: Path) -> bool:
    return path.exists()


async def _contains(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text()


async def test_background_hook_is_inert_without_a_vault(
        make_service: Callable[..., Awaitable[MemoryService]], tmp_path: Path) -> None:
    service = await make_service()
    hook = vault_background
    cm = cast(AbstractAsyncContextManager[None], hook(None, service,
                                                     Settings(data_dir=tmp_path)))
    async with cm:
        pass
    assert not any(tmp_path.rglob("*.md"))
    # With a vault path, the same hook runs the watcher for the app's lifetime.
    await service.create_entities(ALICE, [EntitySpec("Carol", "person", ["on call"])], TEAM)
    settings = Settings(data_dir=tmp_path, vault=VaultSettings(path=tmp_path / "vault",
                                                               human="dana"))
    async with cast(AbstractAsyncContextManager[None], hook(None, service, settings)):
        assert await _until(lambda: _exists(tmp_path / "vault" / "team atlas" / "Carol.md"))


async def test_own_writes_are_not_changes(make_service: Callable[..., Awaitable[MemoryService]],
                                          tmp_path: Path) -> None:
    from watchfiles import Change

    service = await make_service(clock=ManualClock())
    await service.create_entities(ALICE, [EntitySpec("Bob", "person", ["plays bass"])], TEAM)
    watcher = VaultWatcher(service, VaultSettings(path=tmp_path / "v", human="dana"))
    await watcher.sync("test")
    note = tmp_path / "v" / "team atlas" / "Bob.md"
    assert not watcher.files_changed([(Change.modified, str(note))])
    note.write_text(note.read_text() + "- sings\n")
    assert watcher.files_changed([(Change.modified, str(note))])


async def test_a_write_landing_during_a_sync_is_synced_next(
        make_service: Callable[..., Awaitable[MemoryService]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Another agent writes after the sync read the graph and before it finished: the
    watcher must see that write as a change (it used to skip it with the sync's own
    writes, leaving it out of the vault until the next periodic full sync)."""
    import fleetmem.vault.watcher as watcher_module

    service = await make_service(clock=ManualClock())
    await service.create_entities(ALICE, [EntitySpec("Bob", "person", ["plays bass"])], TEAM)
    real_run = watcher_module.run
    late: list[str] = []

    async def run_then_write(*args: Any, **kwargs: Any) -> Any:
        report = await real_run(*args, **kwargs)
        if not late:  # the sync has read and written the vault; now alice writes
            late.append("Erin")
            await service.create_entities(ALICE, [EntitySpec("Erin", "person", ["drums"])],
                                          TEAM)
        return report

    monkeypatch.setattr(watcher_module, "run", run_then_write)
    watcher = VaultWatcher(service, VaultSettings(path=tmp_path / "v", human="dana"))
    await watcher.sync("test")
    assert not (tmp_path / "v" / "team atlas" / "Erin.md").exists()
    assert watcher.missed or await watcher.graph_changed()  # it is seen as a change
    await watcher.sync("graph changed")
    assert (tmp_path / "v" / "team atlas" / "Erin.md").exists()
    assert not watcher.missed  # its own writes alone are not a change
    assert not await watcher.graph_changed()
