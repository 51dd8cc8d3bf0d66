"""The inverse question and one-symbol sweeps in closed form, side by side with the program; two tables.

    python benchmarks/bench_solve.py [--quick]

1. For each example: the valid set of H (the other symbols bound) by symshape.solve (abstract
   interpretation, then exact evaluation below the threshold) after derive and compile, and by
   enumerating every H in 1..10^7 with the per-layer vectorized program (what `solve --range` did).
2. An input sweep of a 50-layer network, 10^6 bindings, output shape + validity: evaluate_batch on
   its closed-form fast path, the per-layer program, and a hand-written numpy recurrence.
The machine is shared and noisy: read the ratios.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import symshape
from symshape import fastpath
from symshape.solve import solve

EXAMPLES = Path(__file__).parent.parent / "examples"
CASES = [
    ("unet.yaml", "H", {"C": 3, "W": 64, "K": 2}),
    ("resnet50.yaml", "H", {"W": 224}),
    ("resnet18.yaml", "H", {"W": 224}),
    ("alexnet.yaml", "H", {"W": 224}),
    ("vgg16.yaml", "H", {"W": 224}),
]


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def enumerate_valid(d, symbol, fixed, hi: int) -> int:
    count = 0
    for start in range(1, hi + 1, 1 << 20):
        values = np.arange(start, min(start + (1 << 20), hi + 1), dtype=np.int64)
        with fastpath.disabled():  # the per-layer program, as `solve --range` enumerated
            res = d.evaluate_batch({**fixed, symbol: values}, outputs=("output_shape",), chunk=1 << 20)
        count += int(res.valid.sum())
    return count


def chain50() -> dict:
    layers = [{"Conv1d": {"out_channels": 16, "kernel_size": 3, "stride": 2 if k % 10 == 0 else 1,
                          "padding": 1 if k % 3 else 0}} for k in range(50)]
    return {"framework": "torch", "input": [16, "I"], "layers": layers}


def recurrence(spec: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    valid = x >= 1
    for layer in spec["layers"]:
        a = layer["Conv1d"]
        x = (x + 2 * a["padding"] - a["kernel_size"]) // a["stride"] + 1
        valid &= x >= 1
    return x, valid


def bench_sweep(count: int) -> None:
    spec = chain50()
    d = symshape.derive(spec)
    x = np.random.default_rng(1).integers(1, 100_000, count).astype(np.int64)
    d.evaluate_batch({"I": x[:5000]}, outputs=("output_shape",))  # compile, build the tables
    fast = best(lambda: d.evaluate_batch({"I": x}, outputs=("output_shape",)), 5)
    with fastpath.disabled():
        prog = best(lambda: d.evaluate_batch({"I": x}, outputs=("output_shape",)), 3)
    hand = best(lambda: recurrence(spec, x), 3)
    ours = d.evaluate_batch({"I": x}, outputs=("output_shape",))
    size, valid = recurrence(spec, x)
    assert np.array_equal(ours.valid, valid) and np.array_equal(ours.columns["output_shape"][1][valid], size[valid])
    print(f"\n50-layer Conv1d chain, input sweep of {count:,} bindings (output shape + validity)")
    print(f"{'method':<40}{'bindings/s':>14}{'vs fast path':>14}")
    for label, t in (("closed form (evaluate_batch fast path)", fast), ("per-layer program", prog),
                     ("numpy recurrence (hand-written)", hand)):
        print(f"{label:<40}{count / t / 1e6:>11.1f} M/s{t / fast:>13.1f}x")


def main() -> None:
    quick = "--quick" in sys.argv
    hi = 10**6 if quick else 10**7
    print(f"{'network':<16}{'answer':<34}{'closed form':>13}{f'enumerate 1..{hi:.0e}':>22}{'ratio':>9}")
    for name, symbol, fixed in CASES:
        d = symshape.derive(EXAMPLES / name)
        _ = d.compiled  # compile outside the timing
        answer = solve(d, symbol, fixed)
        t_closed = best(lambda d=d, s=symbol, f=fixed: solve(d, s, f), 5)
        t_enum = best(lambda d=d, s=symbol, f=fixed: enumerate_valid(d, s, f, hi), 1)
        assert answer.count() is None or answer.count() == enumerate_valid(d, symbol, fixed, hi)
        print(f"{name:<16}{answer.text()[:33]:<34}{t_closed * 1e3:>10.1f} ms{t_enum:>19.2f} s "
              f"{t_enum / t_closed:>8.0f}x")
    bench_sweep(10**6)


if __name__ == "__main__":
    main()
