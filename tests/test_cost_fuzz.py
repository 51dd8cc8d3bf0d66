"""The cost over the shared fuzz generator's specs (tests/fuzzgen.py): every derivable spec gets a cost under
every preset, its table and its numbers, or one error of symshape's family; never an internal error."""

from __future__ import annotations

import os
import random
import time

import numpy as np

import symshape
from symshape.cost import PRESETS, cost
from symshape.errors import SymshapeError

from .fuzzgen import case

CASES = int(os.environ.get("SYMSHAPE_COST_FUZZ", "80"))


def test_cost_never_escapes_the_error_family() -> None:
    r = random.Random(11)
    derived = 0
    slowest = 0.0
    for seed in range(CASES):
        c = case(seed)
        try:
            d = symshape.derive(c.spec)
        except SymshapeError:
            continue
        derived += 1
        start = time.perf_counter()
        for flops in PRESETS:
            try:
                k = cost(d, flops=flops, optimizer=r.choice(["sgd", "adam"]), dtype=r.choice(["fp32", "bf16-mixed"]),
                         checkpoint=r.random() < 0.3)
                k.table()
                values = {s: int(v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else 7
                          for s, v in c.bindings.items() if s in k.symbols}
                values.update({s: 3 for s in k.symbols if s not in values})
                k.evaluate(values)
                k.evaluate_batch({s: np.full(4, v) for s, v in values.items()}, ("total_bytes", "train_flops"))
            except SymshapeError:
                pass
        slowest = max(slowest, time.perf_counter() - start)
    assert derived >= CASES // 10
    assert slowest < 30, f"one spec's costs took {slowest:.1f} s"
