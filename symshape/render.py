"""Plain data views of derivations and rules: dicts of strings (SymPy `str` form) and LaTeX.

Two views of every size:
- a layer's ``output_shape``: its closed form in the network's inputs and hyperparameters;
- a layer's ``recurrence``: its rule applied to placeholder inputs (``Hin``, ``Win``, ``Cin``...),
  the formula written once in :mod:`symshape.layers.formulas`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sympy
from sympy import Expr

from .deep import run_deep
from .layers.base import Ctx, LayerOut, LayerRule, Shape
from .layout import batch_layout, with_batch
from .named import TOO_LARGE
from .printing import printer, to_latex, to_text
from .symbols import make_symbol

if TYPE_CHECKING:
    from .derive import Derivation, LayerResult

__all__ = ["batched", "derivation_dict", "evaluated_batched", "latex", "placeholders", "recurrence", "rule_formulas",
           "text"]


def batched(d: Derivation, shape: Sequence[Any], axis: int = 0) -> tuple[Any, ...]:
    """A shape as the views show it: when the spec names its batch (`batch: B`), the batch at `axis`, where
    the framework puts it (`symshape.layout.batch_layout(d)` says, per tensor; first for most layers), else
    as it is. (The derivation's own shapes exclude the batch: out0 is the first axis besides it.)"""
    return evaluated_batched(d.batch, shape, axis)


def evaluated_batched(batch: Any, shape: Sequence[Any], axis: int = 0) -> tuple[Any, ...]:
    """A shape as the views show it, `batch` (a symbol, or its value; None: the spec names none) at `axis`."""
    return tuple(shape) if batch is None else with_batch(shape, batch, axis)


def text(e: object, names: Mapping[Expr, sympy.Symbol] | None = None) -> str:
    """SymPy `str`-syntax text (valid SymPy input), printed in linear time; `names` renames symbols
    (size atoms as x_1, x_2, ...: `Derivation.size_names`)."""
    return run_deep(to_text, e, names)


def latex(e: object, names: Mapping[Expr, sympy.Symbol] | None = None) -> str:
    return run_deep(to_latex, e, names)


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


def _parse_raw(raw: object) -> Expr:
    """A raw argument a rule parses while it applies (keras Bidirectional's wrapped layer)."""
    from .expr import parse_expression

    if isinstance(raw, int) and not isinstance(raw, bool):
        return sympy.Integer(raw)
    return parse_expression(str(raw), lambda name: make_symbol(name, 1)).expr


def recurrence(layer: LayerResult, framework: str) -> LayerOut:
    """The layer's rule applied to placeholder inputs: its output in terms of its own inputs."""
    inputs = placeholders(layer.rule, layer.input_shapes, framework)
    ctx = Ctx(framework, _parse_raw, layer.name, layer.kind)
    return layer.rule.apply(layer.args, inputs, ctx)


_RECURRENCES: dict[tuple, list[str]] = {}


def recurrence_text(layer: LayerResult, framework: str) -> list[str]:
    """`recurrence`'s first output as text, memoized by what it depends on (the rule, its arguments and
    the input ranks): ResNet-50's 175 layers have a few dozen distinct ones."""
    args = vars(layer.args)
    values = tuple(args.values())
    key: tuple = (framework, layer.rule.framework, layer.rule.name, tuple(map(len, layer.input_shapes)),
                  tuple(args), tuple(map(type, values)), values)  # (True == 1: types too)
    try:
        hit = _RECURRENCES.get(key)  # (SymPy objects cache their hashes: cheap)
    except TypeError:  # a list among the arguments: by its text
        key = (*key[:4], repr(tuple(zip(key[4], key[5], values, strict=True))))
        hit = _RECURRENCES.get(key)
    if hit is None:
        hit = [text(s) for s in recurrence(layer, framework).outputs[0]]
        if len(_RECURRENCES) >= 4096:
            _RECURRENCES.clear()
        _RECURRENCES[key] = hit
    return list(hit)


def rule_formulas(rule: LayerRule) -> dict[str, Any]:
    """A rule's documented formulas as text and LaTeX, read from the layer reference's facts (the rule
    applied to its documented instance: arguments as symbols k, s, p, d, g..., inputs C_in, H_in...)."""
    from .docs.reference_facts import equations, facts, meaning, page_symbols

    f = facts(rule)
    return {
        "inputs": [[text(s) for s in shape] for shape in f.inputs],
        "outputs": [[text(s) for s in shape] for shape in f.outputs],
        "outputs_latex": [[latex(s) for s in shape] for shape in f.outputs],
        "equations": [{"symbol": n, "text": text(e), "latex": latex(e)} for n, e in equations(f.outputs,
                                                                                            f.output_names)],
        "trainable": text(f.trainable), "non_trainable": text(f.non_trainable),
        "buffers": text(f.buffers), "macs": text(f.macs),
        "weights": None if f.weights is None else text(f.weights), "bias": None if f.bias is None else text(f.bias),
        "conditions": [text(c.relation) for c in f.conditions],
        "condition_details": [{"relation": text(c.relation), "latex": latex(c.relation), "label": c.label,
                               "note": c.note, "framework_error": c.error} for c in f.conditions],
        "symbols": [{"symbol": n, "meaning": meaning(f, n), "role": f.roles.get(n, "output axis"),
                     "min": f.domains.get(n, (None, None))[0], "max": f.domains.get(n, (None, None))[1]}
                    for n in page_symbols(f) if n in f.domains or n.endswith("_out")],
        "modes": [{"argument": v.argument, "value": v.value if not isinstance(v.value, sympy.Symbol) else
                   str(v.value), "outputs": [[text(s) for s in shape] for shape in v.outputs],
                   "refused": v.refused} for v in f.variants],
        "documented_arguments": f.args,
    }


def _params(d: Derivation, trainable: Expr, non_trainable: Expr, closed_forms: bool = False,
            pt: Callable[[Expr], str] | None = None) -> dict[str, str]:
    names = d.size_names
    pt = pt or printer(False, names.names)
    total = trainable + non_trainable
    if not (names.closed(total) or (closed_forms and names.closable(total))):
        return {"trainable": pt(trainable), "non_trainable": pt(non_trainable), "total": pt(trainable + non_trainable)}
    t, n = d.normal_form(trainable), d.normal_form(non_trainable)
    return {"trainable": pt(t), "non_trainable": pt(n), "total": pt(d.normal_form(trainable + non_trainable))}


def sizes_list(d: Derivation) -> list[dict[str, Any]]:
    """The named sizes of a deep network (x_1, x_2, ... each defined on the names before it); empty when
    every view shows closed forms (see `symshape.named`)."""
    return [{"name": s.name.name, "layer": s.layer, "output": s.output, "axis": s.axis,
             "definition": text(d.size_names.named(s.definition))} for s in d.size_names.definitions()]


def derivation_dict(d: Derivation, closed_forms: bool = False) -> dict[str, Any]:
    """The derivation as plain data. `never_valid` comes first; when it is non-empty no value of the
    symbols is valid, so there are no results: every size and count is None (the keys stay).

    Linear in depth: a layer's sizes and counts are in closed form where few symbols feed them, else in
    the named sizes of ``sizes`` (`symshape.named`); `closed_forms` puts every layer in closed form, except a
    layer whose closed form is too large (fed by more than MAX_CLOSED_FORM_SYMBOLS symbols: its entry says so in
    ``closed_form``, and stays in the named sizes)."""
    never = list(d.never_valid_reasons())
    if never:
        return _never_valid_dict(d, never)
    names = d.size_names
    # one printer for the whole dict: the subexpressions layers share (a closed form holds the one before it)
    # are printed once, and atoms print as their names without rebuilding the expression
    pt, pl = printer(False, names.names), printer(True, names.names)

    def show(e: Expr) -> str:
        return pt(names.form(e, closed_forms and names.closable(e)))

    layers = []
    too_large = 0
    lay = batch_layout(d)
    for i, ly in enumerate(d.layers):
        entry: dict[str, Any] = {}
        if closed_forms and not all(names.closable(e) for e in (*(s for shape in ly.outputs for s in shape),
                                                                ly.macs, ly.trainable + ly.non_trainable,
                                                                ly.buffers, ly.activations)):
            too_large += 1  # this layer's closed form is too large to give: named sizes, and said so
            entry["closed_form"] = TOO_LARGE
        layers.append(entry)
        entry.update({
            "index": ly.index, "name": ly.name, "kind": ly.kind, "inputs": list(ly.inputs),
            "output_shape": [show(s) for s in batched(d, ly.output_shape, lay.output(i))],
            "output_shapes": [[show(s) for s in batched(d, shape, lay.output(i, k))]
                              for k, shape in enumerate(ly.outputs)],
            "recurrence": recurrence_text(ly, d.framework),
            "params": _params(d, ly.trainable, ly.non_trainable, closed_forms, pt),
            "buffers": show(ly.buffers),
            "macs": show(ly.macs),
            "activations": show(ly.activations),
        })
    out = {
        "never_valid": never,  # non-empty: no value of the symbols is valid (and no results below)
        **_spec_facts(d),
        "output_shape": [text(s) for s in batched(d, d.output_shape, lay.outputs[0])],
        "output_shapes": {ref: [text(d.expand(s)) for s in batched(d, shape, axis)]
                          for (ref, shape), axis in zip(d.outputs, lay.outputs, strict=True)},
        "closed_form": [text(s) for s in batched(d, d.closed_form, lay.outputs[0])],
        "closed_form_latex": [latex(s) for s in batched(d, d.closed_form, lay.outputs[0])],
        "params": _params(d, d.trainable, d.non_trainable, closed_forms, pt),
        "buffers": show(d.buffers),
        "macs": show(d.macs),
        "activations": show(d.activations),
        "layers": layers,
        "constraints": _constraints(d, closed_forms, pt, pl),
        "warnings": list(d.warnings),
    }
    sizes = [] if closed_forms and not too_large else sizes_list(d)
    if sizes:  # a deep network: the names its layers are written in
        out["sizes"] = sizes
    return out


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
        **({} if d.batch is None else {"batch": text(d.batch), "mode": d.mode}),
        "symbols": {n: {"min": s.min, "max": s.max, **({"default": s.default} if s.default is not None else {})}
                    for n, s in d.symbols.items()},
        "inputs": {n: [text(s) for s in shape] for n, shape in d.inputs.items()},
    }


def _constraints(d: Derivation, closed_forms: bool = False, pt: Callable[[Expr], str] = text,
                 pl: Callable[[Expr], str] = latex) -> list[dict[str, Any]]:
    out = []
    for nc, rel in d.constraints(closed_forms):
        ly = nc.layer
        out.append({
            "layer": None if ly is None else ly.index, "name": None if ly is None else ly.name,
            "origin": nc.origin, "label": nc.condition.label, "relation": pt(rel), "latex": pl(rel),
            "note": nc.condition.note,
        })
    return out
