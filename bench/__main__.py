"""`python -m bench all|ceiling|core|quality|locomo|peers|profile|setup|assemble|tracing|fairness|
embedding_runtime|import_rate|cold_paths|mcp_breakdown|scale` from the repository root."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MEM0_TELEMETRY", "False")

from bench.report import RESULTS, WORK_DIR, Report, say  # noqa: E402

FULL_SIZES = (1_000, 10_000, 100_000)


def _sizes(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        mult = 1000 if part.endswith("k") else 1
        out.append(int(float(part.rstrip("k")) * mult))
    return out


def _sizes_one(text: str) -> int:
    return _sizes(text)[0]


def _caps(text: str) -> dict[str, int]:
    if text.strip().lower() == "none":
        return {}
    out: dict[str, int] = {}
    for part in filter(None, text.split(",")):
        name, _, n = part.partition("=")
        out[name.strip()] = _sizes(n)[0]
    return out


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("all", help="every suite; rewrites bench/RESULTS.md")
    a.add_argument("--sizes", type=_sizes, default=list(FULL_SIZES),
                   help="fleetmem corpus sizes, e.g. 1k,10k,100k (default)")
    a.add_argument("--peer-size", type=int, default=10_000,
                   help="corpus size for the peers (default 10000)")
    a.add_argument("--peer-cap", type=_caps, default={"basic-memory": 2_000},
                   help="most memories a slow peer ingests, e.g. basic-memory=2000 (the "
                        "default: one write_note per memory takes ~40 min at 10k); "
                        "'none' lifts every cap")
    a.add_argument("--quality-scale", type=int, default=3,
                   help="quality set scale (people per team x teams; default 3)")
    a.add_argument("--skip-peers", action="store_true")
    a.add_argument("--neo4j-size", type=int, default=10_000,
                   help="corpus size for the graph-on-Neo4j table (0 skips it; needs Java "
                        "and Maven)")
    a.add_argument("--no-write", action="store_true", help="do not rewrite RESULTS.md")
    sub.add_parser("ceiling", help="raw model encode throughput and latency")
    c = sub.add_parser("core", help="fleetmem at one or more sizes")
    c.add_argument("--size", type=_sizes, default=[1_000], help="e.g. 1000 or 1k,10k")
    c.add_argument("--batch", type=int, default=128, help="remember_batch size (64-256)")
    c.add_argument("--queries", type=int, default=200)
    c.add_argument("--singles", type=int, default=50)
    c.add_argument("--no-doors", action="store_true", help="skip MCP stdio and REST")
    c.add_argument("--sentences", type=int, default=2048,
                   help="texts encoded for the ceiling (default 2048)")
    q = sub.add_parser("quality", help="recall@k / nDCG on the seeded quality set")
    q.add_argument("--scale", type=int, default=3)
    q.add_argument("--peers", action="store_true", help="also score the peers")
    lo = sub.add_parser("locomo", help="recall on LoCoMo's development half (data in "
                        "../shared/data/locomo or FLEETMEM_LOCOMO_DIR), beside quality.py's")
    lo.add_argument("--door", choices=("in-process", "rest"), default="in-process")
    lo.add_argument("--no-quality", action="store_true", help="skip bench/quality.py's set")
    lo.add_argument("--label", default="", help="the row's name (e.g. before / after)")
    pe = sub.add_parser("peers", help="peers vs fleetmem on the identical workload")
    pe.add_argument("--size", type=int, default=1_000)
    pe.add_argument("--queries", type=int, default=100)
    pe.add_argument("--only", default="", help="comma list: reference,mem0,basic-memory")
    pe.add_argument("--peer-cap", type=_caps, default={"basic-memory": 2_000},
                    help="most memories a slow peer ingests, e.g. basic-memory=2k or none "
                         "(as in `all`)")
    pr = sub.add_parser("profile", help="pyinstrument profiles of ingest and recall")
    pr.add_argument("--size", type=int, default=2_000)
    sub.add_parser("setup", help="install the peers into bench/.work (npm, venvs)")
    sub.add_parser("assemble", help="rebuild RESULTS.md after RELIABILITY.md, OTHER_RUNS.md "
                   "or PROFILE_NOTES.md changed (keeps the last `all` run's tables)")
    t = sub.add_parser("tracing", help="recall latency: tracing stubbed out, off, on")
    t.add_argument("--memories", type=int, default=300)
    t.add_argument("--recalls", type=int, default=300)
    er = sub.add_parser("embedding_runtime",
                        help="ONNX Runtime vs torch: vectors, encode, cold paths, install size")
    er.add_argument("--data-dir", type=Path, default=None,
                    help="an existing store for the cold paths (e.g. bench/.work/data/"
                         "core-10000 after `bench core --size 10k`); none skips them")
    er.add_argument("--onnx-python", default=sys.executable,
                    help="python of the install whose `fleetmem` runs ONNX Runtime")
    er.add_argument("--torch-python", default=None,
                    help="python of an install with the torch extra (none: not measured)")
    er.add_argument("--venv", action="append", default=[], metavar="LABEL=PATH",
                    help="an install to size with du: runtime=PATH (no dev extras) or "
                         "dev=PATH; repeatable")
    er.add_argument("--repeats", type=int, default=5)
    er.add_argument("--quality", action="store_true",
                    help="also score bench/quality.py's set with both runtimes")
    er.add_argument("--sentences", type=int, default=2048,
                    help="texts encoded for the ceiling (default 2048)")
    ir = sub.add_parser("import_rate", help="fleetmem import of a JSONL file vs batch ingest "
                        "of the same texts, in one run")
    ir.add_argument("--lines", type=int, default=10_000)
    ir.add_argument("--batch", type=int, default=128, help="remember_batch size")
    sc = sub.add_parser("scale", help="the embedded path at scale: bulk import with vectors, "
                        "recall, pauses, RSS and disk per 10k, restart")
    sc.add_argument("--size", type=_sizes_one, default=1_000_000, help="e.g. 100k or 1000000")
    sc.add_argument("--chunk", type=int, default=256, help="import lines per call")
    sc.add_argument("--queries", type=int, default=100, help="recalls per checkpoint")
    sc.add_argument("--seal", type=_sizes_one, default=50_000,
                    help="vector.seal_points of the store (0: one shard indexed in-process, "
                         "as before issue 22)")
    sc.add_argument("--base", type=int, default=2048,
                    help="real texts encoded once: the real memories and the parents of "
                         "the synthetic vectors")
    sc.add_argument("--sentences", type=int, default=512,
                    help="texts encoded for the ceiling (default 512)")
    sc.add_argument("--encoded", type=_sizes_one, default=0,
                    help="then add this many memories to the filled store through "
                         "remember_batch (the model encodes), e.g. 20k; 0 skips it")
    sc.add_argument("--reuse", action="store_true",
                    help="skip the import and the restart: write the --encoded texts into "
                         "the store an earlier run of this --size left, after the ones it "
                         "wrote (new texts, not duplicates)")
    sc.add_argument("--writers", type=int, default=1,
                    help="callers sending the --encoded batches at once (default 1)")
    cp = sub.add_parser("cold_paths", help="serve to ready and a one-shot recall: this "
                        "checkout, or a git ref against it (same venv, same store)")
    cp.add_argument("--data-dir", type=Path, required=True,
                    help="an existing store, e.g. bench/.work/data/core-10000 (serve and "
                         "recall open it: use a copy you may write to)")
    cp.add_argument("--against", default=None, metavar="REF",
                    help="a git ref measured as 'before', alternating with this checkout")
    cp.add_argument("--python", default=sys.executable,
                    help="python of the install whose `fleetmem` runs both")
    cp.add_argument("--repeats", type=int, default=5)
    f = sub.add_parser("fairness", help="another agent's recall under a flooding agent")
    f.add_argument("--seconds", type=float, default=20.0)
    sub.add_parser("mcp_breakdown", help="where an MCP stdio remember's milliseconds go "
                   "(door by door, traced spans, CPU per call); its options: "
                   "`python -m bench mcp_breakdown --help`", add_help=False)
    return p


def _cold_paths(args: argparse.Namespace) -> int:
    """`cold_paths`: print the comparison as markdown (for bench/OTHER_RUNS.md)."""
    import tempfile

    from bench.cold_paths import REPO, compare_report, compare_trees, export_ref

    with tempfile.TemporaryDirectory(prefix="fleetmem-before-") as before:
        trees = {"this checkout": REPO}
        if args.against:
            trees = {f"before ({args.against})": export_ref(args.against, Path(before)),
                     "after (this checkout)": REPO}
        figs, loads = compare_trees(trees, args.python, args.data_dir.resolve(),
                                    repeats=args.repeats)
    for line in compare_report(figs, loads):
        say(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the chosen suites; `all` also writes RESULTS.md."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["mcp_breakdown"]:  # its own options (bench/mcp_breakdown.py)
        from bench import mcp_breakdown

        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        return mcp_breakdown.main(argv[1:])
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.command == "assemble":
        from bench.assemble import main as assemble_main

        return assemble_main()
    if args.command == "setup":
        from bench.peers.setup import setup_all

        return int(setup_all())
    if args.command == "tracing":
        from bench import tracing_bench

        return tracing_bench.main(["--memories", str(args.memories),
                                   "--recalls", str(args.recalls)])
    if args.command == "import_rate":
        from bench import import_rate

        return import_rate.main(args.lines, args.batch)
    if args.command == "scale":
        from bench import scale

        return scale.main(args.size, args.chunk, args.queries, args.encoded, args.seal,
                          args.base, args.sentences, reuse=args.reuse,
                          writers=args.writers)
    if args.command == "cold_paths":
        return _cold_paths(args)
    if args.command == "fairness":
        from bench import fairness

        return fairness.main(["--seconds", str(args.seconds)])
    from bench import suites

    report = Report()
    ctx = suites.make_context()
    if args.command == "ceiling":
        suites.run_ceiling(ctx, report)
    elif args.command == "core":
        suites.run_ceiling(ctx, report, sentences=args.sentences)
        suites.run_core(ctx, report, args.size, batch=args.batch, queries=args.queries,
                        singles=args.singles, doors=not args.no_doors)
    elif args.command == "quality":
        from bench.quality_suite import run_quality

        run_quality(ctx, report, scale=args.scale, peers=args.peers)
    elif args.command == "locomo":
        from bench.locomo_suite import run_locomo

        run_locomo(ctx, report, door=args.door, quality=not args.no_quality, label=args.label)
    elif args.command == "peers":
        from bench.peers.suite import run_peers

        run_peers(ctx, report, size=args.size, queries=args.queries,
                  only=[s for s in args.only.split(",") if s], caps=args.peer_cap)
    elif args.command == "profile":
        from bench.profile import run_profile

        run_profile(ctx, report, size=args.size)
    elif args.command == "embedding_runtime":
        from bench.embedding_runtime import run_embedding_runtime

        run_embedding_runtime(ctx, report, data_dir=args.data_dir,
                              onnx_python=args.onnx_python, torch_python=args.torch_python,
                              venvs={k: Path(v) for k, _, v in
                                     (s.partition("=") for s in args.venv)},
                              repeats=args.repeats, sentences=args.sentences,
                              quality=args.quality)
        from bench.machine import header_lines

        out = WORK_DIR / "embedding_runtime.md"
        out.write_text(report.markdown(header_lines("python -m bench embedding_runtime", {})))
        say(f"\nwrote {out} (the run's tables and targets, for bench/RESULTS.md)")
    elif args.command == "all":
        return run_all(args, ctx, report)
    return 0


def run_all(args: argparse.Namespace, ctx: object, report: Report) -> int:
    """Every suite in one process run, then RESULTS.md."""
    from bench import suites
    from bench.machine import header_lines
    from bench.quality_suite import run_quality

    assert isinstance(ctx, suites.RunContext)
    suites.run_ceiling(ctx, report)
    suites.run_core(ctx, report, args.sizes)
    if args.neo4j_size:
        from bench.neo4j_suite import run_neo4j

        run_neo4j(ctx.embedder, report, args.neo4j_size,
                  embedded=(ctx.core or {}).get(args.neo4j_size))
    extra: dict[str, str] = {}
    if not args.skip_peers:
        from bench.peers.suite import peer_versions, run_peers

        run_peers(ctx, report, size=args.peer_size, queries=100, caps=args.peer_cap)
        extra = peer_versions()
    quality = run_quality(ctx, report, scale=args.quality_scale, peers=not args.skip_peers)
    if not args.skip_peers:
        from bench.peers.suite import peer_targets

        peer_targets(ctx, report, quality)
    command = "python -m bench all" + (
        "" if list(args.sizes) == list(FULL_SIZES) else
        " --sizes " + ",".join(str(s) for s in args.sizes))
    if args.peer_size != 10_000:
        command += f" --peer-size {args.peer_size}"
    if args.peer_cap != {"basic-memory": 2_000}:
        command += " --peer-cap " + (",".join(f"{k}={v}" for k, v in args.peer_cap.items())
                                     or "none")
    if args.quality_scale != 3:
        command += f" --quality-scale {args.quality_scale}"
    if args.skip_peers:
        command += " --skip-peers"
    if args.neo4j_size != 10_000:
        command += f" --neo4j-size {args.neo4j_size}"
    from bench.assemble import included_text

    text = report.markdown(header_lines(command, extra)) + included_text()
    if not args.no_write:
        RESULTS.write_text(text)
        say(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
