"""A vault export reports its progress through the callback the CLI renders (issue 19)."""

from __future__ import annotations

from fleetmem.vault.sync import run
from tests.vault.conftest import Vault


async def test_export_reports_the_notes_it_went_through(team_vault: Vault) -> None:
    heard: list[tuple[str, int, int | None]] = []
    report = await run(team_vault.service, team_vault.cfg, "export", team_vault.root,
                       progress=lambda *step: heard.append(step))
    assert not report.errors
    assert heard and {stage for stage, _, _ in heard} == {"notes"}
    stage, done, total = heard[-1]
    assert done == total and total is not None and total >= 4  # 3 entities, 1 day, index
    assert [d for _, d, _ in heard] == sorted(d for _, d, _ in heard)
