"""The `Clock` port: time is injected so decay and expiry are tested without sleeping."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Source of the current time (injected so decay and expiry are testable)."""

    def now(self) -> datetime: ...
