"""Conversation structure at write time (issue 18, Deliver 3): each memory's keyword
context (see `context.keyword_context`), its place in its writer's sequence, and the turn
it continues.

A memory continues the conversation of the writer's previous memory in the namespace when
both were written in the same named session, or both carry the same event time given by
the writer (turns of one conversation imported with their session's time). Then:
- its keyword context holds the previous turn (the question's words are often there,
  while the answer sits in this reply: "It went great!");
- the previous turn's keyword context gets this turn's text (the answer to a question
  about that turn's topic is in the reply after it), whether the previous turn was
  written in the same call or before (`MemoryStore.link_turns` appends it);
- it is linked to the previous turn (`TurnLink.previous_id`), so recall can bring a hit's
  neighbours (`recall.neighbours`).
Every memory written by `remember` gets a `seq` in its writer's sequence in the namespace
and session, so a conversation keeps its order even when its turns share a write time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from fleetmem.memory import tracing
from fleetmem.memory.domain.access import Caller
from fleetmem.memory.domain.models import Memory
from fleetmem.memory.ports import PriorTurn, TurnLink
from fleetmem.memory.services.memories.context import keyword_context
from fleetmem.memory.services.runtime.context import ServiceContext


class Turn(Protocol):
    """What `conversation_turns` needs of a prepared memory."""

    @property
    def memory(self) -> Memory: ...
    @property
    def mirror(self) -> bool: ...
    @property
    def timed(self) -> bool: ...


@dataclass
class Turns:
    """The write's keyword contexts (memory id -> context), sequence links, and the texts
    to append to earlier memories' contexts (their id -> (follower id, follower text))."""

    contexts: dict[str, str] = field(default_factory=dict)
    links: dict[str, TurnLink] = field(default_factory=dict)
    following: dict[str, tuple[str, str]] = field(default_factory=dict)

    def written(self, ids: Sequence[str]) -> tuple[list[TurnLink], dict[str, str]]:
        """The links and appended texts of the memories among `ids` (those written)."""
        ids_set = set(ids)
        return ([self.links[i] for i in ids if i in self.links],
                {prev: text for prev, (by, text) in self.following.items() if by in ids_set})


async def conversation_turns(ctx: ServiceContext, caller: Caller,
                             prepared: Sequence[Turn]) -> Turns:
    """See the module docstring."""
    last: dict[str, PriorTurn | None] = {}
    jobs: list[tuple[str, str, datetime, str | None]] = []
    out = Turns()
    nxt: dict[str, str] = {}  # memory id -> the text of the turn that continues it
    for p in prepared:
        m = p.memory
        if m.namespace not in last:
            last[m.namespace] = await ctx.memories.preceding_turn(
                m.namespace, caller.agent_id, caller.session_id)
        before = last[m.namespace]
        if p.mirror:
            jobs.append((m.id, m.text, m.valid_from, None))
            continue
        cont = before is not None and continues(p, before.valid_from, caller)
        seq = before.seq + 1 if before is not None and before.seq >= 0 else 0
        out.links[m.id] = TurnLink(m.id, seq, before.id if cont and before else None)
        jobs.append((m.id, m.text, m.valid_from, before.text if cont and before else None))
        if cont and before is not None:
            nxt[before.id] = m.text
            out.following[before.id] = (m.id, m.text)
        last[m.namespace] = PriorTurn(m.id, m.text, m.valid_from, seq)
    in_call = {mid for mid, *_ in jobs}
    for mid in in_call:
        out.following.pop(mid, None)  # written in this call: its context holds the text

    def resolve() -> dict[str, str]:
        return {mid: keyword_context(text, when, prior, nxt.get(mid))
                for mid, text, when, prior in jobs}
    with tracing.span("remember.context"):
        out.contexts = await asyncio.to_thread(resolve)  # dateparser: CPU work, loads once
    return out


def continues(p: Turn, before_at: datetime, caller: Caller) -> bool:
    """Whether a memory continues the conversation of the writer's previous memory in the
    namespace: written in a named session (the previous one is of the same session), or
    both carry the same event time given by the writer (turns of one conversation
    imported with their session's time). Other memories written one after another are
    unrelated facts: indexing one with the other's text cost bench/quality.py 0.05
    recall@5 (bench/RESULTS.md)."""
    if p.mirror:
        return False
    return caller.session_id is not None or (p.timed and before_at == p.memory.valid_from)
