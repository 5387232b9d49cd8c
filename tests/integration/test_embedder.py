"""The embedder's direct forward pass gives the vectors sentence-transformers' `encode`
gives (it exists only to skip `encode`'s per-call bookkeeping)."""

from __future__ import annotations

import numpy as np

from fleetmem.memory.ports import Embedder
from fleetmem.memory.stores.embedding.sentence_transformer import (
    SentenceTransformerEmbedder,
    _is_mean_pooled,
)


def test_direct_forward_matches_encode(embedder: Embedder) -> None:
    assert isinstance(embedder, SentenceTransformerEmbedder)
    model = embedder.model
    assert _is_mean_pooled(model)
    texts = ["short", "The payments API is owned by team Atlas.",
             "Ünïcode — text with emoji 🚀 and RTL \u05e9\u05dc\u05d5\u05dd",
             "word " * 600,  # past the model's 256 tokens: truncated the same way
             *(f"Service s{i} listens on port {7000 + i} in eu-west-1" for i in range(70))]
    expected = model.encode(texts, batch_size=64, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)
    got = embedder.embed(texts)
    assert got.dtype == np.float32 and got.shape == (len(texts), embedder.dimension)
    assert np.abs(got - expected).max() < 1e-5
    one = embedder.embed([texts[1]])
    assert np.abs(one[0] - expected[1]).max() < 1e-5
