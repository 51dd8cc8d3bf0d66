"""Our expression grammar: round trips, sampled values, and refusals (nothing ever reaches eval)."""

from __future__ import annotations

import itertools

import pytest
import sympy

from symshape.errors import ExpressionError, LimitError
from symshape.expr import parse_expression
from symshape.symbols import make_symbol

SYMS = {}


def sym(name: str) -> sympy.Symbol:
    return SYMS.setdefault(name, make_symbol(name, 1))


def parse(text: str) -> sympy.Expr:
    return parse_expression(text, sym).expr


ROUND_TRIP = [  # text, SymPy str of the parsed expression
    ("I - F + 2*P", "-F + I + 2*P"),
    ("floor((I - F + 2*P)/S) + 1", "floor((-F + I + 2*P)/S) + 1"),
    ("ceil(I/S)", "floor((I - 1)/S) + 1"),  # ceil(x/s) = floor((x + s - 1)/s), the s/s taken out
    ("I // 2", "floor(I/2)"),
    ("max(F - S, 0)", "Max(0, F - S)"),
    ("min(3, 5)", "3"),
    ("2**3 * I", "8*I"),
    ("floor(a + b/c)", "a + floor(b/c)"),
    ("floor(I/2/2)", "floor(I/4)"),
    ("4/2", "2"),
    ("-(-I)", "I"),
    ("I % 2", "Mod(I, 2)"),
    ("S", "S"),  # our symbol, not SymPy's singleton registry
    ("E + N + Q + O", "E + N + O + Q"),  # and these are not constants or functions either
]


@pytest.mark.parametrize(("text", "expected"), ROUND_TRIP)
def test_round_trip(text: str, expected: str) -> None:
    assert str(parse(text)) == expected


def test_imaginary_unit_is_a_plain_symbol() -> None:
    i = parse("I")
    assert isinstance(i, sympy.Symbol) and i.is_integer and i.is_positive


SAMPLED = [  # text, a Python function on ints computing the same value
    ("floor((I - F + 2*P)/S) + 1", lambda I, F, P, S: (I - F + 2 * P) // S + 1),  # noqa: E741
    ("ceil((I + P)/S)", lambda I, P, S: -(-(I + P) // S)),  # noqa: E741
    ("floor(I/3 + P/2)", lambda I, P: (2 * I + 3 * P) // 6),  # noqa: E741
    ("max(I, P) - min(I, S) * 2", lambda I, P, S: max(I, P) - min(I, S) * 2),  # noqa: E741
    ("(I + 1) // (S + 1) % 3", lambda I, S: ((I + 1) // (S + 1)) % 3),  # noqa: E741
]


@pytest.mark.parametrize(("text", "fn"), SAMPLED)
def test_sampled_values(text: str, fn) -> None:
    e = parse(text)
    names = fn.__code__.co_varnames[: fn.__code__.co_argcount]
    for values in itertools.product(range(-7, 9), repeat=len(names)):
        if "S" in names and values[names.index("S")] <= 0:
            continue
        got = e.xreplace({sym(n): v for n, v in zip(names, values)})
        assert got == fn(*values), (text, values)


REFUSED = [  # text, message fragment
    ("I/2", "fraction"),
    ("__import__('os').system('x')", "unexpected character"),
    ("import os", "unexpected 'os'"),
    ("lambda: 0", "unexpected character ':'"),
    ("1.5", "decimals are not sizes"),
    ("I +", "ended too early"),
    ("max(I)", "at least two arguments"),
    ("floor(I, 2)", "takes one argument"),
    ("I/0", "division by 0"),
    ("I // -2", "divisors must be positive"),
    ("sqrt(I)", "unknown function 'sqrt'"),
    ("flor(I/2)", "did you mean 'floor'"),
    ("I ** I", "exponent must be an integer literal"),
    ("I ** 100", "exponent must be an integer literal"),
    ("a b", "unexpected 'b'"),
    ("", "empty expression"),
    ("floor", "is a function"),
    ("(I", "expected ')'"),
    ("max(I/2, 3)", "fraction"),
    ("I[0]", "unexpected character '['"),
]


@pytest.mark.parametrize(("text", "fragment"), REFUSED)
def test_refused(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionError, match=None) as info:
        parse(text)
    assert fragment in str(info.value)


def test_limits() -> None:
    with pytest.raises(LimitError):
        parse("(" * 100 + "I" + ")" * 100)
    with pytest.raises(LimitError):
        parse("I + " * 1000 + "I")
    with pytest.raises(LimitError):
        parse("9" * 100)


def test_symbolic_divisors_are_reported() -> None:
    parsed = parse_expression("floor(I/S) + ceil(I/(S*F)) + I // 4", sym)
    assert set(map(str, parsed.divisors)) == {"S", "F*S"}


def test_error_position() -> None:
    with pytest.raises(ExpressionError) as info:
        parse("I + $")
    assert info.value.position == 4
    assert "at column 5" in str(info.value)


SIZE_LIMITS = [  # text, fragment of the LimitError: each refused before SymPy does the work
    ("((((2**64)**64)**64)**64)", "bits"),
    ("(2**64)**64 * 2", "bits"),
    ("((((I**64)**64)**64)**64)", "degree 4096"),
    ("(I*J)**33", "degree 66"),
    ("(J+K+L+M)**64", "terms"),
    ("*".join(f"(a{i}+b{i}+c{i}+d{i})" for i in range(5)), "terms"),  # 4**5 terms once multiplied out
    ("floor(" + "+".join(f"1/a{i}" for i in range(100)) + ")", "degree"),
    ("*".join(["9" * 60] * 30), "bits"),
]


@pytest.mark.parametrize(("text", "fragment"), SIZE_LIMITS)
def test_size_limits(text: str, fragment: str) -> None:
    with pytest.raises(LimitError) as info:
        parse(text)
    assert fragment in str(info.value)


@pytest.mark.parametrize(("text", "degree", "terms"), [
    ("I**64", 64, 1),
    ("(H*W)**32", 64, 1),
    ("(J+K+L+M)**3", 3, 20),
    ("(a+b+c+d)**4", 4, 35),
    ("floor((H + 2*P - K)/S) + 1", 1, 2),
])
def test_within_the_limits(text: str, degree: int, terms: int) -> None:
    from symshape.expr import measure

    e = parse(text)
    got = measure(e)
    assert got[0] == degree and got[1] >= terms  # terms: an upper bound on the expanded size
    expanded = sympy.expand(e)
    assert len(sympy.Add.make_args(expanded)) <= got[1]
