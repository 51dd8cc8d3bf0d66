"""What the validity conditions say as a whole: never-valid specs, and a short list to show.

Both rest on interval bounds of integer expressions over a box of symbol values
(:class:`Bounds`): the symbols' domains, narrowed by the conditions on one symbol alone
(``H >= 8``, ``S <= 4``). Interval arithmetic over-approximates every range, so:
- a condition that cannot hold anywhere in the box holds at no valid point: the spec is never
  valid (never claimed when some value is valid);
- a condition that holds everywhere in the box is implied by the domains and the one-symbol
  bounds, and may be left out of the displayed list.
Work is linear in the size of the (shared) expression graph: every node is bounded once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy
from sympy import Add, Expr, Integer, Mod, Mul, Pow, S, Symbol
from sympy.core.relational import Relational

from .algebra import FloorDiv, expand_small

__all__ = ["Bounds", "Linear", "Verdicts", "analyze", "decide", "divisibility", "one_symbol", "violation_text",
           "zero_when_expanded"]

INF = math.inf
ZERO = S.Zero
MAX_BITS = 4096  # a bound longer than this is widened to infinity (sound, and keeps the work small)
Bound = tuple[float | int, float | int]  # (lo, hi); lo may be -inf, hi +inf


def _cap(x: float | int) -> float | int:
    if isinstance(x, int) and x.bit_length() > MAX_BITS:
        return INF if x > 0 else -INF
    return x


def _mul(a: float | int, b: float | int) -> float | int:
    if a == 0 or b == 0:
        return 0
    if isinstance(a, float) or isinstance(b, float):
        return INF if (a > 0) == (b > 0) else -INF
    return _cap(a * b)


def _floordiv(n: float | int, d: float | int) -> float | int:
    """floor(n/d) for d >= 1 (d may be +inf: the limit, 0 or -1)."""
    if isinstance(n, float):
        return n
    if isinstance(d, float):
        return 0 if n >= 0 else -1
    return n // d


class Bounds:
    """Interval bounds of expressions; `box` maps each symbol to (lo, hi), `defs` opens size atoms."""

    def __init__(self, box: Mapping[Symbol, Bound], defs: Mapping[Expr, Expr] | None = None) -> None:
        self.box = dict(box)
        self.defs = defs or {}
        self.memo: dict[Expr, Bound] = {}

    def __call__(self, e: Expr) -> Bound:
        hit = self.memo.get(e)
        if hit is None:
            hit = self.memo[e] = self._node(e)
        return hit

    def _node(self, e: Expr) -> Bound:  # noqa: C901, PLR0911 - one branch per node type
        if isinstance(e, Integer):
            return (_cap(int(e.p)), _cap(int(e.p)))
        if e in self.defs:
            return self(self.defs[e])
        if isinstance(e, Symbol):
            return self.box.get(e, (-INF, INF))
        if isinstance(e, Add):
            lo: float | int = 0
            hi: float | int = 0
            for a in e.args:
                alo, ahi = self(a)
                lo = -INF if -INF in (lo, alo) else _cap(lo + alo)
                hi = INF if INF in (hi, ahi) else _cap(hi + ahi)
            return (lo, hi)
        if isinstance(e, Mul):
            out: Bound = (1, 1)
            for a in e.args:
                alo, ahi = self(a)
                corners = [_mul(x, y) for x in out for y in (alo, ahi)]
                out = (min(corners), max(corners))
            return out
        if isinstance(e, Pow):
            base, exp = e.args
            if isinstance(exp, Integer) and 0 <= exp.p <= 64:
                return self._pow(self(base), int(exp.p))
            return (-INF, INF)
        if isinstance(e, FloorDiv):
            (nlo, nhi), (dlo, dhi) = self(e.args[0]), self(e.args[1])
            if dlo < 1:
                return (-INF, INF)
            lo = -INF if nlo == -INF else _floordiv(nlo, dhi) if nlo >= 0 else _floordiv(nlo, dlo)
            hi = INF if nhi == INF else _floordiv(nhi, dlo) if nhi >= 0 else _floordiv(nhi, dhi)
            return (lo, hi)
        if isinstance(e, (sympy.Max, sympy.Min)):
            parts = [self(a) for a in e.args]
            pick = max if isinstance(e, sympy.Max) else min
            return (pick(p[0] for p in parts), pick(p[1] for p in parts))
        if isinstance(e, Mod):
            (alo, ahi), (blo, bhi) = self(e.args[0]), self(e.args[1])
            if blo < 1:
                return (-INF, INF)
            if alo >= 0 and ahi < blo:
                return (alo, ahi)
            return (0, bhi - 1 if bhi != INF else INF)
        return (-INF, INF)

    @staticmethod
    def _pow(b: Bound, n: int) -> Bound:
        def p(x: float | int) -> float | int:
            if isinstance(x, float):
                return x if n % 2 else INF
            return _cap(x ** n) if x.bit_length() * n <= MAX_BITS + 64 else (INF if x > 0 or n % 2 == 0 else -INF)

        lo, hi = b
        if n == 0:
            return (1, 1)
        if n % 2 or lo >= 0:
            return (p(lo), p(hi))
        if hi <= 0:
            return (p(hi), p(lo))
        return (0, max(p(lo), p(hi)))


def decide(g: Bound, op: str) -> bool | None:
    """Whether `g op 0` holds for every value in the bound (True), for none (False), or unknown."""
    lo, hi = g
    if op == ">=":
        return True if lo >= 0 else False if hi < 0 else None
    if op == ">":
        return True if lo > 0 else False if hi <= 0 else None
    if op == "<=":
        return True if hi <= 0 else False if lo > 0 else None
    if op == "<":
        return True if hi < 0 else False if lo >= 0 else None
    if op == "==":
        return True if lo == hi == 0 else False if lo > 0 or hi < 0 else None
    if op == "!=":
        return True if lo > 0 or hi < 0 else False if lo == hi == 0 else None
    return None


@dataclass(frozen=True)
class Linear:
    """a*s + c >= 0 for one symbol s: the bound it puts on s."""

    symbol: Symbol
    lo: int | None  # s >= lo
    hi: int | None  # s <= hi


def one_symbol(g: Expr) -> Linear | None:
    """The bound `g >= 0` puts on its one symbol, when g = a*s + c with integers a != 0, c."""
    const, rest = g.as_coeff_Add()
    a, s = rest.as_coeff_Mul()
    if not isinstance(s, Symbol) or not isinstance(a, Integer) or not isinstance(const, Integer) or a == 0:
        return None
    a_, c = int(a.p), int(const.p)
    if a_ > 0:
        return Linear(s, -(c // a_), None)  # s >= ceil(-c/a)
    return Linear(s, None, c // -a_)  # s <= floor(c/-a)


def zero_when_expanded(e: Expr, max_nodes: int = 200) -> bool:
    """e expands to 0, checked only for small polynomial-like expressions (bounded work)."""
    if isinstance(e, Integer):
        return e == 0
    count = 0
    for node in sympy.preorder_traversal(e):
        count += 1
        if count > max_nodes or (isinstance(node, Pow) and not (isinstance(node.exp, Integer) and
                                                                0 <= node.exp.p <= 4)):
            return False
    return expand_small(e) == 0  # (not expanded when it would multiply out too far: not claimed)


def divisibility(rel: Relational) -> Relational | None:
    """Eq(x, k*floor(x/k)) (either side, any x and positive k) as Eq(Mod(x, k), 0)."""
    if rel.rel_op != "==":
        return None
    diff = rel.lhs - rel.rhs
    for t in Add.make_args(diff):
        coeff, f = t.as_coeff_Mul()
        if isinstance(f, Mul):  # k*FloorDiv(x, k) with a symbolic k: -k*FloorDiv
            parts = [p for p in f.args if isinstance(p, FloorDiv)]
            if len(parts) != 1:
                continue
            f = parts[0]
            coeff = t / f
        if not isinstance(f, FloorDiv):
            continue
        n, d = f.args
        rest = diff - t
        if coeff == -d and zero_when_expanded(rest - n) or coeff == d and zero_when_expanded(rest + n):
            return reduced_divisibility(sympy.Eq(Mod(n, d, evaluate=False), 0, evaluate=False))
    return None


def reduced_divisibility(rel: Relational) -> Relational:
    """Eq(Mod(n, d), 0) with the gcd g of d and of n's integer coefficients divided out: 2TU mod 4 = 0 says
    TU mod 2 = 0 (n = g·m with m an integer for integer symbols, and g·m ≡ 0 (mod g·e) iff m ≡ 0 (mod e))."""
    if not (isinstance(rel, sympy.Eq) and rel.rhs == 0 and isinstance(rel.lhs, Mod)):
        return rel
    n, d = rel.lhs.args
    if not (isinstance(d, Integer) and d.p > 1):
        return rel
    g = int(d.p)
    terms = Add.make_args(sympy.expand(n))
    for term in terms:
        c, rest = term.as_coeff_Mul()
        if not isinstance(c, Integer) or not all(isinstance(s, Symbol) and s.is_integer for s in rest.free_symbols) \
                or not rest.is_polynomial():
            return rel
        g = math.gcd(g, int(c.p))
        if g == 1:
            return rel
    if d.p == g:  # n is a multiple of d already (always true): left as written
        return rel
    m = Add(*[term / g for term in terms])
    return sympy.Eq(Mod(m, Integer(d.p // g), evaluate=False), 0, evaluate=False)


# ---------------------------------------------------------------- a derivation's conditions as a whole


@dataclass(frozen=True)
class Verdicts:
    never_valid: tuple  # NetCondition, in the order of the conditions
    reasons: tuple[str, ...]  # one per never-valid condition
    shown: tuple  # (NetCondition, relation) to display


@dataclass
class _Item:
    nc: object  # NetCondition
    rel: object  # the relation in closed form (normalized)
    g: Expr | None  # g op 0 says the same (op '>=' for every inequality)
    op: str
    constant: bool  # lhs and rhs are integers
    lin: Linear | None = None  # _symbol_range(self), set once by analyze (it is asked for in several steps)


class _Memo:
    """A pure function of one object, computed once per object within one analysis: keyed by identity, the
    object kept alive with its result (so an id is never reused for another one while the memo lives)."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn
        self.hits: dict[int, tuple[Any, Any]] = {}

    def __call__(self, x: Any) -> Any:
        hit = self.hits.get(id(x))
        if hit is None:
            hit = self.hits[id(x)] = (x, self.fn(x))
        return hit[1]


