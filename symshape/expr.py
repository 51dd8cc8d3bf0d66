"""Our own small expression grammar: spec text never reaches sympify, parse_expr or eval.

    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '//' | '%') unary)*
    unary   := ('-' | '+') unary | power
    power   := atom ('**' INT)?
    atom    := INT | NAME | FUNC '(' args ')' | '(' expr ')'
    FUNC    := floor | ceil | max | min
    '/' is exact rational division; a fraction must end inside floor(...) or ceil(...) (or divide
    evenly when all is literal), so every value the grammar returns is an integer.

Names are identifiers made into integer SymPy symbols directly (so 'I', 'S', 'E', 'N' are plain
symbols, not SymPy's imaginary unit or singletons). Every value is an integer: there are no
floats, no '/' outside floor/ceil, and exponents are small non-negative integer literals.
Divisors that are not literal integers are returned as conditions (each must be >= 1).

Every expression is bounded (:mod:`symshape.limits`): its length and nesting, its literals'
digits, each exponent, its constants' bits (checked before a power is computed), its total
degree and the number of terms it would expand to, so that nothing downstream (printing,
expansion, exact evaluation) can be made to work without bound by one short text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from sympy import Add, Expr, Integer, Mod, Mul, Pow, Symbol
from sympy import S as _S

from .algebra import FloorDiv, ceil_div, smax, smin
from .errors import ExpressionError, LimitError, did_you_mean
from .limits import LIMITS, current

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "Parsed", "check_size", "measure", "parse_expression"]

# the defaults, for reference (the limits in force are symshape.limits.current())
MAX_LENGTH = LIMITS.max_expression_length
MAX_DEPTH = LIMITS.max_expression_depth
MAX_DIGITS = LIMITS.max_digits
MAX_EXPONENT = LIMITS.max_exponent
FUNCTIONS = ("floor", "ceil", "max", "min")
ONE = _S.One

_TOKEN = re.compile(r"\s*(?:(?P<int>\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>\*\*|//|[-+*/%(),]))")


@dataclass(frozen=True)
class Parsed:
    expr: Expr
    divisors: tuple[Expr, ...]  # symbolic divisors, each must be >= 1


@dataclass(frozen=True)
class _Frac:
    """n / d while parsing; d is 1 for integers."""

    n: Expr
    d: Expr = ONE

    @property
    def whole(self) -> bool:
        return self.d == 1


def measure(e: Expr, cap: int | None = None) -> tuple[int, int, int]:
    """(total degree, terms once expanded, largest constant's bits) of an expression, conservatively.

    Degree and terms are upper bounds (a floor, max, min or mod counts as one term of the degree of
    its largest argument); terms are capped at `cap` (default: the expand limit) to stay cheap.
    """
    cap = cap if cap is not None else current().max_expand_terms
    memo: dict[Expr, tuple[int, int, int]] = {}
    stack: list[tuple[Expr, bool]] = [(e, False)]
    while stack:
        node, ready = stack.pop()
        if node in memo:
            continue
        args = node.args
        if not ready and args:
            stack.append((node, True))
            stack.extend((a, False) for a in args if a not in memo)
            continue
        if isinstance(node, Integer):
            memo[node] = (0, 1, abs(int(node.p)).bit_length())
            continue
        if isinstance(node, Symbol) or not args:
            memo[node] = (1 if isinstance(node, Symbol) else 0, 1, 0)
            continue
        parts = [memo[a] for a in args]
        bits = max(p[2] for p in parts)
        if isinstance(node, Add):
            memo[node] = (max(p[0] for p in parts), min(cap + 1, sum(p[1] for p in parts)), bits)
        elif isinstance(node, Mul):
            terms = 1
            for p in parts:
                terms = min(cap + 1, terms * p[1])
            memo[node] = (sum(p[0] for p in parts), terms, bits)
        elif isinstance(node, Pow) and isinstance(node.args[1], Integer) and node.args[1].p >= 0:
            (deg, terms, bits), k = parts[0], int(node.args[1].p)
            grown = 1 if terms == 1 else min(cap + 1, math.comb(terms + k - 1, k)) if k <= 4 * cap else cap + 1
            memo[node] = (deg * k, grown, bits * k if terms == 1 and deg == 0 else bits)
        else:  # floor, ceil, max, min, mod, relations: one term, as deep as their widest argument
            memo[node] = (max(p[0] for p in parts), 1, bits)
    return memo[e]


def check_size(e: Expr, what: str = "the expression") -> None:
    """Refuse (LimitError) an expression over the degree, term or constant-size limits."""
    lim = current()
    degree, terms, bits = measure(e, lim.max_terms)
    if bits > lim.max_bits:
        raise LimitError(f"{what} holds a number of more than {lim.max_bits} bits")
    if degree > lim.max_degree:
        raise LimitError(f"{what} has degree {degree}; the limit is {lim.max_degree}")
    if terms > lim.max_terms:
        raise LimitError(f"{what} expands to more than {lim.max_terms} terms")


class _Parser:
    def __init__(self, text: str, symbol: Callable[[str], Expr]) -> None:
        self.text = text
        self.symbol = symbol
        self.tokens: list[tuple[str, str, int]] = []
        self.divisors: list[Expr] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m:
                bad = text[pos:].lstrip()[0]
                hint = " (decimals are not sizes: use integers, floor(a/b) or ceil(a/b))" if bad == "." else ""
                raise self.error(f"unexpected character {bad!r}{hint}", len(text) - len(text[pos:].lstrip()))
            kind = m.lastgroup or "op"
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.i = 0
        self.depth = 0

    def error(self, message: str, position: int | None = None) -> ExpressionError:
        return ExpressionError(message, self.text, position)

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise self.error(f"expected {value!r} but the expression ended" if value else
                             "the expression ended too early", len(self.text))
        if value is not None and tok[1] != value:
            raise self.error(f"expected {value!r}, found {tok[1]!r}", tok[2])
        self.i += 1
        return tok

    def at(self, *values: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "op" and tok[1] in values

    def enter(self) -> None:
        self.depth += 1
        limit = current().max_expression_depth
        if self.depth > limit:
            raise LimitError(f"expression nested deeper than {limit} levels in {self.text[:80]!r}")

    def bounded(self, f: _Frac) -> _Frac:
        """f, once its numerator and denominator are within the size limits."""
        what = f"the expression {self.text[:80]!r}"
        check_size(f.n, what)
        if not f.whole:
            check_size(f.d, what)
        return f

    def parse(self) -> Parsed:
        if not self.tokens:
            raise self.error("empty expression")
        f = self.expr()
        tok = self.peek()
        if tok is not None:
            raise self.error(f"unexpected {tok[1]!r}", tok[2])
        return Parsed(self.integer(f, "the expression", 0), tuple(dict.fromkeys(self.divisors)))

    def integer(self, f: _Frac, what: str, pos: int) -> Expr:
        if f.whole:
            return f.n
        if isinstance(f.n, Integer) and isinstance(f.d, Integer) and f.n.p % f.d.p == 0:
            return Integer(f.n.p // f.d.p)
        raise self.error(f"{what} is a fraction: write floor(a/b), ceil(a/b) or a // b", pos)

    def positive(self, d: Expr, pos: int) -> None:
        if isinstance(d, Integer):
            if d.p <= 0:
                raise self.error(f"division by {d.p}: divisors must be positive", pos)
        else:
            self.divisors.append(d)

    def expr(self) -> _Frac:
        self.enter()
        f = self.term()
        while self.at("+", "-"):
            op = self.take()[1]
            g = self.term()
            sign = 1 if op == "+" else -1
            if f.d == g.d:
                f = _Frac(f.n + sign * g.n, f.d)
            else:
                f = self.bounded(_Frac(f.n * g.d + sign * g.n * f.d, f.d * g.d))
        self.depth -= 1
        return f

    def term(self) -> _Frac:
        f = self.unary()
        while self.at("*", "//", "%", "/"):
            op, pos = self.take()[1:]
            g = self.unary()
            if op == "*":
                f = _Frac(f.n * g.n, f.d * g.d)
            elif op == "/":
                self.positive(g.n, pos)
                f = _Frac(f.n * g.d, f.d * g.n)
            elif op == "//":
                self.positive(g.n, pos)
                f = _Frac(FloorDiv(f.n * g.d, f.d * g.n))
            else:
                a, b = self.integer(f, "the left of '%'", pos), self.integer(g, "the right of '%'", pos)
                self.positive(b, pos)
                f = _Frac(Mod(a, b))
            f = self.bounded(f)
        return f

    def unary(self) -> _Frac:
        if self.at("-", "+"):
            op = self.take()[1]
            self.enter()
            f = self.unary()
            self.depth -= 1
            return _Frac(-f.n, f.d) if op == "-" else f
        return self.power()

    def power(self) -> _Frac:
        f = self.atom()
        if self.at("**"):
            self.take()
            tok = self.take()
            limit = current().max_exponent
            if tok[0] != "int" or len(tok[1]) > 6 or int(tok[1]) > limit:
                raise self.error(f"an exponent must be an integer literal from 0 to {limit}", tok[2])
            k = int(tok[1])
            max_bits = current().max_bits
            for part in (f.n, f.d):  # a constant's power is computed: bound it first
                if isinstance(part, Integer) and abs(int(part.p)).bit_length() * k > max_bits + k:
                    raise LimitError(f"{self.text[:80]!r}: a power of more than {max_bits} bits")
            check_size(f.n**0 if k == 0 else Pow(f.n, k, evaluate=False), f"the expression {self.text[:80]!r}")
            f = self.bounded(_Frac(f.n**k, f.d**k))
        return f

    def atom(self) -> _Frac:
        kind, value, pos = self.take()
        if kind == "int":
            if len(value) > current().max_digits:
                raise LimitError(f"integer literal longer than {current().max_digits} digits in {self.text[:80]!r}")
            return _Frac(Integer(int(value)))
        if kind == "name":
            if self.at("("):
                return self.call(value, pos)
            if value in FUNCTIONS:
                raise self.error(f"'{value}' is a function: write {value}(...)", pos)
            return _Frac(self.symbol(value))
        if value == "(":
            self.enter()
            f = self.expr()
            self.take(")")
            self.depth -= 1
            return f
        raise self.error(f"unexpected {value!r}", pos)

    def call(self, name: str, pos: int) -> _Frac:
        if name not in FUNCTIONS:
            raise self.error(f"unknown function '{name}'{did_you_mean(name, FUNCTIONS)}; "
                             f"allowed: {', '.join(FUNCTIONS)}", pos)
        self.take("(")
        self.enter()
        args = [self.expr()]
        while self.at(","):
            self.take()
            args.append(self.expr())
        self.take(")")
        self.depth -= 1
        if name in ("floor", "ceil"):
            if len(args) != 1:
                raise self.error(f"{name}() takes one argument", pos)
            (f,) = args
            if f.whole:
                return f
            return self.bounded(_Frac(FloorDiv(f.n, f.d) if name == "floor" else ceil_div(f.n, f.d)))
        if len(args) < 2:
            raise self.error(f"{name}() takes at least two arguments", pos)
        ints = [self.integer(a, f"an argument of {name}()", pos) for a in args]
        return self.bounded(_Frac(smax(*ints) if name == "max" else smin(*ints)))


def parse_expression(text: str, symbol: Callable[[str], Expr]) -> Parsed:
    """Parse integer expression text; ``symbol(name)`` makes (or looks up) each symbol."""
    if not isinstance(text, str):
        raise ExpressionError(f"expected an expression string, got {type(text).__name__}")
    limit = current().max_expression_length
    if len(text) > limit:
        raise LimitError(f"expression longer than {limit} characters")
    parsed = _Parser(text, symbol).parse()
    check_size(parsed.expr, f"the expression {text[:80]!r}")
    return parsed
