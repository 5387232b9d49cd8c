# ruff: noqa: F811  (pytest fixtures are imported from rest_support and used as arguments)
"""REST /v1/audit/verify and /v1/audit/head: an admin agent sees the chain checked
against the witness (a cut tail fails, naming the removed seqs); nobody else may."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.rest_support import (  # noqa: F401 - fixtures
    ALICE,
    RestApi,
    api,
    assert_problem,
    rest_agents,
)

pytestmark = pytest.mark.asyncio
OPS = {"Authorization": "Bearer ops-key"}


@pytest.fixture
def agents_file(tmp_path: Path) -> Path:
    """The REST agents plus `ops`, an admin agent with a key."""
    data = rest_agents()
    data["agents"]["ops"] = {"key_sha256": hashlib.sha256(b"ops-key").hexdigest(),
                             "roles": ["writer"], "admin": True}
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def _head(api: RestApi) -> dict[str, Any]:
    for _ in range(500):  # until the witness's writer thread anchored the head
        r = await api.client.get("/v1/audit/head", headers=OPS)
        assert r.status_code == 200, r.text
        head: dict[str, Any] = r.json()
        if head["witness"]["seq"] == head["seq"]:
            return head
        await asyncio.sleep(0.01)
    raise AssertionError(head)


async def test_an_admin_verifies_and_sees_a_cut_tail(api: RestApi, tmp_path: Path) -> None:
    for i in range(6):
        await api.remember(f"deploy note {i}")
    head = await _head(api)
    assert head["seq"] >= 6 and head["witness"]["enabled"] is True
    assert head["witness"]["hash"] == head["hash"]
    r = await api.client.get("/v1/audit/verify", headers=OPS)
    assert r.status_code == 200 and r.json()["ok"] is True, r.text

    top = head["seq"]
    with sqlite3.connect(tmp_path / "data" / "graph.sqlite3") as conn:
        conn.execute("DELETE FROM audit WHERE seq > ?", (top - 2,))
    report = (await api.client.get("/v1/audit/verify", headers=OPS)).json()
    assert report["ok"] is False and report["head_seq"] == top - 2
    assert report["witness"]["seq"] == top
    assert any(p.endswith(f"entries {top - 1}-{top} were removed") for p in report["problems"])


async def test_only_admins_verify_the_audit(api: RestApi) -> None:
    for path in ("/v1/audit/verify", "/v1/audit/head"):
        body = assert_problem(await api.client.get(path, headers=ALICE), 403, rule="admin_only")
        assert "admin" in body["detail"]
