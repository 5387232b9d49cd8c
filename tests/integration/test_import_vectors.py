"""Import with precomputed vectors (issue 22, Deliver 1: the bulk path, also how a store
is migrated), on real stores: a line carrying an `embedding` of the store's model is
written with that vector and no model call; another model, another dimension, a value
that is not a finite number or a zero vector is rejected on its line saying why (with
strict, nothing written); a text redaction changed is encoded again."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fleetmem.memory.errors import InvalidInput
from fleetmem.memory.ports import Embedder
from fleetmem.memory.services import (
    Caller,
    ExportedMemory,
    MemoryInput,
    MemoryService,
    RecallQuery,
    export_lines,
)
from tests.conftest import ServiceFactory
from tests.integration.test_import_export import export_all, import_file

ALICE = Caller("alice")


def _line(text: str, vector: object, model: str, **extra: object) -> str:
    return json.dumps({"text": text, "embedding": {"model": model, "vector": vector},
                       **extra})


async def _vector_of(service: MemoryService, memory_id: str) -> np.ndarray:
    return np.asarray((await service.ctx.memories.get_vectors([memory_id]))[memory_id])


async def test_vectors_of_the_stores_model_are_written_without_encoding(
        service: MemoryService, embedder: Embedder, tmp_path: Path) -> None:
    texts = ["Atlas deploys on Tuesdays", "The build cache lives on s3://builds",
             "Grafana alerts page the on-call rotation"]
    vectors = embedder.embed(texts)
    # the second vector is given unnormalised (x3): stored at unit length
    lines = [_line(texts[0], vectors[0].tolist(), embedder.model_name),
             _line(texts[1], (vectors[1] * 3).tolist(), embedder.model_name),
             json.dumps({"text": texts[2]})]  # no vector: encoded as before
    path = tmp_path / "with-vectors.jsonl"
    path.write_text("\n".join(lines) + "\n")
    calls = service.ctx.embed_calls
    report = await import_file(service, ALICE, path)
    assert (report.imported, report.rejected) == (3, []), report
    assert service.ctx.embed_calls - calls == 1  # one chunk, one call, for the third text

    views = {v.text: v for v in await service.export_memories(ALICE)}
    for i in range(3):
        got = await _vector_of(service, views[texts[i]].id)
        assert np.allclose(got, vectors[i], atol=1e-5)
    assert set(await service.ctx.vectors.existing([v.id for v in views.values()])) \
        == {v.id for v in views.values()}
    hits = (await service.recall(ALICE, RecallQuery(query="where is the build cache?",
                                                     modes=frozenset({"dense"})))).hits
    assert hits[0].memory.text == texts[1]


async def test_malformed_vectors_are_rejected_on_their_lines(
        make_service: ServiceFactory, embedder: Embedder, tmp_path: Path) -> None:
    service = await make_service()
    dim, model = embedder.dimension, embedder.model_name
    good = [0.1] * dim
    lines = [
        _line("other model", good, "text-embedding-3-small"),
        _line("too short", good[:-1], model),
        _line("not a number", [*good[:-1], "x"], model),
        _line("a NaN", [*good[:-1], float("nan")], model),  # json writes NaN
        _line("a boolean", [*good[:-1], True], model),
        _line("all zeros", [0.0] * dim, model),
        json.dumps({"text": "no model", "embedding": {"vector": good}}),
        _line("fine", good, model),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = await import_file(service, ALICE, path)
    assert report.imported == 1
    reasons = {r.line: r.reason for r in report.rejected}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 7]
    assert "'text-embedding-3-small'" in reasons[1] and model in reasons[1]
    assert f"has {dim - 1} values" in reasons[2] and str(dim) in reasons[2]
    assert "'x', not a finite number" in reasons[3]
    assert "nan, not a finite number" in reasons[4]
    assert "True, not a finite number" in reasons[5]
    assert "no direction" in reasons[6]
    assert "embedding.model" in reasons[7]

    strict = await make_service(tmp_path / "strict")
    one = tmp_path / "one-bad.jsonl"  # the model is checked by the service, per batch
    one.write_text(lines[-1] + "\n" + lines[0] + "\n")
    with pytest.raises(InvalidInput, match="text-embedding-3-small"):
        await import_file(strict, ALICE, one, strict=True)
    assert await strict.export_memories(ALICE) == []


async def test_a_redacted_text_is_encoded_again(
        service: MemoryService, embedder: Embedder, tmp_path: Path) -> None:
    text = "The deploy token is ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    given = embedder.embed([text])[0]
    path = tmp_path / "secret.jsonl"
    path.write_text(_line(text, given.tolist(), embedder.model_name) + "\n")
    report = await import_file(service, ALICE, path)
    assert report.imported == 1 and report.redactions == 1
    view = (await service.export_memories(ALICE))[0]
    assert "ghp_" not in view.text
    stored = await _vector_of(service, view.id)
    assert np.allclose(stored, embedder.embed([view.text])[0], atol=1e-5)
    assert not np.allclose(stored, given, atol=1e-3)


async def test_export_with_vectors_migrates_a_store_without_encoding(
        make_service: ServiceFactory, embedder: Embedder, tmp_path: Path) -> None:
    source = await make_service(tmp_path / "a")
    texts = [f"Service {i} listens on port {8000 + i}" for i in range(5)]
    await source.remember_batch(ALICE, [MemoryInput(text=t) for t in texts])
    plain = await export_all(source, ALICE)
    assert all("embedding" not in json.loads(x) for x in plain)  # the format is unchanged

    async def page(after: str | None) -> list[ExportedMemory]:
        return await source.export_memories(ALICE, None, after, 2, with_vectors=True)

    lines = [line async for line in export_lines(page)]
    assert all(json.loads(x)["embedding"]["model"] == embedder.model_name for x in lines)
    path = tmp_path / "with-vectors.jsonl"
    path.write_text("".join(lines))
    target = await make_service(tmp_path / "b")
    calls = target.ctx.embed_calls
    report = await import_file(target, ALICE, path)
    assert (report.imported, report.rejected) == (5, [])
    assert target.ctx.embed_calls == calls  # nothing encoded
    for line in lines:
        want = json.loads(line)
        got = await _vector_of(target, want["id"])
        assert np.allclose(got, want["embedding"]["vector"], atol=1e-6)
