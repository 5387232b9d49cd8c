"""Store latency metrics: a transparent proxy that times every async store call.

`fleetmem.memory.bootstrap` wraps the graph store and the vector index in it; `/metrics` exposes
`fleetmem_store_seconds{store, operation}` from `REGISTRY`.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
STORE_SECONDS = Histogram("fleetmem_store_seconds", "Latency of store calls",
                          ["store", "operation"], registry=REGISTRY,
                          buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1,
                                   2.5, 10))


class Timed:
    """Forwards every attribute to `inner`; async methods are timed per call."""

    def __init__(self, inner: object, store: str) -> None:
        self._inner = inner
        self._store = store

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(attr):
            return attr
        observe = STORE_SECONDS.labels(self._store, name).observe
        return _timed(attr, observe)


def _timed(fn: Callable[..., Any], observe: Callable[[float], None]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            observe(time.perf_counter() - started)
    return call
