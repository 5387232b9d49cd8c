"""The `memory-protocol` prompt: when an agent should remember, recall and correct."""

from typing import Any

from mcp.server.mcpserver import MCPServer

PROTOCOL = """\
You have a long-term memory shared with other agents (tools: recall, remember, correct,
forget, relate, share, buffer_append, consolidate, and the knowledge-graph tools).

Recall first
- Before answering about people, projects, systems, decisions, conventions or the user's
  preferences, call `recall` with a short natural-language query. Trust recent, current
  memories; a hit marked `disputed` means agents disagree: say so instead of guessing.

Remember what will matter later
- After learning a durable fact, decision, preference or procedure, call `remember` with
  one self-contained statement ("The payments API is owned by team Atlas", not "it's
  theirs"). Set `kind` (fact, preference, procedure, episode, observation) and a higher
  `importance` for things that must not be forgotten.
- Do not store secrets, credentials or transient chatter. Do not store what you can
  re-read cheaply from files.
- For relationships between named things use `relate` (e.g. Alice works_at Acme; set
  `exclusive` when the relation has one current value).

Correct, don't duplicate
- When a memory is wrong or outdated, call `correct` with its id and the right statement:
  the old version stays in history. Use `forget` only for memories that should not exist.

Private by default
- Memories go to your private namespace. Use `share` (or `namespace`) to publish to a
  team only what teammates need; `list_namespaces` shows where you may write.

Within a session
- Keep working notes with `buffer_append` (same `session_id` all session) and call
  `consolidate` at the end to promote what matters to long-term memory.
"""


def register(mcp: MCPServer[Any]) -> None:
    """Add the `memory-protocol` prompt to `mcp`."""

    @mcp.prompt(name="memory-protocol", title="How to use fleetmem memory")
    def memory_protocol(task: str | None = None) -> str:
        """Guidance for an agent on when to recall, remember, correct and share memories."""
        if task:
            return f"{PROTOCOL}\nCurrent task: {task}\nStart by recalling what you know about it."
        return PROTOCOL
