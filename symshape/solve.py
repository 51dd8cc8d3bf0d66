"""Inverse questions: which values of one symbol make a network valid, or hit a target size.

With every other symbol bound, each size of a floor/ceil network (strides, pooling, 'same', ceil_mode
as a min, transposed convolutions, integer upsampling, merges) is *quasi-polynomial* in the free
symbol H: there is a period L such that on each residue class H = r + L*j it is a polynomial in j
(a line, for everything but products of two sizes). A condition on such sizes therefore has a
constant truth on each class once j passes the last root of its difference, and the valid set is

    {H >= T : H mod L in R}   plus a finite set of exceptions below T.

(L, T, R) come from :mod:`symshape.periodic` (abstract interpretation of the compiled program).
Below T the exact set comes from evaluating every value (the vectorized program); the tail past T is
read from the classes, and the last period is checked against evaluation (an internal cross-check).
Then T is lowered to the first value from which the periodic pattern holds, and L to the smallest
period of the pattern, so answers read as people write them: ``H ≥ 188 and H ≡ 12 (mod 16)``.

Programs the analysis cannot see through (a divisor that depends on H, a power of H by H) raise
:class:`NoClosedForm`; `Derivation.solve` then enumerates the declared or given range.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .algebra import as_expr
from .errors import BindingError, LimitError, did_you_mean
from .periodic import NoClosedForm, Truth, analyse, sign_from
from .program import Program, ProgramBuilder

if TYPE_CHECKING:
    from .derive import Derivation

__all__ = ["Dropped", "Largest", "NoClosedForm", "Piece", "Search", "ValueSet", "dropped_at", "largest_within",
           "lossless", "search", "solve"]

MAX_PREFIX = 50_000_000  # values evaluated below the threshold
MAX_EXACT_ROWS = 200_000  # values evaluated on Python ints when int64 does not hold their sizes
_CHUNK = 1 << 18


# ---------------------------------------------------------------- answers


@dataclass(frozen=True)
class Piece:
    """lo <= value <= hi (hi None: unbounded) and value = residue (mod modulus)."""

    lo: int
    hi: int | None
    modulus: int = 1
    residue: int = 0

    def contains(self, v: int) -> bool:
        return v >= self.lo and (self.hi is None or v <= self.hi) and (v - self.residue) % self.modulus == 0

    def first(self) -> int | None:
        v = self.lo + (self.residue - self.lo) % self.modulus
        return v if self.hi is None or v <= self.hi else None

    def text(self, name: str) -> str:
        if self.hi is not None and self.modulus == 1:
            return f"{name} = {self.lo}" if self.lo == self.hi else f"{self.lo} ≤ {name} ≤ {self.hi}"
        bound = f"{name} ≥ {self.lo}" if self.hi is None else f"{self.lo} ≤ {name} ≤ {self.hi}"
        return bound if self.modulus == 1 else f"{bound} and {name} ≡ {self.residue} (mod {self.modulus})"

    def to_dict(self) -> dict[str, Any]:
        return {"lo": self.lo, "hi": self.hi, "modulus": self.modulus, "residue": self.residue}


@dataclass(frozen=True)
class ValueSet:
    """The exact set of values of one symbol with a property (valid, hitting a target), as pieces.

    `pieces` are disjoint: finitely many intervals below `start`, then (when the set is infinite)
    one piece per residue of the periodic tail ``value >= start and value = r (mod period)``.
    """

    symbol: str
    lo: int
    hi: int | None
    pieces: tuple[Piece, ...]
    period: int
    start: int | None  # where the periodic tail begins (None: the set is finite)
    residues: tuple[int, ...]
    bindings: dict[str, int] = field(default_factory=dict)
    explanation: tuple[str, ...] = ()
    method: str = "closed form"

    @property
    def finite(self) -> bool:
        return self.start is None or not self.residues or self.hi is not None

    def __contains__(self, v: object) -> bool:
        return isinstance(v, int) and self.contains(v)

    def contains(self, v: int) -> bool:
        return any(p.contains(v) for p in self.pieces)

    def __iter__(self) -> Iterator[int]:
        """The values in increasing order (endless for an infinite set)."""
        finite = [p for p in self.pieces if p.modulus == 1 and p.hi is not None]
        for p in finite:
            yield from range(p.lo, p.hi + 1)
        if self.start is None or not self.residues:
            return
        base = self.start - self.start % self.period
        while True:
            for r in self.residues:
                v = base + r
                if v >= self.start and (self.hi is None or v <= self.hi):
                    yield v
                elif self.hi is not None and v > self.hi:
                    return
            base += self.period

    def first(self, n: int) -> list[int]:
        out = []
        for v in self:
            out.append(v)
            if len(out) >= n:
                break
        return out

    def count(self) -> int | None:
        """How many values (None: infinitely many)."""
        if self.start is not None and self.residues and self.hi is None:
            return None
        total = 0
        for p in self.pieces:
            f = p.first()
            if f is not None and p.hi is not None:
                total += (p.hi - f) // p.modulus + 1
        return total

    def nearest(self, v: int) -> tuple[int | None, int | None]:
        """The largest member <= v and the smallest member >= v (None where there is none)."""
        below = above = None
        for p in self.pieces:
            hi = v if p.hi is None else min(v, p.hi)
            if hi >= p.lo:
                cand = hi - (hi - p.residue) % p.modulus
                if cand >= p.lo and (below is None or cand > below):
                    below = cand
            lo = max(v, p.lo)
            cand = lo + (p.residue - lo) % p.modulus
            if (p.hi is None or cand <= p.hi) and (above is None or cand < above):
                above = cand
        return below, above

    def text(self) -> str:
        if not self.pieces:
            return f"no value of {self.symbol}" + (f" in {self.lo}..{self.hi}" if self.hi is not None else
                                                   f" ≥ {self.lo}")
        return " or ".join(p.text(self.symbol) for p in self.pieces)

    __str__ = text

    def to_dict(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "domain": [self.lo, self.hi], "bindings": self.bindings,
                "text": self.text(), "pieces": [p.to_dict() for p in self.pieces],
                "periodic": None if self.start is None or not self.residues else {
                    "start": self.start, "period": self.period,
                                                      "residues": list(self.residues)},
                "count": self.count(), "first": self.first(20), "explanation": list(self.explanation),
                "method": self.method}


# ---------------------------------------------------------------- solving


def _bind(d: Derivation, symbol: str, bindings: Mapping[str, int] | None) -> dict[str, int]:
    if symbol not in d.symbols:
        raise BindingError(f"unknown symbol '{symbol}'{did_you_mean(symbol, d.symbols)}")
    fixed: dict[str, int] = {}
    for name, value in (bindings or {}).items():
        if name not in d.symbols:
            raise BindingError(f"unknown symbol '{name}'{did_you_mean(name, d.symbols)}")
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise BindingError(f"the value of {name} must be an integer, got {value!r}")
        if name != symbol:
            fixed[name] = int(value)
    needed = [s for s in d.compiled.program.symbols if s != symbol and s not in fixed]
    if needed:
        raise BindingError(f"bind {', '.join(needed)} to solve for {symbol} "
                           f"(e.g. --set {needed[0]}=...)")
    return fixed


def _domain(d: Derivation, symbol: str, lo: int | None, hi: int | None) -> tuple[int, int | None]:
    info = d.symbols[symbol]
    lo = lo if lo is not None else (info.min if info.min is not None else 0)
    hi = hi if hi is not None else info.max
    return lo, hi


@dataclass(frozen=True)
class _Problem:
    """What is solved: a program, the register of the property, its checks and the output sizes."""

    program: Program
    holds: int  # the register of the property (valid; valid and lossless)
    checks: tuple[tuple[int, str, str], ...]  # (truth register, origin, label) in program order
    outputs: tuple[int, ...]  # output axis registers
    kind: str  # "valid" or "lossless"


def _validity(d: Derivation) -> _Problem:
    c = d.compiled
    return _Problem(c.program, c.valid, tuple((ck.truth, ck.origin, ck.label) for ck in c.conditions),
                    tuple(c.output[0]), "valid")


def _lossless(d: Derivation) -> _Problem:
    """Valid, and no layer leaves an input row unread (every dropped count 0)."""
    from .evaluate import condition_registers

    b = ProgramBuilder(d.defs)
    checks = [(condition_registers(b, nc.condition)[2], nc.origin, nc.condition.label) for nc in d.conditions]
    for ly in d.layers:
        for axis, rows in ly.dropped:
            truth = b.op("==", (b.add(as_expr(rows)), b.const(0)))
            checks.append((truth, ly.describe(), f"drops {axis} rows"))
    holds = b.const(True)
    for truth, _, _ in checks:
        holds = b.op("and", (holds, truth))
    outputs = tuple(b.add(size) for size in d.outputs[0][1])
    return _Problem(b.build(), holds, tuple(checks), outputs, "lossless")


def _evaluate(problem: _Problem, symbol: str, fixed: Mapping[str, int], a: int, b: int,
              target: Mapping[int, int] | None) -> np.ndarray:
    """Membership of every value in [a, b): the per-layer program on int64 (overflowing rows count as
    not members), independent of the analysis it checks."""
    out = np.zeros(max(b - a, 0), dtype=bool)
    targets = list((target or {}).items())
    wanted = [problem.holds, *(problem.outputs[axis] for axis, _ in targets)]
    plan = problem.program.plan(wanted)
    for start in range(a, b, _CHUNK):
        values = np.arange(start, min(start + _CHUNK, b), dtype=np.int64)
        flags = np.zeros(len(values), dtype=bool)
        got = problem.program.run_numpy({**fixed, symbol: values}, wanted, len(values), plan, overflow=flags)
        keep = np.asarray(got[problem.holds], dtype=bool) & ~flags
        for (_, want), reg in zip(targets, wanted[1:], strict=True):
            keep &= got[reg] == want
        over = np.flatnonzero(flags)
        if len(over) > MAX_EXACT_ROWS:
            raise LimitError(f"{len(over):,} values of {symbol} need sizes past int64; the limit for exact "
                             f"evaluation is {MAX_EXACT_ROWS:,}")
        for i in over:  # sizes past int64: these rows exactly, on Python ints
            regs = problem.program.run_int({**fixed, symbol: int(values[i])})
            keep[i] = bool(regs[problem.holds]) and all(regs[reg] == want for (_, want), reg
                                                        in zip(targets, wanted[1:], strict=True))
        out[start - a:start - a + len(values)] = keep
    return out


def _analyse(problem: _Problem, symbol: str, fixed: Mapping[str, int], target: Mapping[int, int] | None
             ) -> tuple[int, list[tuple[bool, int | None]], list[list[tuple[bool, int | None]]]]:
    """(period L, per class (eventual truth, j0), per class per check (truth, j0))."""
    out_regs = [problem.outputs[axis] for axis in (target or {})]
    analysis = analyse(problem.program.ops, [problem.holds, *(t for t, _, _ in problem.checks), *out_regs],
                       symbol, fixed)
    classes, per_cond = [], []
    for vals in analysis.values:
        truth = vals[problem.holds]
        value, j0 = truth.value is True, truth.j0
        for axis, reg in zip((target or {}), out_regs, strict=True):
            size = vals[reg]
            if isinstance(size, Truth):
                value = False
                continue
            diff = list(size.c) or [0]
            diff[0] -= target[axis]  # type: ignore[index]
            while diff and diff[-1] == 0:
                diff.pop()
            sign, bound = sign_from(tuple(diff))
            if sign != 0 and len(size.c) > 1:
                # hit at most at one j on this class: eventually not (exceptions found by evaluation)
                value, j0 = False, _jmax(j0, size.j0, bound)
            else:
                value = value and sign == 0
                j0 = _jmax(j0, size.j0)
        classes.append((value, j0))
        per_cond.append([(vals[t].value is True, vals[t].j0) for t, _, _ in problem.checks])
    return analysis.period, classes, per_cond


def _jmax(*js: int | None) -> int | None:
    known = [j for j in js if j is not None]
    return max(known) if known else None


def solve(d: Derivation, symbol: str, bindings: Mapping[str, int] | None = None, *,
          target: Mapping[int, int] | None = None, lo: int | None = None, hi: int | None = None) -> ValueSet:
    """The exact set of values of `symbol` (others bound) where `d` is valid and, with `target`,
    output axis k equals target[k]; within [lo, hi] (default: the symbol's domain, unbounded above
    unless declared)."""
    return _solve(d, _validity(d), symbol, bindings, target, lo, hi)


def lossless(d: Derivation, symbol: str, bindings: Mapping[str, int] | None = None, *,
             target: Mapping[int, int] | None = None, lo: int | None = None, hi: int | None = None) -> ValueSet:
    """The values of `symbol` (others bound) where `d` is valid and no layer drops a row: every
    convolution and pooling window grid ends exactly at the end of its input (see `dropped_at`)."""
    return _solve(d, _lossless(d), symbol, bindings, target, lo, hi)


def _solve(d: Derivation, problem: _Problem, symbol: str, bindings: Mapping[str, int] | None,
           target: Mapping[int, int] | None, lo: int | None, hi: int | None) -> ValueSet:
    fixed = _bind(d, symbol, bindings)
    lo, hi = _domain(d, symbol, lo, hi)
    for axis in target or {}:
        if not isinstance(axis, int) or not 0 <= axis < len(problem.outputs):
            raise BindingError(f"target axis {axis!r}: the output has {len(problem.outputs)} axes "
                               f"(0 to {len(problem.outputs) - 1})")
    try:
        period, classes, per_cond = _analyse(problem, symbol, fixed, target)
    except NoClosedForm as err:
        if hi is None:
            raise LimitError(f"no closed form for {symbol} ({err}); give a finite range (lo and hi) to enumerate it"
                             ) from None
        return _enumerated(problem, symbol, fixed, lo, hi, target)
    # past T every class has its eventual truth
    threshold = lo
    for r, (_, j0) in enumerate(classes):
        if j0 is not None:
            threshold = max(threshold, r + period * j0)
    end = threshold + period if hi is None else min(hi + 1, threshold + period)
    if end - lo > MAX_PREFIX:
        raise LimitError(f"the set of {symbol} settles only past {threshold:,}: over {MAX_PREFIX:,} values to check")
    member = _evaluate(problem, symbol, fixed, lo, end, target)
    tail = [r for r, (value, _) in enumerate(classes) if value]
    if hi is None or hi >= threshold + period:
        # what the periodic pattern says for every evaluated value; where evaluation differs
        pattern = np.isin(np.arange(lo, end, dtype=np.int64) % period, tail)
        differ = np.flatnonzero(member != pattern)
        past = differ[differ >= max(lo, threshold) - lo]
        if len(past):  # cross-check: the evaluated last period agrees with the analysis
            raise RuntimeError(f"solve: analysis and evaluation disagree at {symbol} = {lo + int(past[0])}")
        # the start: just after the last value the pattern does not describe
        start = lo + int(differ[-1]) + 1 if len(differ) else lo
        period, tail = _shortest_period(period, tail)
        prefix = member[:start - lo]
        pieces = _intervals(prefix, lo)
        if tail:
            pieces += [Piece(start + (r - start) % period, hi, period, r) for r in _rotate(tail, period, start)]
            start = min(p.lo for p in pieces if p.modulus == period and p.hi == hi and p.lo >= start)
        explanation = _explain(d, problem, symbol, fixed, per_cond, period, tail, start, lo, target, pieces)
        return ValueSet(symbol, lo, hi, tuple(pieces), period, start if tail else None, tuple(tail),
                        dict(fixed), explanation)
    return _from_members(symbol, fixed, lo, hi, member, "closed form")


def target_formula(d: Derivation, symbol: str, fixed: Mapping[str, int], axis: int) -> str | None:
    """'out0 = t exactly when 4·t - 5 ≤ I ≤ 4·t - 2' when output axis `axis` is one floor of the
    symbol, floor((I + A)/B) + C (then B·(t - C) - A ≤ I ≤ B·(t - C + 1) - A - 1); else None."""
    import sympy

    from .algebra import FloorDiv

    closed = getattr(d, "closed_form", None)  # (the server solves on compiled programs alone: no formula)
    if closed is None or axis >= len(closed):
        return None
    expr = closed[axis]
    expr = expr.xreplace({d.symbols[n].symbol: sympy.Integer(v) for n, v in fixed.items()})
    x = d.symbols[symbol].symbol
    floors = list(expr.atoms(FloorDiv))
    if len(floors) != 1:
        return None
    (fd,) = floors
    rest = sympy.expand(expr - fd)
    num, den = fd.args
    shift = sympy.expand(num - x)
    if not (rest.is_Integer and den.is_Integer and den > 0 and shift.is_Integer):
        return None
    b, a = int(den), int(shift) + int(den) * int(rest)
    lo_c, hi_c = -a, b - a - 1

    def side(c: int) -> str:
        return f"{b}·t" + (f" + {c}" if c > 0 else f" - {-c}" if c < 0 else "")

    return f"out{axis} = t exactly when {side(lo_c)} ≤ {symbol} ≤ {side(hi_c)}"


def _enumerated(problem: _Problem, symbol: str, fixed: Mapping[str, int], lo: int, hi: int,
                target: Mapping[int, int] | None) -> ValueSet:
    if hi - lo + 1 > MAX_PREFIX:
        raise LimitError(f"{symbol} in {lo}..{hi} holds {hi - lo + 1:,} values; the limit is {MAX_PREFIX:,}")
    member = _evaluate(problem, symbol, fixed, lo, hi + 1, target)
    return _from_members(symbol, fixed, lo, hi, member, "enumeration")


def _from_members(symbol: str, fixed: Mapping[str, int], lo: int, hi: int, member: np.ndarray,
                  method: str) -> ValueSet:
    pieces = _intervals(member, lo)
    return ValueSet(symbol, lo, hi, tuple(pieces), 1, None, (), dict(fixed), (), method)


def _intervals(member: np.ndarray, lo: int) -> list[Piece]:
    edges = np.flatnonzero(np.diff(np.concatenate(([0], member.astype(np.int8), [0]))))
    return [Piece(lo + int(a), lo + int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _shortest_period(period: int, tail: list[int]) -> tuple[int, list[int]]:
    members = set(tail)
    for p in sorted(k for k in range(1, period + 1) if period % k == 0):
        if all((r in members) == ((r % p) in members) for r in range(period)):
            return p, sorted({r % p for r in members})
    return period, sorted(members)


def _rotate(tail: list[int], period: int, start: int) -> list[int]:
    """Residues ordered by their first value past start (so pieces read in increasing order)."""
    return sorted(tail, key=lambda r: (r - start) % period)


def _explain(d: Derivation, problem: _Problem, symbol: str, fixed: Mapping[str, int], per_cond: list,
             period: int, tail: list[int], start: int, lo: int, target: Mapping[int, int] | None,
             pieces: list[Piece]) -> tuple[str, ...]:
    """Which conditions decide the answer: the ones that rule out residue classes, and the one that
    fails just below the start."""
    out: list[str] = []
    blocked: dict[int, set[int]] = {}
    for r, row in enumerate(per_cond):
        if r % period in tail:
            continue
        for k, (value, _) in enumerate(row):
            if not value:
                blocked.setdefault(k, set()).add(r % period)
                break
    for k, residues in blocked.items():
        _, origin, label = problem.checks[k]
        mods = sorted(residues)
        shown = ", ".join(str(r) for r in mods[:8]) + (", ..." if len(mods) > 8 else "")
        verb = label if label.startswith("drops ") else f"{label} fails"
        out.append(f"{origin}: {verb} for {symbol} ≡ {shown} (mod {period})")
    if start > lo and tail and not any(p.contains(start - 1) for p in pieces):
        below = start - 1
        binding = {**fixed, symbol: below}
        ev = d.evaluate(binding)
        if not ev.valid and ev.violations:
            out.append(f"{symbol} = {below} is not valid: {ev.violations[0].message}")
        elif problem.kind == "lossless":
            regs = problem.program.run_int(binding)
            for truth, origin, label in problem.checks:
                if not regs[truth]:
                    out.append(f"{symbol} = {below} loses rows: {origin} {label}")
                    break
        elif target:
            out.append(f"{symbol} = {below} gives another output size")
    return tuple(out)


@dataclass(frozen=True)
class Dropped:
    """At one binding, the input rows a layer's windows never read along one axis."""

    layer: int
    name: str
    kind: str
    axis: str
    rows: int

    def text(self) -> str:
        return f"layer {self.layer} '{self.name}' ({self.kind}): {self.rows} {self.axis} row(s) never read"


