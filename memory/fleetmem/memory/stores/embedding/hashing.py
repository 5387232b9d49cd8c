"""`HashingEmbedder`: a deterministic bag-of-words embedder for unit tests of pure logic.

Not a fake of our storage: a tiny real embedder with lexical similarity only. Integration
tests use the real MiniLM model.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_TOKEN = re.compile(r"\w+")


class HashingEmbedder:
    """Feature-hashes lower-cased tokens into `dimension` buckets, L2-normalised."""

    def __init__(self, dimension: int = 384) -> None:
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        """Vector size."""
        return self._dimension

    @property
    def model_name(self) -> str:
        """Identifies this embedder in stats."""
        return "hashing"

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return one normalised row per text."""
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for tok in _TOKEN.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=8).digest(), "big")
                out[row, h % self._dimension] += 1.0 if (h >> 63) & 1 else -1.0
            norm = float(np.linalg.norm(out[row]))
            if norm > 0:
                out[row] /= norm
        return out
