"""What every peer adapter offers: ingest, one write, update, search; texts come back."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.report import WORK_DIR

NODE_DIR = WORK_DIR / "node"
MEM0_VENV = WORK_DIR / "mem0-venv"
BM_VENV = WORK_DIR / "bm-venv"


@dataclass(frozen=True)
class Item:
    """One memory as a peer receives it: text, and the entity it is about (if any)."""

    key: str
    text: str
    entity: str | None = None
    entity_type: str = "topic"


class Peer(ABC):
    """A peer system under test; methods return client-observed milliseconds."""

    name: str = ""
    note: str = ""
    """What this peer cannot do (shown beside its figures)."""

    @staticmethod
    @abstractmethod
    def installed() -> bool:
        """Whether `python -m bench setup` has installed it."""

    @abstractmethod
    async def start(self, workdir: Path) -> None:
        """Start with an empty store under `workdir`."""

    @abstractmethod
    async def close(self) -> None:
        """Stop and release everything."""

    @abstractmethod
    async def ingest(self, items: Sequence[Item]) -> None:
        """Write a batch the way its users would write many memories."""

    @abstractmethod
    async def remember(self, item: Item) -> float:
        """Write one memory; return ms."""

    @abstractmethod
    async def update(self, old: Item, new: Item) -> None:
        """Replace an older memory by a newer one through the peer's own interface."""

    @abstractmethod
    async def search(self, query: str, k: int) -> tuple[list[str], float]:
        """Texts of the best `k` memories, best first, and ms."""

    async def relate(self, relations: Sequence[tuple[str, str, str]]) -> None:  # noqa: B027
        """Record (source, relation, target) edges where the peer has a graph."""


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a peer process (offline, no telemetry)."""
    env = dict(os.environ)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MEM0_TELEMETRY": "False",
                "DO_NOT_TRACK": "1", "BASIC_MEMORY_TELEMETRY_ENABLED": "false"})
    env.update(extra)
    return env
