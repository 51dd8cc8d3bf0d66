"""The closed form's steps: which nested floors merged, by which identity.

The output's closed form comes from :func:`symshape.algebra.collapse`, which merges nested floors with

    floor((floor(x/a) + c)/b) = floor((x + a*c)/(a*b))      (integer x, c; positive integers a, b).

A collapser made for the document records its first merges (`algebra.Merge`: x as written, in the
layers' named sizes, and a, c, b); each becomes one line a reader can check by hand. Only the first
`LIMIT` merges are shown (a 300-layer chain makes 300 of them): the document stays linear in depth.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sympy
from sympy import Add, Expr, Integer, Mul

from ..algebra import Dim, FloorDiv, Merge, _Collapser, as_expr
from ..derive import Derivation

LIMIT = 24  # merges shown in a document


@dataclass(frozen=True)
class Steps:
    merges: list[tuple[Dim | None, Merge]]  # (the size whose floor was being collapsed, the merge)
    total: int  # merges made in all (more than shown when the network is deep)


def closed_form_steps(d: Derivation, limit: int = LIMIT, targets: Sequence[Expr] | None = None) -> Steps:
    """The merges that collapse the network's output sizes, or `targets` (the first `limit`, and how many
    in all)."""
    c = _Collapser(d.defs, record=limit)
    for s in d.outputs[0][1] if targets is None else targets:
        c(as_expr(s))
    owner: dict[Expr, Dim] = {}
    wanted = {m.outer for m in c.merges}
    for atom, definition in d.defs.items():
        for t in Add.make_args(definition):
            for f in ([t] if isinstance(t, FloorDiv) else [a for a in Mul.make_args(t) if isinstance(a, FloorDiv)]):
                if f in wanted and f not in owner:
                    owner[f] = atom
    return Steps([(owner.get(m.outer), m) for m in c.merges], c.merge_count)


def lhs(m: Merge, rename: Callable[[Expr], Expr] = lambda e: e) -> Expr:
    """floor((floor(x/a) + c)/b), unevaluated (construction would merge or split it); `rename` applies to x
    (name the size atoms before building: renaming after would rebuild, and so evaluate, the floors)."""
    inner = FloorDiv(rename(m.x), m.a, evaluate=False)
    return FloorDiv(Add(inner, m.c, evaluate=False) if m.c != 0 else inner, m.b, evaluate=False)


def rhs(m: Merge, rename: Callable[[Expr], Expr] = lambda e: e) -> Expr:
    """floor((x + a*c)/(a*b)), unevaluated."""
    return FloorDiv(rename(m.x) + m.a * m.c, m.a * m.b, evaluate=False)


def holds(m: Merge, values: dict[sympy.Symbol, int]) -> bool:
    """The merge's two sides agree at one binding of their symbols and size atoms (a and b positive there)."""
    x, a, c, b = (int(as_expr(e).xreplace({k: Integer(v) for k, v in values.items()})) for e in
                  (m.x, m.a, m.c, m.b))
    return ((x // a) + c) // b == (x + a * c) // (a * b)