def dropped_at(d: Derivation, bindings: Mapping[str, int]) -> list[Dropped]:
    """The layers that leave input rows unread at this binding (pooling 11 rows by 2 reads 10), exact."""
    b = ProgramBuilder(d.defs)
    where = [(ly, axis, b.add(as_expr(rows))) for ly in d.layers for axis, rows in ly.dropped]
    program = b.build()
    missing = [s for s in program.symbols if s not in bindings]
    if missing:
        raise BindingError(f"missing values for {', '.join(missing)}")
    regs = program.run_int({k: int(v) for k, v in bindings.items()})
    return [Dropped(ly.index, ly.name, ly.kind, axis, int(regs[reg])) for ly, axis, reg in where
            if regs[reg] is not None and regs[reg] > 0]


# ---------------------------------------------------------------- bounds on costs


QUANTITIES = ("params", "trainable", "non_trainable", "buffers", "macs", "activations")


@dataclass(frozen=True)
class Largest:
    """The largest value of a symbol within budgets, and what it costs there."""

    symbol: str
    value: int | None  # None: no value within the budgets
    costs: dict[str, int]  # quantity -> its value at `value`
    budgets: dict[str, int]
    steps: int  # exact evaluations made
    unbounded: bool = False  # the costs stay within the budgets however large the symbol grows

    def text(self) -> str:
        limits = " and ".join(f"{q} ≤ {b:,}" for q, b in self.budgets.items())
        if self.unbounded:
            return f"every valid {self.symbol} has {limits} (up to 2**62: the costs do not outgrow the budgets)"
        if self.value is None:
            return f"no valid {self.symbol} with {limits}"
        costs = ", ".join(f"{q} {v:,}" for q, v in self.costs.items())
        return f"largest {self.symbol} with {limits}: {self.symbol} = {self.value:,} ({costs})"

    def to_dict(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "value": self.value, "costs": self.costs, "budgets": self.budgets,
                "steps": self.steps, "unbounded": self.unbounded, "text": self.text()}


