"""`OnnxEmbedder`: all-MiniLM-L6-v2 on ONNX Runtime, the default embedder (no torch).

The same vectors as sentence-transformers gives for the bundled model (cosine >= 0.99999,
tests/integration/test_onnx_embedder.py against a committed reference), so stored data
and indexes stay valid. On first use the graph is built from the packaged safetensors
weights (their sha256 checked first, onnx_graph.py) and cached in `cache_dir` (the data
folder's `models/` by default) with the sha256 of its files (graph_cache.py). Later starts
load the cached graph if its files match their sha256 (0.1 s for 90 MB here) and rebuild
it otherwise (missing, truncated, damaged). Without a writable cache folder the graph is
built in memory for the process.

Tokenisation uses `tokenizers` with the packaged tokenizer.json (its sha256 checked),
truncating at the model's max_seq_length (256). A call's texts are sorted by token count
and run in batches of `batch_size`, so padding stays small.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.stores.embedding import bundled

if TYPE_CHECKING:
    from onnxruntime import InferenceSession
    from tokenizers import Tokenizer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Loaded:
    session: InferenceSession
    tokenizer: Tokenizer


class OnnxEmbedder:
    """Embedder over ONNX Runtime on the CPU, intra-op threads from settings."""

    def __init__(self, cache_dir: Path | None = None, threads: int = 1, batch_size: int = 64,
                 dimension: int = 384, model_dir: Path | None = None) -> None:
        """`model_dir` replaces the installed package's folder (tests); its files must
        still have the pinned checksums."""
        self._cache_dir = cache_dir
        self._threads = threads
        self._batch_size = batch_size
        self._dimension = dimension
        self._model_dir = model_dir
        self._loaded: _Loaded | None = None
        self._load_lock = threading.Lock()

    @property
    def model_name(self) -> str:
        """all-MiniLM-L6-v2 (the name sentence-transformers' embedder reported too)."""
        return bundled.MODEL_NAME

    @property
    def dimension(self) -> int:
        """Vector size as configured (checked against the model when it loads), so that
        commands which never embed need not load the model to open the vector index."""
        return self._dimension

    def load(self) -> None:
        """Load the tokenizer and the graph now (otherwise done by the first `embed`)."""
        self._ensure()

    def _ensure(self) -> _Loaded:
        with self._load_lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def _load(self) -> _Loaded:
        from tokenizers import Tokenizer

        folder = self._model_dir or bundled.bundled_model_path()
        config = json.loads((folder / "config.json").read_text())
        if int(config["hidden_size"]) != self._dimension:
            raise InvalidInput(
                f"the model at {folder} makes {config['hidden_size']}-d vectors but "
                f"FLEETMEM_EMBEDDING__DIMENSION is {self._dimension}; set it to "
                f"{config['hidden_size']}", field="embedding.dimension",
                rule="dimension_mismatch")
        bundled.check_file(folder / "tokenizer.json", bundled.TOKENIZER_SHA256)
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # Configured here once, before any caller sees it, and never changed after:
        # concurrent encode calls then only share-borrow it (the binding refuses a
        # concurrent borrow only when one of them reconfigures it), so no lock is needed.
        tokenizer.no_padding()  # the packaged file pads to 128: we pad per batch instead
        st_config = json.loads((folder / "sentence_bert_config.json").read_text())
        tokenizer.enable_truncation(max_length=int(st_config["max_seq_length"]))
        loaded = _Loaded(self._session(folder, config), tokenizer)
        logger.info("embedding model %s loaded on ONNX Runtime (%d threads)",
                    bundled.MODEL_NAME, self._threads)
        return loaded

    def _session(self, folder: Path, config: dict[str, Any]) -> InferenceSession:
        """The cached graph if it is intact, else a freshly built one (cached for next
        time when the cache folder is writable)."""
        from fleetmem.memory.stores.embedding import graph_cache
        from fleetmem.memory.stores.embedding.onnx_graph import GRAPH_VERSION

        if self._cache_dir is None:
            return self._open(_build(folder, config))
        cached = self._cache_dir / \
            f"{bundled.MODEL_NAME}.{bundled.WEIGHTS_SHA256[:16]}.g{GRAPH_VERSION}"
        graph_file = graph_cache.intact_graph(cached)
        if graph_file is not None:
            try:
                return self._open(str(graph_file))
            except Exception as exc:  # noqa: BLE001 - an unreadable graph is rebuilt
                logger.warning("the cached embedding graph %s does not load (%s): "
                               "rebuilding it", graph_file, exc)
        graph = _build(folder, config)
        graph_file = graph_cache.store_graph(cached, graph)
        return self._open(str(graph_file) if graph_file else graph)

    def _open(self, graph: str | bytes) -> InferenceSession:
        """A session on `threads` intra-op threads: the caller's own plus a pool of
        `threads - 1` workers shared by concurrent calls (none at the default of 1). The
        pool's workers sleep instead of spinning between calls: two model threads and the
        event loop share the cores, and a spinning worker takes them from both."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only, on stderr
        return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return L2-normalised float32 embeddings, one row per text. Safe to call from
        several threads at once (the interactive and the bulk model thread) without a
        lock: the tokenizer and the ONNX Runtime session are only read after loading, and
        `InferenceSession.run` may be called concurrently. With `threads=1` (the default)
        each call computes on its caller's thread, so two calls use two cores and the bulk
        thread's lowered priority applies to its own work; with more, the calls share the
        session's pool of `threads - 1` workers (see `_open`)."""
        loaded = self._ensure()
        texts = list(texts)
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        if not texts:
            return out
        encodings = [loaded.tokenizer.encode(texts[0])] if len(texts) == 1 else \
            loaded.tokenizer.encode_batch(texts)
        lengths = [len(e.ids) for e in encodings]
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        for start in range(0, len(order), self._batch_size):
            picked = order[start:start + self._batch_size]
            ids = np.zeros((len(picked), lengths[picked[0]]), dtype=np.int64)
            mask = np.zeros_like(ids)  # 1 for real tokens, 0 for the padding after them
            for row, i in enumerate(picked):
                ids[row, :lengths[i]] = encodings[i].ids
                mask[row, :lengths[i]] = 1
            out[picked] = loaded.session.run(
                ["sentence_embedding"], {"input_ids": ids, "attention_mask": mask})[0]
        return out


def _build(folder: Path, config: dict[str, Any]) -> bytes:
    """Check the weights' sha256, then build the graph from them."""
    from safetensors.numpy import load_file

    from fleetmem.memory.stores.embedding.onnx_graph import BertShape, build_sentence_encoder

    weights_file = folder / "model.safetensors"
    bundled.check_file(weights_file, bundled.WEIGHTS_SHA256)
    logger.info("building the ONNX graph of %s from %s", bundled.MODEL_NAME, weights_file)
    return build_sentence_encoder(load_file(str(weights_file)), BertShape.from_config(config))
