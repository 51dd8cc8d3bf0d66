"""The largest batch (or input size) whose cost fits a budget, exactly.

For the batch: every cost is a + b·B with the other symbols bound (each layer's work and activations
scale with the batch; parameters, gradients and optimizer state do not), so B = ⌊(budget − a)/b⌋,
checked on exact integers at B and B + 1. For another symbol (an input size): costs that do not decrease
as it grows, by doubling then bisection on exact evaluations, then the nearest value at or below where the
network is valid (`symshape.solve`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import BindingError, did_you_mean

if TYPE_CHECKING:
    from . import Cost

__all__ = ["largest"]

TOP = 1 << 62


def largest(c: Cost, symbol: str, budget: int, bindings: dict[str, int], quantity: str,
            hi: int | None) -> int | None:
    from . import QUANTITIES

    if quantity not in QUANTITIES:
        raise BindingError(f"unknown quantity '{quantity}'{did_you_mean(quantity, QUANTITIES)}")
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise BindingError(f"a budget is an integer, got {budget!r}")
    if symbol not in c.symbols:
        raise BindingError(f"'{symbol}' is not a symbol of this cost{did_you_mean(symbol, c.symbols)}; "
                           f"it depends on {', '.join(c.symbols) or 'no symbol'}")
    fixed = {k: v for k, v in bindings.items() if k != symbol}
    missing = [s for s in c.symbols if s != symbol and s not in fixed]
    if missing:
        raise BindingError(f"bind {', '.join(missing)} to find the largest {symbol}")
    program = c.compiled.program
    reg = c.compiled.totals[quantity]

    def q(v: int) -> int:
        value = program.run_int({**fixed, symbol: v})[reg]
        if value is None:
            raise BindingError(f"{quantity} is undefined at {symbol}={v} (a division by zero)")
        return value

    batch_names = {s.name for s in c.batch.free_symbols}
    if symbol in batch_names and symbol not in c.derivation.symbols:
        a, b = q(0), q(1) - q(0)
        if b <= 0:
            return (hi or TOP) if a <= budget else None
        best = (budget - a) // b
        if hi is not None:
            best = min(best, hi)
        if best < 1:
            return None
        if q(best) > budget or (best + 1 <= (hi or TOP) and q(best + 1) <= budget):
            return _bisect(q, budget, 1, hi)  # not linear after all: search instead
        return best
    lo = max(1, c.derivation.symbols[symbol].min or 1) if symbol in c.derivation.symbols else 1
    best = _bisect(q, budget, lo, hi)
    if best is None or symbol not in c.derivation.symbols:
        return best
    spec_fixed = {k: v for k, v in fixed.items() if k in c.derivation.symbols}
    valid = c.derivation.solve(symbol, spec_fixed, hi=best)
    below, _ = valid.nearest(best)
    return below


def _bisect(q, budget: int, lo: int, hi: int | None) -> int | None:  # noqa: ANN001
    if q(lo) > budget:
        return None
    if hi is None:
        top, step = lo, 1
        while True:
            nxt = min(lo + step, TOP)
            if q(nxt) > budget:
                hi = nxt
                break
            if nxt >= TOP:
                return TOP
            top, step = nxt, step * 2
        lo = top
    elif q(hi) <= budget:
        return hi
    a, b = lo, hi
    while b - a > 1:
        mid = (a + b) // 2
        if q(mid) <= budget:
            a = mid
        else:
            b = mid
    return a