def largest_within(d: Derivation, symbol: str, budgets: Mapping[str, int], bindings: Mapping[str, int] | None = None,
                   *, lo: int | None = None, hi: int | None = None) -> Largest:
    """The largest valid value of `symbol` (others bound) whose costs stay within `budgets`
    ({"macs": 4_000_000_000, "params": ...}), for costs that do not decrease as the symbol grows
    (parameters in a width, MACs and activations in an input size): bisection on exact integers for
    the cost bound, then the valid set (`solve`) for the nearest valid value at or below it."""
    for q, b in budgets.items():
        if q not in QUANTITIES:
            raise BindingError(f"unknown quantity '{q}'{did_you_mean(q, QUANTITIES)}; one of {', '.join(QUANTITIES)}")
        if isinstance(b, bool) or not isinstance(b, int):
            raise BindingError(f"the budget for {q} must be an integer, got {b!r}")
    fixed = _bind(d, symbol, bindings)
    lo, hi = _domain(d, symbol, lo, hi)
    steps = 0

    def costs(v: int) -> dict[str, int]:
        nonlocal steps
        steps += 1
        ev = d.evaluate({**fixed, symbol: v})
        return {q: int(getattr(ev, q)) for q in budgets}

    def within(v: int) -> bool:
        return all(c <= budgets[q] for q, c in costs(v).items())

    if not within(lo):
        return Largest(symbol, None, {}, dict(budgets), steps)
    if hi is None:  # grow until over budget (or 2**62)
        step, top = 1, lo
        while top < 1 << 62:
            nxt = min(lo + step, 1 << 62)
            if not within(nxt):
                hi = nxt
                break
            top, step = nxt, step * 2
        else:
            return Largest(symbol, None, {}, dict(budgets), steps, unbounded=True)
        lo = top
    if within(hi):
        best = hi
    else:
        a, b = lo, hi  # within(a), not within(b)
        while b - a > 1:
            mid = (a + b) // 2
            if within(mid):
                a = mid
            else:
                b = mid
        best = a
    valid = solve(d, symbol, fixed, lo=_domain(d, symbol, None, None)[0], hi=best)
    below, _ = valid.nearest(best)
    if below is None:
        return Largest(symbol, None, {}, dict(budgets), steps)
    return Largest(symbol, below, costs(below), dict(budgets), steps)


