"""Backup while the service writes, restore elsewhere: the snapshot's memories come back
recallable (vector index rebuilt from the graph), later writes do not."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from fleetmem.memory.bootstrap import backup_embedded, restore_embedded
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import Conflict, InvalidInput
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.settings import Settings
from tests.conftest import ServiceFactory

ALICE = Caller("alice")


async def test_online_backup_round_trip(tmp_path: Path, make_service: ServiceFactory) -> None:
    live_dir, restored_dir = tmp_path / "live", tmp_path / "restored"
    live = await make_service(data_dir=live_dir)
    kept = [await live.remember(ALICE, MemoryInput(text=t)) for t in (
        "The analytics warehouse refreshes nightly at 02:00",
        "Incident reviews happen every Thursday")]
    target = tmp_path / "backups" / "fm.tar.gz"
    manifest = backup_embedded(Settings(data_dir=live_dir), target)  # while live is open
    assert manifest["counts"]["memories"] == 2  # type: ignore[index]
    later = await live.remember(ALICE, MemoryInput(text="Written after the backup was taken"))

    restore_embedded(Settings(data_dir=restored_dir), target)
    restored = await make_service(data_dir=restored_dir)
    assert await restored.ctx.vectors.count() == 2  # rebuilt from the graph by repair
    for r in kept:
        assert (await restored.get(ALICE, r.id)).attribution.created_by == "alice"
    hits = (await restored.recall(ALICE, RecallQuery(query="when does the warehouse refresh"))).hits
    assert hits[0].memory.id == kept[0].id
    assert later.id not in [h.memory.id for h in (await restored.recall(
        ALICE, RecallQuery(query="written after the backup"))).hits]
    assert await restored.operator.verify_audit() is None


async def test_a_forced_restore_keeps_the_old_witness_aside(
        tmp_path: Path, make_service: ServiceFactory) -> None:
    data = tmp_path / "d"
    svc = await make_service(data_dir=data)
    await svc.remember(ALICE, MemoryInput(text="in the backup"))
    target = tmp_path / "b.tar.gz"
    backup_embedded(Settings(data_dir=data), target)
    for i in range(3):
        await svc.remember(ALICE, MemoryInput(text=f"after the backup {i}"))
    await svc.close()
    manifest = restore_embedded(Settings(data_dir=data), target, force=True)
    aside = data / str(manifest["witness_moved_to"])
    assert aside.name.startswith("audit-witness.log.before-restore-") and aside.exists()
    restored = await make_service(data_dir=data)  # the older log verifies: new witness
    assert await restored.operator.verify_audit() is None
    assert (data / "audit-witness.log").exists()


async def test_restore_refuses_to_clobber_and_rejects_foreign_files(
        tmp_path: Path, make_service: ServiceFactory) -> None:
    data = tmp_path / "d"
    svc = await make_service(data_dir=data)
    await svc.remember(ALICE, MemoryInput(text="something worth keeping safe"))
    target = tmp_path / "b.tar.gz"
    backup_embedded(Settings(data_dir=data), target)
    with pytest.raises(Conflict):
        restore_embedded(Settings(data_dir=data), target)
    bogus = tmp_path / "bogus.tar.gz"
    with tarfile.open(bogus, "w:gz") as tar:
        tar.add(target, arcname="../../evil")
    with pytest.raises(InvalidInput):
        restore_embedded(Settings(data_dir=tmp_path / "new"), bogus)
    assert not (tmp_path.parent / "evil").exists()
