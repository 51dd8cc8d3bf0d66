"""Sweeps over one symbol in closed form: output sizes and validity without running every layer.

When one symbol H varies and every other is bound (the common AutoML sweep over input sizes, or one
block of a grid whose other axes are constant), :mod:`symshape.periodic` gives, for H >= T, each
output size as ``a[r] + b[r]*j`` on the class ``H = r + L*j`` and the validity as ``ok[r]``. Below T
(a few hundred values at most for real networks) the per-layer program fills a table once. A column
of H then costs a handful of numpy operations, whatever the depth of the network.

Exactness: the tables come from the same program as every other evaluation (the prefix is that
program's output, the tail its exact analysis, cross-checked on one period); a row whose size would
not fit int64, or below the table, is left to the program (the caller's fallback).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .periodic import NoClosedForm, Poly, Truth, analyse

if TYPE_CHECKING:
    from .evaluate import BatchResult, Compiled

__all__ = ["OneSymbol", "batch", "one_symbol"]

MAX_TABLE = 1 << 20  # values tabulated below the threshold
_INT64 = (1 << 63) - 1


@dataclass(frozen=True)
class OneSymbol:
    """Closed-form evaluation of the output sizes and validity in one symbol (the others bound)."""

    symbol: str
    period: int
    threshold: int  # the tail formulas hold for H >= threshold
    table_lo: int  # the table covers [table_lo, threshold)
    ok: np.ndarray  # bool per class
    a: tuple[np.ndarray, ...]  # per output axis, int64 per class
    b: tuple[np.ndarray, ...]
    table_valid: np.ndarray
    table_sizes: tuple[np.ndarray, ...]
    max_h: int  # beyond it a size could leave int64: the caller falls back

    def covers(self, h: np.ndarray) -> np.ndarray:
        return (h >= self.table_lo) & (h <= self.max_h)

    def covers_all(self, h: np.ndarray) -> bool:
        return not len(h) or (int(h.min()) >= self.table_lo and int(h.max()) <= self.max_h)

    def __call__(self, h: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """(valid, sizes per output axis) for values all inside `covers` (int64 column)."""
        period = self.period
        if period == 1:
            r = None
            j = h
        elif period & (period - 1) == 0:
            shift = period.bit_length() - 1
            r = h & (period - 1)
            j = h >> shift
        else:
            j, r = np.divmod(h, period)
        ok = self.ok
        if r is None or ok.all() or not ok.any():
            valid = np.full(h.shape, bool(ok[0]), dtype=bool)
        elif ok.sum() == 1:  # one residue (a U-Net: multiples of 2**depth)
            valid = r == int(np.flatnonzero(ok)[0])
        elif ok.sum() == len(ok) - 1:
            valid = r != int(np.flatnonzero(~ok)[0])
        else:
            valid = np.take(ok, r)
        sizes = []
        for a, b in zip(self.a, self.b, strict=True):
            a_const = bool((a == a[0]).all())
            if not b.any():
                size = np.full(h.shape, int(a[0]), dtype=np.int64) if a_const or r is None else np.take(a, r)
            else:
                size = j * int(b[0]) if (b == b[0]).all() else j * np.take(b, r)
                if a_const or r is None:
                    if a[0]:
                        size += int(a[0])
                else:
                    size += np.take(a, r)
            sizes.append(size)
        if len(h) and int(h.min()) < self.threshold:
            below = h < self.threshold
            idx = h[below] - self.table_lo
            valid[below] = self.table_valid[idx]
            for size, tab in zip(sizes, self.table_sizes, strict=True):
                size[below] = tab[idx]
        return valid, sizes


def one_symbol(c: Compiled, symbol: str, fixed: Mapping[str, int]) -> OneSymbol | None:
    """The closed-form evaluator for `symbol` with the others bound, or None where there is none
    (a divisor in the symbol, a size of degree > 1, a threshold past the table)."""
    out_regs = list(c.output[0])
    try:
        analysis = analyse(c.program.ops, [c.valid, *out_regs], symbol, fixed)
    except NoClosedForm:
        return None
    period = analysis.period
    threshold = None
    ok = np.zeros(period, dtype=bool)
    a = [np.zeros(period, dtype=np.int64) for _ in out_regs]
    b = [np.zeros(period, dtype=np.int64) for _ in out_regs]
    slope = 0
    intercept = 0
    for r, vals in enumerate(analysis.values):
        truth = vals[c.valid]
        if not isinstance(truth, Truth):
            return None
        ok[r] = truth.value is True
        js = [truth.j0]
        for k, reg in enumerate(out_regs):
            size = vals[reg]
            if not isinstance(size, Poly) or len(size.c) > 2:
                return None  # undefined or not a line
            coef = (*size.c, 0, 0)
            if abs(coef[0]) > _INT64 or abs(coef[1]) > _INT64:
                return None
            a[k][r], b[k][r] = coef[0], coef[1]
            slope = max(slope, abs(coef[1]))
            intercept = max(intercept, abs(coef[0]))
            js.append(size.j0)
        for j0 in js:
            if j0 is not None:
                t = r + period * j0
                threshold = t if threshold is None else max(threshold, t)
    threshold = threshold if threshold is not None else 0
    table_lo = max(threshold - MAX_TABLE, min(threshold, 0) - 64)  # down to a few values below zero
    n = threshold - table_lo
    table_valid = np.zeros(n, dtype=bool)
    table_sizes = [np.zeros(n, dtype=np.int64) for _ in out_regs]
    if n:
        from .evaluate import evaluate_batch

        values = np.arange(table_lo, threshold, dtype=np.int64)
        res = evaluate_batch(c, {**fixed, symbol: values}, outputs=("output_shape",), chunk=1 << 16)
        if res.overflow is not None and res.overflow.any():
            return None
        table_valid = res.valid
        table_sizes = [np.asarray(col, dtype=np.int64) for col in res.columns["output_shape"]]
    # |a + b*j| stays below 2**62 for H up to max_h (j <= H/period + 1)
    max_h = _INT64 if slope == 0 else max(threshold, ((1 << 62) - intercept) // slope * period - period)
    return OneSymbol(symbol, period, threshold, table_lo, ok, tuple(a), tuple(b), table_valid,
                     tuple(table_sizes), max_h)


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Compiled -> {(symbol, fixed): OneSymbol | None}
MIN_ROWS = 4096  # below it the program is as fast as building the tables


def batch(c: Compiled, cols: Mapping[str, object], length: int, outputs: Sequence[str]) -> BatchResult | None:
    """`evaluate_batch` through the closed form when one column varies and only sizes are wanted;
    None (use the program) otherwise."""
    if length < MIN_ROWS or any(o != "output_shape" for o in outputs):
        return None
    arrays = [name for name, col in cols.items() if isinstance(col, np.ndarray) and col.ndim == 1]
    if len(arrays) != 1 or arrays[0] not in c.program.symbols:
        return None
    symbol = arrays[0]
    fixed = {name: int(col) for name, col in cols.items() if name != symbol and name in c.program.symbols}
    key = (symbol, tuple(sorted(fixed.items())))
    per = _CACHE.setdefault(c, {})
    if key not in per:
        if len(per) > 64:
            per.pop(next(iter(per)))
        per[key] = None  # while the table below is built by the program (evaluate_batch again)
        per[key] = one_symbol(c, symbol, fixed)
    fast = per[key]
    values = cols[symbol]
    if fast is None or values.dtype != np.int64 or not fast.covers_all(values):
        return None
    from .evaluate import BatchResult

    valid, sizes = fast(values)
    columns = {"output_shape": sizes} if outputs else {}
    return BatchResult(length, columns, valid, np.zeros(length, dtype=bool))
