"""A second, small uvicorn server inside `fleetmem serve` (the CLI's local socket, the
operator metrics port): it serves one app on a bound socket for as long as the main app
runs, leaves signal handling to the main server, and logs rather than raises if it stops
with an error."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Generator
from typing import Any

logger = logging.getLogger(__name__)

START_SECONDS = 10.0


@contextlib.asynccontextmanager
async def side_server(app: Any, sock: socket.socket, name: str) -> AsyncIterator[None]:
    """Serve `app` on `sock` while the block runs (started when the block is entered;
    stopped, awaited and `sock` closed when it is left). `name` names the task and the
    error log line."""
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield  # the main server handles signals and ends this one via the lifespan

    # No log_config/log_level/access_log=False: uvicorn would reconfigure the main server's
    # loggers (access_log=False empties uvicorn.access for every server in the process).
    server = _Server(uvicorn.Config(app, lifespan="off", log_config=None, log_level=None))
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"fleetmem-{name}")
    try:
        async with asyncio.timeout(START_SECONDS):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        yield
    finally:
        server.should_exit = True
        try:
            await task
        except Exception:
            logger.exception("the %s stopped with an error", name.replace("-", " "))
        sock.close()
