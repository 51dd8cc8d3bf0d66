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

import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .periodic import NoClosedForm, Poly, Truth, analyse

if TYPE_CHECKING:
    from .evaluate import BatchResult, Compiled

__all__ = ["OneSymbol", "batch", "disabled", "one_symbol"]

MAX_TABLE = 1 << 20  # values tabulated below the threshold
_INT64 = (1 << 63) - 1


@dataclass(frozen=True)
class OneSymbol:
    """Closed-form evaluation of some registers and the validity in one symbol (the others bound).

    On the class H = r + period*j (H >= threshold) register k is sum_i coefs[k][i][r] * j**i; below
    the threshold, down to table_lo, it is tabulated.
    """

    symbol: str
    period: int
    threshold: int  # the tail formulas hold for H >= threshold
    table_lo: int  # the table covers [table_lo, threshold)
    ok: np.ndarray  # bool per class
    coefs: dict[int, tuple[np.ndarray, ...]]  # register -> int64 per class, lowest degree first
    table_valid: np.ndarray
    table: dict[int, np.ndarray]
    max_h: int  # beyond it a value could leave int64: the caller falls back
    forms: dict[int, tuple] = field(default_factory=dict)  # register -> a cheaper exact form, when one fits

    def covers(self, h: np.ndarray) -> np.ndarray:
        return (h >= self.table_lo) & (h <= self.max_h)

    def covers_all(self, h: np.ndarray) -> bool:
        return not len(h) or (int(h.min()) >= self.table_lo and int(h.max()) <= self.max_h)

    def __call__(self, h: np.ndarray, registers: Sequence[int] | None = None) -> tuple[np.ndarray, dict]:
        """(valid, {register: column}) for values all inside `covers` (int64 column)."""
        period = self.period
        regs = list(self.coefs if registers is None else registers)
        ok = self.ok
        need_classes = not (ok.all() or not ok.any()) or any(self.forms.get(reg, ("general",))[0] == "general"
                                                              for reg in regs)
        r = j = None
        if need_classes:
            if period == 1:
                j = h
            elif period & (period - 1) == 0:
                r = h & (period - 1)
                j = h >> (period.bit_length() - 1)
            else:
                j, r = np.divmod(h, period)
        if r is None or ok.all() or not ok.any():
            valid = np.full(h.shape, bool(ok[0]), dtype=bool)
        elif ok.sum() == 1:  # one residue (a U-Net: multiples of 2**depth)
            valid = r == int(np.flatnonzero(ok)[0])
        elif ok.sum() == len(ok) - 1:
            valid = r != int(np.flatnonzero(~ok)[0])
        else:
            valid = np.take(ok, r)
        columns = {}
        for reg in regs:
            form = self.forms.get(reg, ("general",))
            if form[0] == "const":
                columns[reg] = np.full(h.shape, form[1], dtype=np.int64)
            elif form[0] == "floor":  # a_r + j = (h + c) // period: one division, no class tables
                columns[reg] = (h + form[1]) // period if form[1] else h // period
            else:
                columns[reg] = _horner(self.coefs[reg], j, r, h.shape)
        if len(h) and int(h.min()) < self.threshold:
            below = h < self.threshold
            idx = h[below] - self.table_lo
            valid[below] = self.table_valid[idx]
            for reg, col in columns.items():
                col[below] = self.table[reg][idx]
        return valid, columns


def _horner(coefs: tuple[np.ndarray, ...], j: np.ndarray, r: np.ndarray | None, shape: tuple) -> np.ndarray:
    def term(c: np.ndarray) -> np.ndarray | int:
        if r is None or (c == c[0]).all():
            return int(c[0])
        return np.take(c, r)

    out: np.ndarray | int = term(coefs[-1])
    for c in reversed(coefs[:-1]):
        out = out * j
        t = term(c)
        if not isinstance(t, int) or t:
            out = out + t
    if isinstance(out, int):
        return np.full(shape, out, dtype=np.int64)
    return out if out.base is None and out is not j else out.copy()


