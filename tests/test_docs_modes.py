"""The derivation document's general formula is the reference's formula for the mode each layer uses, and the
same formula with the layer's arguments put in is the layer's size (sampled at integers, so the shown text
cannot disagree with the derivation)."""

from __future__ import annotations

import random

import pytest
import sympy

from symshape.derive import derive
from symshape.docs import document
from symshape.docs.formulas import mode, substituted_tex, substitutions
from symshape.printing import to_latex

# (framework, input, layer, the mode's title, the general formula of the first spatial output axis, in the
#  reference's symbols, as a Python function of H_in, k, s, p, d, p_out)
CASES = [
    ("keras", ["H", "W", 3], {"Conv2D": {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}},
     "padding='same'", lambda H, k, s, p, d, po: -(-H // s)),
    ("keras", ["H", "W", 3], {"Conv2D": {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "valid"}},
     "", lambda H, k, s, p, d, po: (H - d * (k - 1) - 1) // s + 1),
    ("keras", ["H", "W", 3], {"Conv2D": {"filters": 4, "kernel_size": 5, "strides": 2, "padding": "P"}},
     "padding=p", lambda H, k, s, p, d, po: (H + 2 * p - d * (k - 1) - 1) // s + 1),
    ("torch", [3, "H", "W"], {"Conv2d": {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1}},
     "", lambda H, k, s, p, d, po: (H + 2 * p - d * (k - 1) - 1) // s + 1),
    ("torch", [3, "H", "W"], {"Conv2d": {"out_channels": 4, "kernel_size": 3, "padding": "same"}},
     "padding='same'", lambda H, k, s, p, d, po: H),
    ("torch", [3, "H", "W"], {"Conv2d": {"out_channels": 4, "kernel_size": 3, "dilation": 2, "padding": 1}},
     "", lambda H, k, s, p, d, po: (H + 2 * p - d * (k - 1) - 1) // s + 1),
    ("torch", [3, "H", "W"], {"MaxPool2d": {"kernel_size": 3, "stride": 2, "ceil_mode": True}},
     "ceil_mode=True", None),  # torch's own rule, checked below against the rounding-up form
    ("torch", [3, "H", "W"], {"MaxPool2d": {"kernel_size": 3, "stride": 2, "ceil_mode": False}},
     "", lambda H, k, s, p, d, po: (H + 2 * p - d * (k - 1) - 1) // s + 1),
    ("torch", [3, "H", "W"], {"ConvTranspose2d": {"out_channels": 4, "kernel_size": 3, "stride": 2,
                                                  "output_padding": 1, "padding": 1}},
     "", lambda H, k, s, p, d, po: (H - 1) * s - 2 * p + d * (k - 1) + po + 1),
    ("torch", [3, "H", "W"], {"AvgPool2d": {"kernel_size": 2, "stride": 2}},
     "", lambda H, k, s, p, d, po: (H + 2 * p - k) // s + 1),
]


def _ceil_mode(H: int, k: int, s: int, p: int, d: int, po: int) -> int:
    """torch's ceil_mode: round up, then one fewer when the last window starts past the input and left padding."""
    e = d * (k - 1) + 1
    out = -(-(H + 2 * p - e) // s) + 1
    return out - 1 if (out - 1) * s >= H + p else out


def _spec(fw: str, shape: list, layer: dict) -> dict:
    symbols = {"H": {"min": 1}, "W": {"min": 1}}
    if any(v == "P" for args in layer.values() for v in args.values()):
        symbols["P"] = {"min": 0}
    return {"framework": fw, "input": shape, "symbols": symbols, "layers": [layer]}


@pytest.mark.parametrize(("fw", "shape", "layer", "title", "formula"), CASES,
                         ids=[f"{c[0]}-{next(iter(c[2]))}-{c[3] or 'default'}-{k}" for k, c in enumerate(CASES)])
def test_general_formula_is_the_mode_and_substitution_is_the_size(fw, shape, layer, title, formula) -> None:
    d = derive(_spec(fw, shape, layer), cache=False)
    ly = d.layers[0]
    m = mode(ly.rule, ly.args)
    assert m is not None and m.title == title
    formula = formula or _ceil_mode
    # the general formula of the mode, sampled over its own symbols (k, s, p, d...), against the mode's definition
    spatial = next(j for j, e in enumerate(m.outputs[0]) if any(s.name == "H_in" for s in
                                                                 getattr(e, "free_symbols", ())))
    general = m.outputs[0][spatial]
    rng = random.Random(9)
    checked = 0
    for _ in range(400):
        v = {"H_in": rng.randint(1, 60), "k": rng.randint(1, 6), "s": rng.randint(1, 4), "d": rng.randint(1, 3),
             "p_out": 0}
        v["p"] = rng.randint(0, (v["k"] - 1) // 2) if "Pool" in ly.kind else rng.randint(0, 3)
        if "Transpose" in ly.kind:
            v["p_out"] = rng.randint(0, max(v["s"], v["d"]) - 1)
        if fw == "keras" and v["s"] > 1:
            v["d"] = 1
        got = general.xreplace({s: sympy.Integer(v[s.name]) for s in general.free_symbols if s.name in v})
        if not got.is_Integer:
            continue
        want = formula(v["H_in"], v["k"], v["s"], v["p"], v["d"], v["p_out"])
        if want < 1:
            continue
        assert int(got) == want, (v, general)
        checked += 1
    assert checked > 50
    # the layer's arguments put into that formula: the layer's size at sampled inputs
    put = substitutions(m, ly.args, tuple(ly.input_shapes))
    sizes = [(j, a) for j, a in enumerate(ly.outputs[0]) if (0, j) in put]
    assert len(sizes) == 2 or general.is_Atom, "both spatial sizes substituted (torch 'same' keeps them)"
    for _ in range(40):
        b = {"H": rng.randint(8, 90), "W": rng.randint(8, 90), **({"P": rng.randint(0, 3)} if "P" in d.symbols else {})}
        ev = d.evaluate(b)
        if not ev.valid:
            continue
        for j, _a in sizes:
            e = put[(0, j)].expr().xreplace({d.symbols[n].symbol: sympy.Integer(x) for n, x in b.items()})
            assert e == ev.layers[0].output_shape[j], (b, put[(0, j)].general, put[(0, j)].values)
    # the document shows both: the mode's formula and this layer's substitution
    text = str(document(d, format="markdown")).replace("\\_", "_")
    which = f"General formula ({fw} {ly.rule.name}" + (f", {title}" if title else "") + ")"
    assert which in text
    for j, a in sizes:
        shown = substituted_tex(put[(0, j)], to_latex)
        if shown != to_latex(d.defs.get(a, a)):
            assert shown in text


def test_substitution_keeps_a_non_square_kernel_per_axis() -> None:
    d = derive(_spec("torch", [3, "H", "W"], {"Conv2d": {"out_channels": 4, "kernel_size": [3, 5]}}), cache=False)
    ly = d.layers[0]
    put = substitutions(mode(ly.rule, ly.args), ly.args, tuple(ly.input_shapes))
    ks = {j: s.values[next(x for x in s.values if x.name == "k")] for (_, j), s in put.items()}
    assert ks == {1: 3, 2: 5}


BIDI = {"framework": "keras", "input": ["T", "N"],
        "symbols": {"T": {"min": 1}, "N": {"min": 1}, "U": {"min": 1, "description": "hidden units"}},
        "layers": [{"Bidirectional": {"layer": {"LSTM": {"units": "U", "return_sequences": True}}}},
                   {"Bidirectional": {"layer": {"GRU": {"units": 4}}, "merge_mode": "sum"}}]}


def test_bidirectional_formula_mode_split_and_fills() -> None:
    d = derive(BIDI, cache=False)
    first, second = d.layers
    m1, m2 = mode(first.rule, first.args), mode(second.rule, second.args)
    assert m1.title == "layer=LSTM(return_sequences=True)" and m2.title == "layer=GRU, merge_mode='sum'"
    u = next(s for s in m1.outputs[0][1].free_symbols if s.name == "U")
    assert m1.outputs[0][1] == 2 * u  # concat: both directions' units, every time step
    assert len(m1.outputs[0]) == 2 and len(m2.outputs[0]) == 1 and m2.outputs[0][0].name == "U"  # sum: U
    put = substitutions(m1, first.args, tuple(first.input_shapes), {n: s.symbol for n, s in d.symbols.items()})
    for b in ({"T": 3, "N": 5, "U": 7}, {"T": 1, "N": 2, "U": 1}):
        ev = d.evaluate(b)
        got = put[(0, 1)].expr().xreplace({d.symbols[n].symbol: sympy.Integer(v) for n, v in b.items()})
        assert got == ev.layers[0].output_shape[1]
    text = str(document(BIDI, format="markdown")).replace("\\_", "_")
    assert "| $U$ | hidden units | $U \\geq 1$ | — | bidirectional.layer.LSTM.units (units of the wrapped LSTM) |" \
        in text
    assert "General formula (keras Bidirectional, layer=LSTM(return_sequences=True))" in text
    assert "- Parameters: weights $8 U \\left(N + U\\right)$, bias $8 U$" in text
    assert "bias 48," in text  # the GRU's two bias vectors per direction (reset_after), 2·2·3·4
