"""Quasi-polynomial analysis of a compiled program in one free symbol (the others bound).

With every other symbol bound, each size of a floor/ceil network (strides, pooling, 'same', ceil_mode
as a min, transposed convolutions, integer upsampling, merges) is *quasi-polynomial* in the free
symbol H: there is a period L such that on each residue class H = r + L*j it is a polynomial in j
(a line, for everything but products of two sizes), from some j0 on. :func:`analyse` finds L and,
per class, every wanted register as such a polynomial (or an eventual truth, for conditions):

- floor(p/c) and p mod c are polynomials when c divides p's non-constant coefficients; when it does
  not, L is multiplied until it does (one restart per such discovery);
- min, max and relations of two polynomials are decided by the sign of their difference, which is
  constant past a root bound (Cauchy's: every real root has |j| < 1 + max|d_k|/|d_n|);
- and/or/not combine truths, taking the larger j0.

Programs it cannot see through (a divisor that depends on H, a power of H by H) raise
:class:`NoClosedForm`. Used by :mod:`symshape.solve` (inverse questions) and
:mod:`symshape.fastpath` (sweeps over one input size).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_PERIOD", "Analysis", "NoClosedForm", "Poly", "Truth", "analyse", "sign_from"]

MAX_PERIOD = 1 << 16  # residue classes analysed
MAX_DEGREE = 8


class NoClosedForm(Exception):
    """The program leaves the quasi-polynomial world (callers fall back to enumeration)."""


class _Refine(Exception):  # noqa: N818 - control flow: restart with a longer period
    def __init__(self, factor: int) -> None:
        self.factor = factor


# ---------------------------------------------------------------- abstract values


@dataclass(frozen=True)
class Poly:
    c: tuple[int, ...]  # coefficients in j, lowest first, no trailing zeros (empty: zero)
    j0: int | None  # holds for every j >= j0 (None: every j)


@dataclass(frozen=True)
class Truth:
    value: bool | None  # None: undefined (a division by zero upstream); counts as false
    j0: int | None


def _trim(c: list[int]) -> tuple[int, ...]:
    while c and c[-1] == 0:
        c.pop()
    return tuple(c)


def _jmax(*js: int | None) -> int | None:
    known = [j for j in js if j is not None]
    return max(known) if known else None


def _padd(p: tuple[int, ...], q: tuple[int, ...]) -> tuple[int, ...]:
    n = max(len(p), len(q))
    return _trim([(p[i] if i < len(p) else 0) + (q[i] if i < len(q) else 0) for i in range(n)])


def _pmul(p: tuple[int, ...], q: tuple[int, ...]) -> tuple[int, ...]:
    if not p or not q:
        return ()
    out = [0] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        if a:
            for k, b in enumerate(q):
                out[i + k] += a * b
    if len(out) - 1 > MAX_DEGREE:
        raise NoClosedForm(f"a polynomial of degree {len(out) - 1} in the free symbol")
    return _trim(out)


def sign_from(d: tuple[int, ...]) -> tuple[int, int | None]:
    """(eventual sign of d(j), j from which it holds): past the root of a line, past Cauchy's root
    bound for higher degrees."""
    if not d:
        return 0, None
    if len(d) == 1:
        return (1 if d[0] > 0 else -1), None
    if len(d) == 2:  # d0 + d1*j is zero at -d0/d1 and has d1's sign after it
        return (1 if d[1] > 0 else -1), (-d[0]) // d[1] + 1
    lead = abs(d[-1])
    bound = 1 + -(-max(abs(x) for x in d[:-1]) // lead)
    return (1 if d[-1] > 0 else -1), bound


_CMP = {">=": lambda s: s >= 0, ">": lambda s: s > 0, "<=": lambda s: s <= 0, "<": lambda s: s < 0,
        "==": lambda s: s == 0, "!=": lambda s: s != 0}


def _interpret(ops: tuple, wanted: set[int], symbol: str, fixed: Mapping[str, int], r: int, period: int) -> dict:
    """Abstract values of the wanted registers (and what they need) on the class H = r + period*j."""
    vals: dict[int, Any] = {}
    for i, (op, args) in enumerate(ops):
        if i not in wanted:
            continue
        if op == "const":
            v = args[0]
            vals[i] = Truth(bool(v), None) if isinstance(v, bool) else Poly(_trim([int(v)]), None)
            continue
        if op == "sym":
            name = args[0]
            vals[i] = Poly(_trim([r, period]), None) if name == symbol else Poly(_trim([int(fixed[name])]), None)
            continue
        xs = [vals[a] for a in args]
        if op in ("and", "or"):
            truths = [x.value is True for x in xs]
            vals[i] = Truth(all(truths) if op == "and" else any(truths), _jmax(*(x.j0 for x in xs)))
            continue
        if op == "not":
            x = xs[0]
            vals[i] = Truth(None if x.value is None else not x.value, x.j0)
            continue
        if any(isinstance(x, Truth) for x in xs):  # an undefined size (division by zero) stays undefined
            if not any(isinstance(x, Truth) and x.value is None for x in xs):
                raise NoClosedForm(f"a truth value used as a number ({op})")
            vals[i] = Truth(None, _jmax(*(x.j0 for x in xs)))
            continue
        j0 = _jmax(*(x.j0 for x in xs))
        if op == "add":
            c: tuple[int, ...] = ()
            for x in xs:
                c = _padd(c, x.c)
            vals[i] = Poly(c, j0)
        elif op == "mul":
            c = (1,)
            for x in xs:
                c = _pmul(c, x.c)
            vals[i] = Poly(c, j0)
        elif op == "pow":
            base, exp = xs
            if len(exp.c) > 1:
                raise NoClosedForm("an exponent that depends on the free symbol")
            k = exp.c[0] if exp.c else 0
            if k < 0 or k > MAX_DEGREE:
                raise NoClosedForm(f"a power {k}")
            c = (1,)
            for _ in range(k):
                c = _pmul(c, base.c)
            vals[i] = Poly(c, j0)
        elif op in ("fdiv", "mod"):
            num, den = xs
            if len(den.c) > 1:
                raise NoClosedForm("a divisor that depends on the free symbol")
            dv = den.c[0] if den.c else 0
            if dv == 0:
                vals[i] = Truth(None, j0)
                continue
            g = abs(dv)
            for coef in num.c[1:]:
                g = math.gcd(g, coef)
            if g != abs(dv):
                raise _Refine(abs(dv) // g)
            a = num.c[0] if num.c else 0
            if op == "fdiv":
                vals[i] = Poly(_trim([a // dv, *(coef // dv for coef in num.c[1:])]), j0)
            else:
                vals[i] = Poly(_trim([a % dv]), j0)
        elif op in ("max", "min"):
            best = xs[0]
            for x in xs[1:]:
                sign, bound = sign_from(_padd(x.c, tuple(-v for v in best.c)))
                jj = _jmax(best.j0, x.j0, bound)
                if (sign > 0) == (op == "max") and sign != 0:
                    best = Poly(x.c, jj)
                else:
                    best = Poly(best.c, jj)
            vals[i] = best
        elif op in _CMP:
            lhs, rhs = xs
            sign, bound = sign_from(_padd(lhs.c, tuple(-v for v in rhs.c)))
            vals[i] = Truth(_CMP[op](sign), _jmax(j0, bound))
        else:
            raise NoClosedForm(f"operation {op}")
    return vals


def _needed(ops: tuple, roots: list[int]) -> set[int]:
    needed = set(roots)
    for i in range(len(ops) - 1, -1, -1):
        if i in needed:
            op, args = ops[i]
            if op not in ("const", "sym"):
                needed.update(args)
    return needed


@dataclass(frozen=True)
class Analysis:
    """Per residue class r of H = r + period*j: the abstract value of each wanted register."""

    period: int
    values: tuple[dict[int, Any], ...]  # class r -> register -> Poly | Truth


def analyse(ops: tuple, wanted: Sequence[int], symbol: str, fixed: Mapping[str, int]) -> Analysis:
    """The period and per-class values of `wanted` (and what they need); raises NoClosedForm."""
    needed = _needed(ops, list(wanted))
    period = 1
    while True:
        try:
            return Analysis(period, tuple(_interpret(ops, needed, symbol, fixed, r, period) for r in range(period)))
        except _Refine as more:
            period *= more.factor
            if period > MAX_PERIOD:
                raise NoClosedForm(f"a period over {MAX_PERIOD}") from None
