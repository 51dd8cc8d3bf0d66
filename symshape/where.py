"""Row filters for `symshape sweep --where`: our own small grammar, never eval.

    cond    := conj ('or' conj)*
    conj    := neg ('and' neg)*
    neg     := 'not' neg | '(' cond ')' | compare
    compare := expr OP expr          OP is one of <, <=, >, >=, ==, !=
    expr    := an integer expression of symshape's grammar (symshape.expr): + - * // % ** ( ) ...

A '(' opens a group of conditions when a comparison or a keyword appears inside its parentheses,
otherwise it belongs to the expression ("(params + 1) // 2 <= 9"). The condition compiles into one
straight-line program over numpy columns (symshape.program).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ExpressionError, LimitError, did_you_mean

__all__ = ["Filter", "parse_where"]

MAX_LENGTH = 4000
MAX_DEPTH = 64
KEYWORDS = ("and", "or", "not")
COMPARISONS = ("<=", ">=", "==", "!=", "<", ">")

_TOKEN = re.compile(r"\s*(?:(?P<cmp><=|>=|==|!=|<|>)|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<paren>[()])"
                    r"|(?P<bad>[=!])|(?P<text>[^\sA-Za-z_()<>=!]+))")


@dataclass(frozen=True)
class Filter:
    """A compiled condition: run ``program.run_numpy(columns, [register], n)[register]``."""

    program: Any  # symshape.program.Program
    register: int

    @property
    def names(self) -> tuple[str, ...]:
        return self.program.symbols

    def mask(self, columns: dict[str, Any], length: int) -> tuple[Any, Any]:
        """(the condition per row, the rows where int64 overflowed: decide those with `holds`)."""
        import numpy as np

        overflow = np.zeros(length, dtype=bool)
        got = self.program.run_numpy({k: columns[k] for k in self.program.symbols}, [self.register], length,
                                     overflow=overflow)
        return np.asarray(got[self.register], dtype=bool) & ~overflow, overflow

    def holds(self, values: dict[str, int]) -> bool:
        """The condition on exact integers (a value undefined by a division by zero: False)."""
        return bool(self.program.run_int({k: values[k] for k in self.program.symbols})[self.register])


class _Parser:
    def __init__(self, text: str, symbol: Callable[[str], Any], builder: Any) -> None:
        self.text = text
        self.symbol = symbol
        self.b = builder
        self.tokens: list[tuple[str, str, int, int]] = []  # kind, value, start, end
        pos = 0
        while pos < len(text) and text[pos:].strip():
            m = _TOKEN.match(text, pos)
            if m is None:  # pragma: no cover - every character matches some group
                raise self.error("unexpected character", pos)
            kind = m.lastgroup or "text"
            value, start, end = m.group(kind), m.start(kind), m.end(kind)
            if kind == "bad":
                raise self.error(f"unexpected {value!r} (comparisons are {', '.join(COMPARISONS)})", start)
            if kind == "word" and value in KEYWORDS:
                kind = "kw"
            elif kind == "word":
                kind = "text"
            self.tokens.append((kind, value, start, end))
            pos = m.end()
        self.i = 0
        self.depth = 0

    def error(self, message: str, position: int | None = None) -> ExpressionError:
        return ExpressionError(message, self.text, position)

    def peek(self) -> tuple[str, str, int, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def at(self, kind: str, value: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == kind and tok[1] == value

    def parse(self) -> int:
        if not self.tokens:
            raise self.error("empty condition")
        reg = self.disjunction()
        tok = self.peek()
        if tok is not None:
            raise self.error(f"unexpected {tok[1]!r}", tok[2])
        return reg

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise LimitError(f"condition nested deeper than {MAX_DEPTH} levels")

    def disjunction(self) -> int:
        self.enter()
        regs = [self.conjunction()]
        while self.at("kw", "or"):
            self.i += 1
            regs.append(self.conjunction())
        self.depth -= 1
        return regs[0] if len(regs) == 1 else self.b.op("or", tuple(regs))

    def conjunction(self) -> int:
        regs = [self.negation()]
        while self.at("kw", "and"):
            self.i += 1
            regs.append(self.negation())
        return regs[0] if len(regs) == 1 else self.b.op("and", tuple(regs))

    def negation(self) -> int:
        tok = self.peek()
        if tok is None:
            raise self.error("the condition ended too early", len(self.text))
        if tok[0] == "kw" and tok[1] == "not":
            self.i += 1
            self.enter()
            reg = self.negation()
            self.depth -= 1
            return self.b.op("not", (reg,))
        if tok[0] == "kw":
            raise self.error(f"unexpected {tok[1]!r}", tok[2])
        if tok[0] == "paren" and tok[1] == "(" and self.group_follows():
            self.i += 1
            reg = self.disjunction()
            if not self.at("paren", ")"):
                found = self.peek()
                raise self.error("expected ')'" + (f", found {found[1]!r}" if found else " but the condition ended"),
                                 found[2] if found else len(self.text))
            self.i += 1
            return reg
        return self.comparison()

    def group_follows(self) -> bool:
        """Whether the '(' at the cursor opens a group of conditions (not a sub-expression)."""
        depth = 0
        for kind, value, _, _ in self.tokens[self.i:]:
            if kind == "paren":
                depth += 1 if value == "(" else -1
                if depth == 0:
                    return False
            elif kind in ("cmp", "kw"):
                return True
        return False

    def comparison(self) -> int:
        import sympy

        from .expr import parse_expression

        start = self.i
        depth = 0
        op: tuple[str, str, int, int] | None = None
        while self.i < len(self.tokens):
            kind, value, pos, _ = self.tokens[self.i]
            if kind == "paren":
                if value == ")" and depth == 0:
                    break
                depth += 1 if value == "(" else -1
            elif kind == "kw":
                if value == "not" or depth:
                    raise self.error(f"unexpected {value!r}", pos)
                break
            elif kind == "cmp":
                if op is not None:
                    raise self.error("one comparison per condition: join them with 'and'", pos)
                op = self.tokens[self.i]
            self.i += 1
        end = self.tokens[self.i - 1][3] if self.i > start else self.tokens[start][2]
        first = self.tokens[start][2]
        if op is None:
            raise self.error(f"{self.text[first:end].strip()!r} has no comparison ({', '.join(COMPARISONS)})",
                             first)
        sides = []
        for lo, hi in ((first, op[2]), (op[3], end)):
            piece = self.text[lo:hi]
            if not piece.strip():
                raise self.error(f"nothing on one side of {op[1]!r}", op[2])
            try:
                sides.append(parse_expression(piece, self.symbol).expr)
            except ExpressionError as err:  # the same error, placed in the whole condition
                message = err.message
                where = f" in {err.text!r}"
                if err.text and where in message:
                    message = message[: message.index(where)]
                raise self.error(message, lo + (err.position or 0)) from None
        return self.b.add(sympy.Rel(sides[0], sides[1], op[1], evaluate=False))


def parse_where(conditions: Sequence[str], names: Sequence[str]) -> Filter:
    """Compile conditions (all must hold) over the given column names into a `Filter`.

    Raises `ExpressionError` for a condition our grammar does not accept (an unknown name included),
    `LimitError` for one too long or too deeply nested.
    """
    from .program import ProgramBuilder
    from .symbols import make_symbol

    syms: dict[str, Any] = {}

    def symbol(name: str) -> Any:
        if name not in names:
            raise ExpressionError(f"unknown name '{name}'{did_you_mean(name, names)}; known: {', '.join(names)}")
        return syms.setdefault(name, make_symbol(name, None))

    b = ProgramBuilder()
    regs = []
    for text in conditions:
        if len(text) > MAX_LENGTH:
            raise LimitError(f"condition longer than {MAX_LENGTH} characters")
        regs.append(_Parser(text, symbol, b).parse())
    reg = b.op("and", tuple(regs)) if len(regs) > 1 else regs[0]
    return Filter(b.build(), reg)
