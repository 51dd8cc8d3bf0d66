"""Our linear-time printer: its text, read back exactly, has the expression's value at every integer tried.

The text is evaluated by a small exact evaluator (Python's own parser for the syntax tree, which runs
nothing; Fraction arithmetic for the values; floor of an exact quotient), never through floats or
int(): a floor printed one off, a lost parenthesis or a wrong sign shows at some integer. Symbols run
over a window of integers, negatives, zero and non-multiples included: every integer of the window
for expressions in one symbol, random points of it for the others.
"""

from __future__ import annotations

import ast
import math
import operator
import random
from fractions import Fraction
from pathlib import Path

import pytest
import sympy
from sympy.logic.boolalg import BooleanFalse, BooleanTrue

import symshape
from symshape.algebra import FloorDiv
from symshape.printing import to_latex, to_text

SPECS = ["classic_symbolic.yaml", "unet.yaml", "automl_space.yaml", "transformer_block_keras.yaml",
         "lstm_classifier.yaml"]
WINDOW = range(-13, 41)  # negatives, 0, primes, non-multiples of 2, 4, 8
RANDOM_POINTS = 200

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.GtE: operator.ge, ast.Gt: operator.gt,
            ast.LtE: operator.le, ast.Lt: operator.lt}
_CALLS = {"floor": lambda x: Fraction(math.floor(x)), "ceil": lambda x: Fraction(math.ceil(x)),
          "Max": max, "Min": min, "max": max, "min": min, "Mod": operator.mod, "Eq": operator.eq,
          "Ne": operator.ne}


def exact(node: ast.AST, values: dict[str, int]) -> Fraction | bool:
    """The exact value of printed text's syntax tree: rationals and booleans only, no floats anywhere."""
    if isinstance(node, ast.Expression):
        return exact(node.body, values)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return Fraction(node.value)
    if isinstance(node, ast.Name) and node.id in values:
        return Fraction(values[node.id])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = exact(node.operand, values)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](exact(node.left, values), exact(node.right, values))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        exponent = exact(node.right, values)
        assert exponent.denominator == 1 and exponent >= 0, ast.unparse(node)
        return exact(node.left, values) ** int(exponent)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr)):  # printed And / Or
        a, b = exact(node.left, values), exact(node.right, values)
        assert isinstance(a, bool) and isinstance(b, bool), ast.unparse(node)
        return (a and b) if isinstance(node.op, ast.BitAnd) else (a or b)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        return _COMPARE[type(node.ops[0])](exact(node.left, values), exact(node.comparators[0], values))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CALLS:
        return _CALLS[node.func.id](*(exact(a, values) for a in node.args))
    raise AssertionError(f"unexpected syntax in printed text: {ast.unparse(node)}")


def read_back(text: str, values: dict[str, int]) -> Fraction | bool:
    return exact(ast.parse(text, mode="eval"), values)  # text our printer made; ast.parse runs nothing


def expected(e: sympy.Basic, sub: dict) -> int | bool | None:
    """SymPy's exact value, None where it is undefined (a zero divisor)."""
    try:
        v = e.xreplace(sub)
    except ZeroDivisionError:
        return None
    if isinstance(v, (bool, BooleanTrue, BooleanFalse)):
        return bool(v)
    return int(v) if isinstance(v, sympy.Integer) else None


def bindings(names: list[str], r: random.Random) -> list[dict[str, int]]:
    if len(names) == 1:
        return [{names[0]: v} for v in WINDOW]
    return [{n: r.choice(WINDOW) for n in names} for _ in range(RANDOM_POINTS)]


def expressions(d: symshape.Derivation) -> list[sympy.Basic]:
    exprs = [*d.closed_form, d.collapse(d.params), d.collapse(d.macs)]
    exprs += [d.collapse(s) for ly in d.layers for s in ly.output_shape]
    exprs += [rel for _, rel in d.constraints()]
    return list(dict.fromkeys(e for e in exprs if e.free_symbols))


@pytest.mark.parametrize("name", SPECS)
def test_text_reads_back_exactly_over_an_integer_window(name: str) -> None:
    r = random.Random(name)
    d = symshape.derive(Path("examples") / name)
    checked = 0
    for e in expressions(d):
        text = to_text(e)
        names = sorted(s.name for s in e.free_symbols)
        for values in bindings(names, r):
            want = expected(e, {s: sympy.Integer(values[s.name]) for s in e.free_symbols})
            if want is None:
                continue
            try:
                got = read_back(text, values)
            except ZeroDivisionError:  # a divisor symbol at 0, outside its domain (SymPy may still fold 0*x)
                continue
            assert got == want, f"{name}: {text!r} at {values} reads back as {got}, the expression is {want}"
            checked += 1
    print(f"{name}: {checked} values read back")  # shown with -rP
    assert checked >= 500, checked


def test_the_reader_is_exact() -> None:
    # the reader itself: exact floors of negative quotients, % as floor modulo, no float rounding
    assert read_back("floor((I - 7)/4)", {"I": -2}) == -3
    assert read_back("floor((2**60 + 1)/3)", {}) == (2**60 + 1) // 3
    assert read_back("I % 8 == 0", {"I": -16}) is True
    assert read_back("Mod(I, 8)", {"I": -3}) == 5
    assert read_back("-2*I + 3 >= 0", {"I": 2}) is False
    with pytest.raises(AssertionError):
        read_back("1.5*I", {"I": 2})


def test_forms() -> None:
    i, f, p, s = sympy.symbols("I F P S", integer=True, positive=True)
    e = FloorDiv(i - f + 2 * p, s) + 1
    assert to_text(e) == "floor((I - F + 2*P)/S) + 1"
    assert to_latex(e) == r"\left\lfloor \frac{I - F + 2 P}{S} \right\rfloor + 1"
    assert to_text(-2 * i + 3) == "-2*I + 3"
    assert to_text(sympy.Ge(i - f, 0, evaluate=False)) == "I - F >= 0"
    assert to_text(sympy.Max(i, f, evaluate=False)) in ("Max(I, F)", "Max(F, I)")
    assert to_text(s * (i + 1) ** 2) == "S*(I + 1)**2"
