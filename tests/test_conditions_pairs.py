"""Conditions reduced further: a linear condition implied by one or two others over the symbols' box, and a
divisibility condition divided by the gcd of its coefficients and modulus (sampled integer checks)."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
import sympy
from sympy import Integer, Mod, Symbol

from symshape.conditions import INF, implied_by_two, linear_form, reduced_divisibility
from symshape.derive import derive

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
A, B, C = (Symbol(n, integer=True) for n in "ABC")


def test_transformer_drops_e_at_least_1() -> None:
    shown = [str(rel) for _, rel in derive(EXAMPLES / "transformer_block_keras.yaml").constraints()]
    assert "E - Hh >= 0" in shown and "Hh >= 1" in shown
    assert "E >= 1" not in shown  # E >= Hh >= 1


def test_divisibility_divided_by_the_gcd_in_a_network() -> None:
    d = derive({"framework": "keras", "input": ["T", "N"], "symbols": {"T": {"min": 1}, "N": {"min": 1},
                                                                       "U": {"min": 1}},
                "layers": [{"Bidirectional": {"layer": {"LSTM": {"units": "U", "return_sequences": True}}}},
                           {"Reshape": {"target_shape": [-1, 4]}}]}, cache=False)
    shown = [str(rel) for _, rel in d.constraints()]
    assert "Eq(Mod(T*U, 2), 0)" in shown and not any("Mod(2*T*U, 4)" in s for s in shown)


# (conditions g >= 0 in A, B, C; box of A, B, C; indices dropped)
CASES = [
    (["A - 1", "A - B", "B - 1"], {A: (1, INF), B: (1, INF)}, {0}),  # A >= 1 from A >= B >= 1
    (["A - C", "A - B", "B - C"], {}, {0}),  # A - C >= 0 from A - B and B - C (a pair)
    (["A - 1", "A - B"], {B: (0, INF)}, set()),  # B >= 0 does not give A >= 1
    (["2*A - 3", "A - B", "B - 2"], {}, {0}),  # 2A >= 3 from A >= B >= 2 (lambda 2)
    (["A - 1", "B - 1"], {}, set()),  # independent bounds stay
    (["A + B - 2", "A - 1", "B - 1"], {}, {0}),  # the sum of two bounds
]


@pytest.mark.parametrize(("texts", "box", "dropped"), CASES)
def test_implied_by_two(texts: list[str], box: dict, dropped: set[int]) -> None:
    ns = {"A": A, "B": B, "C": C}
    forms = [linear_form(sympy.sympify(t, locals=ns)) for t in texts]
    full = {s: box.get(s, (-INF, INF)) for s in (A, B, C)}
    assert implied_by_two(forms, full, full) == dropped


def test_implied_by_two_is_sound_on_random_systems() -> None:
    """Every dropped condition holds at every integer point of a small box where the kept ones hold."""
    rng = random.Random(4)
    syms = (A, B, C)
    for _ in range(300):
        box = {s: (rng.randint(-3, 1), rng.randint(2, 5)) for s in syms}
        forms = []
        for _ in range(rng.randint(2, 5)):
            used = rng.sample(syms, rng.randint(1, 2))
            forms.append(({s: rng.choice([-2, -1, 1, 2]) for s in used}, rng.randint(-4, 4)))
        dropped = implied_by_two(forms, box, box)
        kept = [f for i, f in enumerate(forms) if i not in dropped]
        for point in itertools.product(*(range(box[s][0], box[s][1] + 1) for s in syms)):
            v = dict(zip(syms, point))

            def holds(f: tuple, v: dict = v) -> bool:
                return sum(a * v[s] for s, a in f[0].items()) + f[1] >= 0

            if all(holds(f) for f in kept):
                assert all(holds(forms[j]) for j in dropped), (forms, dropped, v)


def test_reduced_divisibility_is_equivalent_at_integers() -> None:
    rng = random.Random(7)
    for _ in range(200):
        g = rng.choice([2, 3, 4, 6])
        terms = [(g * rng.randint(-3, 3), rng.choice([A, A * B, B, B * C, Integer(1)])) for _ in range(3)]
        n = sympy.Add(*[c * t for c, t in terms])
        if n == 0:
            continue
        d = g * rng.randint(1, 5)
        rel = sympy.Eq(Mod(n, d, evaluate=False), 0, evaluate=False)
        red = reduced_divisibility(rel)
        for _ in range(20):
            v = {A: Integer(rng.randint(-20, 20)), B: Integer(rng.randint(-20, 20)), C: Integer(rng.randint(-20, 20))}
            assert (int(n.xreplace(v)) % d == 0) == (int(red.lhs.args[0].xreplace(v)) % int(red.lhs.args[1]) == 0)
    assert str(reduced_divisibility(sympy.Eq(Mod(2 * A * B, 4, evaluate=False), 0, evaluate=False))) == \
        "Eq(Mod(A*B, 2), 0)"
