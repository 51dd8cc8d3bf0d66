"""The inverse question, closed form against enumeration, side by side; prints a table.

    python benchmarks/bench_solve.py [--quick]

For each example: the valid set of H (the other symbols bound) by symshape.solve (abstract
interpretation, then exact evaluation below the threshold) after derive and compile, and by
enumerating every H in 1..10^7 with the vectorized program (what `solve --range` did before).
The machine is shared and noisy: read the ratio.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import symshape
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
        res = d.evaluate_batch({**fixed, symbol: values}, outputs=("output_shape",), chunk=1 << 20)
        count += int(res.valid.sum())
    return count


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


if __name__ == "__main__":
    main()