# ---------------------------------------------------------------- several symbols at once


MAX_SEARCH = 100_000_000  # combinations one search evaluates


@dataclass(frozen=True)
class Search:
    """The combinations of several symbols (each in a range, the others bound) that make the network
    valid and hit the targets: found by evaluating every combination (vectorized, exact)."""

    symbols: tuple[str, ...]
    ranges: tuple[tuple[int, int], ...]
    space: int  # combinations evaluated
    count: int  # combinations found
    matches: tuple[tuple[int, ...], ...]  # the first `keep` of them, in order
    bindings: dict[str, int] = field(default_factory=dict)

    def text(self, shown: int = 20) -> str:
        where = " × ".join(f"{n} in {lo}..{hi}" for n, (lo, hi) in zip(self.symbols, self.ranges, strict=True))
        head = f"{self.count:,} of {self.space:,} combinations ({where})"
        rows = [", ".join(f"{n}={v}" for n, v in zip(self.symbols, m, strict=True)) for m in self.matches[:shown]]
        more = [f"... ({self.count - shown:,} more)"] if self.count > shown else []
        return "\n".join([head, *(f"  {r}" for r in rows), *(f"  {m}" for m in more)])

    def to_dict(self) -> dict[str, Any]:
        return {"symbols": list(self.symbols), "ranges": [list(r) for r in self.ranges], "space": self.space,
                "count": self.count, "matches": [list(m) for m in self.matches], "bindings": self.bindings}