def one_symbol(c: Compiled, symbol: str, fixed: Mapping[str, int], registers: Sequence[int] | None = None
               ) -> OneSymbol | None:
    """The closed-form evaluator for `symbol` with the others bound (the output sizes, or the given
    registers), or None where there is none (a divisor in the symbol, a degree over MAX_DEGREE)."""
    regs = list(dict.fromkeys(c.output[0] if registers is None else registers))
    try:
        analysis = analyse(c.program.ops, [c.valid, *regs], symbol, fixed)
    except NoClosedForm:
        return None
    period = analysis.period
    threshold = None
    ok = np.zeros(period, dtype=bool)
    degree = {reg: 1 for reg in regs}
    for vals in analysis.values:
        for reg in regs:
            size = vals[reg]
            if not isinstance(size, Poly) or len(size.c) - 1 > MAX_DEGREE:
                return None  # undefined, or of a degree not worth it
            degree[reg] = max(degree[reg], len(size.c) - 1)
    coefs = {reg: [np.zeros(period, dtype=np.int64) for _ in range(degree[reg] + 1)] for reg in regs}
    bound = 0  # max over classes and registers of sum |c_i|: |value| <= bound * max(1, |j|)**degree
    top = max(degree.values(), default=1)
    for r, vals in enumerate(analysis.values):
        truth = vals[c.valid]
        if not isinstance(truth, Truth):
            return None
        ok[r] = truth.value is True
        js = [truth.j0]
        for reg in regs:
            poly = vals[reg]
            if any(abs(x) > _INT64 for x in poly.c):
                return None
            for i, x in enumerate(poly.c):
                coefs[reg][i][r] = x
            bound = max(bound, sum(abs(x) for x in poly.c))
            js.append(poly.j0)
        for j0 in js:
            if j0 is not None:
                t = r + period * j0
                threshold = t if threshold is None else max(threshold, t)
    threshold = threshold if threshold is not None else 0
    table_lo = max(threshold - MAX_TABLE, min(threshold, 0) - 64)  # down to a few values below zero
    n = threshold - table_lo
    table_valid = np.zeros(n, dtype=bool)
    table = {reg: np.zeros(n, dtype=np.int64) for reg in regs}
    if n:
        values = np.arange(table_lo, threshold, dtype=np.int64)
        flags = np.zeros(n, dtype=bool)
        got = c.program.run_numpy({**fixed, symbol: values}, [c.valid, *regs], n, overflow=flags)
        if flags.any():
            return None
        table_valid = np.asarray(got[c.valid], dtype=bool).copy()
        table = {reg: np.asarray(got[reg], dtype=np.int64).copy() for reg in regs}
    # the largest |j| with bound * |j|**top < 2**62, then H = period*j + r stays below
    jmax = 1 << 62
    if bound:
        lo_j, hi_j = 1, 1 << 62
        while lo_j < hi_j:
            mid = (lo_j + hi_j + 1) // 2
            if bound * mid**top < 1 << 62:
                lo_j = mid
            else:
                hi_j = mid - 1
        jmax = lo_j
    max_h = max(threshold, min(_INT64, period * jmax - period))
    forms = {reg: _form(cs, period) for reg, cs in coefs.items()}
    return OneSymbol(symbol, period, threshold, table_lo, ok, {reg: tuple(cs) for reg, cs in coefs.items()},
                     table_valid, table, max_h, forms)


def _form(coefs: list[np.ndarray], period: int) -> tuple:
    """('const', a) when the register is one number; ('floor', c) when it is (H + c) // period on every
    class (a downsampling chain: a_r + j with a_r = (r + c) // period); else ('general',)."""
    a = coefs[0]
    if len(coefs) == 1 or not any(c.any() for c in coefs[1:]):
        return ("const", int(a[0])) if (a == a[0]).all() else ("general",)
    if len(coefs) == 2 and (coefs[1] == 1).all():
        steps = np.flatnonzero(a != a[0])
        c = period * int(a[0]) + (period - int(steps[0]) if len(steps) else 0)
        if np.array_equal((np.arange(period, dtype=np.int64) + c) // period, a):
            return ("floor", c)
    return ("general",)


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Compiled -> {(symbol, fixed): OneSymbol | None}
MIN_ROWS = 4096  # below it the program is as fast as building the tables
MAX_DEGREE = 4


_state = threading.local()


@contextmanager
def disabled() -> Iterator[None]:
    """Within it, evaluate_batch runs the per-layer program only (the reference the tests compare with)."""
    before = getattr(_state, "off", False)
    _state.off = True
    try:
        yield
    finally:
        _state.off = before


def batch(c: Compiled, cols: Mapping[str, object], length: int, outputs: Sequence[str]) -> BatchResult | None:
    """`evaluate_batch` through the closed form when one column varies (the others bound); None
    (use the program) otherwise."""
    if length < MIN_ROWS or getattr(_state, "off", False):
        return None
    arrays = [name for name, col in cols.items() if isinstance(col, np.ndarray) and col.ndim == 1]
    if len(arrays) != 1 or arrays[0] not in c.program.symbols:
        return None
    symbol = arrays[0]
    fixed = {name: int(col) for name, col in cols.items() if name != symbol and name in c.program.symbols}
    regs = list(dict.fromkeys(r for o in outputs for r in (c.output[0] if o == "output_shape" else [c.totals[o]])))
    key = (symbol, tuple(sorted(fixed.items())), tuple(regs))
    per = _CACHE.setdefault(c, {})
    if key not in per:
        if len(per) > 64:
            per.pop(next(iter(per)))
        per[key] = one_symbol(c, symbol, fixed, regs)
    fast = per[key]
    values = cols[symbol]
    if fast is None or values.dtype != np.int64 or not fast.covers_all(values):
        return None
    from .evaluate import BatchResult

    valid, got = fast(values, regs)
    columns: dict[str, object] = {}
    for o in outputs:
        columns[o] = [got[r] for r in c.output[0]] if o == "output_shape" else got[c.totals[o]]
    return BatchResult(length, columns, valid, np.zeros(length, dtype=bool))
