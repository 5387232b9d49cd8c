"""How a CLI command reaches the service of its data folder.

`fleetmem.api.owner.locate` decides, as for the MCP stdio shim: when `fleetmem serve` owns
the folder, the command's operation goes to it over its local socket (the service's
rules, errors and stores); when none does, the command opens the stores itself. Commands
that replace the folder's contents (restore, migrate, `mcp --direct`, `vault watch`)
refuse while an owner runs and name its pid.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from fleetmem.api.local_ops import Op
from fleetmem.api.owner import STATE_FILE, OwnerUnreachable, ServeInfo, locate
from fleetmem.memory.errors import FleetmemError
from fleetmem.memory.settings import Settings

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")
logger = logging.getLogger(__name__)


class ServiceError(FleetmemError):
    """An error the running service answered with (its code and message, unchanged)."""

    def __init__(self, code: str, status: int, message: str, *, field: str | None = None,
                 rule: str | None = None) -> None:
        super().__init__(message, field=field, rule=rule)
        self.code = code
        self.status = status


def owner_of(settings: Settings) -> ServeInfo | None:
    """The running service to go through, or None to open the stores here; a live owner
    that does not answer (or has no local socket) ends the command with the reason."""
    from fleetmem.cli.common import err

    data_dir = Path(settings.data_dir)
    try:
        info = locate(data_dir, wait=settings.mcp.start_timeout)
    except OwnerUnreachable as exc:
        err.print(f"[red]error[/red]: {exc}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from exc
    if info is not None and info.socket is None:
        err.print(f"[red]error[/red]: fleetmem serve (pid {info.pid}) owns {data_dir} but "
                  "offers no local socket (an older version?); restart it, or stop it to "
                  "let this command open the stores", soft_wrap=True, highlight=False)
        raise typer.Exit(2)
    return info


def call_owner(info: ServeInfo, op: Op[T], arguments: dict[str, Any]) -> T:
    """Run `op` on the owner's service; its errors come back as `ServiceError`.

    Raises:
        ServiceError: the service refused the call, or could not be reached.
    """
    import httpx  # here: only a command that goes to a running serve needs a client

    assert info.socket is not None
    transport = httpx.HTTPTransport(uds=info.socket)
    try:
        with httpx.Client(transport=transport, base_url="http://fleetmem.local",
                          timeout=httpx.Timeout(None, connect=10.0)) as client:
            response = client.post(f"/local/{op.name}", json=arguments)
    except httpx.HTTPError as exc:
        raise ServiceError("unavailable", 503, f"cannot reach fleetmem serve (pid "
                           f"{info.pid}) at {info.socket}: {exc}") from exc
    if response.status_code >= 400:
        raise _problem(info, response)
    return op.result.validate_python(response.json())


def _problem(info: ServeInfo, response: httpx.Response) -> ServiceError:
    """The service's problem document as the error it was raised as."""
    try:
        problem = response.json()
        return ServiceError(str(problem["code"]), response.status_code, str(problem["detail"]),
                            field=problem.get("field"), rule=problem.get("rule"))
    except (ValueError, KeyError, TypeError):
        return ServiceError("internal", response.status_code,
                            f"fleetmem serve (pid {info.pid}) answered "
                            f"{response.status_code}: {response.text[:500]}")


def embedded(settings: Settings) -> bool:
    """Whether a store lives in the data folder (SQLite graph or Qdrant Edge vectors),
    locked to one process; server backends are shared by any number of processes."""
    return settings.graph.backend == "sqlite" or settings.vector.backend == "edge"


def refuse_if_owned(data_dir: Path, command: str) -> None:
    """End a command that needs the folder to itself while a service owns it (naming the
    pid); a stale `serve.json` is reported and does not stop it."""
    from fleetmem.cli.common import err

    try:
        info = locate(data_dir)
    except OwnerUnreachable as exc:  # alive but not answering: still the owner
        pid: int | None = exc.pid
    else:
        pid = info.pid if info is not None else None
    if pid is not None:
        err.print(f"[red]error[/red]: fleetmem serve (pid {pid}) owns {data_dir} (see "
                  f"{data_dir / STATE_FILE}); `{command}` needs the folder to itself: stop "
                  f"the service first (e.g. `kill {pid}`), then run it again",
                  soft_wrap=True, highlight=False)
        raise typer.Exit(2)
