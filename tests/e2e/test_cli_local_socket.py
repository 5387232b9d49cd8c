"""The local socket `fleetmem serve` offers the CLI (issue 19), on a real service: private,
in a temporary folder when the data folder's path is too long for a socket name, and
answering with the service's own errors."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from fastapi import FastAPI

from fleetmem.api.local_door import local_socket
from fleetmem.api.local_ops import (
    AUDIT_QUERY,
    AUDIT_VERIFY,
    CONFLICTS_LIST,
    FORGET,
    GC_RUN,
    RECALL,
    REMEMBER,
    STATS,
    to_jsonable,
)
from fleetmem.api.owner import ServeInfo
from fleetmem.cli.reach import ServiceError, call_owner
from fleetmem.memory.settings import Settings
from tests.conftest import ServiceFactory


async def test_a_long_data_folder_path_gets_a_private_socket(make_service: ServiceFactory,
                                                              tmp_path: Path) -> None:
    data = tmp_path / ("d" * 120)
    service = await make_service(data_dir=data)
    app = FastAPI()
    async with local_socket(app, service, Settings(data_dir=data)):
        path = Path(app.state.local_socket)
        assert not path.is_relative_to(data)
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700
        info = ServeInfo(os.getpid(), "127.0.0.1", 9, str(path))
        stats = await asyncio.to_thread(call_owner, info, STATS, {"agent": "alice"})
        assert stats.agent_id == "alice"
        with pytest.raises(ServiceError) as bad:
            await asyncio.to_thread(call_owner, info, FORGET,
                                    {"agent": "alice", "memory_id": "not-an-id"})
        assert bad.value.code == "invalid_input" and "UUID" in bad.value.message
    assert not path.exists() and not path.parent.exists()


async def test_json_output_is_the_same_on_both_paths(make_service: ServiceFactory,
                                                      tmp_path: Path) -> None:
    """What `--json` prints over the socket (the result read back from the service's JSON)
    is what it prints on stores opened here (the result itself)."""
    service = await make_service(data_dir=tmp_path / "data")
    calls = [(REMEMBER, {"agent": "alice", "text": "The VPN gateway is vpn-2",
                         "namespace": None, "kind": "fact", "importance": 0.5, "tags": ["net"],
                         "pinned": False}),
             (RECALL, {"agent": "alice", "query": "vpn gateway", "k": 5, "namespaces": None}),
             (STATS, {"agent": "alice"}),
             (AUDIT_VERIFY, {}),
             (AUDIT_QUERY, {"as_agent": None, "limit": 10, "newest_first": True}),
             (CONFLICTS_LIST, {"agent": "alice", "status": None, "namespace": None,
                               "limit": 10}),
             (GC_RUN, {"job": None, "dry_run": True, "slot": None, "owner": "test"})]
    for op, arguments in calls:
        local = to_jsonable(await op.run(service, **arguments))
        assert to_jsonable(op.result.validate_python(local)) == local, op.name
