"""Our linear-time printer: its text is valid SymPy input with the same value (sampled)."""

from __future__ import annotations

import random
from pathlib import Path

import sympy
from sympy.parsing.sympy_parser import parse_expr  # tests only: trusted text we generated ourselves

import symshape
from symshape.algebra import FloorDiv
from symshape.printing import to_latex, to_text

SPECS = ["classic_symbolic.yaml", "unet.yaml", "automl_space.yaml", "transformer_block_keras.yaml",
         "lstm_classifier.yaml"]


def _evaluate(text: str, values: dict[str, int]) -> int:
    local = {name: sympy.Integer(v) for name, v in values.items()}
    local.update({"floor": sympy.floor, "Max": sympy.Max, "Min": sympy.Min, "Mod": sympy.Mod})
    return int(parse_expr(text, local_dict=local))


def test_text_round_trips_through_sympy() -> None:
    r = random.Random(11)
    for name in SPECS:
        d = symshape.derive(Path(__file__).parent.parent / "examples" / name)
        exprs = [*d.closed_form, d.collapse(d.params), d.collapse(d.macs)]
        exprs += [d.collapse(s) for ly in d.layers for s in ly.output_shape]
        for e in exprs:
            text = to_text(e)
            for _ in range(5):
                values = {s: r.randint(8, 64) * 8 for s in d.symbols}
                values.update({"Hh": 4, "E": 64} if "Hh" in d.symbols else {})
                sub = {d.symbols[k].symbol: v for k, v in values.items()}
                assert _evaluate(text, values) == int(e.xreplace(sub)), (name, text)


def test_forms() -> None:
    i, f, p, s = sympy.symbols("I F P S", integer=True, positive=True)
    e = FloorDiv(i - f + 2 * p, s) + 1
    assert to_text(e) == "floor((I - F + 2*P)/S) + 1"
    assert to_latex(e) == r"\left\lfloor \frac{I - F + 2 P}{S} \right\rfloor + 1"
    assert to_text(-2 * i + 3) == "-2*I + 3"
    assert to_text(sympy.Ge(i - f, 0, evaluate=False)) == "I - F >= 0"
    assert to_text(sympy.Eq(i, 8 * FloorDiv(i, 8), evaluate=False)) == "I % 8 == 0"  # divisibility, as it reads
    assert to_text(sympy.Eq(sympy.Mod(i, s, evaluate=False), 0, evaluate=False)) == "I % S == 0"
    assert to_text(sympy.Eq(FloorDiv(i, 4), 2 * FloorDiv(i, 8), evaluate=False)) == "floor(I/4) == 2*floor(I/8)"
    assert to_text(2 * sympy.Mod(i + 1, 2 * s, evaluate=False)) == "2*((I + 1) % (2*S))"
    assert to_text(sympy.Max(i, f, evaluate=False)) in ("Max(I, F)", "Max(F, I)")
    assert to_text(s * (i + 1) ** 2) == "S*(I + 1)**2"
