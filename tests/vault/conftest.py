"""Vault fixtures: a service with a small team graph, and helpers to run syncs on real files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.services.graph.entities import EntitySpec, RelationSpec
from fleetmem.memory.services.inputs import MemoryInput
from fleetmem.memory.services.memories.recall import RecallQuery
from fleetmem.memory.services.service import MemoryService
from fleetmem.memory.settings import VaultSettings
from fleetmem.vault.report import SyncReport
from fleetmem.vault.sync import Mode, run
from tests.conftest import ManualClock

TEAM = "team:atlas"
ALICE = Caller("alice")
DANA = "human:dana"


class Vault:
    """A vault folder on disk bound to a service and settings."""

    def __init__(self, service: MemoryService, root: Path, clock: ManualClock,
                 cfg: VaultSettings | None = None) -> None:
        self.service, self.root, self.clock = service, root, clock
        self.cfg = cfg or VaultSettings(human="dana")

    async def run(self, mode: Mode = "sync") -> SyncReport:
        report = await run(self.service, self.cfg, mode, self.root)
        assert not report.errors, report.errors
        return report

    def note(self, rel: str) -> Path:
        return self.root / rel

    def read(self, rel: str) -> str:
        return self.note(rel).read_text(encoding="utf-8")

    def write(self, rel: str, text: str) -> None:
        path = self.note(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def snapshot(self) -> dict[str, bytes]:
        return {str(p.relative_to(self.root)): p.read_bytes()
                for p in sorted(self.root.rglob("*")) if p.is_file()
                and ".fleetmem" not in p.parts}

    async def recall(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        res = await self.service.recall(Caller(DANA), RecallQuery(query=query, k=k,
                                                                  namespaces=[TEAM]))
        return [(h.memory.text, h.memory.attribution.created_by) for h in res.hits]

    async def entity(self, name: str) -> object:
        page = await self.service.open_nodes(Caller(DANA), [name], [TEAM])
        return page.entities[0] if page.entities else None

    async def memory_count(self) -> int:
        stats = await self.service.stats(Caller(DANA))
        return int(stats.total_memories)


VaultFactory = Callable[..., Awaitable[Vault]]


@pytest.fixture
async def team_vault(make_service: Callable[..., Awaitable[MemoryService]],
                     tmp_path: Path) -> Vault:
    """A service holding Alice (works at Acme) and Bob in team atlas, exported to a vault."""
    clock = ManualClock()
    service = await make_service(clock=clock)
    await service.create_entities(ALICE, [
        EntitySpec("Alice", "person", ["likes green tea", "leads the payments team"]),
        EntitySpec("Bob", "person", ["writes the release notes"]),
        EntitySpec("Acme", "organisation", ["builds rockets"]),
    ], TEAM)
    await service.create_relations(ALICE, [RelationSpec("Alice", "Acme", "works_at"),
                                           RelationSpec("Bob", "Alice", "reports_to")], TEAM)
    await service.remember(ALICE, MemoryInput(text="The deploy freeze starts on Friday",
                                              namespace=TEAM))
    clock.advance(hours=1)
    vault = Vault(service, tmp_path / "vault", clock)
    await vault.run("export")
    clock.advance(days=1)
    return vault
