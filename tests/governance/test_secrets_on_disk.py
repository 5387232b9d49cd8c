"""No secret written through any door of the service reaches a file under the data dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import FleetmemError
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from tests.conftest import ServiceFactory

SECRETS = [f"Hunter2Secret{i:02d}xyz" for i in range(12)]
AWS_KEY = "AKIAQWERTYUIOPASDFGH"
MARKER = "zebracrossingmarker"


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def test_no_secret_appears_anywhere_on_disk(make_service: ServiceFactory,
                                                  tmp_path: Path) -> None:
    data = tmp_path / "secret-data"
    service = await make_service(data_dir=data)
    alice = Caller("alice", workflow_id="wf-secret", session_id="s1")
    s = SECRETS

    first = await service.remember(alice, MemoryInput(
        text=f"{MARKER}: the deploy user has password={s[0]}"))
    assert first.redactions == 1
    await service.remember_batch(alice, [
        MemoryInput(text=f"CI reads AWS key {AWS_KEY} from the vault", namespace="team:atlas"),
        MemoryInput(text=f"postgres://app:{s[1]}@db.internal:5432/app is the primary"),
    ])
    corrected = await service.correct(alice, first.id, f"the deploy user has token={s[2]}",
                                      reason=f"rotated; old secret={s[3]}")
    await service.share(alice, corrected.id, "team:atlas")
    await service.buffer_append(alice, "s1", f"tool said api_key: {s[4]} for staging")
    await service.buffer_append(alice, "s1", f"Authorization: Bearer {s[5]}abcdefgh")
    await service.consolidate(alice, "s1")
    await service.create_entities(alice, [
        EntitySpec("Staging DB", "database", observations=[f"root password={s[6]}"]),
        EntitySpec("Deployer", "service", observations=["runs nightly"]),
    ], "team:atlas")
    await service.add_observations(alice, [("Staging DB", [f"replica secret: {s[7]}"])],
                                   "team:atlas")
    await service.create_relations(alice, [RelationSpec("Deployer", "Staging DB", "writes_to")],
                                   "team:atlas")
    await service.delete_observations(alice, [("Staging DB", [f"replica secret: {s[7]}"])],
                                      "team:atlas")
    await service.recall(alice, RecallQuery(query=f"password={s[8]} staging"))
    await service.search_nodes(alice, f"token={s[9]}")
    with pytest.raises(FleetmemError):  # refused: the namespace text lands in the audit
        await service.remember(alice, MemoryInput(text="x" * 20,
                                                  namespace=f"team:x password={s[10]}"))
    with pytest.raises(FleetmemError):  # refused by role: the text must not be audited
        await service.remember(Caller("rita"), MemoryInput(text=f"pwd={s[11]} for rita"))
    await service.flush()
    assert await service.operator.verify_audit() is None
    await service.close()

    files = _files(data)
    assert any(p.suffix == ".sqlite3" for p in files)
    assert any("vectors" in p.parts for p in files)  # the Qdrant Edge folder was written
    blobs = {p: p.read_bytes() for p in files}
    assert any(MARKER.encode() in b for b in blobs.values()), "the grep must see stored text"
    assert any(b"[REDACTED]" in b for b in blobs.values())
    for secret in [*SECRETS, AWS_KEY]:
        leaked = [str(p.relative_to(data)) for p, b in blobs.items()
                  if secret.encode() in b or secret.encode("utf-16-le") in b]
        assert not leaked, f"{secret} found in {leaked}"
