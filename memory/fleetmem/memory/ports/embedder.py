"""The `Embedder` port: the model that turns texts into vectors, behind one method."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt


class Embedder(Protocol):
    """Turns texts into unit-length dense vectors. Synchronous and CPU-bound: callers run
    it off the event loop."""

    @property
    def dimension(self) -> int: ...

    @property
    def model_name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return one L2-normalised row per text, shape (len(texts), dimension)."""
        ...
