"""Plain data views of derivations and rules: dicts of strings (SymPy `str` form) and LaTeX.

Two views of every size:
- a layer's ``output_shape``: its closed form in the network's inputs and hyperparameters;
- a layer's ``recurrence``: its rule applied to placeholder inputs (``Hin``, ``Win``, ``Cin``...),
  the formula written once in :mod:`symshape.layers.formulas`.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import sympy
from sympy import Expr

from .algebra import normalize_relation
from .deep import run_deep
from .layers.base import Ctx, LayerOut, LayerRule, Shape
from .printing import to_latex, to_text
from .symbols import make_symbol

if TYPE_CHECKING:
    from .derive import Derivation, LayerResult

__all__ = ["derivation_dict", "latex", "placeholders", "recurrence", "rule_formulas", "text"]


def text(e: object) -> str:
    """SymPy `str`-syntax text (valid SymPy input), printed in linear time."""
    return run_deep(to_text, e)


def latex(e: object) -> str:
    return run_deep(to_latex, e)


def placeholders(rule: LayerRule, shapes: Sequence[Shape], framework: str) -> list[Shape]:
    """Placeholder symbols standing for a layer's input sizes: Cin, Hin, Win... or x0, x1..."""
    out = []
    for j, shape in enumerate(shapes):
        suffix = "in" if len(shapes) == 1 else f"in{j}"
        names = _axis_letters(rule, len(shape), framework)
        out.append(tuple(make_symbol(f"{n}{suffix}", 1) for n in names))
    return out


def _axis_letters(rule: LayerRule, n: int, framework: str) -> list[str]:
    r = rule.rank
    if r and n == r + 1:
        spatial = {1: ["L"], 2: ["H", "W"], 3: ["D", "H", "W"]}[r]
        return [*spatial, "C"] if framework == "keras" else ["C", *spatial]
    if rule.doc_input and len(rule.doc_input) == n:
        return list(rule.doc_input)
    if n == 1:
        return ["N"]
    if n == 2:
        return ["M", "N"]
    return [f"x{i}" for i in range(n)]


def recurrence(layer: LayerResult, framework: str) -> LayerOut:
    """The layer's rule applied to placeholder inputs: its output in terms of its own inputs."""
    inputs = placeholders(layer.rule, layer.input_shapes, framework)
    ctx = Ctx(framework, lambda raw: sympy.Integer(0), layer.name, layer.kind)
    return layer.rule.apply(layer.args, inputs, ctx)


def rule_formulas(rule: LayerRule, args: SimpleNamespace, shapes: Sequence[Shape]) -> dict[str, Any]:
    ctx = Ctx(rule.framework, lambda raw: sympy.Integer(0), "", rule.name)
    inputs = placeholders(rule, shapes, rule.framework)
    out = rule.apply(args, inputs, ctx)
    return {
        "inputs": [[text(s) for s in shape] for shape in inputs],
        "outputs": [[text(s) for s in shape] for shape in out.outputs],
        "outputs_latex": [[latex(s) for s in shape] for shape in out.outputs],
        "trainable": text(out.trainable), "non_trainable": text(out.non_trainable),
        "buffers": text(out.buffers), "macs": text(out.macs),
        "conditions": list(dict.fromkeys(text(_normal(c)) for c in out.conditions if not _trivial(c))),
    }


def _normal(c: object) -> sympy.Basic:
    rel = c.relation()  # type: ignore[attr-defined]
    return normalize_relation(rel) if isinstance(rel, sympy.core.relational.Relational) else rel


def _trivial(c: object) -> bool:
    from .derive import _fold

    return _fold(c) is True  # type: ignore[arg-type]


def _params(d: Derivation, trainable: Expr, non_trainable: Expr) -> dict[str, str]:
    t, n = d.normal_form(trainable), d.normal_form(non_trainable)
    return {"trainable": text(t), "non_trainable": text(n), "total": text(d.normal_form(trainable + non_trainable))}


def derivation_dict(d: Derivation) -> dict[str, Any]:
    """The derivation as plain data. `never_valid` comes first; when it is non-empty no value of the
    symbols is valid, so there are no results: every size and count is None (the keys stay)."""
    never = list(d.never_valid_reasons())
    if never:
        return _never_valid_dict(d, never)
    layers = []
    for ly in d.layers:
        rec = recurrence(ly, d.framework)
        layers.append({
            "index": ly.index, "name": ly.name, "kind": ly.kind, "inputs": list(ly.inputs),
            "output_shape": [text(d.collapse(s)) for s in ly.output_shape],
            "output_shapes": [[text(d.collapse(s)) for s in shape] for shape in ly.outputs],
            "recurrence": [text(s) for s in rec.outputs[0]],
            "params": _params(d, ly.trainable, ly.non_trainable),
            "buffers": text(d.collapse(ly.buffers)),
            "macs": text(d.collapse(ly.macs)),
            "activations": text(d.collapse(ly.activations)),
        })
    return {
        "never_valid": never,  # non-empty: no value of the symbols is valid (and no results below)
        **_spec_facts(d),
        "output_shape": [text(s) for s in d.output_shape],
        "output_shapes": {ref: [text(d.expand(s)) for s in shape] for ref, shape in d.outputs},
        "closed_form": [text(s) for s in d.closed_form],
        "closed_form_latex": [latex(s) for s in d.closed_form],
        "params": _params(d, d.trainable, d.non_trainable),
        "buffers": text(d.collapse(d.buffers)),
        "macs": text(d.collapse(d.macs)),
        "activations": text(d.collapse(d.activations)),
        "layers": layers,
        "constraints": _constraints(d),
        "warnings": list(d.warnings),
    }


NO_PARAMS = {"trainable": None, "non_trainable": None, "total": None}


def _never_valid_dict(d: Derivation, never: list[str]) -> dict[str, Any]:
    """A never-valid derivation: the reasons first, the spec's facts, and no sizes or counts (None)."""
    layers = [{
        "index": ly.index, "name": ly.name, "kind": ly.kind, "inputs": list(ly.inputs),
        "output_shape": None, "output_shapes": None,
        "recurrence": [text(s) for s in recurrence(ly, d.framework).outputs[0]],  # the rule, in its own inputs
        "params": dict(NO_PARAMS), "buffers": None, "macs": None, "activations": None,
    } for ly in d.layers]
    return {
        "never_valid": never,
        **_spec_facts(d),
        "output_shape": None,
        "output_shapes": {ref: None for ref, _ in d.outputs},
        "closed_form": None,
        "closed_form_latex": None,
        "params": dict(NO_PARAMS), "buffers": None, "macs": None, "activations": None,
        "layers": layers,
        "constraints": _constraints(d),
        "warnings": list(d.warnings),
    }


def _spec_facts(d: Derivation) -> dict[str, Any]:
    return {
        "key": d.key,
        "framework": d.framework,
        "symbols": {n: {"min": s.min, "max": s.max} for n, s in d.symbols.items()},
        "inputs": {n: [text(s) for s in shape] for n, shape in d.inputs.items()},
    }


def _constraints(d: Derivation) -> list[dict[str, Any]]:
    out = []
    for nc, rel in d.constraints():
        ly = nc.layer
        out.append({
            "layer": None if ly is None else ly.index, "name": None if ly is None else ly.name,
            "origin": nc.origin, "label": nc.condition.label, "relation": text(rel), "latex": latex(rel),
            "note": nc.condition.note,
        })
    return out