def _fmt(n: int) -> str:
    return f"{n:,}" if abs(n) >= 10_000 else str(n)


def violation_text(label: str, lhs: int, op: str, rhs: int, note: str = "") -> str:
    """How a failed condition reads at given values: 'in_channels 32 != 16 incoming channels' for a
    label 'in_channels vs incoming channels', else 'output height: -2 < 1' (note in parentheses)."""
    from .layers.base import NEGATE

    first, sep, second = label.partition(" vs ")
    neg = NEGATE[op]
    text = f"{first} {_fmt(lhs)} {neg} {_fmt(rhs)} {second}" if sep else f"{label}: {_fmt(lhs)} {neg} {_fmt(rhs)}"
    return text + (f" ({note})" if note and not sep else "")


def _show_box(box: Mapping[Symbol, Bound], e: Expr) -> str:
    parts = []
    for s in sorted(e.free_symbols, key=lambda s: s.name):
        lo, hi = box.get(s, (-INF, INF))
        low = "-inf" if lo == -INF else _fmt(int(lo))
        high = "inf" if hi == INF else _fmt(int(hi))
        parts.append(f"{s.name} in [{low}, {high}]")
    return ", ".join(parts)


def _implied_by_divisibility(items: list[_Item], never: Mapping[int, str], implied: set[int],
                             box: Mapping[Symbol, Bound],
                             mod_of: Callable[[Relational], Relational | None] = divisibility) -> set[int]:
    """Conditions that hold wherever a shown `s % k == 0` does (s a symbol, k a number): with s = k*m,
    floor(s/4) == 2*floor(s/8) for k = 8 becomes 2*m == 2*m. Bounded work: one substitution per
    condition and fact, expansions bounded by expand_small."""
    facts: list[tuple[int, Symbol, int]] = []
    for i, it in enumerate(items):
        if i in never or i in implied or it.op != "==" or not isinstance(it.rel, Relational):
            continue
        mod = mod_of(it.rel)
        if mod is not None and isinstance(mod.lhs.args[0], Symbol) and isinstance(mod.lhs.args[1], Integer) \
                and int(mod.lhs.args[1]) > 1:
            facts.append((i, mod.lhs.args[0], int(mod.lhs.args[1])))
    out: set[int] = set()
    for j, s, k in facts[:64]:
        if j in out:
            continue
        m = Symbol(f"{s.name}_over_{k}", integer=True)
        lo, hi = box.get(s, (-INF, INF))
        mbox = {**box, m: (-INF if lo == -INF else -(-int(lo) // k), INF if hi == INF else int(hi) // k)}
        sub = {s: k * m}
        bounds = Bounds(mbox)
        for i, it in enumerate(items):
            if i == j or i in never or i in implied or i in out or it.g is None or s not in it.g.free_symbols:
                continue
            g = it.g.xreplace(sub)
            if (it.op == "==" and zero_when_expanded(g)) or (it.op == ">=" and it.lin is None and
                                                            decide(bounds(expand_small(g)), ">=") is True):
                out.add(i)
    return out


LINEAR_MAX_SYMBOLS = 40  # a linear inequality with more free symbols is not compared with the others
LINEAR_MAX_COUNT = 300  # more linear inequalities than this: no pairwise check (it is quadratic)
LINEAR_MAX_WORK = 1_000_000  # count * total terms of the forms (about 0.5 s at most): else no check


def linear_form(g: Expr, max_symbols: int = LINEAR_MAX_SYMBOLS) -> tuple[dict[Symbol, int], int] | None:
    """g = sum(a_s*s) + c with integer a_s and c, as ({s: a_s}, c); None when g is not of that form
    or has more than `max_symbols` symbols."""
    coeffs: dict[Symbol, int] = {}
    const = 0
    for t in Add.make_args(g):
        if isinstance(t, Integer):
            const += int(t.p)
            continue
        a, s = t.as_coeff_Mul()
        if not isinstance(s, Symbol) or not isinstance(a, Integer):
            return None
        coeffs[s] = coeffs.get(s, 0) + int(a.p)
        if len(coeffs) > max_symbols:
            return None
    return coeffs, const


def _term_lo(a: int, b: Bound) -> float | int:
    """The least value of a*s for s in b."""
    return _mul(a, b[0]) if a > 0 else _mul(a, b[1]) if a < 0 else 0


def implies_linear(strong: tuple[Mapping[Symbol, int], int], weak: tuple[Mapping[Symbol, int], int],
                   box: Mapping[Symbol, Bound]) -> bool:
    """`strong >= 0` implies `weak >= 0` for every value in the box: proven by weak - strong >= 0 there.
    The least value of a linear form over a box is exact (each symbol once), so this is never claimed
    when false, and it is transitive. Stops at the first symbol the difference is unbounded in."""
    (sc, s0), (wc, w0) = strong, weak
    lo: float | int = w0 - s0
    whole = (-INF, INF)
    for s, a in wc.items():
        t = _term_lo(a - sc.get(s, 0), box.get(s, whole))
        if t == -INF:
            return False
        lo += t
    for s, a in sc.items():
        if s not in wc:
            t = _term_lo(-a, box.get(s, whole))
            if t == -INF:
                return False
            lo += t
    return lo >= 0


def implied_by_linear(forms: list[tuple[Mapping[Symbol, int], int] | None],
                      box: Mapping[Symbol, Bound]) -> set[int]:
    """Indices of the linear inequalities `form >= 0` (None: not linear, never dropped nor used) that
    another one implies over the box: of two equivalent ones the first stays. Every dropped one is
    implied by one that stays (checked), so dropping them all changes nothing. No check (empty set)
    past LINEAR_MAX_COUNT forms or LINEAR_MAX_WORK: the work is quadratic."""
    idx = [i for i, f in enumerate(forms) if f is not None]
    if len(idx) < 2 or len(idx) > LINEAR_MAX_COUNT or \
            len(idx) * sum(len(forms[i][0]) for i in idx) > LINEAR_MAX_WORK:  # type: ignore[index]
        return set()
    imp = {(i, j): implies_linear(forms[i], forms[j], box)  # type: ignore[arg-type]
           for i in idx for j in idx if i != j}
    # i beats j when i implies j, and strictly, or they are equivalent and i comes first
    dropped = {j for j in idx if any(imp[i, j] and (i < j or not imp[j, i]) for i in idx if i != j)}
    # sound even if implication were not transitive: keep any dropped one no kept one implies
    return {j for j in dropped if any(imp[i, j] for i in idx if i != j and i not in dropped)}


PAIR_MAX_COUNT = 16  # more shown linear inequalities than this: no check by pairs (it is cubic)
PAIR_MAX_WORK = 4_000  # combinations tried in all (about 0.1 s): past it, the ones found so far are dropped


Form = tuple[Mapping[Symbol, int], int]  # sum(a_s*s) + c, as linear_form gives it


WHOLE: Bound = (-INF, INF)


def _proves(j: Form, premises: list[tuple[int | Fraction, Form]], box: Mapping[Symbol, Bound]) -> bool:
    """Whether j − Σ λ·f (each f ≥ 0 a premise, λ ≥ 0) is at least 0 over the box, which proves j ≥ 0 from the
    premises there (an LP certificate: exact arithmetic, never claimed when false). Its least value is taken
    times the product of the λ's denominators, so that the sums stay in Python ints (an int λ: nothing to
    scale); a symbol left with a coefficient whose needed end of its range is infinite: not proved."""
    scale = 1
    for lam, _ in premises:
        scale *= lam.denominator
    coeffs: dict[Symbol, int] = dict(j[0]) if scale == 1 else {s: a * scale for s, a in j[0].items()}
    const = j[1] * scale
    for lam, (fc, f0) in premises:
        w = lam.numerator * (scale // lam.denominator)
        const -= w * f0
        for s, a in fc.items():
            coeffs[s] = coeffs.get(s, 0) - w * a
    lo = const
    for s, a in coeffs.items():
        if a:
            b = box.get(s, WHOLE)
            end = b[0] if a > 0 else b[1]
            if end == INF or end == -INF:
                return False
            lo += a * end
    return lo >= 0


def _ratio(x: int | Fraction, y: int) -> int | Fraction:
    """x/y exactly: an int when y divides an int x (equal to the Fraction, hashed alike, and cheaper)."""
    if type(x) is int:
        q, r = divmod(x, y)
        return q if not r else Fraction(x, y)
    return x / y


def _ratios(a: Mapping[Symbol, int | Fraction], b: Mapping[Symbol, int]) -> list[int | Fraction]:
    """Multipliers λ > 0 that cancel a symbol of a against λ·b (and 1): the candidates of a certificate. (The
    values of Fractions; integral ones as ints, which compare, hash and compute alike.)"""
    out: set[int | Fraction] = {1}
    for s, x in a.items():
        if x:
            y = b.get(s)
            if y and (x > 0) == (y > 0):
                out.add(_ratio(x, y))
    return sorted(out)[:6]


def _rest(fj: Form, lam: int | Fraction, fi: Form) -> dict[Symbol, int | Fraction]:
    """The coefficients of j − λ·f (over the symbols of both)."""
    jc, ic = fj[0], fi[0]
    return {s: jc.get(s, 0) - lam * ic.get(s, 0) for s in {*jc, *ic}}


def _work_bound(forms: list[Form | None], idx: list[int]) -> int:
    """An upper bound of the combinations `implied_by_two` tries (its `work`), stopping once past PAIR_MAX_WORK:
    every form is tried against every other (no one dropped, none found), with len(_ratios(a, b)) at most
    min(6, 1 + the symbols a and b share), and a third form h tried only when it shares a symbol with j or f."""
    keys = {i: frozenset(forms[i][0]) for i in idx}  # type: ignore[index]
    total = 0
    for j in idx:
        kj = keys[j]
        for x, i in enumerate(idx):
            if i == j:
                continue
            both = kj | keys[i]
            per = 1
            for k in idx[x + 1:]:
                if k != j:
                    c = len(both & keys[k])
                    if c:
                        per += min(6, 1 + c)
            total += min(6, 1 + len(kj & keys[i])) * per
            if total > PAIR_MAX_WORK:
                return total
    return total


def _found_pruned(fj: Form, kept: list[int], forms: list[Form | None], bj: Mapping[Symbol, Bound]) -> bool:
    """Whether some λ·f or λ·f + μ·h of the kept forms proves fj over bj: the combinations `implied_by_two`
    tries, less those that cannot prove it. A symbol of j whose needed end of its range (the low one for a
    positive coefficient) is infinite keeps a coefficient of that sign, hence the −∞, unless f or h has it
    with the same sign (λ, μ > 0: another sign only moves it away from 0): a pair (f, h) that misses one is
    not tried. (Called only where the work limit cannot be reached: the order and number of tries do not
    matter then, only whether one succeeds.)"""
    jc = fj[0]
    need = [(s, a > 0) for s, a in jc.items() if a and bj.get(s, WHOLE)[0 if a > 0 else 1] in (INF, -INF)]
    helps = {}  # kept form -> the needed symbols it can cancel
    for i in kept:
        ic = forms[i][0]  # type: ignore[index]
        helps[i] = frozenset(s for s, up in need if ic.get(s) and (ic[s] > 0) == up)
    needed = frozenset(s for s, _ in need)
    for x, i in enumerate(kept):
        fi = forms[i]
        miss = needed - helps[i]
        later = [k for k in kept[x + 1:] if miss <= helps[k]] if miss else kept[x + 1:]
        if miss and not later:
            continue
        for lam in _ratios(jc, fi[0]):  # type: ignore[index]
            if not miss and _proves(fj, [(lam, fi)], bj):  # type: ignore[list-item]
                return True
            if not later:
                continue
            rest = _rest(fj, lam, fi)  # type: ignore[arg-type]
            for k in later:
                fk = forms[k]
                if not any(rest.get(s) for s in fk[0]):  # type: ignore[index]
                    continue  # h shares no symbol left in j − λ·f: it cannot help
                if any(_proves(fj, [(lam, fi), (mu, fk)], bj)  # type: ignore[list-item]
                       for mu in _ratios(rest, fk[0])):  # type: ignore[index]
                    return True
    return False


def _found_counted(fj: Form, kept: list[int], forms: list[Form | None], bj: Mapping[Symbol, Bound],
                   work: int) -> tuple[bool, int]:
    """The combinations of `implied_by_two` for one form, in order, counting the work and stopping at the
    limit: whether one proves fj, and the work after."""
    for x, i in enumerate(kept):
        fi = forms[i]
        for lam in _ratios(fj[0], fi[0]):  # type: ignore[index]
            work += 1
            if _proves(fj, [(lam, fi)], bj):  # type: ignore[list-item]
                return True, work
            rest = _rest(fj, lam, fi)  # type: ignore[arg-type]
            for k in kept[x + 1:]:
                fk = forms[k]
                if work > PAIR_MAX_WORK:
                    break
                if not any(rest.get(s) for s in fk[0]):  # type: ignore[index]
                    continue  # h shares no symbol left in j − λ·f: it cannot help
                mus = _ratios(rest, fk[0])  # type: ignore[index]
                work += len(mus)
                if any(_proves(fj, [(lam, fi), (mu, fk)], bj) for mu in mus):  # type: ignore[list-item]
                    return True, work
    return False, work


def implied_by_two(forms: list[tuple[Mapping[Symbol, int], int] | None], box: Mapping[Symbol, Bound],
                   domains: Mapping[Symbol, Bound]) -> set[int]:
    """Indices of the linear inequalities `form >= 0` (None: not linear) implied over the box by one or two
    others that stay (λ·f + μ·h with λ, μ ≥ 0 from a few candidates: sound, not complete). E ≥ 1 goes when
    E − Hh ≥ 0 and Hh ≥ 1 are shown. A bound on one symbol is checked with that symbol unbounded, and once
    dropped its symbol's range in the box goes back to its domain, so no condition proves itself; each one
    dropped is implied by those kept at that point, so by the ones kept at the end. No check past
    PAIR_MAX_COUNT forms; past PAIR_MAX_WORK combinations tried, the ones found so far are dropped. (When
    the limit cannot be reached, n*(n-1)*c*(1+(n-2)*c) with c = min(6, 1 + the most symbols of a form)
    bounding the work as `_work_bound` does, combinations that cannot succeed are not tried.)"""
    idx = [i for i, f in enumerate(forms) if f is not None]
    if len(idx) < 2 or len(idx) > PAIR_MAX_COUNT:
        return set()
    own = [s for i in idx for s, a in forms[i][0].items() if a]  # type: ignore[index]
    if all(len(forms[i][0]) == 1 for i in idx) and len(own) == len(idx) == len(set(own)):  # type: ignore[index]
        return set()  # bounds on distinct single symbols (H >= 1, W >= 1): each one's symbol is unbounded in its
        # own check and absent from the others (no certificate can cancel it): none is implied
    # symbols as small ints (a SymPy symbol hashes in Python, an int in C): the same sums, keys renamed
    number: dict[Symbol, int] = {}
    for i in idx:
        for s in forms[i][0]:  # type: ignore[index]
            number.setdefault(s, len(number))
    forms = [None if f is None else ({number[s]: a for s, a in f[0].items()}, f[1]) for f in forms]
    box = {number[s]: v for s, v in box.items() if s in number}  # type: ignore[misc]
    domains = {number[s]: v for s, v in domains.items() if s in number}  # type: ignore[misc]
    n, c = len(idx), min(6, 1 + max(len(forms[i][0]) for i in idx))  # type: ignore[index]
    pruned = n * (n - 1) * c * (1 + (n - 2) * c) <= PAIR_MAX_WORK or _work_bound(forms, idx) <= PAIR_MAX_WORK
    b = dict(box)
    dropped: set[int] = set()
    work = 0
    for j in idx:
        if work > PAIR_MAX_WORK:
            break
        fj = forms[j]
        own = next(iter(fj[0])) if len(fj[0]) == 1 else None  # type: ignore[index]
        bj = b
        if own is not None:
            bj = dict(b)
            bj[own] = (-INF, INF)
        kept = [i for i in idx if i != j and i not in dropped]
        if pruned:
            found = _found_pruned(fj, kept, forms, bj)  # type: ignore[arg-type]
        else:
            found, work = _found_counted(fj, kept, forms, bj, work)  # type: ignore[arg-type]
        if found:
            dropped.add(j)
            if own is not None:
                b[own] = domains.get(own, (-INF, INF))
    return dropped


def _symbol_range(it: _Item, one: Callable[[Expr], Linear | None] = one_symbol) -> Linear | None:
    """The range a condition on one symbol alone allows it (a*s + c >= 0, or == 0), else None."""
    if it.g is None or it.constant or it.op not in (">=", "=="):
        return None
    up = one(it.g)
    if up is None or it.op == ">=":
        return up
    down = one(-it.g)  # a*s + c == 0: both a*s + c >= 0 and -(a*s + c) >= 0
    return Linear(up.symbol, up.lo if up.lo is not None else down.lo, up.hi if up.hi is not None else down.hi)


def _same_tree(a: object, b: object) -> bool:
    """Whether a, equal to b (SymPy's ==), is also of b's types node by node (1 and True, or a number of another
    type, are told apart): then every step of the analysis gives the same for both. Shared subtrees once."""
    stack = [(a, b)]
    seen: set[tuple[int, int]] = set()
    while stack:
        x, y = stack.pop()
        if x is y:
            continue
        if type(x) is not type(y):
            return False
        if not isinstance(x, sympy.Basic) or x.is_Atom:
            if x != y:
                return False
            continue
        if (id(x), id(y)) in seen:
            continue
        seen.add((id(x), id(y)))
        if len(x.args) != len(y.args):
            return False
        stack.extend(zip(x.args, y.args))
    return True


def _floor_bound(lhs: Expr, rhs: Expr, op: str) -> Relational | None:
    """normalize_relation(lhs op rhs) where it is quick to see: lhs = floor(n/d) + c (or floor(n/d)) with c and
    rhs integers, d an integer (or a product of integer symbols, where the bound below is 0), an inequality (every size
    of a convolution or a pool against 1). There, normalizing moves c to the right (rhs - c), adds 1 for > and
    <=, and multiplies by d: `n >= d*(rhs - c)` (or <). None where the form is another one (normalize_relation
    then)."""
    if op not in (">=", ">", "<=", "<") or not isinstance(rhs, Integer):
        return None
    if isinstance(lhs, FloorDiv):
        f, c = lhs, 0
    elif isinstance(lhs, Add) and len(lhs.args) == 2 and isinstance(lhs.args[0], Integer) \
            and isinstance(lhs.args[1], FloorDiv):
        f, c = lhs.args[1], int(lhs.args[0].p)
    else:
        return None
    n, d = f.args
    bound = int(rhs.p) - c + (1 if op in (">", "<=") else 0)
    if isinstance(d, Integer):
        times = Integer(int(d.p) * bound)
    elif bound == 0 and all(isinstance(x, Symbol) and x.is_integer for x in Mul.make_args(d)):
        times = ZERO  # d*0 for a product of integer symbols (strides): 0 (finite: not nan)
    else:
        return None
    return (sympy.Ge if op in (">", ">=") else sympy.Lt)(n, times, evaluate=False)


def _item(nc: object, lhs: Expr, rhs: Expr, op: str, normalize: Callable[[Relational], Relational],
          one: Callable[[Expr], Linear | None] = one_symbol) -> _Item:
    """A condition `lhs op rhs` (closed sides) as an item: the relation normalized, and g with `g op 0`."""
    constant = isinstance(lhs, Integer) and isinstance(rhs, Integer)
    # floor(n/d) + c op k: normalized directly; the relation as written is not needed (and could not fail to
    # build: both sides are real)
    rel = None if constant else _floor_bound(lhs, rhs, op)
    if rel is None:
        rel = sympy.Rel(lhs, rhs, op, evaluate=False)
        if op == "==" and lhs == rhs:  # the same size on both sides (a merge of equal inputs): what the lines
            it = _Item(nc, rel, ZERO, "==", constant)  # below give (normalizing leaves an equality, and x - x
            it.lin = _symbol_range(it, one)  # is 0), without building x - x
            return it
        # normalizing leaves a symbol against a number (no floor in s - k) and every equality as they are
        if not (constant or isinstance(lhs, Symbol) and isinstance(rhs, Integer) or
                op in ("==", "!=") and isinstance(lhs, Expr) and isinstance(rhs, Expr)):
            rel = normalize(rel)
    if isinstance(rel, Relational) and rel.rel_op in (">=", ">", "<=", "<"):
        rop = rel.rel_op
        g = rel.lhs - rel.rhs if rop in (">=", ">") else rel.rhs - rel.lhs
        g = g - 1 if rop in (">", "<") else g
        it = _Item(nc, rel, g, ">=", constant)
    elif isinstance(rel, Relational):
        it = _Item(nc, rel, rel.lhs - rel.rhs, rel.rel_op, constant)
    else:
        it = _Item(nc, rel, None, "holds", True)
    it.lin = _symbol_range(it, one)
    return it


def analyze(d: object) -> Verdicts:  # noqa: C901, PLR0912, PLR0915 - one pass, in steps
    """Never-valid conditions and the list to show, for a `Derivation` (see its `never_valid`)."""
    from .algebra import normalize_relation
    from .printing import to_text

    # closed forms; in a deep network fed by many symbols, sizes stay atoms (opened by Bounds): linear in depth
    form = _Memo(d.size_names.form)  # type: ignore[attr-defined]  # (a side shared by conditions: once)
    one = _Memo(one_symbol)
    made: dict[tuple[str, Expr, Expr], tuple[Expr, Expr, _Item]] = {}  # (op, lhs, rhs) -> (lhs, rhs, item)
    items: list[_Item] = []
    never: dict[int, str] = {}  # index in items -> reason
    for nc in d.conditions:  # type: ignore[attr-defined]
        c = nc.condition
        if c.op == "holds":
            rel = form(c.lhs)
            items.append(_Item(nc, rel, None, "holds", isinstance(rel, (bool, sympy.logic.boolalg.BooleanAtom))))
            continue
        lhs, rhs = form(c.lhs), form(c.rhs)  # (form reads c.rhs through as_expr)
        key = (c.op, lhs, rhs)  # the same closed sides (ResNet's sizes, repeated by layer): the same item
        hit = made.get(key)
        if hit is None or not (_same_tree(lhs, hit[0]) and _same_tree(rhs, hit[1])):
            it = _item(nc, lhs, rhs, c.op, normalize_relation, one)
            if hit is None:
                made[key] = (lhs, rhs, it)
        else:
            it = hit[2]
        items.append(_Item(nc, it.rel, it.g, it.op, it.constant, it.lin))

    # the box: the symbols' domains, narrowed by every bound on a single symbol
    box: dict[Symbol, Bound] = {}
    for info in d.symbols.values():  # type: ignore[attr-defined]
        box[info.symbol] = (-INF if info.min is None else info.min, INF if info.max is None else info.max)
    domains = dict(box)
    for i, it in enumerate(items):
        lin = it.lin
        if lin is None:
            continue
        lo, hi = box.get(lin.symbol, (-INF, INF))
        new_lo = lo if lin.lo is None else max(lo, lin.lo)
        new_hi = hi if lin.hi is None else min(hi, lin.hi)
        if new_lo > new_hi:  # contradicts the domain and the bounds before it: flagged, the box stays
            name = lin.symbol.name
            const, rest = it.g.as_coeff_Add()
            shown = f"{name} == {Fraction(-int(const), int(rest.as_coeff_Mul()[0]))}" \
                if lin.lo is not None and lin.hi is not None and lin.lo > lin.hi else \
                f"{name} == {_fmt(lin.lo)}" if lin.lo == lin.hi else \
                f"{name} >= {_fmt(lin.lo)}" if lin.lo is not None else f"{name} <= {_fmt(lin.hi)}"
            never[i] = f"{it.nc.origin}: {it.nc.condition.label}: {shown} holds for no value of " \
                       f"{_show_box(box, lin.symbol)}"
            continue
        box[lin.symbol] = (new_lo, new_hi)
    bounds = Bounds(box, d.defs)  # type: ignore[attr-defined]

    implied: set[int] = set()
    for i, it in enumerate(items):
        if i in never:
            continue
        if it.op == "holds":
            if it.rel is sympy.false or it.rel is False:
                never[i] = f"{it.nc.origin}: {it.nc.condition.label} does not hold"
            elif it.rel is sympy.true or it.rel is True:
                implied.add(i)
            continue
        verdict = decide(bounds(it.g), it.op)
        if verdict is False:
            c = it.nc.condition
            if it.constant:
                never[i] = f"{it.nc.origin}: " + violation_text(c.label, int(it.rel.lhs), c.op, int(it.rel.rhs),
                                                                   c.note)
            else:
                never[i] = f"{it.nc.origin}: {c.label}: {to_text(it.rel)} holds for no value of " \
                           f"{_show_box(bounds.box, it.g)}"
        elif verdict is True and it.lin is None:  # (bounds on one symbol make the box: kept)
            implied.add(i)
    mod_of = _Memo(divisibility)
    implied |= _implied_by_divisibility(items, never, implied, box, mod_of)
    linear = _Memo(linear_form)

    # what to show: each condition once, the tightest of each family, divisibility as x % k == 0
    shown: list[tuple[object, object, object]] = []  # (nc, relation, family key)
    best: dict[object, tuple[int, int]] = {}  # family -> (its constant, index in shown)
    seen: set = set()
    forms: list[tuple[dict[Symbol, int], int] | None] = []  # the linear form of each shown inequality, or None
    gs: list[Expr | None] = []  # each shown inequality's g (g >= 0), or None
    n_linear = 0
    for i, it in enumerate(items):
        if i in never or i in implied:
            continue
        rel, family, bound = it.rel, None, None
        if it.op == ">=":
            lin = one(it.g)
            if lin is not None and lin.lo is not None:  # (written s >= lo once listed: not built for the
                bound, family = lin, ((lin.symbol, "lo"), -lin.lo)  # bounds left out below)
            elif lin is not None:
                bound, family = lin, ((lin.symbol, "hi"), lin.hi)
            else:
                const, rest = it.g.as_coeff_Add()
                if isinstance(const, Integer):
                    family = (rest, int(const.p))  # rest + c >= 0: the smallest c is the tightest
            key: object = (">=", it.g)
        elif it.op in ("==", "!="):
            if it.op == "==" and zero_when_expanded(it.g):
                continue
            lin = it.lin
            mod = mod_of(rel)
            if lin is not None and lin.lo == lin.hi:  # one symbol equal to a number: written s == n
                rel = sympy.Eq(lin.symbol, lin.lo, evaluate=False)
            elif mod is not None:
                rel = mod
            elif it.op == "==":
                rel = reduced_divisibility(rel)
            key = (it.op, frozenset((it.g, -it.g)))
        else:
            key = rel
        if key in seen:
            continue
        seen.add(key)
        if family is not None:
            fam, strength = family
            old = best.get(fam)
            if old is not None and old[0] <= strength:
                continue  # a weaker bound of a family already listed
            if old is not None:
                shown[old[1]] = (None, None, None)
            best[fam] = (strength, len(shown))
        if bound is not None:
            rel = sympy.Ge(bound.symbol, bound.lo, evaluate=False) if bound.lo is not None else \
                sympy.Le(bound.symbol, bound.hi, evaluate=False)
        shown.append((it.nc, rel, family))
        # a linear inequality on several symbols may be implied by another shown one (pairwise, below)
        forms.append(linear(it.g) if it.op == ">=" and one(it.g) is None and
                     n_linear <= LINEAR_MAX_COUNT else None)
        gs.append(it.g if it.op == ">=" and len(gs) <= PAIR_MAX_COUNT * 4 else None)
        n_linear += forms[-1] is not None
    for j in implied_by_linear([f if shown[k][0] is not None else None for k, f in enumerate(forms)], box):
        shown[j] = (None, None, None)
    # a shown inequality (one symbol's bound too) implied by one or two others that stay
    every = [linear(g) if g is not None and shown[k][0] is not None else None for k, g in enumerate(gs)]
    for j in implied_by_two(every, box, domains):
        shown[j] = (None, None, None)
    never_items = sorted(never)
    return Verdicts(tuple(items[i].nc for i in never_items), tuple(never[i] for i in never_items),
                    tuple((nc, rel) for nc, rel, _ in shown if nc is not None))
