"""The integer algebra of sizes: floor division, its normal form, and relations.

Every size symshape handles is an integer-valued SymPy expression built from integers, integer
symbols, ``+``, ``*``, non-negative integer powers, ``FloorDiv``, ``Max``, ``Min`` and ``Mod``.
No ``/`` ever appears outside a ``FloorDiv``; so no rationals, no floats.

``FloorDiv(n, d)`` means floor(n / d) for integers n and d != 0. It is deliberately lighter than
``sympy.floor(n / d)``: its construction asks no assumptions (that is where SymPy spends 25 s on
200 nested floors), it folds integers, cancels a common integer factor, takes exact integer
multiples out of the numerator, and otherwise stays as written.

Nested floors are collapsed by :func:`collapse`, an explicit normal-form pass and not part of
construction. For integer x, c and positive integers a, b,

    floor((floor(x/a) + c)/b) = floor((x + a*c)/(a*b)),

so a chain x_{k+1} = floor((x_k + c_k)/S_k) + e_k becomes one floor. The pass runs top-down,
accumulating the offset in Horner form T <- S_k*(r_k + T), so its size and its cost are linear
in the chain's depth. The identity needs positive divisors: every divisor symshape builds is a
stride, a pool size or a scale denominator, and each comes with a validity condition ``>= 1``;
the collapsed form is exact wherever the network is valid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from math import gcd

import sympy
from sympy import Add, Expr, Integer, Mul, Symbol
from sympy.core.relational import Relational

__all__ = [
    "Dim",
    "Merge",
    "as_expr",
    "FloorDiv",
    "ceil_div",
    "collapse",
    "expand_small",
    "normalize_relation",
    "smax",
    "smin",
    "to_int",
]

ONE = sympy.S.One
ZERO = sympy.S.Zero


class FloorDiv(sympy.Function):
    """floor(n / d) for integer n and non-zero integer d."""

    nargs = 2
    is_integer = True
    is_real = True
    is_commutative = True

    @classmethod
    def eval(cls, n: Expr, d: Expr) -> Expr | None:
        if d is ONE:
            return n
        if n is ZERO:
            return ZERO
        if isinstance(d, Integer):
            if d.p == 0:
                return None  # stays symbolic; evaluation reports the division by zero
            if isinstance(n, Integer):
                return Integer(n.p // d.p)
            return _split_integer_divisor(n, d.p)
        if isinstance(d, (Symbol, Mul)):
            return _split_symbolic_divisor(n, d)
        return None

    def _sympystr(self, printer: sympy.printing.str.StrPrinter) -> str:  # type: ignore[name-defined]
        n, d = self.args
        num = printer.parenthesize(n, sympy.printing.precedence.PRECEDENCE["Mul"])
        den = printer.parenthesize(d, sympy.printing.precedence.PRECEDENCE["Mul"] + 1)
        return f"floor({num}/{den})"

    def _latex(self, printer: sympy.printing.latex.LatexPrinter) -> str:  # type: ignore[name-defined]
        n, d = self.args
        return rf"\left\lfloor \frac{{{printer._print(n)}}}{{{printer._print(d)}}} \right\rfloor"

    def _pretty(self, printer):  # noqa: ANN001, ANN202 - sympy's pretty printer protocol
        return printer._print(sympy.floor(self.args[0] / self.args[1], evaluate=False))


class Dim(sympy.Dummy):
    """An opaque name for one size of one layer's output; its definition lives in the derivation.

    Layer k+1's formulas refer to layer k's sizes through these atoms, so every layer costs O(1)
    SymPy work (SymPy compares and sorts arguments structurally: products of two deep nested
    sizes would cost O(depth) each). :func:`collapse` and the compiled program see through them.
    """

    is_integer = True


def _split_integer_divisor(n: Expr, d: int) -> Expr | None:
    """floor((d*q + r)/d) = q + floor(r/d) (symbolic q); floor(g*a/(g*b)) = floor(a/b) for b > 0."""
    quotient: list[Expr] = []
    rest: list[Expr] = []
    constant = 0
    for term in Add.make_args(n):
        coeff, factor = term.as_coeff_Mul()
        if not isinstance(coeff, Integer):
            return None
        if factor is ONE:
            constant += coeff.p
        elif coeff.p % d == 0:
            quotient.append(Integer(coeff.p // d) * factor)
        else:
            rest.append(term)
    if constant and constant % d == 0:  # an exact multiple leaves the floor; other constants stay
        quotient.append(Integer(constant // d))
    elif constant:
        rest.append(Integer(constant))
    if not rest:
        return Add(*quotient)
    g = d
    for term in rest:
        g = gcd(g, int(term.as_coeff_Mul()[0].p))
        if g == 1:
            break
    if g > 1 and d > 0:
        inner = FloorDiv(Add(*[t / g for t in rest]), Integer(d // g))
    elif quotient:
        inner = FloorDiv(Add(*rest), Integer(d))
    else:
        return None
    return Add(*quotient, inner)


def _split_symbolic_divisor(n: Expr, d: Expr) -> Expr | None:
    """floor((d*q + r)/d) = q + floor(r/d) for terms that carry every factor of d."""
    d_factors = Mul.make_args(d)
    if any(not isinstance(f, Symbol) for f in d_factors):
        return None
    quotient: list[Expr] = []
    rest: list[Expr] = []
    for term in Add.make_args(n):
        factors = list(Mul.make_args(term))
        for f in d_factors:
            if f in factors:
                factors.remove(f)
            else:
                rest.append(term)
                break
        else:
            quotient.append(Mul(*factors))
    if not quotient:
        return None
    return Add(*quotient, FloorDiv(Add(*rest), d))


def as_expr(x: object) -> sympy.Basic:
    """An internal value (int, bool or SymPy object) as a SymPy object; text is never parsed here."""
    if isinstance(x, sympy.Basic):
        return x
    if isinstance(x, bool):
        return sympy.true if x else sympy.false
    if isinstance(x, int):
        return Integer(x)
    raise TypeError(f"not an expression: {type(x).__name__}")


def ceil_div(n: Expr, d: Expr) -> Expr:
    """ceil(n / d) = floor((n + d - 1) / d) for integer n and positive integer d."""
    return FloorDiv(n + d - 1, d)


def to_int(e: Expr) -> int | None:
    return int(e.p) if isinstance(e, Integer) else None


def smax(*args: Expr) -> Expr:
    """max of integer expressions: folded when all are integers, else one unevaluated Max."""
    return _extremum(sympy.Max, max, args)


def smin(*args: Expr) -> Expr:
    """min of integer expressions: folded when all are integers, else one unevaluated Min."""
    return _extremum(sympy.Min, min, args)


def _extremum(kind: type, pick, args: Iterable[Expr]) -> Expr:  # noqa: ANN001
    items: list[Expr] = []
    for a in args:
        a = as_expr(a)
        items.extend(a.args if isinstance(a, kind) else (a,))
    numbers = [int(a.p) for a in items if isinstance(a, Integer)]
    symbolic = list(dict.fromkeys(a for a in items if not isinstance(a, Integer)))
    if not symbolic:
        return Integer(pick(numbers))
    if numbers:
        symbolic.append(Integer(pick(numbers)))
    if len(symbolic) == 1:
        return symbolic[0]
    return kind(*symbolic, evaluate=False)


@dataclass(frozen=True)
class Merge:
    """One use of floor((floor(x/a) + c)/b) = floor((x + a*c)/(a*b)) while collapsing the floor `outer`:
    x as written (size atoms and all), a, c and b already collapsed. The result is floor((x + a*c)/(a*b))."""

    outer: Expr
    x: Expr
    a: Expr
    c: Expr
    b: Expr


class _Collapser:
    """Top-down normal form of nested floors; one instance per derivation (it memoizes).

    With `record` > 0 it also keeps the first `record` merges it makes (`merges`, for documents that
    show the steps) and counts all of them (`merge_count`); the derivation's own collapser records none.
    """

    def __init__(self, defs: dict[Dim, Expr] | None = None, record: int = 0) -> None:
        self.defs = defs or {}
        self.memo: dict[Expr, Expr] = {}
        self.depths: dict[Expr, int] = {}
        self.record = record
        self.merges: list[Merge] = []
        self.merge_count = 0

    def __call__(self, e: Expr) -> Expr:
        done = self.memo.get(e)
        if done is not None:
            return done
        if e in self.defs:
            out = self(self.defs[e])
        elif e.is_Atom:
            out = e
        elif isinstance(e, FloorDiv):
            out = self._floor(e)
        else:
            args = [self(a) for a in e.args]
            out = e if all(a is b for a, b in zip(args, e.args, strict=True)) else e.func(*args)
        self.memo[e] = out
        return out

    def _depth(self, e: Expr) -> int:
        """How many floors are nested in e (iterative, memoized): picks the chain among candidates."""
        stack = [e]
        while stack:
            top = stack[-1]
            if top in self.depths:
                stack.pop()
                continue
            args = (self.defs[top],) if top in self.defs else top.args
            pending = [a for a in args if a not in self.depths and (not a.is_Atom or a in self.defs)]
            if pending:
                stack.extend(pending)
                continue
            below = max((self.depths.get(a, 0) for a in args), default=0)
            self.depths[top] = below + (1 if isinstance(top, FloorDiv) else 0)
            stack.pop()
        return self.depths[e]

    def _floor(self, e: Expr) -> Expr:
        n, d = e.args
        divisors = [self(d)]
        offset: Expr = ZERO
        while True:
            terms = self._open(n)
            inner = [t for t in terms if isinstance(t, FloorDiv)]
            if not inner:
                break
            chain = inner[0] if len(inner) == 1 else max(inner, key=self._depth)
            rest = Add(*[self(t) for t in terms if t is not chain])
            s = self(chain.args[1])
            if self.record:
                self.merge_count += 1
                if len(self.merges) < self.record:
                    self.merges.append(Merge(e, chain.args[0], s, rest + offset, Mul(*divisors)))
            offset = s * (rest + offset)
            divisors.append(s)
            n = chain.args[0]
        return FloorDiv(Add(self(Add(*self._open(n))), offset), Mul(*divisors))

    def _open(self, n: Expr) -> list[Expr]:
        """The terms of n, with size atoms replaced by their own terms (they may hide the chain)."""
        terms: list[Expr] = []
        stack = list(Add.make_args(n))
        while stack:
            t = stack.pop()
            if t in self.defs:
                stack.extend(Add.make_args(self.defs[t]))
            else:
                terms.append(t)
        return terms


def expand(e: Expr, defs: dict[Dim, Expr], memo: dict[Expr, Expr] | None = None) -> Expr:
    """e with every size atom replaced by its definition: the nested (recurrence) form."""
    memo = {} if memo is None else memo

    def deps(a: Dim) -> list[Dim]:
        return [b for b in defs[a].atoms(Dim) if b in defs]

    roots = [a for a in e.atoms(Dim) if a in defs]
    stack = [(a, False) for a in roots]
    while stack:  # post-order: every definition after the atoms it uses
        a, ready = stack.pop()
        if a in memo:
            continue
        if ready:
            memo[a] = defs[a].xreplace({b: memo[b] for b in deps(a)})
        else:
            stack.append((a, True))
            stack.extend((b, False) for b in deps(a) if b not in memo)
    return e.xreplace({a: memo[a] for a in roots})


def expand_small(e: Expr, max_nodes: int = 400) -> Expr:
    """e multiplied out when it is small (at most `max_nodes` nodes, powers up to 8), else e as is:
    one normal form for a quantity printed in several places, at a bounded cost."""
    if e.is_Atom:  # a number or a symbol: multiplied out already
        return e
    count = 0
    for node in sympy.preorder_traversal(e):
        count += 1
        if count > max_nodes or (isinstance(node, sympy.Pow) and not (isinstance(node.exp, Integer) and
                                                                       0 <= node.exp.p <= 8)):
            return e
    from .expr import measure  # expr builds on this module
    from .limits import current

    if measure(e)[1] > current().max_expand_terms:  # a product of sums that multiplies out too far
        return e
    return sympy.expand(e)


def collapse(e: Expr, collapser: _Collapser | None = None) -> Expr:
    """The compact closed form of e: nested floors merged, offsets in Horner form."""
    return (collapser or _Collapser())(e)


def normalize_relation(rel: Relational) -> Relational:
    """floor(N/D) + r >= t  ->  N >= D*(t - r) (and <=, < , >), for display and solving.

    Exact for positive D; D is a product of strides, each with its own condition >= 1.
    """
    lhs, rhs = rel.lhs - rel.rhs, ZERO
    terms = Add.make_args(lhs)
    floors = [t for t in terms if isinstance(t, FloorDiv)]
    if len(floors) != 1 or rel.rel_op not in (">=", ">", "<=", "<"):
        return rel
    (f,) = floors
    bound = -Add(*[t for t in terms if t is not f]) + rhs
    if any(isinstance(a, FloorDiv) for a in sympy.preorder_traversal(bound)):
        return rel
    n, d = f.args
    if rel.rel_op in (">", "<="):
        bound = bound + 1
    return _tidy(n, d * bound, sympy.Ge if rel.rel_op in (">", ">=") else sympy.Lt)


def _tidy(lhs: Expr, rhs: Expr, kind: type) -> Relational:
    """lhs op rhs with like terms cancelled (Add merges them) when rhs is not a number."""
    if isinstance(rhs, Integer):
        return kind(lhs, rhs, evaluate=False)
    diff = lhs - rhs
    const, rest = diff.as_coeff_Add()
    return kind(rest, -const, evaluate=False)
