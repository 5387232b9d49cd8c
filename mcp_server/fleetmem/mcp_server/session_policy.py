"""Who may open another MCP session, whose session to close, and which have gone idle.

The one place of the session policy (issue 21: one agent's 10,000 sessions must not lock
the fleet out). Pure bookkeeping, no I/O: `SessionGate` (session_gate.py) feeds it the
requests it sees and carries out what it decides. Time is a parameter (monotonic seconds).

- An agent holds at most `per_agent` sessions. At the cap, a new session closes that
  agent's least recently used idle session; with none idle it is refused (429).
- All agents together hold at most `max_total` (> `per_agent`, so one agent never reaches
  it). At that cap a new session closes the least recently used idle session of the agent
  holding the most sessions, but only of an agent holding more than the newcomer (nobody
  is evicted by a bigger holder); with none it is refused (503).
- A session with no request in flight for `idle_seconds` is expired.
- An agent opens at most `per_minute` sessions a minute (a token bucket per agent holding
  a minute's worth; 0 turns it off). Beyond it a new session is refused (429)
  before anything is opened or closed: opening a session and evicting the oldest costs the
  event loop far more than the refusal, so an agent that opens sessions in a loop
  (the hoarder at its cap makes every `initialize` an eviction plus a new session) only
  slows itself.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

_MAX_BUCKETS = 10_000
"""Agents whose opening rate is remembered before full buckets are forgotten."""


@dataclass
class _Session:
    agent: str
    last_active: float
    in_flight: int = 0


@dataclass(frozen=True)
class Admit:
    """Open the session; a slot is reserved for `agent` until `opened` or `abandoned`."""


@dataclass(frozen=True)
class Evict:
    """Close `session_id` (already forgotten here), then open the new session (slot
    reserved as for `Admit`)."""

    session_id: str


@dataclass(frozen=True)
class Refuse:
    """Refuse the new session with HTTP `status` and this JSON-RPC error."""

    status: int
    message: str
    setting: str
    limit: int
    retry_after: int | None = None


Decision = Admit | Evict | Refuse


class SessionLedger:
    """The open sessions per agent and the caps they are held to."""

    def __init__(self, per_agent: int, max_total: int, idle_seconds: float,
                 per_minute: int = 0) -> None:
        if max_total <= per_agent:
            raise ValueError("max_total must exceed per_agent: one agent could fill it")
        self.per_agent, self.max_total, self.idle_seconds = per_agent, max_total, idle_seconds
        self.per_minute = per_minute
        self._sessions: dict[str, _Session] = {}
        self._held: Counter[str] = Counter()  # open sessions + reserved slots per agent
        self._tokens: dict[str, tuple[float, float]] = {}  # agent -> (tokens, as of when)

    @property
    def total(self) -> int:
        """Sessions open or being opened, all agents together."""
        return sum(self._held.values())

    def held_by(self, agent: str) -> int:
        """Sessions `agent` has open or is opening."""
        return self._held[agent]

    def admit(self, agent: str, now: float) -> Decision:
        """Decide on a new session for `agent`; reserves its slot unless refused."""
        if (wait := self._take_token(agent, now)) is not None:
            return Refuse(429, f"agent {agent!r} opens MCP sessions faster than its rate "
                          f"(mcp.sessions_per_minute = {self.per_minute}); reuse an open "
                          f"session, retry in {wait} s, or have the operator raise "
                          "FLEETMEM_MCP__SESSIONS_PER_MINUTE", "mcp.sessions_per_minute",
                          self.per_minute, retry_after=wait)
        if self._held[agent] >= self.per_agent:
            victim = self._least_recent_idle(agent)
            if victim is None:
                return Refuse(429, f"agent {agent!r} already has {self._held[agent]} open MCP "
                              f"sessions, its cap (mcp.sessions_per_agent = {self.per_agent}), "
                              "and none is idle; end sessions you no longer use (HTTP DELETE "
                              "/mcp with their Mcp-Session-Id) or reuse one, or have the "
                              "operator raise FLEETMEM_MCP__SESSIONS_PER_AGENT",
                              "mcp.sessions_per_agent", self.per_agent)
            return self._evict_for(agent, victim)
        if self.total >= self.max_total:
            for holder, count in self._held.most_common():
                if count <= self._held[agent]:
                    break
                victim = self._least_recent_idle(holder)
                if victim is not None:
                    return self._evict_for(agent, victim)
            return Refuse(503, f"the server has {self.total} open MCP sessions, its cap "
                          f"(mcp.max_sessions = {self.max_total}), and none it may close is "
                          "idle; retry shortly, or have the operator raise "
                          "FLEETMEM_MCP__MAX_SESSIONS", "mcp.max_sessions", self.max_total)
        self._held[agent] += 1
        return Admit()

    def opened(self, agent: str, session_id: str, now: float) -> None:
        """The reserved slot of `agent` became the open session `session_id`."""
        self._sessions[session_id] = _Session(agent, now)

    def abandoned(self, agent: str) -> None:
        """The reserved slot of `agent` was not used (the opening request failed)."""
        self._release(agent)

    def knows(self, session_id: str) -> bool:
        """Whether `session_id` is an open session of this ledger."""
        return session_id in self._sessions

    def busy(self, session_id: str) -> None:
        """A request of `session_id` started (an open GET stream counts while it lasts)."""
        if (session := self._sessions.get(session_id)) is not None:
            session.in_flight += 1

    def done(self, session_id: str, now: float) -> None:
        """A request of `session_id` ended."""
        if (session := self._sessions.get(session_id)) is not None:
            session.in_flight = max(0, session.in_flight - 1)
            session.last_active = now

    def closed(self, session_id: str) -> None:
        """`session_id` ended (the client deleted it, or it was closed here)."""
        session = self._sessions.pop(session_id, None)
        if session is not None:
            self._release(session.agent)

    def expired(self, now: float) -> list[str]:
        """Sessions idle for `idle_seconds` or longer (forgotten here; close them)."""
        ids = [sid for sid, s in self._sessions.items()
               if s.in_flight == 0 and now - s.last_active >= self.idle_seconds]
        for sid in ids:
            self.closed(sid)
        return ids

    def _least_recent_idle(self, agent: str) -> str | None:
        idle = [(s.last_active, sid) for sid, s in self._sessions.items()
                if s.agent == agent and s.in_flight == 0]
        return min(idle)[1] if idle else None

    def _evict_for(self, agent: str, victim: str) -> Evict:
        self.closed(victim)
        self._held[agent] += 1
        return Evict(victim)

    def _take_token(self, agent: str, now: float) -> int | None:
        """Take one of `agent`'s opening tokens: None when there was one, else the whole
        seconds until there is."""
        if self.per_minute <= 0:
            return None
        rate = self.per_minute / 60.0
        if len(self._tokens) > _MAX_BUCKETS:  # forget agents whose bucket is full again
            self._tokens = {a: (t, at) for a, (t, at) in self._tokens.items()
                            if t + (now - at) * rate < self.per_minute}
        tokens, since = self._tokens.get(agent, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - since) * rate)
        if tokens < 1.0:
            self._tokens[agent] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / rate))
        self._tokens[agent] = (tokens - 1.0, now)
        return None

    def _release(self, agent: str) -> None:
        self._held[agent] -= 1
        if self._held[agent] <= 0:
            del self._held[agent]
