"""Governance applied to every service call in one place, declared per method:

    @operation("recall", READ)
    async def recall(self, caller: Caller, query: RecallQuery) -> RecallResult: ...

The wrapper admits the request (rate limit, daily write quota), authorises the declared
operation(s) for the caller's roles, runs idempotency for writes given an
`idempotency_key`, audits refusals, and afterwards does usage accounting and the audit
coverage the use case left out (see `accounting`). Only the outermost call of a request is
governed; a method calling another one is one request (the inner one is still authorised).
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

from pydantic import TypeAdapter

from fleetmem.memory import logs, tracing
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import Forbidden, InvalidInput, RateLimited
from fleetmem.memory.services.runtime import accounting, idempotency, request_scope
from fleetmem.memory.services.runtime.operations import (
    GC_AGENT,
    Access,
    Operation,
)
from fleetmem.memory.services.runtime.request_scope import RequestScope

if TYPE_CHECKING:
    from fleetmem.memory.services.runtime.context import ServiceContext

P = ParamSpec("P")
R = TypeVar("R")


class HasContext(Protocol):
    """A service object: governed methods find the stores and policy through `ctx`."""

    ctx: ServiceContext


def authorize(ctx: ServiceContext, caller: Caller, op: Operation) -> None:
    """Refuse the caller unless its roles allow every operation `op` names (and, for admin
    operations, unless it is the system principal or an admin agent) and let it act for
    the `on_behalf_of` it claims.

    Raises:
        Forbidden: rule `role`, `admin_only` or `on_behalf_of`.
    """
    if op.admin:
        if caller.agent_id == GC_AGENT:
            return
        if not ctx.policy.principal(caller.agent_id).admin:
            raise Forbidden(
                f"agent '{caller.agent_id}' is not an operator: '{op.name}' acts on or "
                "reveals every namespace; use an agent with 'admin: true' in the agents "
                "file, or the CLI (`fleetmem gc`, `fleetmem audit`)", rule="admin_only")
    policy = ctx.policy  # one version of the agents file for the whole check
    for name in op.names:
        policy.check_operation(caller.agent_id, name)
    policy.check_on_behalf_of(caller.agent_id, caller.on_behalf_of)


def operation(name: str, access: Access, *, also: tuple[str, ...] = (),
              cost: str | None = None, audit_ids: bool = True, bulk: bool = False,
              admin: bool = False) -> Callable[[Callable[P, Awaitable[R]]],
                                               Callable[P, Awaitable[R]]]:
    """Declare the operation a service method performs and govern every call of it.

    The method's first parameter after `self` must be the `caller`. Write methods that
    take an `idempotency_key` keyword get idempotency from the wrapper: their bodies never
    look at the key. See `Operation` for the flags.
    """
    op = Operation(name, access, also, cost, audit_ids, bulk, admin)

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        signature = inspect.signature(fn)
        params = list(signature.parameters)
        if params[:2] != ["self", "caller"]:
            raise TypeError(f"{fn.__qualname__}: a governed method takes (self, caller, ...)")
        keyed = "idempotency_key" in signature.parameters
        if keyed and access is not Access.WRITE:
            raise TypeError(f"{fn.__qualname__}: only writes take an idempotency_key")
        results: list[TypeAdapter[Any]] = []

        def result_adapter() -> TypeAdapter[Any]:
            if not results:  # resolved on first use: annotations are strings until then
                returns: Any = typing.get_type_hints(fn)["return"]
                results.append(TypeAdapter(returns))
            return results[0]

        @functools.wraps(fn)
        async def call(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = bound.arguments
            service: HasContext = arguments["self"]
            caller = arguments["caller"]
            if not isinstance(caller, Caller):
                raise InvalidInput("caller must be a Caller", field="caller", rule="type")
            ctx = service.ctx
            if request_scope.current() is not None:  # nested: part of the outer request
                authorize(ctx, caller, op)
                return await fn(*args, **kwargs)
            with logs.bound(caller.agent_id, caller.workflow_id), \
                    tracing.request(name, caller.agent_id, workflow_id=caller.workflow_id,
                                    on_behalf_of=caller.on_behalf_of):
                namespace = arguments.get("namespace") if tracing.enabled() else None
                if isinstance(namespace, str):
                    tracing.annotate_namespaces([namespace])
                return await governed(ctx, caller, arguments,
                                      lambda: fn(*args, **kwargs))

        async def governed(ctx: ServiceContext, caller: Caller, arguments: dict[str, Any],
                           run: Callable[[], Awaitable[R]]) -> R:
            key = arguments.get("idempotency_key") if keyed else None
            items = accounting.cost(op, arguments)
            scope = RequestScope(caller, name)
            token = request_scope.enter(scope)
            try:
                accounting.admit(ctx, caller, op, items)
                authorize(ctx, caller, op)
                replayed = False
                async with ctx.work_slot(caller, items):  # the agent's own queue
                    if key is None:
                        result = await run()
                    else:
                        replayed, result = await idempotency.once(
                            ctx, caller, key, fn.__name__, arguments, result_adapter(), run)
                if replayed:  # counted as a request; nothing was written
                    ctx.governor.usage_of(caller.agent_id).requests += 1
                    return result
            except Forbidden as exc:
                await accounting.record_refusal(ctx, caller, name, exc, arguments, "denied")
                raise
            except RateLimited as exc:
                await accounting.record_refusal(ctx, caller, name, exc, arguments,
                                                "rate_limited")
                raise
            finally:
                request_scope.leave(token)
                accounting.count_embeds(ctx, scope)
            await accounting.settle(ctx, scope, op, result, arguments, items)
            return result

        call.__operation__ = op  # type: ignore[attr-defined]
        return call

    return decorate


def declared(method: object) -> Operation:
    """The operation a governed service method declares (to authorise the same operation
    on another path, e.g. a GC job acting as a buffer's owner).

    Raises:
        TypeError: the method is not governed.
    """
    op = getattr(method, "__operation__", None)
    if not isinstance(op, Operation):
        raise TypeError(f"{method!r} declares no operation")
    return op
