"""The network's totals (Derivation.trainable, ..., activations) are summed by `_total`, which gives each
distinct term once, and a layer's activations are built by `_product` (a count times the sizes' shared product):
each must build the very expression SymPy builds (sympy.Add(*terms), prod(shape)), argument for argument."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import sympy
from sympy import Add, Integer, Mul, Rational, Symbol

import symshape
from symshape.derive import _product, _total
from symshape.layers.base import prod

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
import fuzzgen  # noqa: E402

x, y, z = (Symbol(n, integer=True) for n in "xyz")
f = sympy.floor((x - 1) / 2) + 1
CASES = [  # lists of terms, the edge cases of Add: numbers, the 2-term shortcut, repeats, signs, other terms
    [], [Integer(0)], [Integer(3), Integer(-3)], [Integer(2), Integer(5)], [x], [x, x], [3 * x, 3 * x],
    [Integer(5), 3 * x * y], [Integer(5), 3 * x * y, 3 * x * y], [x * y, x * y, Integer(1)], [x * y, 2 * x * y],
    [-3 * x * y, 3 * x * y], [-3 * x * y, -3 * x * y, 6 * x * y], [64 * x, 64 * x, 128 * x, 2 * y],
    [x**2, x**2, 4 * x**2], [x + y, x + y], [x + y, -x, -y, -y], [f * y, f * y, 7 * f * y], [Rational(1, 2) * x] * 4,
    [Mul(2, x + y, evaluate=False)] * 3, [sympy.Max(x, y)] * 3 + [Integer(1)] * 5, [z, x, y, x, z, 2 * x * y * z] * 3,
]


def _same(terms: list[sympy.Expr]) -> None:
    got, want = _total(terms), Add(*terms)
    assert type(got) is type(want) and got == want and got.args == want.args and str(got) == str(want), \
        (terms, got, want)


@pytest.mark.parametrize("terms", CASES)
def test_total_is_add(terms: list[sympy.Expr]) -> None:
    _same(list(terms))


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "examples").glob("*.yaml")))
def test_totals_of_examples_are_add(name: str) -> None:
    d = symshape.derive(ROOT / "examples" / name, cache=False)
    for count in ("trainable", "non_trainable", "buffers", "macs", "activations"):
        _same([getattr(ly, count) for ly in d.layers])


def test_totals_of_fuzzed_specs_are_add() -> None:
    checked = 0
    for d in fuzzgen.derivations(1000, 150):
        for count in ("trainable", "non_trainable", "buffers", "macs", "activations"):
            _same([getattr(ly, count) for ly in d.layers])
        checked += 1
    assert checked > 20


SHAPES = [(), (x,), (Integer(64),), (Integer(64), x), (Integer(64), x, y), (Integer(64), x, x), (Integer(1), x, y),
          (Integer(0), x, y), (Integer(-2), x, y), (Integer(64), Integer(7), Integer(7)), (Integer(64), x, Integer(1)),
          (Integer(8), Integer(2) ** x, y), (Integer(8), 2 * x, y), (x, y, z), (Integer(3), f, f + 1, z),
          (Integer(4), x + y, z)]


@pytest.mark.parametrize("shape", SHAPES)
def test_product_is_prod(shape: tuple) -> None:
    got, want = _product(shape), prod(shape)
    assert type(got) is type(want) and got == want and got.args == want.args and str(got) == str(want)


def _activations_are_sympy_s(d: symshape.Derivation) -> None:
    for ly in d.layers:
        want = Add(*[prod(shape) for shape in ly.outputs])
        want = want if ly.batch is None else ly.batch * want
        got = ly.activations
        assert type(got) is type(want) and got == want and got.args == want.args, (ly.describe(), got, want)


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "examples").glob("*.yaml")))
def test_layer_activations_of_examples_are_sympy_s(name: str) -> None:
    _activations_are_sympy_s(symshape.derive(ROOT / "examples" / name, cache=False))


def test_layer_activations_of_fuzzed_specs_are_sympy_s() -> None:
    for d in fuzzgen.derivations(1000, 150):
        _activations_are_sympy_s(d)
