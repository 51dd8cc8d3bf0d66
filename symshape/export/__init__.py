"""Write a spec back as model code, for one binding of its symbols: an ``nn.Module`` (torch) or a keras
functional model. So an architecture an AutoML search picked becomes code.

    code = symshape.export.to_torch(Path("lifted.yaml"), {"H": 64, "W": 64, "width": 32})
    code = symshape.export.to_keras(spec, {"H": 96})

The binding must make the network valid (symshape evaluates it first and refuses with the violations).
Every argument is bound to an integer by symshape's own expression grammar, never by ``eval``; the code
written holds only literals, the layer classes and the graph's wiring. Inferred arguments (``in_channels``,
``in_features``, ``num_features``...) are filled from the evaluated input shapes. Opaque layers cannot be
written back (their code is not known) and are refused by name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import BindingError, SpecError, did_you_mean

__all__ = ["BoundLayer", "bind", "export", "to_keras", "to_torch"]

_IDENT = re.compile(r"\W+")


@dataclass
class BoundLayer:
    name: str
    kind: str
    args: dict[str, Any]  # every argument as written in the spec, bound to numbers
    inputs: list[str]  # references: a layer or input name, 'name:k' for the k-th output
    input_shapes: list[tuple[int, ...]]
    output_shapes: list[tuple[int, ...]]
    n_outputs: int


@dataclass
class Bound:
    framework: str
    inputs: dict[str, tuple[int, ...]]
    layers: list[BoundLayer]
    outputs: list[str]
    bindings: dict[str, int]
    source: str
    description: str = ""  # the spec's own (an importer states there what the code computes differently)


def _value(raw: Any, bindings: Mapping[str, int], symbol: Any) -> Any:
    """A spec value with every symbol bound: integers for expressions, lists kept, words ('same') kept."""
    import sympy

    from ..expr import parse_expression

    if isinstance(raw, list):
        return [_value(v, bindings, symbol) for v in raw]
    if isinstance(raw, dict):
        return {k: _value(v, bindings, symbol) for k, v in raw.items()}
    if not isinstance(raw, str) or (raw.isidentifier() and raw not in bindings):
        return raw
    try:
        parsed = parse_expression(raw, symbol)
    except SpecError:
        return raw  # not an expression: text such as an activation name
    value = _subs(parsed.expr, bindings)
    value = sympy.simplify(value) if not isinstance(value, sympy.Integer) else value
    if not isinstance(value, sympy.Integer):
        missing = sorted(str(s) for s in value.free_symbols)
        raise BindingError(f"'{raw}' needs a value for {', '.join(missing)} (--set NAME=VALUE)")
    return int(value)


def _subs(expr: Any, bindings: Mapping[str, int]) -> Any:
    import sympy

    return sympy.sympify(expr).xreplace({s: sympy.Integer(bindings[s.name]) for s in expr.free_symbols
                                         if s.name in bindings}) if hasattr(expr, "free_symbols") else expr


def bind(spec: Any, bindings: Mapping[str, int] | None = None) -> Bound:
    """A spec and a binding -> every layer with integer arguments and shapes (raises when not valid)."""
    import sympy

    from ..derive import derive
    from ..lift import defaults_of
    from ..spec import load_spec

    loaded = load_spec(spec) if not hasattr(spec, "layers") else spec
    values = defaults_of(loaded)
    values.update(bindings or {})
    d = derive(loaded)
    free = set(d.free_symbols)
    known = free | set(getattr(loaded, "symbols", None) or {})
    for name in bindings or {}:
        if name not in known:
            shown = ", ".join(sorted(known)) if known else "none: the spec has no symbols"
            raise BindingError(f"--set {name}=...: the spec has no symbol '{name}'{did_you_mean(name, known)}; "
                               f"its symbols: {shown}")
    values = {k: int(v) for k, v in values.items() if k in free}
    missing = sorted(free - set(values))
    if missing:
        raise BindingError(f"export is for one binding: give {', '.join(f'--set {m}=...' for m in missing)}")
    ev = d.evaluate(values)
    if not ev.valid:
        shown = "; ".join(v.message for v in ev.violations[:5])
        raise BindingError(f"the network is not valid at {values}: {shown}")
    symbol = lambda name: sympy.Symbol(name, integer=True)  # noqa: E731
    shapes: dict[str, list[tuple[int, ...]]] = {}
    inputs: dict[str, tuple[int, ...]] = {}
    for name, shape in d.inputs.items():
        bound = tuple(int(_subs(s, values)) for s in shape)
        inputs[name] = bound
        shapes[name] = [bound]
    layers: list[BoundLayer] = []
    for ly, result, lv in zip(loaded.layers, d.layers, ev.layers, strict=True):
        outs = [tuple(int(v) for v in s) for s in lv.output_shapes]
        shapes[result.name] = outs
        ins = []
        for ref in result.inputs:
            name, _, k = ref.partition(":")
            ins.append(shapes[name][int(k or 0)])
        args = {k: _value(v, values, symbol) for k, v in ly.args.items()}
        layers.append(BoundLayer(result.name, result.kind, args, list(result.inputs), ins, outs,
                                 result.rule.n_outputs))
    outputs = [name for name, _ in d.outputs]
    return Bound(d.framework, inputs, layers, outputs, values, loaded.source,
                 str((getattr(loaded, "descriptions", None) or {}).get("", "")))


def ident(name: str, prefix: str = "") -> str:
    out = _IDENT.sub("_", name).strip("_") or "x"
    out = prefix + out
    return out if out.isidentifier() and not out[0].isdigit() else f"_{out}"


def to_torch(spec: Any, bindings: Mapping[str, int] | None = None, *, class_name: str = "Model") -> str:
    """Python source of an ``nn.Module`` for the spec at one binding (torch specs)."""
    from .torch import write_torch

    b = bind(spec, bindings)
    if b.framework != "torch":
        raise SpecError(f"--to torch needs a torch spec, this one is framework: {b.framework} (try --to keras)")
    return write_torch(b, class_name)


def to_keras(spec: Any, bindings: Mapping[str, int] | None = None, *, function_name: str = "build_model") -> str:
    """Python source of a function building the keras functional model for the spec at one binding."""
    from .keras import write_keras

    b = bind(spec, bindings)
    if b.framework != "keras":
        raise SpecError(f"--to keras needs a keras spec, this one is framework: {b.framework} (try --to torch)")
    return write_keras(b, function_name)


def export(spec: Any, to: str, bindings: Mapping[str, int] | None = None) -> str:
    if to == "torch":
        return to_torch(spec, bindings)
    if to == "keras":
        return to_keras(spec, bindings)
    raise SpecError(f"export --to takes torch or keras, got {to!r}")


def header(b: Bound, tool: str) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in b.bindings.items()) or "no symbols"
    return (f'"""{tool} model written by `symshape export` from {os.path.basename(b.source)} at {shown}.\n\n'
            f'Inputs (batch axis excluded): {", ".join(f"{k} {v}" for k, v in b.inputs.items())}.\n'
            + (f"\n{b.description.replace(chr(34) * 3, chr(39) * 3)}\n" if b.description else "") + '"""\n')
