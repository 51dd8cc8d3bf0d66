"""Conditions a person can read: the displayed list is short, tight and in plain notation, and
says exactly what the full list says (checked by evaluation on samples)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import sympy

import symshape
from symshape.algebra import FloorDiv
from symshape.conditions import (
    LINEAR_MAX_COUNT,
    Bounds,
    decide,
    divisibility,
    implied_by_linear,
    linear_form,
    one_symbol,
    zero_when_expanded,
)
from symshape.printing import to_text

EXAMPLES = Path(__file__).parent.parent / "examples"


def shown(d: symshape.Derivation) -> list[str]:
    return [to_text(rel) for _, rel in d.constraints()]


# example -> relations that must be shown, relations that must not
SHOWN_CASES = [
    ("alexnet.yaml", ["H >= 63", "W >= 63"], ["H - 7 >= 0", "H >= 1", "H - 63 >= 0"]),
    ("vgg16.yaml", ["H >= 32", "W >= 32"], ["H >= 1", "H >= 2", "H >= 16"]),
    ("unet.yaml", ["H % 8 == 0", "W % 8 == 0", "H >= 8"],  # (the skips at 1/4 and 1/2 follow from H % 8 == 0)
     ["Eq(H, 8*floor(H/8))", "2*floor(H/8) >= 1", "8*floor(H/8) >= 1", "floor(H/4) == 2*floor(H/8)"]),
    ("transformer_block.yaml", ["E % Hh == 0", "E >= 1", "Hh >= 1"], ["4*E >= 1", "Eq(Mod(E, Hh), 0)"]),
    ("lstm_classifier.yaml", ["V >= 2"], ["V >= 1"]),
    ("automl_space.yaml", ["I >= 32", "I <= 512", "D1 >= 8"], ["I >= 1", "D1 >= 1", "I - F1 >= 0"]),
    # layer 0's output height I - F + 2*P >= 0 follows from layer 1's (I - F - S + 2*P >= 0, S >= 1)
    ("classic_symbolic.yaml", ["P >= 0", "I - F - S + 2*P >= 0"], ["P >= 1", "I - F + 2*P >= 0"]),
]


@pytest.mark.parametrize(("name", "present", "absent"), SHOWN_CASES)
def test_shown_conditions(name: str, present: list[str], absent: list[str]) -> None:
    d = symshape.derive(EXAMPLES / name)
    rels = shown(d)
    for r in present:
        assert r in rels, (r, rels)
    for r in absent:
        assert r not in rels, (r, rels)
    assert len(rels) == len(set(rels)), rels
    assert not any(r.startswith(("Eq(", "Ne(")) or "Mod(" in r for r in rels), rels


@pytest.mark.parametrize("name", ["unet.yaml", "automl_space.yaml", "alexnet.yaml", "transformer_block.yaml",
                                  "classic_symbolic.yaml", "transformer_block_keras.yaml"])
def test_shown_list_says_what_all_conditions_say(name: str) -> None:
    """The short list and the full list accept exactly the same values (sampled, with edges)."""
    d = symshape.derive(EXAMPLES / name)
    rels = [rel for _, rel in d.constraints()]
    names = list(d.free_symbols)
    r = random.Random(5)
    n_valid = 0
    for _ in range(400):
        values = {}
        for n in names:
            info = d.symbols[n]
            lo = info.min if info.min is not None else -4
            hi = info.max if info.max is not None else 300
            values[n] = r.choice([lo, lo + 1, hi, r.randint(lo, min(hi, lo + 80)), r.randint(lo, hi)])
            if r.random() < 0.6 and values[n] >= 8 + lo:  # multiples of 8 (the U-Net's skips need them)
                values[n] -= values[n] % 8
        if "Hh" in values and r.random() < 0.5:
            values["E"] = values["Hh"] * r.randint(1, 8)
        sub = {d.symbols[k].symbol: v for k, v in values.items()}
        short = all(bool(rel.xreplace(sub).doit()) if not isinstance(rel, bool) else rel for rel in rels)
        full = d.evaluate(values).valid
        assert short == full, (values, [str(x) for x in rels])
        n_valid += full
    assert n_valid >= 20, "the sample must hold valid values"


def test_no_implied_domain_condition() -> None:
    d = symshape.derive({"framework": "torch", "input": ["L", "E"],
                         "layers": [{"Linear": {"out_features": "4*E"}}]}, cache=False)
    assert shown(d) == ["L >= 1", "E >= 1"]
    assert not d.evaluate(L=2, E=0).valid  # evaluation still checks everything


DIVISIBILITY_CASES = [  # a chain of pools and matching upsamplings with skips: shown, and what is implied
    ([{"MaxPool2d": {"kernel_size": 2}, "name": "p1"}, {"MaxPool2d": {"kernel_size": 2}, "name": "p2"},
      {"Upsample": {"scale_factor": 2}, "name": "u2"}, {"cat": {"dim": 1}, "inputs": ["u2", "p1"]},
      {"Upsample": {"scale_factor": 2}, "name": "u1"}, {"cat": {"dim": 1}, "inputs": ["u1", "x"]}],
     ["H % 4 == 0"], ["floor(H/2) == 2*floor(H/4)"]),
    # a divisibility on one axis does not make another axis' condition disappear
    ([{"MaxPool2d": {"kernel_size": 2}, "name": "p1"}, {"Upsample": {"scale_factor": 2}, "name": "u1"},
      {"cat": {"dim": 1}, "inputs": ["u1", "x"]}], ["H % 2 == 0", "W % 2 == 0"], []),
]


@pytest.mark.parametrize(("layers", "present", "absent"), DIVISIBILITY_CASES)
def test_divisibility_implies(layers: list, present: list[str], absent: list[str]) -> None:
    spec = {"framework": "torch", "inputs": {"x": [3, "H", "W"]}, "layers": layers}
    d = symshape.derive(spec, cache=False)
    rels = shown(d)
    for r in present:
        assert r in rels, rels
    for r in absent:
        assert r not in rels, rels
    for h in range(1, 40):  # the short list says what evaluation says
        values = {"H": h, "W": 12}
        sub = {d.symbols[k].symbol: v for k, v in values.items()}
        assert all(bool(rel.xreplace(sub)) for _, rel in d.constraints()) == d.evaluate(values).valid, h


def test_one_symbol_equality_is_shown_plainly() -> None:
    d = symshape.derive({"framework": "torch", "input": ["C", 8, 8],
                         "layers": [{"Conv2d": {"in_channels": 16, "out_channels": 4, "kernel_size": 3}}]},
                        cache=False)
    assert shown(d) == ["C >= 1", "C == 16"]
    assert d.evaluate(C=16).valid and not d.evaluate(C=15).valid


def test_equal_after_expansion_is_dropped() -> None:
    h, w = sympy.symbols("H W", integer=True, positive=True)
    assert zero_when_expanded((5 * h - 10) * (w - 2) - 5 * (h - 2) * (w - 2))
    assert not zero_when_expanded((5 * h - 10) * (w - 2) - 5 * (h - 2) * (w - 3))
    assert not zero_when_expanded((h + w) ** 64 - (h + w) ** 64 + 1)  # too big to expand: not claimed


def test_divisibility_forms() -> None:
    h, k = sympy.symbols("H K", integer=True, positive=True)
    assert str(divisibility(sympy.Eq(h, 8 * FloorDiv(h, 8), evaluate=False))) == "Eq(Mod(H, 8), 0)"
    assert str(divisibility(sympy.Eq(8 * FloorDiv(h, 8), h, evaluate=False))) == "Eq(Mod(H, 8), 0)"
    assert str(divisibility(sympy.Eq(h + 1, k * FloorDiv(h + 1, k), evaluate=False))) == "Eq(Mod(H + 1, K), 0)"
    assert divisibility(sympy.Eq(h, 4 * FloorDiv(h, 8), evaluate=False)) is None
    assert divisibility(sympy.Eq(FloorDiv(h, 4), 2 * FloorDiv(h, 8), evaluate=False)) is None


BOUND_CASES = [  # expression, box -> bounds
    ("H - 7", {"H": (1, 50)}, (-6, 43)),
    ("floor((H - 7)/4) + 1", {"H": (7, 100)}, (1, 24)),
    ("floor((H - 7)/4)", {"H": (1, 100)}, (-2, 23)),
    ("floor(H/S)", {"H": (1, 100), "S": (1, float("inf"))}, (0, 100)),
    ("H*W - 3", {"H": (1, 4), "W": (-2, 5)}, (-11, 17)),
    ("(H - 2)**2", {"H": (0, 5)}, (0, 9)),
    ("Max(H, W)", {"H": (1, 4), "W": (2, 3)}, (2, 4)),
    ("Mod(H, 8)", {"H": (0, 100)}, (0, 7)),
    ("Mod(H, 8)", {"H": (0, 5)}, (0, 5)),
    ("floor(H/S)", {"H": (1, 100), "S": (0, 4)}, (float("-inf"), float("inf"))),  # divisor may be 0: no claim
]


@pytest.mark.parametrize(("text", "box", "expected"), BOUND_CASES)
def test_bounds(text: str, box: dict, expected: tuple) -> None:
    syms = {n: sympy.Symbol(n, integer=True) for n in box}
    e = sympy.sympify(text, locals={**syms, "floor": lambda x: FloorDiv(*sympy.fraction(sympy.together(x)))})
    got = Bounds({syms[n]: b for n, b in box.items()})(e)
    assert got == expected
    # sound: every value in the box is within the bounds (sampled)
    r = random.Random(1)
    for _ in range(200):
        values = {syms[n]: r.randint(int(lo), int(min(hi, 10**6))) for n, (lo, hi) in box.items()}
        if any(values[syms[n]] == 0 for n in ("S",) if n in box):
            continue
        v = int(e.xreplace(values))
        assert got[0] <= v <= got[1]


def test_decide_and_one_symbol() -> None:
    h = sympy.Symbol("H", integer=True)
    assert decide((0, 5), ">=") is True and decide((-3, -1), ">=") is False and decide((-1, 2), ">=") is None
    assert decide((0, 0), "==") is True and decide((1, 4), "==") is False
    assert one_symbol(h - 63).lo == 63
    assert one_symbol(4 * h - 1).lo == 1
    assert one_symbol(-h + 50).hi == 50
    assert one_symbol(-2 * h + 7).hi == 3
    assert one_symbol(h * h - 1) is None


INF = float("inf")
LINEAR_BOX = {"I": (1, INF), "J": (1, INF), "F": (1, INF), "S": (1, INF), "P": (0, INF), "X": (2, 2), "U": (-INF, INF)}
IMPLIED_CASES = [  # linear inequalities (each `text >= 0`) -> indices dropped (implied by one that stays)
    (["I - F + 2*P", "I - F - S + 2*P"], {0}),  # classic_symbolic: S >= 1, the tighter (layer 1) stays
    (["I - F - S + 2*P", "I - F + 2*P"], {1}),  # (whatever the order)
    (["I - F", "J - F"], set()),  # neither implies the other: both stay
    (["I - F + 2*P", "I - F - U + 2*P"], set()),  # U unbounded: not proven, both stay
    (["I - F - S", "I - F + P"], {1}),  # S >= 1, P >= 0
    (["I - F", "I - F - X + 2"], {1}),  # equal over the box (X = 2): the first stays
    (["I - F - X + 2", "I - F", "2 + I - F - X"], {1, 2}),  # three equal ones: one stays
    (["I - F + 2", "I - F + 1", "I - F"], {0, 1}),  # a chain: only the tightest, the last, stays
    (["I - F + 1", None, "I - F"], {0}),  # not linear (None): neither used nor dropped
    (["2*I - F", "I - F"], {0}),  # I - F >= 0 gives 2*I - F >= 0 (I >= 1), not the reverse (I = 1, F = 2)
]


@pytest.mark.parametrize(("texts", "dropped"), IMPLIED_CASES)
def test_implied_by_linear(texts: list[str | None], dropped: set[int]) -> None:
    syms = {n: sympy.Symbol(n, integer=True) for n in LINEAR_BOX}
    box = {syms[n]: b for n, b in LINEAR_BOX.items()}
    forms = [None if t is None else linear_form(sympy.sympify(t, locals=syms)) for t in texts]
    assert implied_by_linear(forms, box) == dropped
    # sound: wherever the kept ones hold (sampled in the box), the dropped ones hold too
    kept = [t for i, t in enumerate(texts) if t is not None and i not in dropped]
    r = random.Random(3)
    for _ in range(300):
        values = {s: r.randint(int(max(lo, -20)), int(min(hi, 20))) for s, (lo, hi) in box.items()}
        if all(sympy.sympify(t, locals=syms).xreplace(values) >= 0 for t in kept):
            for i in dropped:
                assert sympy.sympify(texts[i], locals=syms).xreplace(values) >= 0, (texts[i], values)


def test_linear_forms_and_the_limit() -> None:
    i, f = sympy.symbols("I F", integer=True)
    assert linear_form(2 * i - 3 * f + 5) == ({i: 2, f: -3}, 5)
    assert linear_form(i * f - 1) is None and linear_form(FloorDiv(i, 2) - f) is None
    assert linear_form(sum(sympy.symbols("x0:41", integer=True))) is None  # too many symbols: not compared
    box = {i: (1, INF), f: (1, INF)}
    many = [({i: 1, f: -1}, -k) for k in range(LINEAR_MAX_COUNT + 1)]
    assert implied_by_linear(many, box) == set()  # over the limit: nothing compared, nothing dropped
    assert implied_by_linear(many[:20], box) == set(range(19))


def test_neither_implies_keeps_both() -> None:
    d = symshape.derive({"framework": "keras", "input": ["H", "W", 3],
                         "layers": [{"Conv2D": {"filters": 4, "kernel_size": "K", "padding": "valid"}}]}, cache=False)
    rels = shown(d)
    assert "H - K + 1 >= 1" in rels and "W - K + 1 >= 1" in rels, rels


def test_params_print_in_one_normal_form() -> None:
    d = symshape.derive(EXAMPLES / "lstm_classifier.yaml").to_dict()
    assert d["params"]["total"] == d["params"]["trainable"]


CHAINS = [  # small symbolic chains: the shown list must accept exactly what evaluation accepts, on a grid
    [{"Conv2d": {"out_channels": 4, "kernel_size": "K", "stride": "S", "padding": "P"}},
     {"MaxPool2d": {"kernel_size": 2}}, {"Conv2d": {"out_channels": 4, "kernel_size": 3}}],
    [{"Conv2d": {"out_channels": 4, "kernel_size": 3, "padding": "P"}}, {"MaxPool2d": {"kernel_size": "K"}},
     {"ConvTranspose2d": {"out_channels": 4, "kernel_size": 2, "stride": "S"}}],
    [{"MaxPool2d": {"kernel_size": "K", "stride": "S", "padding": "P", "ceil_mode": True}},
     {"Conv2d": {"out_channels": 4, "kernel_size": "K"}}],
]


@pytest.mark.parametrize("layers", CHAINS)
def test_shown_list_equals_evaluation_on_a_grid(layers: list) -> None:
    import itertools

    d = symshape.derive({"framework": "torch", "input": [3, "H", 9], "layers": layers}, cache=False)
    rels = [rel for _, rel in d.constraints()]
    syms = {n: d.symbols[n].symbol for n in d.free_symbols}
    grid = {"H": range(1, 30), "K": range(1, 5), "S": range(1, 4), "P": range(0, 3)}
    names = list(syms)
    n_valid = 0
    for values in itertools.product(*(grid[n] for n in names)):
        binding = dict(zip(names, values, strict=True))
        sub = {syms[n]: v for n, v in binding.items()}
        full = d.evaluate(binding).valid
        short = all(bool(rel.xreplace(sub)) for rel in rels)
        assert short == full, (binding, [to_text(r) for r in rels])
        n_valid += full
    assert n_valid > 0
