"""A relation's two ends are entities of its own namespace: checked before any graph write,
so no relation is skipped silently and no endpoint is copied into a namespace unasked.

- `create_relations` to an entity missing from the namespace is refused (NotFound naming
  the entity and the field), before anything is written.
- `relate` creates a missing endpoint, except when an entity of that name already exists
  in another namespace the caller can read: relating a private entity to a team entity
  would otherwise create a second, private copy of the team entity. It is refused
  (Conflict) with the two ways out: relate inside that namespace, or create the copy
  explicitly first.

Relations never cross namespaces: a team member reading the team graph could not follow
a relation into someone's private namespace, and deleting either end must delete the
relation in the same store transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.errors import Conflict, NotFound
from fleetmem.memory.services.runtime.context import ServiceContext


async def _held(ctx: ServiceContext, namespaces: Sequence[str],
                names: Sequence[str]) -> dict[str, list[str]]:
    """Lower-cased name -> the namespaces (of `namespaces`) holding an entity of that name."""
    if not namespaces or not names:
        return {}
    page = await ctx.entities.open_nodes(list(namespaces), list(dict.fromkeys(names)))
    held: dict[str, list[str]] = {}
    for e in page.entities:
        held.setdefault(e.name.lower(), []).append(e.namespace)
    return held


async def elsewhere(ctx: ServiceContext, caller: Caller, ns: str,
                    names: Sequence[str]) -> dict[str, list[str]]:
    """For each of `names`, the other namespaces the caller can read that hold it."""
    others = [n for n in ctx.policy.scope_reads(caller.agent_id, None) if n != ns]
    return await _held(ctx, others, names)


def _one_namespace_hint(name: str, ns: str, other: str) -> str:
    return (f"{name} is an entity of {other}, and a relation joins two entities of one "
            f"namespace: write the relation in {other} (namespace '{other}'), or create "
            f"{name} in {ns} first (create_entities) if a separate copy is meant")


async def require_endpoints(ctx: ServiceContext, caller: Caller, ns: str,
                            ends: Sequence[tuple[str, str, str]]) -> None:
    """Refuse when an end is missing from `ns`.

    Args:
        ends: (from, to, field prefix) per relation, e.g. ("Alice", "Acme", "relations[0]").

    Raises:
        NotFound: naming the first missing entity, its field and how to fix it.
    """
    present = await _held(ctx, [ns], [n for f, t, _ in ends for n in (f, t)])
    for frm, to, prefix in ends:
        for side, name in (("from", frm), ("to", to)):
            if name.lower() in present:
                continue
            message = f"Entity with name {name} not found in {ns}"
            other = (await elsewhere(ctx, caller, ns, [name])).get(name.lower())
            message += f"; {_one_namespace_hint(name, ns, other[0])}" if other else \
                "; create it first (create_entities), or use relate, which creates " \
                "missing endpoints"
            raise NotFound(message, field=f"{prefix}.{side}", rule="not_found")


async def refuse_copies(ctx: ServiceContext, caller: Caller, ns: str,
                        ends: Sequence[tuple[str, str]]) -> None:
    """Refuse to create an endpoint in `ns` whose name another readable namespace holds.

    Args:
        ends: (field, name) of each endpoint, e.g. ("to", "Acme").

    Raises:
        Conflict: naming the entity, the namespace holding it and the two ways out.
    """
    present = await _held(ctx, [ns], [name for _, name in ends])
    missing = [(field, name) for field, name in ends if name.lower() not in present]
    found = await elsewhere(ctx, caller, ns, [name for _, name in missing])
    for field, name in missing:
        if name.lower() in found:
            raise Conflict(f"{name} is not in {ns}; relate would create a second {name} "
                           f"there. {_one_namespace_hint(name, ns, found[name.lower()][0])}",
                           field=field, rule="other_namespace")
