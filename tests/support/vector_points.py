"""Vector points with random unit vectors, for the embedded vector tier's tests."""

from __future__ import annotations

import uuid

import numpy as np

from fleetmem.memory.ports import VectorPoint

DIM = 384


def unit_points(n: int, namespace: str, *, start: int = 0, seed: int | None = None,
                status: str = "active") -> list[VectorPoint]:
    """`n` facts by alice in `namespace`, ids numbered from `start` + 1, vectors drawn
    from `seed` (default: `start`)."""
    rng = np.random.default_rng(start if seed is None else seed)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [VectorPoint(id=str(uuid.UUID(int=start + i + 1, version=4)), vector=vectors[i],
                        namespace=namespace, kind="fact", status=status, created_by="alice",
                        created_at=0.0, tags=()) for i in range(n)]
