"""The Qdrant server backend is an extra: without qdrant-client the error says how to fix it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fleetmem.memory.bootstrap import build_vectors
from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.settings import Settings, VectorSettings


def test_qdrant_backend_without_the_extra_names_the_extra(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "qdrant_client", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "fleetmem.memory.stores.qdrant.server_index",
                        raising=False)
    settings = Settings(data_dir=tmp_path, vector=VectorSettings(backend="qdrant"))
    with pytest.raises(InvalidInput) as err:
        build_vectors(settings, 384)
    assert "pip install 'fleetmem[qdrant]'" in str(err.value)
    assert "FLEETMEM_VECTOR__BACKEND=edge" in str(err.value)


def test_edge_backend_needs_no_qdrant_client(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "qdrant_client", None)
    index = build_vectors(Settings(data_dir=tmp_path), 384)
    assert type(index).__name__ == "EdgeVectorIndex"
