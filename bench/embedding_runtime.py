"""`python -m bench embedding_runtime`: ONNX Runtime (the default) against
sentence-transformers on torch, in one run: the same vectors, encode speed, and the cold
paths (serve to ready, one-shot recall, RSS, install size), with issue 17's targets.

    python -m bench embedding_runtime --data-dir bench/.work/data/core-10000 \
        --onnx-python .venv-notorch/bin/python --torch-python .venv/bin/python \
        --venv runtime=.venv-slim --venv dev=.venv-notorch

The in-process figures need torch in the running interpreter (otherwise only ONNX Runtime
is measured); the cold paths run each runtime's own `fleetmem` command.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench import workload
from bench.cold_paths import ColdFigures, du, measure_cold
from bench.report import Report, Target, fmt
from bench.suites import RunContext, run_ceiling, torch_embedder

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "embedding_reference.json"
VENV_LIMITS_MB = {"runtime": 500.0, "dev": 700.0}


def run_embedding_runtime(ctx: RunContext, report: Report, *, data_dir: Path | None,
                          onnx_python: str, torch_python: str | None,
                          venvs: dict[str, Path], repeats: int = 5,
                          sentences: int = 2048, quality: bool = False) -> None:
    """Every table and target of the comparison."""
    c = run_ceiling(ctx, report, sentences=sentences)
    t = ctx.torch_ceiling
    _agreement(ctx, report, sentences)
    if t:
        report.target(Target("single-query encode p50, ONNX Runtime <= 0.5x torch",
                             c.query_p50_ms / t.query_p50_ms, 0.5, False,
                             f"{c.query_p50_ms:.2f} vs {t.query_p50_ms:.2f} ms"))
        report.target(Target("batch encode throughput, ONNX Runtime >= torch",
                             c.encode_rate / t.encode_rate, 1.0, True,
                             f"{c.encode_rate:.1f} vs {t.encode_rate:.1f} sentences/s"))
    if quality:
        _quality(ctx, report)
    if data_dir is not None:
        runtimes = {"onnx": onnx_python, **({"torch": torch_python} if torch_python else {})}
        _cold(report, measure_cold(runtimes, data_dir, repeats=repeats), data_dir, repeats)
    if venvs:
        _sizes(report, venvs)


def _agreement(ctx: RunContext, report: Report, sentences: int) -> None:
    ref = json.loads(REFERENCE.read_text())
    got = ctx.embedder.embed(ref["texts"]).astype(np.float64)
    expected = np.array(ref["vectors"], dtype=np.float64)
    cos = (got * expected).sum(1) / np.linalg.norm(expected, axis=1)
    rows = [["50 reference sentences (tests/data/embedding_reference.json)",
             f"{cos.min():.7f}", f"{np.abs(got - expected).max():.2e}"]]
    other = torch_embedder(ctx.settings)
    if other is not None:
        texts = workload.memories(sentences, seed=99)
        a, b = ctx.embedder.embed(texts), other.embed(texts)
        rows.append([f"{sentences:,} memory texts of the ceiling, torch of this run",
                     f"{float((a * b).sum(1).min()):.7f}", f"{np.abs(a - b).max():.2e}"])
    report.table("ONNX Runtime vectors against sentence-transformers", [
        "texts", "min cosine", "max abs difference"], rows, notes=[
        "Stored vectors and indexes made with torch stay valid: nothing is re-embedded on "
        "upgrade. The reference was computed once with sentence-transformers "
        "(scripts/embedding_reference.py, rounded to 6 decimals)."])


def _quality(ctx: RunContext, report: Report) -> None:
    """bench/quality.py's set through every recall mode, once per runtime."""
    from bench.quality import generate
    from bench.quality_suite import run_fleetmem_modes

    other = torch_embedder(ctx.settings)
    if other is None:
        return
    qs = generate(3)
    onnx = run_fleetmem_modes(ctx, qs)
    torch = run_fleetmem_modes(RunContext(embedder=other, settings=ctx.settings), qs)
    rows, same = [], True
    for mode, (s, _) in onnx.items():
        t = torch[mode][0]
        equal = (f"{s.recall5:.3f}", f"{s.recall10:.3f}") == (f"{t.recall5:.3f}",
                                                              f"{t.recall10:.3f}")
        same = same and equal
        rows.append([mode, f"{s.recall5:.3f}", f"{t.recall5:.3f}", f"{s.recall10:.3f}",
                     f"{t.recall10:.3f}", f"{s.ndcg10:.3f}", f"{t.ndcg10:.3f}",
                     "yes" if equal else "**no**"])
    report.table("Retrieval quality: ONNX Runtime against torch (seeded set, scale 3)", [
        "mode", "recall@5 ONNX", "recall@5 torch", "recall@10 ONNX", "recall@10 torch",
        "nDCG@10 ONNX", "nDCG@10 torch", "recall@5/@10 equal to 3 decimals"], rows, notes=[
        "Each runtime loads its own copy of bench/quality.py's set and answers its 216 "
        "questions in every mode (the same code as the 'Retrieval quality' table)."])
    report.target(Target("recall@5/@10 equal to 3 decimals, ONNX Runtime vs torch "
                         "(every mode)", 1.0 if same else 0.0, 1.0, True,
                         "see the table"))


