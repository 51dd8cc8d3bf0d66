"""Printing symshape's expressions as SymPy `str` text and as LaTeX, in linear time.

symshape's expressions use a dozen node types (integers, symbols, +, *, integer powers, FloorDiv,
Max, Min, Mod, relations, and/or). SymPy's printers handle everything, at a price: the default
term order computes sort keys of every subtree at every level, and even with order='none' a 300-layer
all-symbolic derivation takes a minute to print. This printer covers the dozen types, memoizes shared
subtrees, orders terms canonically (SymPy's internal order, numbers last), and falls back to SymPy's
printers for anything else. Its `str` output of an expression is valid SymPy input (`floor(a/b)` for
FloorDiv, `a % b` for Mod); relations read as Python comparisons (`E % Hh == 0`, `H - F >= 0`), and
``x == k*floor(x/k)`` prints as the divisibility it says, ``x % k == 0``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache

import sympy
from sympy import Add, Expr, Integer, Mod, Mul, Pow, Symbol
from sympy.core.relational import Relational
from sympy.logic.boolalg import And, BooleanFalse, BooleanTrue, Or

from .algebra import FloorDiv, as_expr
from .conditions import divisibility
from .errors import LimitError
from .limits import current

__all__ = ["printer", "symbol_tex", "tex_names", "to_latex", "to_text"]

P_ADD, P_MOD, P_MUL, P_POW, P_ATOM = 40, 45, 50, 60, 1000
_SYMBOL_TEX: dict[str, str] = {}  # a symbol's name -> its LaTeX (x_{1}, F_{0}...)
_REL_TEX = {">=": r"\geq", ">": ">", "<=": r"\leq", "<": "<", "==": "=", "!=": r"\neq"}


# LaTeX tokens: a text-like command with its argument (kept as is), any other command, a word subscript, a word
_TEX_TOKEN = re.compile(r"\\(?:text[a-z]*|math[a-z]*|operatorname|begin|end|label|ref|hbox|mbox)\{[^{}]*\}"
                        r"|\\[A-Za-z]+|\\.|_\{([A-Za-z]{2,}[0-9]*)\}|([A-Za-z]{2,})")


def _tex_word(m: re.Match[str]) -> str:
    if m.group(1):
        return rf"_{{\mathrm{{{m.group(1)}}}}}"
    if m.group(2):
        return rf"\mathit{{{m.group(2)}}}"
    return m.group(0)


@lru_cache(maxsize=1 << 16)
def tex_names(latex: str) -> str:
    """LaTeX with every name of more than one letter written as one name: `Min` as \\mathit{Min} (not the
    product M·i·n), a word subscript upright (C_{in} as C_{\\mathrm{in}}). Commands and the arguments of
    \\text, \\mathrm, \\operatorname... are left alone, so applying it twice changes nothing."""
    return _TEX_TOKEN.sub(_tex_word, latex)


def symbol_tex(name: str) -> str:
    """A symbol's LaTeX: SymPy's (subscripts, Greek letters) with multi-letter names as one name."""
    hit = _SYMBOL_TEX.get(name)  # SymPy's latex() of a name costs ~0.3 ms: once per name
    if hit is None:
        if len(_SYMBOL_TEX) > 100_000:
            _SYMBOL_TEX.clear()
        hit = _SYMBOL_TEX[name] = tex_names(sympy.latex(sympy.Symbol(name)))
    return hit


def _prec(e: Expr) -> int:
    if isinstance(e, Add):
        return P_ADD
    if isinstance(e, Mul):
        return P_ADD if e.as_coeff_Mul()[0].is_negative else P_MUL
    if isinstance(e, Pow):
        return P_POW
    if isinstance(e, Integer) and e.p < 0:
        return P_ADD
    if isinstance(e, Mod):
        return P_MOD
    return P_ATOM


def _terms(e: Expr) -> list[Expr]:
    args = list(e.args)
    return [a for a in args if not a.is_Number] + [a for a in args if a.is_Number]


class _Printer:
    def __init__(self, tex: bool, names: Mapping[Expr, Symbol] | None = None) -> None:
        self.tex = tex
        self.memo: dict[Expr, str] = {}
        self.names = names or {}  # symbols printed as other names (size atoms as x_1, x_2, ...)

    def paren(self, e: Expr, level: int) -> str:
        s = self(e)
        if _prec(e) < level:
            return rf"\left({s}\right)" if self.tex else f"({s})"
        return s

    def product(self, coeff: Expr, rest: Expr) -> str:
        """coeff * rest, coeff a positive number (1 is not written)."""
        if rest == 1:
            return self(coeff)
        factors = list(rest.args) if isinstance(rest, Mul) else [rest]
        parts = [self.paren(f, P_MUL) for f in factors]
        if coeff != 1:
            parts.insert(0, self(coeff))
        return (" " if self.tex else "*").join(parts)

    def __call__(self, e: Expr) -> str:
        hit = self.memo.get(e)
        if hit is None:
            hit = self.memo[e] = self.node(e)
        return hit

    def node(self, e: Expr) -> str:  # noqa: C901 - one branch per node type
        tex = self.tex
        if isinstance(e, (bool, BooleanTrue, BooleanFalse)):
            return (r"\text{True}" if e else r"\text{False}") if tex else str(bool(e))
        if isinstance(e, Integer):
            limit = current().max_bits + 64  # sums of bounded constants stay printable
            if e.p.bit_length() > limit:  # (Python's str() of ints stops at 4,300 digits)
                raise LimitError(f"the closed form holds a constant of more than {limit:,} bits "
                                 "(symshape.limits max_bits)")
            return str(e.p)
        if isinstance(e, Symbol):
            e = self.names.get(e, e)
            if not tex:
                return e.name
            return symbol_tex(e.name)
        if isinstance(e, Add):
            out = []
            for i, t in enumerate(_terms(e)):
                coeff, rest = t.as_coeff_Mul()
                if coeff.is_negative:
                    out.append(("-" if i == 0 else " - ") + self.product(-coeff, rest))
                else:
                    out.append(("" if i == 0 else " + ") + self(t))
            return "".join(out)
        if isinstance(e, Mul):
            coeff, rest = e.as_coeff_Mul()
            if coeff.is_negative:
                return "-" + self.product(-coeff, rest)
            return self.product(coeff, rest)
        if isinstance(e, Pow):
            base, exp = e.args
            if isinstance(exp, Integer) and exp.p >= 0:
                b = self.paren(base, P_POW + 1)
                return f"{b}^{{{exp.p}}}" if tex else f"{b}**{exp.p}"
        if isinstance(e, FloorDiv):
            n, d = e.args
            if tex:
                return rf"\left\lfloor \frac{{{self(n)}}}{{{self(d)}}} \right\rfloor"
            return f"floor({self.paren(n, P_MUL)}/{self.paren(d, P_MUL + 1)})"
        if isinstance(e, (sympy.Max, sympy.Min)):
            name = ("max" if isinstance(e, sympy.Max) else "min")
            args = ", ".join(self(a) for a in e.args)
            return rf"\{name}\left({args}\right)" if tex else f"{name.capitalize()}({args})"
        if isinstance(e, Mod):
            a, b = e.args
            if tex:
                return rf"{self.paren(a, P_MUL)} \bmod {self.paren(b, P_MUL + 1)}"
            return f"{self.paren(a, P_MUL)} % {self.paren(b, P_MUL + 1)}"
        if isinstance(e, Relational):
            op = e.rel_op
            mod = divisibility(e) if op == "==" else None
            e = e if mod is None else mod
            if tex:
                return f"{self(e.lhs)} {_REL_TEX[op]} {self(e.rhs)}"
            return f"{self(e.lhs)} {op} {self(e.rhs)}"
        if isinstance(e, (And, Or)):
            joiner = (r" \wedge " if isinstance(e, And) else r" \vee ") if tex else \
                (" & " if isinstance(e, And) else " | ")
            return joiner.join(f"({self(a)})" for a in e.args)
        return sympy.latex(e) if tex else sympy.sstr(e)


def _printer(tex: bool) -> Callable[[Expr], str]:
    return _Printer(tex)


def printer(tex: bool = False, names: Mapping[Expr, Symbol] | None = None) -> Callable[[Expr], str]:
    """One printer for many expressions: subexpressions they share are printed once (a whole derivation's
    reply: every layer's sizes and counts). Call it from a deep thread (`symshape.deep.run_deep`)."""
    return _Printer(tex, names)


def to_text(e: object, names: Mapping[Expr, Symbol] | None = None) -> str:
    """SymPy `str`-syntax text of an expression (valid SymPy input); `names` renames symbols as printed."""
    return _Printer(False, names)(as_expr(e))


def to_latex(e: object, names: Mapping[Expr, Symbol] | None = None) -> str:
    """LaTeX of an expression, floors as \\left\\lfloor \\frac{..}{..} \\right\\rfloor."""
    return _Printer(True, names)(as_expr(e))
