"""The optional PyTorch runtime (`fleetmem[torch]`): sentence-transformers' vectors through
the embedder's direct forward pass, equal to `encode` and to the default ONNX embedder.
Skipped when torch is not installed (the default install has none)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fleetmem.memory.bootstrap import build_embedder
from fleetmem.memory.ports import Embedder
from fleetmem.memory.settings import EmbeddingSettings, Settings

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")

from fleetmem.memory.stores.embedding.sentence_transformer import (  # noqa: E402
    SentenceTransformerEmbedder,
    _is_mean_pooled,
)


def test_torch_runtime_matches_encode_and_the_onnx_embedder(embedder: Embedder) -> None:
    torch_embedder = build_embedder(Settings(data_dir=Path("/nonexistent"),
                                             embedding=EmbeddingSettings(runtime="torch")))
    assert isinstance(torch_embedder, SentenceTransformerEmbedder)
    model = torch_embedder.model
    assert _is_mean_pooled(model)
    texts = ["short", "The payments API is owned by team Atlas.",
             "Ünïcode — text with emoji 🚀 and RTL \u05e9\u05dc\u05d5\u05dd",
             "word " * 600,  # past the model's 256 tokens: truncated the same way
             *(f"Service s{i} listens on port {7000 + i} in eu-west-1" for i in range(70))]
    expected = model.encode(texts, batch_size=64, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)
    got = torch_embedder.embed(texts)
    assert got.dtype == np.float32 and got.shape == (len(texts), torch_embedder.dimension)
    assert np.abs(got - expected).max() < 1e-5
    one = torch_embedder.embed([texts[1]])
    assert np.abs(one[0] - expected[1]).max() < 1e-5
    assert np.abs(embedder.embed(texts) - got).max() < 1e-5  # the default runtime agrees
