"""The local socket of `fleetmem serve`: the CLI's way into the service that owns the folder.

A Unix socket in the data folder (mode 0600; a private temporary folder when the data
folder's path is too long for a socket name), announced in `serve.json`, never on the
TCP port. Reaching it means being able to open the data folder, which is what the CLI
needs to open the stores itself, so it carries the same trust: `POST /local/{operation}`
runs one of the CLI's operations (`fleetmem.api.local_ops`: act as the agent the command
names, or as the operator for GC, audit and vault work) with the same function the CLI
runs when no service owns the folder. Errors are the service's, as problem documents.

`fleetmem serve` runs it for the app's lifetime (`fleetmem.cli.composition`).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, FastAPI
from fastapi.responses import JSONResponse

from fleetmem.api import problems
from fleetmem.api.local_ops import OPS, to_jsonable
from fleetmem.api.side_server import side_server
from fleetmem.memory.errors import InvalidInput, NotFound
from fleetmem.memory.services import MemoryService
from fleetmem.memory.settings import Settings

logger = logging.getLogger(__name__)

SOCKET_FILE = "serve.sock"
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
_START_SECONDS = 10.0


def local_app(service: MemoryService) -> FastAPI:
    """The socket's app: `POST /local/{operation}` with the operation's arguments."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    problems.install(app)

    @app.post("/local/{name}")
    async def call(name: str, arguments: Annotated[dict[str, Any], Body()]) -> JSONResponse:
        op = OPS.get(name)
        if op is None:
            raise NotFound(f"no local operation {name!r}; operations: {', '.join(OPS)}",
                           field="name", rule="enum")
        if "progress" in arguments:  # a callback of the CLI's own process, never sent
            raise InvalidInput(f"{name}: progress is not an argument over the socket",
                               field="progress", rule="arguments")
        try:
            inspect.signature(op.run).bind(service, **arguments)
        except TypeError as exc:  # a CLI of another version: name the mismatch
            raise InvalidInput(f"{name}: {exc}", rule="arguments") from exc
        return JSONResponse(to_jsonable(await op.run(service, **arguments)))

    return app


def _private_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="fleetmem-"))  # mode 0700: this user only


def _bind(path: Path) -> socket.socket:
    """A listening Unix socket only this user may connect to."""
    path.unlink(missing_ok=True)  # left by a killed serve; serve.json says who owns the folder
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        os.chmod(path, 0o600)
    except OSError:
        sock.close()
        raise
    return sock


def listen(data_dir: Path) -> tuple[socket.socket, Path, Path | None]:
    """The listening socket, its path, and the private folder to remove afterwards (None:
    it is in the data folder). A data folder whose path is too long for a socket name, or
    whose filesystem has no sockets (some network and container mounts), gets a private
    temporary folder instead.

    Raises:
        OSError: no socket could be made at all.
    """
    path = data_dir / SOCKET_FILE
    if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
        try:
            return _bind(path), path, None
        except OSError as exc:
            logger.info("no socket in %s (%s); using a private temporary folder", data_dir,
                        exc.strerror)
    private = _private_folder()
    try:
        return _bind(private / SOCKET_FILE), private / SOCKET_FILE, private
    except OSError:
        shutil.rmtree(private, ignore_errors=True)
        raise


@contextlib.asynccontextmanager
async def local_socket(app: FastAPI, service: MemoryService,
                       settings: Settings) -> AsyncIterator[None]:
    """Serve the local socket for the app's lifetime; `app.state.local_socket` names it
    (for `serve.json`)."""
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        sock, path, private = listen(data_dir)
    except OSError as exc:  # the service still serves; the CLI says what is missing
        logger.warning("no local socket for the CLI (%s): CLI commands on %s will be "
                       "refused while this service runs", exc, data_dir)
        yield
        return
    try:
        async with side_server(local_app(service), sock, "local-socket"):
            app.state.local_socket = str(path)
            logger.info("local socket for the CLI at %s", path)
            yield
    finally:
        app.state.local_socket = None
        path.unlink(missing_ok=True)
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
