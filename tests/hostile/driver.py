"""The hostile agents of the hostile-fleet tier, in their own process (so their CPU work,
2 MB request bodies and thousands of sockets do not delay the victim's client, whose
latency is what is measured): `alice` floods batches of maximum-size texts from several
clients, `mallory` opens MCP sessions she never closes and connections that never finish
their headers. Runs until the stop file exists; writes what it saw to OUT.json, and its
progress (sessions opened so far) to OUT.json.progress every second.

Usage: python -m tests.hostile.driver PLAN.json OUT.json
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import sys
import traceback
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from tests.hostile.attackers import (
    FLOOD_ADDRESS,
    HOARD_ADDRESS,
    Flood,
    Hoard,
    SlowConnections,
    client,
    flood,
    hoard,
    slow_connection,
)


def raise_fd_limit() -> int:
    """Soft open-file limit raised to the hard one; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def _progress(path: Path, hoarded: Hoard, slow: SlowConnections,
                    stop: asyncio.Event) -> None:
    while not stop.is_set():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"sessions": hoarded.sessions, "open_slow": slow.open_now}))
        tmp.replace(path)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def _until_stop_file(path: Path, stop: asyncio.Event) -> None:
    """Until the stop file exists, or the orchestrator is gone (never outlive it)."""
    parent = os.getppid()
    while not path.exists() and os.getppid() == parent:
        await asyncio.sleep(0.2)
    stop.set()


async def run(plan: dict[str, Any], out_path: Path) -> dict[str, Any]:
    base, port = plan["base_url"], plan["port"]
    stop = asyncio.Event()
    floods, hoarded = Flood(), Hoard()
    floods.batch_size, floods.text_chars = plan["flood_shape"]
    slow = SlowConnections(target=min(plan["slow_connections"], raise_fd_limit() - 300))
    async with client(base, FLOOD_ADDRESS, 900, plan["keys"]["alice"],
                      connections=max(1, plan["flood_clients"])) as alice, \
            client(base, HOARD_ADDRESS, 60, plan["keys"]["mallory"], connections=16) as mal:
        shape = (floods.batch_size, floods.text_chars)
        tasks = [asyncio.create_task(flood(alice, n, stop, floods, shape))
                 for n in range(plan["flood_clients"])]
        tasks += [asyncio.create_task(slow_connection(port, stop, slow))
                  for _ in range(slow.target)]
        waiters = [asyncio.create_task(hoard(mal, plan["sessions"], stop, hoarded)),
                   asyncio.create_task(_progress(Path(str(out_path) + ".progress"),
                                                 hoarded, slow, stop))]
        await _until_stop_file(Path(plan["stop_file"]), stop)
        for task in tasks:  # in-flight batches and held connections end here
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*waiters, return_exceptions=True)
    return {"flood": plain(floods), "hoard": plain(hoarded), "slow": plain(slow)}


def plain(obj: Any) -> Any:
    """A dataclass as JSON-ready data (`dataclasses.asdict` mangles Counter fields)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    return obj


def main(plan_path: str, out_path: str) -> int:
    plan = json.loads(Path(plan_path).read_text())
    try:
        result = asyncio.run(run(plan, Path(out_path)))
    except Exception:  # the orchestrator reports it; the JSON must still be written
        result = {"error": traceback.format_exc()}
    tmp = Path(out_path + ".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
