"""Conflicts between agents: detection when a graph write contradicts another agent's
current fact, listing, resolution, and marking recall hits as disputed.

Both facts are kept while a conflict is open (loudly uncertain, never quietly wrong).
Resolving records who chose what; the losing claim stops being current (its relation or
observation is removed, its memory archived: restorable), `both` keeps both.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fleetmem.memory import logs
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.conflicts import (
    KEEP_CHOICES,
    Claim,
    ConflictKind,
    ConflictRecord,
    ConflictStatus,
    Resolution,
    pair_key,
    parse_attribute,
    parties_acting,
    same_value,
)
from fleetmem.memory.domain.models import Attribution, MemoryStatus, Observation, Relation
from fleetmem.memory.domain.redaction import redact
from fleetmem.memory.domain.text import (
    mirror_key,
    new_id,
    observation_record,
    relation_record,
    relation_text,
)
from fleetmem.memory.errors import Conflict, Forbidden, InvalidInput, NotFound
from fleetmem.memory.ports import EntityRef
from fleetmem.memory.services.runtime.context import ServiceContext
from fleetmem.memory.services.views.oversight import ConflictView
from fleetmem.memory.services.views.records import RecallHit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Contested:
    """A new relation and the current relations of other agents it contradicts."""

    new: Relation
    current: Sequence[Relation]


def is_one_valued(ctx: ServiceContext, relation_type: str, flag: bool) -> bool:
    """Whether a relation type has one current target per subject (flag or settings)."""
    return flag or relation_type in ctx.governance.one_valued_relations


def others(caller: Caller, current: Sequence[Relation]) -> list[Relation]:
    """The current relations written by someone other than the caller."""
    return [r for r in current if r.attribution.created_by != caller.agent_id]


async def _memory_id(ctx: ServiceContext, namespace: str, record: str) -> str | None:
    """The memory mirroring a graph record (see `mirrors`)."""
    found = await ctx.memories.find_by_hash(namespace, mirror_key(namespace, record))
    return None if found is None else found.id


async def _open(ctx: ServiceContext, caller: Caller, namespace: str, kind: ConflictKind,
                subject: str, attribute: str, a: Claim, b: Claim) -> ConflictRecord:
    record = ConflictRecord(
        id=new_id(), namespace=namespace, kind=kind, subject=subject, attribute=attribute,
        a=a, b=b, created_at=ctx.now(), workflow_id=caller.workflow_id,
        pair_key=pair_key(namespace, kind, subject, attribute, a.value, b.value))
    detail = redact(f"{subject} {attribute}: '{a.value}' ({a.agent_id}) vs '{b.value}' "
                    f"({b.agent_id})").text[:500]
    stored = await ctx.audit_log.create_conflict(record, [ctx.audit(
        caller, "conflict_open", namespace=namespace,
        target_ids=[record.id, *record.memory_ids()], detail=detail)])
    if stored.id == record.id:
        logs.event(logger, "conflict_opened",
                   f"conflict {record.id} opened in {namespace}: {detail}",
                   level=logging.WARNING, conflict_id=record.id, namespace=namespace,
                   kind=str(kind), agent_id=caller.agent_id, workflow_id=caller.workflow_id)
    return stored


async def record_relation_conflicts(ctx: ServiceContext, caller: Caller, namespace: str,
                                    created: Sequence[Relation],
                                    contested: Sequence[Contested]) -> None:
    """Open a conflict per (new relation, other agent's current relation) pair."""

    made = {r.id for r in created}
    for item in contested:
        if item.new.id not in made:
            continue
        new = item.new
        b = Claim(new.to_entity, relation_text(new), caller.agent_id, new.valid_from,
                  await _memory_id(ctx, namespace, relation_record(new)), new.id)
        for old in item.current:
            a = Claim(old.to_entity, relation_text(old), old.attribution.created_by,
                      old.valid_from, await _memory_id(ctx, namespace, relation_record(old)),
                      old.id)
            await _open(ctx, caller, namespace, ConflictKind.RELATION, new.from_entity,
                        new.relation_type, a, b)


async def record_attribute_conflicts(ctx: ServiceContext, caller: Caller, namespace: str,
                                     entity: str, added: Sequence[Observation]) -> None:
    """Open a conflict when an added `key: value` observation contradicts another agent's
    current observation of the same key on the same entity."""
    if not ctx.governance.attribute_conflicts:
        return

    claims = [(o, parsed) for o in added if (parsed := parse_attribute(o.text))]
    if not claims:
        return
    page = await ctx.entities.open_nodes([namespace], [entity])
    if not page.entities:
        return
    current = page.entities[0]
    for obs, (key, value) in claims:
        for other in current.observations:
            theirs = parse_attribute(other.text)
            if other.created_by == caller.agent_id or theirs is None or \
                    not same_value(theirs[0], key) or same_value(theirs[1], value):
                continue
            a = Claim(theirs[1], other.text, other.created_by, other.created_at,
                      await _memory_id(ctx, namespace, observation_record(current.name,
                                                                          other.text)))
            b = Claim(value, obs.text, caller.agent_id, obs.created_at,
                      await _memory_id(ctx, namespace, observation_record(current.name,
                                                                          obs.text)))
            await _open(ctx, caller, namespace, ConflictKind.ATTRIBUTE, current.name, key, a, b)


# use cases ------------------------------------------------------------------------------

async def list_conflicts(ctx: ServiceContext, caller: Caller, *, status: str | None = "open",
                         namespace: str | None = None, limit: int = 100) -> list[ConflictView]:
    """Conflicts in the caller's readable namespaces (or one of them), oldest first."""
    if status is not None and status not in {s.value for s in ConflictStatus}:
        raise InvalidInput("status must be 'open', 'resolved' or omitted for both",
                           field="status", rule="enum")
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be from 1 to 1000", field="limit", rule="range")
    namespaces = ctx.policy.scope_reads(caller.agent_id, None if namespace is None
                                        else [namespace])
    found = await ctx.audit_log.list_conflicts(
        namespaces, status=None if status is None else ConflictStatus(status), limit=limit)
    return [ConflictView.of(c) for c in found]


async def resolve(ctx: ServiceContext, caller: Caller, conflict_id: str, keep: str,
                  note: str = "") -> ConflictView:
    """Resolve an open conflict: keep claim `a`, `b`, or `both`.

    Raises:
        NotFound: no such conflict in a namespace the caller can read.
        Forbidden: the caller may not resolve conflicts or write the namespace, or
            (rule `conflict_party`) it made one of the claims (or acts for who did) and
            the namespace's policy requires a third party (see `_resolution_policy`).
        Conflict: it was already resolved (the message says by whom and how).
    """
    if keep not in KEEP_CHOICES:
        raise InvalidInput("keep must be 'a' (the earlier fact), 'b' (the newer one) or "
                           "'both'", field="keep", rule="enum")
    if not isinstance(note, str) or len(note) > 1000:
        raise InvalidInput("note must be text of at most 1000 characters", field="note",
                           rule="max_length")
    found = await ctx.audit_log.list_conflicts(ctx.policy.readable(caller.agent_id),
                                               conflict_ids=[str(conflict_id)], limit=1)
    if not found:
        raise NotFound(f"no conflict {conflict_id} among the namespaces you can read",
                       field="conflict_id", rule="not_found")
    record = found[0]
    ctx.policy.check_write(caller.agent_id, record.namespace)
    _check_resolver(ctx, caller, record)
    now = ctx.now()
    resolution = Resolution(keep=keep, resolved_by=caller.agent_id, resolved_at=now,
                            on_behalf_of=caller.on_behalf_of, workflow_id=caller.workflow_id,
                            note=redact(note).text)
    kept = {"a": [record.a], "b": [record.b], "both": [record.a, record.b]}[keep]
    detail = redact(f"kept {keep}: " + "; ".join(f"'{c.value}' ({c.agent_id})" for c in kept)
                    + (f"; note: {note}" if note else "")).text[:500]
    won = await ctx.audit_log.resolve_conflict(record.id, resolution, [ctx.audit(
        caller, "conflicts_resolve", namespace=record.namespace,
        target_ids=[record.id, *record.memory_ids()], detail=detail)])
    if not won:
        current = (await ctx.audit_log.list_conflicts([record.namespace],
                                                      conflict_ids=[record.id], limit=1))[0]
        r = current.resolution
        by = "" if r is None else f" by {r.resolved_by} at {r.resolved_at.isoformat()} " \
            f"(kept {r.keep})"
        raise Conflict(f"conflict {record.id} is already resolved{by}; list conflicts again",
                       field="conflict_id", rule="already_resolved")
    loser = {"a": record.b, "b": record.a}.get(keep)
    if loser is not None:
        await _retire(ctx, caller, record, loser, now)
    logs.event(logger, "conflict_resolved",
               f"conflict {record.id} resolved in {record.namespace} by {caller.agent_id}: "
               f"{detail}", conflict_id=record.id, namespace=record.namespace,
               kind=str(record.kind), keep=keep, resolved_by=caller.agent_id)
    return ConflictView.of(ConflictRecord(
        id=record.id, namespace=record.namespace, kind=record.kind, subject=record.subject,
        attribute=record.attribute, a=record.a, b=record.b, created_at=record.created_at,
        pair_key=record.pair_key, workflow_id=record.workflow_id,
        status=ConflictStatus.RESOLVED, resolution=resolution))


def _resolution_policy(ctx: ServiceContext, namespace: str) -> tuple[str, str]:
    """Who may resolve conflicts in a namespace, and where that is set: the team's
    `team_policies` entry in the agents file, else `governance.conflict_resolution`."""
    if namespace.startswith("team:"):
        team = namespace.removeprefix("team:")
        policy = ctx.policy.team_conflict_resolution.get(team)
        if policy is not None:
            return policy, f"team {team}'s policy (team_policies.{team}.conflict_resolution " \
                "in the agents file)"
    return ctx.governance.conflict_resolution, "the service's policy " \
        "(FLEETMEM_GOVERNANCE__CONFLICT_RESOLUTION)"


def _check_resolver(ctx: ServiceContext, caller: Caller, record: ConflictRecord) -> None:
    """Refuse a party to the conflict when the namespace requires a third party."""
    policy, source = _resolution_policy(ctx, record.namespace)
    involved = parties_acting(record, policy, caller.agent_id, caller.on_behalf_of)
    if not involved:
        return
    acting = caller.agent_id if caller.agent_id in involved else \
        f"{caller.agent_id} on behalf of {caller.on_behalf_of}"
    raise Forbidden(
        f"{acting} made one of the claims of conflict {record.id} ({record.a.agent_id} vs "
        f"{record.b.agent_id}), and {source} is 'third_party': a conflict is resolved only "
        "by someone who made neither claim, so no party settles a dispute in its own "
        f"favour. Ask a reviewer, a human or an operator who may write {record.namespace} "
        "and made neither claim to resolve it", field="conflict_id", rule="conflict_party")


async def _retire(ctx: ServiceContext, caller: Caller, record: ConflictRecord, loser: Claim,
                  at: datetime) -> None:
    """Make the losing claim stop being current (idempotent, so a retry is harmless)."""
    ns = record.namespace
    if record.kind is ConflictKind.RELATION:
        await ctx.entities.delete_relations([Relation(
            id=loser.relation_id or "", namespace=ns, from_entity=record.subject,
            to_entity=loser.value, relation_type=record.attribute,
            attribution=Attribution(loser.agent_id, loser.at), valid_from=loser.at)], at)
    else:
        await ctx.entities.delete_observations(EntityRef(ns, record.subject), [loser.text], at)
    if loser.memory_id:
        async with ctx.tier_gate.shared():
            changed = await ctx.memories.set_status(
                [loser.memory_id], MemoryStatus.ARCHIVED, at, [
                    ctx.audit(caller, "forget", namespace=ns, target_ids=[loser.memory_id],
                              detail=f"lost conflict {record.id}")])
            if changed:
                await ctx.vectors.delete(changed)


async def mark_disputed(ctx: ServiceContext, namespaces: Sequence[str],
                        hits: list[RecallHit]) -> list[RecallHit]:
    """Flag hits whose memory is a claim of an open conflict."""
    if not hits:
        return hits
    ids = [h.memory.id for h in hits]
    open_ = await ctx.audit_log.list_conflicts(namespaces, status=ConflictStatus.OPEN,
                                               memory_ids=ids, limit=1000)
    disputed = {m for c in open_ for m in c.memory_ids()}
    return [h.model_copy(update={"disputed": True}) if h.memory.id in disputed else h
            for h in hits]
