"""Routes declared where they are written and built once, on the served app.

FastAPI builds a route's parameter, body and response models (pydantic type adapters,
about a dozen per route here) when the route is added to an `APIRouter`, and builds them
again for every router it is included into, the app's own inclusion lazily, on the first
request that reaches it. With `APIRouter` modules included through an intermediate router,
`fleetmem serve` built every /v1 route three times: twice before it could answer (about
a second of CPU on this machine) and once more in the first /v1 request.

A `RouteTable` has the decorators of an `APIRouter` (`get`, `post`, `patch`, `delete`,
with the same keyword arguments) but only records the routes; `install` adds them to the
app's router, where each is built once, before the app serves, and served as it is. The
OpenAPI document, paths, names and tags are those the same `APIRouter` would give.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import APIRouter

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
