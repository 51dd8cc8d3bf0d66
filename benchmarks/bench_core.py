"""Benchmarks of the symbolic core; prints a table. Run: python benchmarks/bench_core.py [--quick]

1. derive an N-layer chain whose every kernel, stride, padding and filter count is its own symbol,
   plus its closed form (fresh symbol names each run, so SymPy's cache cannot help);
2. batch-evaluate a 50-layer network's output shape and parameter total (validity mask included)
   against a hand-written numpy int64 recurrence computing the same, in the same run;
3. derive ResNet-50 with a symbolic input size, uncached and cached.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import sympy

import symshape
from symshape.derive import clear_cache

ROOT = Path(__file__).resolve().parent.parent


def chain_spec(n: int, tag: str) -> dict:
    layers = [{"Conv2d": {"out_channels": f"D{k}{tag}", "kernel_size": f"F{k}{tag}", "stride": f"S{k}{tag}",
                          "padding": f"P{k}{tag}"}} for k in range(n)]
    return {"framework": "torch", "input": [f"C{tag}", f"H{tag}", f"W{tag}"], "layers": layers}


def bench_derive(depths: list[int], runs: int) -> list[tuple]:
    warm = symshape.derive(chain_spec(3, "warm"), cache=False)
    _ = warm.closed_form
    rows = []
    for n in depths:
        times = []
        ops = 0
        for r in range(runs):
            spec = chain_spec(n, f"_{n}_{r}")
            gc.collect()
            t0 = time.perf_counter()
            d = symshape.derive(spec, cache=False)
            closed = d.closed_form
            times.append(time.perf_counter() - t0)
            ops = sympy.count_ops(closed[1])
        rows.append((n, 1000 * statistics.median(times), ops, ops / n))
    return rows


def batch_case(n_layers: int, vary: str, count: int, rng: np.random.Generator) -> tuple[dict, dict]:
    """A 50-layer conv chain and columns for `count` bindings: vary 'input', 'some' or 'all'."""
    if vary == "some":  # a typical sweep: input size, and filters and kernel of 5 layers
        layers = [{"Conv1d": {"out_channels": f"D{k}" if k % 10 == 0 else 16, "kernel_size": f"F{k}" if k % 10 == 0
                              else 3, "stride": 2 if k % 10 == 5 else 1, "padding": 1}} for k in range(n_layers)]
        symbols = {"I": {"min": 1}}
        cols = {"I": rng.integers(64, 4096, count)}
        for k in range(0, n_layers, 10):
            symbols.update({f"D{k}": {"min": 1}, f"F{k}": {"min": 1}})
            cols[f"D{k}"] = rng.integers(1, 64, count)
            cols[f"F{k}"] = rng.integers(1, 6, count)
    elif vary == "all":
        layers = [{"Conv1d": {"out_channels": f"D{k}", "kernel_size": f"F{k}", "stride": f"S{k}", "padding": f"P{k}"}}
                  for k in range(n_layers)]
        symbols = {"I": {"min": 1}}
        for k in range(n_layers):
            symbols.update({f"D{k}": {"min": 1}, f"F{k}": {"min": 1}, f"S{k}": {"min": 1}, f"P{k}": {"min": 0}})
        cols = {"I": rng.integers(64, 4096, count)}
        for k in range(n_layers):
            cols[f"D{k}"] = rng.integers(1, 64, count)
            cols[f"F{k}"] = rng.integers(1, 6, count)
            cols[f"S{k}"] = np.where(rng.random(count) < 0.1, 2, 1)
            cols[f"P{k}"] = rng.integers(0, 3, count)
    else:
        layers = [{"Conv1d": {"out_channels": 16, "kernel_size": 3, "stride": 2 if k % 10 == 0 else 1,
                              "padding": 1 if k % 3 else 0}} for k in range(n_layers)]
        symbols = {"I": {"min": 1}}
        cols = {"I": rng.integers(1, 100_000, count)}
    spec = {"framework": "torch", "input": [16, "I"], "symbols": symbols, "layers": layers}
    return spec, cols


def hand_written(spec: dict, cols: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same quantities by a direct numpy recurrence: size, parameter total, validity."""
    x = cols["I"].astype(np.int64)
    c = np.int64(16)
    params = np.zeros_like(x)
    valid = x >= 1
    for layer in spec["layers"]:
        a = layer["Conv1d"]
        d, f, s, p = (cols[a[k]] if isinstance(a[k], str) else a[k]
                      for k in ("out_channels", "kernel_size", "stride", "padding"))
        x = (x + 2 * p - f) // s + 1
        params = params + d * c * f + d
        valid &= x >= 1
        for key, lo in (("out_channels", 1), ("kernel_size", 1), ("stride", 1), ("padding", 0)):
            if isinstance(a[key], str):  # the hyperparameters' own domains, as symshape checks them
                valid &= cols[a[key]] >= lo
        c = d
    return x, params, valid


