"""Server adapters translate driver errors into StorageUnavailable (what the doors map to
503), saying whether a retry can help."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from fleetmem.memory.errors import StorageUnavailable
from fleetmem.memory.ports import MemoryFilter
from fleetmem.memory.stores.neo4j.graph_store import Neo4jGraphStore
from fleetmem.memory.stores.qdrant.server_index import QdrantServerVectorIndex


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_neo4j_unreachable_is_retryable_storage_unavailable() -> None:
    store = Neo4jGraphStore(f"bolt://127.0.0.1:{closed_port()}")
    with pytest.raises(StorageUnavailable) as info:
        await store.open()
    assert info.value.retryable and info.value.store == "neo4j"
    with pytest.raises(StorageUnavailable) as unopened:
        await store.ping()
    assert "not open" in unopened.value.message
    await store.close()


async def test_neo4j_bad_uri_is_not_retryable() -> None:
    store = Neo4jGraphStore("127.0.0.1:7687")
    with pytest.raises(StorageUnavailable) as info:
        await store.open()
    assert not info.value.retryable and "neo4j_uri" in info.value.message


async def test_qdrant_unreachable_is_retryable_storage_unavailable() -> None:
    index = QdrantServerVectorIndex(f"http://127.0.0.1:{closed_port()}", "c", 4)
    with pytest.raises(StorageUnavailable) as info:
        await index.search(np.ones(4, dtype=np.float32), MemoryFilter(namespaces=("a",)), 3)
    assert info.value.retryable and info.value.store == "qdrant"
    await index.close()


async def test_qdrant_dimension_mismatch_is_reported() -> None:
    first = QdrantServerVectorIndex(":memory:", "c", 4)
    await first.open()
    client = first._client  # the same in-memory instance, reopened with another dimension
    second = QdrantServerVectorIndex(":memory:", "c", 8)
    second._client = client
    with pytest.raises(StorageUnavailable) as info:
        await second.open()
    assert "4-dimensional" in info.value.message and not info.value.retryable
    await first.close()