def search(d: Derivation, ranges: Mapping[str, tuple[int, int] | None], bindings: Mapping[str, int] | None = None,
           *, target: Mapping[int, int] | None = None, keep: int = 1000) -> Search:
    """Every combination of the `ranges` symbols (both ends included; None: the declared range)
    where the network is valid and output axis k equals target[k]: "which kernel/stride pairs map
    224 to 7". Where no closed form exists for several symbols at once, this is the exact answer:
    each combination is evaluated (int64, overflowing rows exactly)."""
    names = list(ranges)
    if not names:
        raise BindingError("give at least one symbol to search")
    spans: list[tuple[int, int]] = []
    for name in names:
        if name not in d.symbols:
            raise BindingError(f"unknown symbol '{name}'{did_you_mean(name, d.symbols)}")
        span = ranges[name]
        if span is None:
            info = d.symbols[name]
            if info.min is None or info.max is None:
                raise BindingError(f"give a range for {name} (it has no declared max)")
            span = (info.min, info.max)
        spans.append((int(span[0]), int(span[1])))
    fixed = {k: int(v) for k, v in (bindings or {}).items() if k not in names}
    for k in fixed:
        if k not in d.symbols:
            raise BindingError(f"unknown symbol '{k}'{did_you_mean(k, d.symbols)}")
    needed = [s for s in d.compiled.program.symbols if s not in names and s not in fixed]
    if needed:
        raise BindingError(f"bind {', '.join(needed)} to search {', '.join(names)}")
    sizes = [max(hi - lo + 1, 0) for lo, hi in spans]
    space = 1
    for n in sizes:
        space *= n
    if space > MAX_SEARCH:
        raise LimitError(f"{space:,} combinations to search; the limit is {MAX_SEARCH:,}")
    for axis in target or {}:
        if not 0 <= axis < len(d.outputs[0][1]):
            raise BindingError(f"target axis {axis}: the output has {len(d.outputs[0][1])} axes")
    count = 0
    found: list[tuple[int, ...]] = []
    for start in range(0, space, _CHUNK):
        stop = min(start + _CHUNK, space)
        rest = np.arange(start, stop, dtype=np.int64)
        cols: dict[str, Any] = {}
        for name, (lo, _), n in reversed(list(zip(names, spans, sizes, strict=True))):
            cols[name] = lo + rest % n
            rest //= n
        res = d.evaluate_batch({**fixed, **cols}, outputs=("output_shape",))
        keep_rows = res.valid.copy()
        for axis, want in (target or {}).items():
            keep_rows &= res.columns["output_shape"][axis] == want
        for i in np.flatnonzero(res.overflow) if res.overflow is not None else ():
            ev = d.evaluate({**fixed, **{n: int(cols[n][i]) for n in names}})
            keep_rows[i] = ev.valid and all(ev.output_shape[a] == w for a, w in (target or {}).items())
        hits = np.flatnonzero(keep_rows)
        count += len(hits)
        for i in hits[:max(keep - len(found), 0)]:
            found.append(tuple(int(cols[n][i]) for n in names))
    return Search(tuple(names), tuple(spans), space, count, tuple(found), fixed)
