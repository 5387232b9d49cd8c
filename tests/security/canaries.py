"""The isolation oracle: a ledger of canary strings planted in the store, who may read each
one, and scans that find a canary in anything shown to an agent who may not read it.

A canary is a unique random token (letters outside the hex alphabet, so it can never occur
inside an id or a hash by chance) or a memory id. It becomes readable by the readers of
every namespace it is stored in; a buffer item's text is readable by its author until
consolidation also puts it into the item's namespace.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tests.security.world import AGENT_IDS, readers

_LETTERS = "ghjkmnpqrstvwxyz"  # no hex digits: a canary never matches inside an id
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")


@dataclass
class Secret:
    """One canary: where it is stored, who planted it, what kind of thing it is."""

    value: str
    kind: str  # text, tag, name, relation, observation, buffer, memory-id, refused
    owner: str
    namespaces: set[str] = field(default_factory=set)
    text: str = ""  # the full text it was planted in (recall probes ask for it)

    def visible_to(self, agent: str) -> bool:
        if self.kind == "buffer" and agent == self.owner:
            return True
        return any(agent in readers(ns) for ns in self.namespaces)

    @property
    def home(self) -> str | None:
        """The first namespace it was stored in (where probes name it)."""
        return min(self.namespaces) if self.namespaces else None


@dataclass
class Memory:
    """A memory the ledger knows: its namespace, status and canaries."""

    id: str
    namespace: str
    secrets: list[Secret]
    status: str = "active"


@dataclass
class Entity:
    """An entity the ledger knows (its name is a canary)."""

    name: Secret
    namespace: str
    alive: bool = True


class Ledger:
    """Every canary planted in one example, and the records they live in."""

    def __init__(self, salt: int) -> None:
        self.salt = self._letters(salt, 4)
        self.count = 0
        self.secrets: list[Secret] = []
        self.memories: list[Memory] = []
        self.entities: list[Entity] = []
        self.pending: dict[str, list[tuple[Secret, str]]] = {a: [] for a in AGENT_IDS}
        self.supplied: dict[str, set[str]] = {a: set() for a in AGENT_IDS}
        self.buffered: list[tuple[str, str]] = []  # (author, namespace) of buffer items
        self.probed_homes: set[tuple[str, str]] = set()
        self.leaks: list[str] = []

    @staticmethod
    def _letters(n: int, width: int) -> str:
        out = ""
        for _ in range(width):
            n, r = divmod(n, len(_LETTERS))
            out += _LETTERS[r]
        return out

    def token(self) -> str:
        """A fresh canary token (never planted before in this example)."""
        self.count += 1
        return "qz" + self._letters(self.count, 4) + self.salt

    def plant(self, value: str, kind: str, owner: str, namespace: str | None,
              text: str = "") -> Secret:
        secret = Secret(value, kind, owner, {namespace} if namespace else set(), text)
        self.secrets.append(secret)
        return secret

    def hidden_from(self, agent: str) -> list[Secret]:
        return [s for s in self.secrets if not s.visible_to(agent)]

    def scan(self, agent: str, where: str, text: str, exempt: set[str] | None = None) -> None:
        """Record every canary hidden from `agent` that occurs in `text` (shown to it)."""
        low = text.lower()
        for s in self.hidden_from(agent):
            if s.value.lower() in low and (exempt is None or s.value not in exempt):
                self.leaks.append(f"{agent} saw {s.kind} canary {s.value} of {s.owner} "
                                  f"(stored in {sorted(s.namespaces) or 'nothing'}) in "
                                  f"{where}: {_around(text, s.value)}")

    def assert_no_leaks(self) -> None:
        assert not self.leaks, "isolation broken:\n" + "\n".join(self.leaks[:20])


def _around(text: str, value: str, width: int = 160) -> str:
    i = text.lower().find(value.lower())
    return text[max(0, i - width):i + len(value) + width]


def without_query(body: Any) -> str:
    """A recall answer as text, minus the echo of the caller's own query."""
    if isinstance(body, dict):
        return json.dumps({k: v for k, v in body.items() if k != "query"})
    return json.dumps(body)


def normalise(text: str, *replaced: str) -> str:
    """Text with the given strings, ids and times replaced by placeholders, so
    the answer to a probe naming a real canary compares equal to one naming a decoy."""
    for value in replaced:
        text = text.replace(value, "<X>").replace(value.lower(), "<X>")
    text = _UUID.sub("<ID>", text)
    return _TIME.sub("<TS>", text)
