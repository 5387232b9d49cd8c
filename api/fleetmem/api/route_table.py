"""Routes declared where they are written and built once, on the served app.

FastAPI builds a route's parameter, body and response models (pydantic type adapters,
about a dozen per route here) when the route is added to an `APIRouter`, and builds them
again for every router it is included into, the app's own inclusion lazily, on the first
request that reaches it. With `APIRouter` modules included through an intermediate router,
`fleetmem serve` built every /v1 route three times: twice before it could answer (about
0.4 s of CPU on this machine) and once more in the first request to it.

A `RouteTable` has the decorators of an `APIRouter` (`get`, `post`, `patch`, `delete`,
with the same keyword arguments) but only records the routes; `install` adds them to the
app's router, where each is built once and served as it is. The OpenAPI document, paths,
names and tags are those the same `APIRouter` would give. `DeferredRoutes` builds some
tables after the app is ready instead of before (`fleetmem serve`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import APIRouter, FastAPI
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

if TYPE_CHECKING:
    from fleetmem.memory.services import MemoryService

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class _Route:
    path: str
    method: str
    endpoint: Callable[..., Any]
    options: dict[str, Any]


@dataclass
class RouteTable:
    """The routes of one module: `prefix` and `tags` as for an `APIRouter`."""

    prefix: str = ""
    tags: list[str] = field(default_factory=list)
    routes: list[_Route] = field(default_factory=list)

    def _route(self, method: str, path: str, options: dict[str, Any]) -> Callable[[F], F]:
        def record(endpoint: F) -> F:
            self.routes.append(_Route(self.prefix + path, method, endpoint, options))
            return endpoint

        return record

    def get(self, path: str, **options: Any) -> Callable[[F], F]:
        """Record a GET route (keyword arguments as for `APIRouter.get`)."""
        return self._route("GET", path, options)

    def post(self, path: str, **options: Any) -> Callable[[F], F]:
        """Record a POST route (keyword arguments as for `APIRouter.post`)."""
        return self._route("POST", path, options)

    def patch(self, path: str, **options: Any) -> Callable[[F], F]:
        """Record a PATCH route (keyword arguments as for `APIRouter.patch`)."""
        return self._route("PATCH", path, options)

    def delete(self, path: str, **options: Any) -> Callable[[F], F]:
        """Record a DELETE route (keyword arguments as for `APIRouter.delete`)."""
        return self._route("DELETE", path, options)

    def install(self, router: APIRouter) -> None:
        """Build every recorded route on `router` (the app's: `app.router`), in order."""
        for r in self.routes:
            options = dict(r.options)
            tags = [*self.tags, *options.pop("tags", [])]
            router.add_api_route(r.path, r.endpoint, methods=[r.method], tags=tags or None,
                                 **options)


class _StandIn(Route):
    """A deferred route's place: any request it matches, by path alone or by path and
    method, goes to the `DeferredRoutes` (so that a 405 too comes from the real route)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class DeferredRoutes:
    """Route tables that `fleetmem serve` builds once it is ready, not before.

    Each recorded route gets a stand-in at its place in the app's route list (same path
    and method, so matching, 404 and 405 are as before). The first of: the background
    build after the warm-up (`build_later`), a request that reaches a stand-in, or the
    OpenAPI document, builds them all (`build`) and puts the real routes in the
    stand-ins' places; the request is then routed again, to its real route. Building
    them was what the first request to them paid anyway (FastAPI built included routers
    lazily), so a client sees at most that delay, never a difference.
    """

    def __init__(self, app: FastAPI, tables: Sequence[RouteTable]) -> None:
        self._app = app
        self._tables = tables
        self.built = False
        for table in tables:
            for r in table.routes:
                stand_in = _StandIn(r.path, endpoint=self, methods=[r.method],
                                    include_in_schema=False, name=r.endpoint.__name__)
                stand_in.methods = {r.method}  # as the real route's: no implicit HEAD
                app.router.routes.append(stand_in)
        document = app.openapi

        def openapi() -> dict[str, Any]:
            self.build()
            return document()

        app.openapi = openapi  # type: ignore[method-assign]

    def build(self) -> None:
        """Build the deferred routes in their stand-ins' places (once; a failure leaves
        the stand-ins, and the next request or the OpenAPI document tries again)."""
        if self.built:
            return
        routes = self._app.router.routes
        first = len(routes)
        try:
            for table in self._tables:
                table.install(self._app.router)
        except BaseException:
            del routes[first:]
            raise
        real = iter(routes[first:])
        del routes[first:]
        routes[:] = [next(real) if isinstance(r, _StandIn) and r.endpoint is self else r
                     for r in routes]
        self.built = True

    async def build_later(self, service: MemoryService) -> None:
        """Build once the service has warmed up (readiness first: they share the
        interpreter); `fleetmem serve` runs it in the background."""
        await service.warmed()
        self.build()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A request reached a stand-in: build, then route it again (to the real route,
        which has taken the stand-in's place)."""
        self.build()
        await self._app.router(scope, receive, send)
