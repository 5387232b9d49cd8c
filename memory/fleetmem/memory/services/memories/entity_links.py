"""Entities from plain text at write time (issue 18), without a model or an LLM.

Each memory is linked to the entities its text names, so the graph leg of recall and
`hop` reach memories that were not written through `create_entities`:
- known entities of the memory's namespace (names and aliases) found in the text by the
  store's indexed lookup (`entities_in_text`, namespace-scoped, always current: no
  per-process cache to go stale when another process writes the same store);
- new names by the rules of `domain.names`: the speaker of a turn ("Joanna: ...", type
  "person") and capitalised names that do not start a sentence (type "unknown").
New entities are created in the memory's namespace only, after dedup, for the memories
actually written, attributed to the writer and audited with the write. The link is the
memory's `entity_names` (SQLite `memory_mentions`, Neo4j `MENTIONS`), the same one
`create_entities` and observations use. `limits.entities_from_text` turns the new names
off; `limits.max_text_entities` bounds them per memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace

from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import Attribution, AuditEvent, Entity, Memory
from fleetmem.memory.domain.names import TextName, mentions, names_in, unique_names
from fleetmem.memory.domain.text import new_id
from fleetmem.memory.services.runtime.context import ServiceContext

INLINE_CHARS = 16_000
"""Groups holding more text than this are scanned for names on a worker thread."""
FROM_TEXT_TAG = "from-text"
"""The tag of entities created from memory text: their one-word names are matched only
where a text capitalises them (an entity an agent created is matched in any case)."""
NAME_MAX_CHARS = 120
"""A longer capitalised run is not a name (and would not fit an entity name)."""


async def link_entities(ctx: ServiceContext, memories: Sequence[Memory],
                        mirrors: Sequence[bool]) -> tuple[list[Memory], dict[str, TextName]]:
    """Each memory with the names of the entities its text mentions, and the names not
    yet known in the namespace (by lower-cased name) that the write will create.

    Memories of one call share a namespace; only that namespace's entities are read. A
    mirror (the memory of an observation or relation, "<entity>: <observation>") gets no
    new names: it is about the entities it names already, and its prefix is no speaker."""
    if not memories:
        return [], {}
    ns = memories[0].namespace
    found = await ctx.entities.entities_in_text(
        [ns], "\n".join(m.text for m in memories), 16 * len(memories))
    limit = ctx.limits.max_text_entities if ctx.limits.entities_from_text else 0
    texts = [m.text for m in memories]
    if sum(len(t) for t in texts) > INLINE_CHARS:
        scanned = await asyncio.to_thread(_scan, texts, found, limit, mirrors)
    else:
        scanned = _scan(texts, found, limit, mirrors)
    out: list[Memory] = []
    new: list[TextName] = []
    for m, (known, fresh) in zip(memories, scanned, strict=True):
        new += fresh
        names = tuple(dict.fromkeys([*m.entity_names, *known, *(n.name for n in fresh)]))
        out.append(replace(m, entity_names=names))
    return out, unique_names(new)


def _scan(texts: Sequence[str], found: Sequence[Entity], limit: int,
          mirrors: Sequence[bool]) -> list[tuple[list[str], list[TextName]]]:
    """Per text: the known entities it mentions, and its names no known entity has."""
    known_terms = {t.lower() for e in found for t in (e.name, *e.aliases)}
    out: list[tuple[list[str], list[TextName]]] = []
    for text, mirror in zip(texts, mirrors, strict=True):
        lower = text.lower()
        known = [e.name for e in found if any(
            mentions(text, lower, t, strict=FROM_TEXT_TAG in e.tags)
            for t in (e.name, *e.aliases))]
        fresh = [n for n in names_in(text, 0 if mirror else limit)
                 if n.name.lower() not in known_terms and len(n.name) <= NAME_MAX_CHARS]
        out.append((known, fresh))
    return out


async def relink(ctx: ServiceContext, old: Memory, new: Memory
                 ) -> tuple[Memory, dict[str, TextName]]:
    """A correction's entity links: `new` linked to the names its text mentions (by
    `link_entities`, as a write would), keeping the old version's names that its own text
    does not name (given by the writer: `entities` of a write, a shared memory's names);
    and the names new to the namespace, for `create_text_entities`. A name only the old
    text named ("Oslo" corrected to "Bergen") is not carried over."""
    (was, now), fresh = await link_entities(
        ctx, [replace(old, entity_names=()), replace(new, entity_names=())], [False, False])
    from_text = {n.lower() for n in was.entity_names}
    kept = [n for n in old.entity_names if n.lower() not in from_text]
    return replace(now, entity_names=tuple(dict.fromkeys([*kept, *now.entity_names]))), fresh


async def create_text_entities(ctx: ServiceContext, caller: Caller, namespace: str,
                               memories: Sequence[Memory],
                               new: Mapping[str, TextName]) -> AuditEvent | None:
    """Create the new names the written memories mention (in their namespace); the audit
    event of the creation, to commit with the memories, or None when nothing was new.

    Entities that exist by now (another writer) are left as they are: `create_entities`
    creates only names the namespace does not hold."""
    wanted = {n.lower() for m in memories for n in m.entity_names} & new.keys()
    if not wanted:
        return None
    now = ctx.now()
    a = Attribution(created_by=caller.agent_id, created_at=now,
                    on_behalf_of=caller.on_behalf_of, workflow_id=caller.workflow_id,
                    session_id=caller.session_id)
    created = await ctx.entities.create_entities([
        Entity(id=new_id(), namespace=namespace, name=new[k].name,
               entity_type=new[k].entity_type, attribution=a, updated_at=now,
               tags=(FROM_TEXT_TAG,))
        for k in sorted(wanted)])
    if not created:
        return None
    return ctx.audit(caller, "create_entities", namespace=namespace,
                     target_ids=[e.id for e in created], detail="from memory text")