def bench_batch(count: int, rng: np.random.Generator) -> list[tuple]:
    rows = []
    for vary in ("input", "some", "all"):
        spec, cols = batch_case(50, vary, count, rng)
        d = symshape.derive(spec, cache=False)
        d.evaluate_batch({k: v[:10] for k, v in cols.items()}, outputs=("output_shape", "params"))  # compile
        best_ours, best_hand = float("inf"), float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            ours = d.evaluate_batch(cols, outputs=("output_shape", "params"))
            best_ours = min(best_ours, time.perf_counter() - t0)
            t0 = time.perf_counter()
            x, params, valid = hand_written(spec, cols)
            best_hand = min(best_hand, time.perf_counter() - t0)
        assert np.array_equal(ours.valid, valid), "batch validity differs from the hand-written recurrence"
        assert np.array_equal(ours.columns["output_shape"][1][valid], x[valid])
        assert np.array_equal(ours.columns["params"][valid], params[valid])
        label = {"input": "input size varies", "some": "input + 10 hyperparameters",
                 "all": "all 201 hyperparameters vary"}[vary]
        rows.append((label, count, count / best_ours / 1e6, count / best_hand / 1e6, best_ours / best_hand))
    return rows


def bench_resnet(runs: int) -> tuple[float, float, int]:
    text = (ROOT / "examples" / "resnet50.yaml").read_text()
    times = []
    for r in range(runs):
        clear_cache()
        renamed = text.replace("[3, H, W]", f"[3, H{r}, W{r}]")  # fresh symbols: SymPy's cache cannot help
        t0 = time.perf_counter()
        d = symshape.derive(renamed)
        _ = d.closed_form
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(100):
        symshape.derive(renamed)
    cached = (time.perf_counter() - t0) / 100
    return 1000 * statistics.median(times), 1e6 * cached, len(d.layers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the script runs, not the figures")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    depths = [10, 20] if args.quick else [50, 100, 200, 400]
    runs = 1 if args.quick else 5
    count = 20_000 if args.quick else 1_000_000

    print(f"symshape {symshape.__version__}, Python {sys.version.split()[0]}, numpy {np.__version__}, "
          f"sympy {sympy.__version__}")
    print(f"\n1. derive an all-symbolic chain + its closed form (median of {runs}, fresh symbols each run)")
    print(f"{'layers':>8} {'ms':>10} {'closed-form ops':>16} {'ops/layer':>10}")
    for n, ms, ops, per in bench_derive(depths, runs):
        print(f"{n:>8} {ms:>10.1f} {ops:>16} {per:>10.1f}")

    print(f"\n2. batch evaluation of a 50-layer network: output shape + parameter total + validity, "
          f"{count:,} bindings, one core")
    print(f"{'case':<30} {'ours M/s':>10} {'hand numpy M/s':>15} {'ours/hand time':>15}")
    for label, _, ours, hand, ratio in bench_batch(count, rng):
        print(f"{label:<30} {ours:>10.2f} {hand:>15.2f} {ratio:>15.2f}")

    print("\n3. ResNet-50 with symbolic H, W")
    ms, cached_us, layers = bench_resnet(1 if args.quick else 5)
    print(f"{'layers':>8} {'uncached ms':>12} {'cached us':>10}")
    print(f"{layers:>8} {ms:>12.1f} {cached_us:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
