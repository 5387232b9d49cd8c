"""Plumbing for the MCP transport tests: a real uvicorn in the test loop, SDK clients
with headers, and `fleetmem mcp` stdio processes with the service they start."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from fleetmem.mcp_server.launcher import read_state

FLEETMEM = str(Path(sys.executable).parent / "fleetmem")


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn inside the test's event loop; yield its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.asynccontextmanager
async def http_client(url: str, headers: dict[str, str] | None = None,
                      mode: str = "auto") -> AsyncIterator[Client]:
    """An SDK client on a streamable HTTP endpoint, sending `headers` on every request."""
    async with create_mcp_http_client(headers=headers) as http, \
            Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def stdio_env(data_dir: Path, port: int, agents_file: Path | None = None,
              **extra: str) -> dict[str, str]:
    """Environment of a `fleetmem mcp` process for one data dir (port for its service)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETMEM_")}
    env.update({"FLEETMEM_DATA_DIR": str(data_dir), "FLEETMEM_PORT": str(port),
                "FLEETMEM_HOST": "127.0.0.1", "HF_HUB_OFFLINE": "1",
                "FLEETMEM_LOG_LEVEL": "WARNING", **extra})
    if agents_file is not None:
        env["FLEETMEM_AGENTS_FILE"] = str(agents_file)
    return env


def stdio_client(env: dict[str, str], mode: str = "auto") -> Client:
    """An SDK client that launches `fleetmem mcp` over stdio."""
    return Client(StdioServerParameters(command=FLEETMEM, args=["mcp"], env=env), mode=mode)


def stop_serve(data_dir: Path) -> None:
    """Stop the `fleetmem serve` a test's shims started for `data_dir` (by its pid)."""
    info = read_state(data_dir)
    if info is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(info.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(info.pid, signal.SIGKILL)