def _cold(report: Report, figs: dict[str, ColdFigures], data_dir: Path, repeats: int) -> None:
    onnx, torch = figs["onnx"], figs.get("torch")

    def pair(value: float, other: float | None, unit: str, digits: int = 2) -> list[str]:
        ratio = fmt(value / other) if other else "-"
        return [f"{fmt(value, digits)} {unit}",
                f"{fmt(other, digits)} {unit}" if other else "- (not measured)", ratio]

    rows = [
        ["`fleetmem serve` to ready (200 from /readyz, model loaded)",
         *pair(onnx.ready_p50, torch.ready_p50 if torch else None, "s")],
        ["serve RSS at ready",
         *pair(onnx.rss_p50, torch.rss_p50 if torch else None, "MiB", 0)],
        ["serve RSS after 50 REST recalls",
         *pair(onnx.busy_rss_p50, torch.busy_rss_p50 if torch else None, "MiB", 0)],
        ["one-shot `fleetmem recall` wall (launch to exit)",
         *pair(onnx.recall_p50, torch.recall_p50 if torch else None, "s")],
        ["first one-shot recall with no cached graph (builds it)",
         f"{fmt(onnx.first_recall_s)} s", "-", "-"],
    ]
    memories = _count(data_dir)
    report.table(f"Cold paths: ONNX Runtime against torch ({memories:,} memories)", [
        "what", "ONNX Runtime (default)", "torch (for one release)", "ONNX / torch"], rows,
        notes=[
            f"Medians of {repeats} rounds, the runtimes alternating, after one untimed round; "
            f"store {data_dir.name} (bench/.work/data, made by `python -m bench core`).",
            f"ONNX Runtime: `fleetmem` of {Path(onnx.python).parent.parent.name} "
            + (f"; torch: `fleetmem` of {Path(torch.python).parent.parent.name} with "
               "FLEETMEM_EMBEDDING__RUNTIME=torch." if torch else "."),
            "all rounds (s): serve ONNX " + ", ".join(f"{x:.2f}" for x in onnx.ready_s)
            + (" / torch " + ", ".join(f"{x:.2f}" for x in torch.ready_s) if torch else "")
            + "; recall ONNX " + ", ".join(f"{x:.2f}" for x in onnx.recall_s)
            + (" / torch " + ", ".join(f"{x:.2f}" for x in torch.recall_s) if torch else "")])
    report.target(Target(f"`fleetmem serve` to ready <= 2.5 s ({memories:,} memories)",
                         onnx.ready_p50, 2.5, False, f"{onnx.ready_p50:.2f} s" + (
                             f" (torch {torch.ready_p50:.2f} s)" if torch else "")))
    report.target(Target("one-shot `fleetmem recall` <= 2 s wall", onnx.recall_p50, 2.0,
                         False, f"{onnx.recall_p50:.2f} s" + (
                             f" (torch {torch.recall_p50:.2f} s)" if torch else "")))
    report.target(Target(f"serve RSS after loading <= 600 MiB ({memories:,} memories)",
                         onnx.busy_rss_p50, 600, False,
                         f"{onnx.rss_p50:.0f} MiB at ready, {onnx.busy_rss_p50:.0f} MiB "
                         "after 50 recalls" + (f" (torch {torch.busy_rss_p50:.0f} MiB)"
                                               if torch else "")))


def _count(data_dir: Path) -> int:
    import sqlite3

    db = data_dir / "graph.sqlite3"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM memories").fetchone()[0])


def _sizes(report: Report, venvs: dict[str, Path]) -> None:
    rows = []
    for label, path in venvs.items():
        human, mib = du(path)
        rows.append([label, path.name, human, f"{mib:,.0f}"])
        if label in VENV_LIMITS_MB:
            report.target(Target(f"`du -sh` of a {label} install ({'no dev extras' if label == 'runtime' else 'with dev tools'}) <= {VENV_LIMITS_MB[label]:.0f} MB",  # noqa: E501
                                 mib, VENV_LIMITS_MB[label], False, f"{human} ({path.name})"))
    report.table("Install size (virtualenv made by scripts/setup)", [
        "install", "folder", "du -sh", "MiB (du -sm)"], rows, notes=[
        "runtime: `EXTRAS= ./scripts/setup` (no dev extras); dev: `./scripts/setup` "
        "(EXTRAS=dev, the README's setup); both without torch. Measured as set up (pip "
        "compiles .pyc files at install)."])
