"""Scale benchmarks (issue 13); prints tables. Run: python benchmarks/bench_scale.py [--quick]

1. Sweeps: one grid of 10^7 combinations (classic_symbolic.yaml: I=1:10001, F=1:11, S=1:11, P=0:10, D=8),
   as Parquet, by the local sweep (one process), then on a local Ray instance (ray.init(num_cpus=2)) with
   1 and 2 workers (tasks at once), side by side in one run; rows/s = combinations / wall time; the
   Ray rows are checked equal to the local ones. Ray's start and its workers' first imports are timed
   apart (a tiny sweep first), as on a running cluster.
2. EvaluateBatch end to end through the Python client (`symshape serve` on loopback, 100k-row chunks):
   2,000,000 bindings as repeated int64 fields and as Arrow IPC record batches both ways, same run.
3. Margins: evaluate_batch with and without the signed margins and the first violated condition.

The machine has 2 cores shared with the load generator (and, here, other work): ratios are the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import symshape  # noqa: E402
from symshape.sweep import Sweep, parse_axis  # noqa: E402

SPEC = ROOT / "examples" / "classic_symbolic.yaml"


def grid(long_axis: int) -> list:
    return [parse_axis("I", f"1:{long_axis + 1}"), parse_axis("F", "1:11"), parse_axis("S", "1:11"),
            parse_axis("P", "0:10"), parse_axis("D", "8")]


def bench_sweeps(long_axis: int, tmp: Path) -> list[tuple[str, int, int, float, float]]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray

    from symshape.integrations.ray import sweep_on_ray

    d = symshape.derive(SPEC)
    axes = grid(long_axis)
    rows = []
    local = Sweep(d, axes)
    t0 = time.perf_counter()
    kept = local.write_parquet(tmp / "local.parquet")
    took = time.perf_counter() - t0
    rows.append(("local sweep, parquet (1 process)", local.total, kept, took, 0.0))
    t0 = time.perf_counter()
    with open(os.devnull, "w") as sink:
        local.write(sink, "csv")
    took_csv = time.perf_counter() - t0
    rows.append(("local sweep, csv to /dev/null", local.total, kept, took_csv, 0.0))
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    started = time.perf_counter() - t0
    reference = pq.read_table(tmp / "local.parquet")
    try:  # warm the 2 worker processes (each imports symshape and SymPy once: seconds), timed apart
        t0 = time.perf_counter()
        sweep_on_ray(SPEC, grid(10), tmp / "warm", workers=2, block=500)
        started += time.perf_counter() - t0
        for workers in (1, 2):
            out = tmp / f"ray{workers}"
            done = sweep_on_ray(SPEC, axes, out, workers=workers)
            same = pa.concat_tables([pq.read_table(f) for f in done.files]).equals(reference)
            assert same and done.kept == kept, "Ray rows differ from the local sweep's"
            rows.append((f"Ray, {workers} worker{'s' if workers > 1 else ''} ({len(done.files)} blocks)",
                         done.combinations, done.kept, done.seconds, started))
            shutil.rmtree(out)
    finally:
        ray.shutdown()
    return rows


def bench_batch(count: int) -> list[tuple[str, float]]:
    from bench_server import start, stop

    from symshape.client import Client

    proc, port = start(1)
    out = []
    try:
        with Client(f"127.0.0.1:{port}", timeout=600) as c:
            rng = np.random.default_rng(0)
            cols = {"I": rng.integers(1, 512, count), "F": rng.integers(1, 8, count), "S": rng.integers(1, 4, count),
                    "P": rng.integers(0, 3, count), "D": rng.integers(1, 128, count)}
            for arrow in (False, True):  # warm: derive, compile
                c.evaluate_batch(SPEC, {k: v[:1000] for k, v in cols.items()}, arrow=arrow)
            results = {}
            for rnd in range(3):  # interleaved, best of 3
                for arrow in (False, True):
                    t0 = time.perf_counter()
                    got = c.evaluate_batch(SPEC, cols, outputs=("output_shape", "params"), chunk=100_000, arrow=arrow)
                    rate = count / (time.perf_counter() - t0)
                    results[arrow] = max(results.get(arrow, 0.0), rate)
                    if rnd == 0:
                        results[("got", arrow)] = got
            a, b = results[("got", False)], results[("got", True)]
            assert (a["valid"] == b["valid"]).all() and (a["params"] == b["params"]).all()
            out = [("repeated int64 fields", results[False]), ("Arrow IPC both ways", results[True])]
    finally:
        stop(proc)
    return out


def bench_margins(count: int) -> list[tuple[str, float]]:
    d = symshape.derive(ROOT / "examples" / "automl_space.yaml")
    rng = np.random.default_rng(0)
    cols = {name: rng.integers(max(1, info.min or 1) - 1, (info.max or 64) + 1, count)
            for name, info in d.symbols.items() if name in d.free_symbols}
    out = []
    for label, outputs in (("results + validity", ("output_shape", "params", "macs")),
                           ("+ first violated condition", ("output_shape", "params", "macs", "first_violation")),
                           ("+ signed margins (every condition)", ("output_shape", "params", "macs", "margins"))):
        d.evaluate_batch({k: v[:1000] for k, v in cols.items()}, outputs=outputs)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            d.evaluate_batch(cols, outputs=outputs)
            best = min(best, time.perf_counter() - t0)
        out.append((label, count / best))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny runs: checks the script, not the figures")
    args = p.parse_args(argv)
    import grpc
    import pyarrow
    import ray

    print(f"Python {sys.version.split()[0]}, ray {ray.__version__}, pyarrow {pyarrow.__version__}, "
          f"grpcio {grpc.__version__}, {os.cpu_count()} cores")
    long_axis = 100 if args.quick else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        rows = bench_sweeps(long_axis, Path(tmp))
    print(f"\n1. Sweep of {rows[0][1]:,} combinations ({rows[0][2]:,} rows kept), Parquet out")
    print(f"{'how':<36} {'seconds':>8} {'M rows/s':>9} {'vs local':>9}")
    base = rows[0][1] / rows[0][3]
    for label, total, _kept, seconds, _ in rows:
        print(f"{label:<36} {seconds:>8.2f} {total / seconds / 1e6:>9.2f} {total / seconds / base:>8.2f}x")
    print(f"(ray.init(num_cpus=2) and warming its 2 workers: {rows[-1][4]:.1f} s, not counted; "
          "Ray rows equal the local sweep's)")

    count = 50_000 if args.quick else 2_000_000
    print(f"\n2. EvaluateBatch end to end, {count:,} bindings, classic_symbolic, best of 3")
    batch = bench_batch(count)
    print(f"{'columns as':<24} {'M bindings/s':>13} {'ratio':>6}")
    for label, rate in batch:
        print(f"{label:<24} {rate / 1e6:>13.2f} {rate / batch[0][1]:>5.2f}x")

    count = 20_000 if args.quick else 1_000_000
    print(f"\n3. evaluate_batch with margins (automl_space.yaml, 11 symbols varying, {count:,} bindings)")
    margins = bench_margins(count)
    print(f"{'outputs':<36} {'M bindings/s':>13}")
    for label, rate in margins:
        print(f"{label:<36} {rate / 1e6:>13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
