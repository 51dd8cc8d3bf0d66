"""A rule's documented general formula (its doc arguments as symbols, generic inputs) as LaTeX,
with input placeholders written with subscripts (H_in, not the product H·i·n)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import sympy
from sympy import Expr, Integer, Symbol

from ..algebra import as_expr
from ..errors import SymshapeError
from ..layers.base import Ctx, LayerRule
from ..printing import P_ADD, P_MUL, _Printer, to_latex
from ..render import placeholders
from ..report import generic_instance


@dataclass(frozen=True)
class General:
    inputs: str
    outputs: str
    trainable: str
    macs: str


def shape_tex(items: list[str]) -> str:
    return r"\left(" + ", ".join(items) + ("," if len(items) == 1 else "") + r"\right)"


def _subscripted(name: str) -> str:
    """Hin -> H_in, Cin0 -> C_in0: a placeholder's name as SymPy prints a subscript."""
    m = re.fullmatch(r"(.+?)(in\d*)", name)
    return f"{m.group(1)}_{m.group(2)}" if m else name


def general(rule: LayerRule) -> General | None:
    """None when the rule has no meaningful generic instance (a wrapper around another layer)."""
    args, shapes = generic_instance(rule)
    inputs = placeholders(rule, shapes, rule.framework)
    ctx = Ctx(rule.framework, lambda raw: Integer(0), "", rule.name)
    out = rule.apply(args, inputs, ctx)
    rename = {s: Symbol(_subscripted(s.name), **s.assumptions0) for shape in inputs for s in shape
              if isinstance(s, Symbol)}

    def tex(e: object) -> str:
        return to_latex(e.xreplace(rename) if isinstance(e, sympy.Basic) else e)

    if any(s == 0 for shape in out.outputs for s in shape):  # a wrapper's placeholder layer: no general form
        return None
    return General("; ".join(shape_tex([tex(s) for s in shape]) for shape in inputs),
                   "; ".join(shape_tex([tex(s) for s in shape]) for shape in out.outputs),
                   tex(out.trainable), tex(out.macs))


_BIG = re.compile(r"(?<![\w{.])(\d{5,})(?![\w.])")


def group_digits(latex: str) -> str:
    """7695552 -> 7{,}695{,}552 in LaTeX: large counts readable in math too."""
    return _BIG.sub(lambda m: f"{int(m.group(1)):,}".replace(",", "{,}"), latex)


# ---------------------------------------------------------------- a layer's mode, and its arguments put in

@dataclass(frozen=True)
class Mode:
    """The rule's documented instance (symshape.layers.docmeta: k, s, p, d... and H_in...) in the mode a
    layer of a network uses ('same' padding, ceil_mode, data_format...): the reference's own formula for it."""

    title: str  # the mode as arguments: "padding='same'" ('' for the documented default)
    inputs: tuple[tuple[Expr, ...], ...]
    outputs: tuple[tuple[Expr, ...], ...]
    namespace: object  # the documented instance's parsed arguments, as the rule receives them
    general: General


def _symbolic(v: object) -> bool:
    if isinstance(v, (tuple, list)):
        return bool(v) and all(_symbolic(x) for x in v)
    return isinstance(v, sympy.Basic) and not isinstance(v, (sympy.logic.boolalg.BooleanAtom,))


@dataclass(frozen=True)
class Wrapped:
    """A wrapper's layer argument in a mode: the wrapped kind and its switches (keras Bidirectional around a
    GRU with return_sequences=True)."""

    kind: str
    flags: tuple[tuple[str, bool], ...]

    def __repr__(self) -> str:
        return self.kind + ("(" + ", ".join(f"{k}={v}" for k, v in self.flags) + ")" if self.flags else "")


def _wrapped(dv: object, lv: object) -> Wrapped | None:
    """The layer's wrapped kind and switches where they differ from the documented instance's."""
    if not (isinstance(dv, tuple) and isinstance(lv, tuple) and len(dv) == len(lv) == 2
            and isinstance(dv[1], dict) and isinstance(lv[1], dict)):
        return None
    flags = tuple(sorted((k, v) for k, v in lv[1].items() if isinstance(v, bool) and dv[1].get(k, False) != v))
    return Wrapped(str(lv[0]), flags) if lv[0] != dv[0] or flags else None


def mode_overrides(rule: LayerRule, documented: dict[str, object], doc_ns: object, layer_ns: object
                   ) -> tuple[tuple[str, object], ...]:
    """The arguments whose mode differs between the documented instance and the layer: a string or switch
    where the reference has numbers ('same' for p), numbers where it has a mode (keras padding P: 'p')."""
    from ..layers.base import AnyKind
    from ..layers.docmeta import VOCAB

    out: list[tuple[str, object]] = []
    for arg in rule.args:
        if isinstance(arg.kind, AnyKind) or not hasattr(doc_ns, arg.name) or not hasattr(layer_ns, arg.name):
            continue
        dv, lv = getattr(doc_ns, arg.name), getattr(layer_ns, arg.name)
        wrapped = _wrapped(dv, lv)
        if wrapped is not None:
            out.append((arg.name, wrapped))
        elif _symbolic(dv):
            if isinstance(lv, (str, bool)) or lv is None:  # torch padding='same' where the reference has p;
                out.append((arg.name, lv))  # keras pooling's strides=None (the window)
        elif _symbolic(lv):
            if isinstance(dv, str) and arg.name in VOCAB:  # keras padding P where the reference has 'valid'
                out.append((arg.name, VOCAB[arg.name][0]))
        elif isinstance(lv, (str, bool)) and lv != dv and not (dv is None and lv is False):
            out.append((arg.name, lv))
    return tuple(out)


def mode(rule: LayerRule, layer_ns: object) -> Mode | None:
    """The documented instance in the layer's mode (None when the reference has no instance for it)."""
    from .reference_facts import facts

    try:
        f = facts(rule)
    except SymshapeError:
        return None
    overrides = mode_overrides(rule, f.args, f.namespace, layer_ns)
    return _mode(rule.framework, rule.name, overrides)


@lru_cache(maxsize=1024)
def _mode(framework: str, name: str, overrides: tuple[tuple[str, object], ...]) -> Mode | None:
    from ..layers.base import REGISTRY
    from ..layers.docmeta import documented_arguments, input_names
    from .reference_facts import _apply, _relayout, _show, _spec

    rule = REGISTRY[(framework, name)]
    documented = documented_arguments(rule)
    args = {**documented, **dict(overrides)}
    for k, v in overrides:
        if isinstance(v, Wrapped):  # the documented wrapped layer's arguments (units U), in the layer's kind
            inner = next(iter(documented[k].values())) if isinstance(documented.get(k), dict) else {}
            args[k] = {v.kind: {**inner, **dict(v.flags)}}
    shapes = input_names(rule)
    fmt = dict(overrides).get("data_format")
    if fmt is not None:
        shapes = _relayout(rule, shapes, fmt)
    try:
        out, d, ly = _apply(rule, _spec(rule, args, shapes))
    except SymshapeError:
        return None
    outputs = tuple(tuple(s) for s in out.outputs)
    if any(s == 0 for shape in outputs for s in shape):  # a wrapper's placeholder layer
        return None
    inputs = tuple(tuple(s) for s in ly.input_shapes)
    title = ", ".join(f"{k}={_show(v)}" for k, v in overrides)
    g = General("; ".join(shape_tex([to_latex(s) for s in shape]) for shape in inputs),
                "; ".join(shape_tex([to_latex(s) for s in shape]) for shape in outputs),
                to_latex(out.trainable), to_latex(out.macs))
    return Mode(title, inputs, outputs, ly.args, g)


def _pairs(dv: object, lv: object, pos: int | None, out: list[tuple[Symbol, object, int | None]]) -> bool:
    """Pair the documented value's symbols with the layer's values (tuples by position); False on a mismatch."""
    if isinstance(dv, Symbol):
        out.append((dv, lv, pos))
        return True
    if isinstance(dv, (tuple, list)):
        if not isinstance(lv, (tuple, list)) or len(lv) != len(dv):
            return False
        return all(_pairs(a, b, k if pos is None else pos, out) for k, (a, b) in enumerate(zip(dv, lv)))
    return True


@dataclass(frozen=True)
class Substituted:
    """One output size: the mode's general formula and the layer's values for its symbols (the values are
    the layer's arguments and input sizes; `general.xreplace(values)` is the layer's size)."""

    general: Expr
    values: dict[Symbol, Expr]

    def expr(self) -> Expr:
        return self.general.xreplace(self.values)


def substitutions(m: Mode, layer_ns: object, input_shapes: tuple[tuple[Expr, ...], ...],
                  symbols: Mapping[str, Symbol] | None = None) -> dict[tuple[int, int], Substituted]:
    """(output, axis) -> the general formula of that axis with this layer's values, for every axis whose
    symbols pair with one value each (a 3x5 kernel: the height takes 3, the width 5). `symbols`: the network's
    symbols by name, for a wrapped layer's raw arguments (keras Bidirectional's units: U)."""
    pairs: list[tuple[Symbol, object, int | None]] = []
    doc_symbols = {s.name: s for shape in m.outputs for e in shape for s in getattr(e, "free_symbols", ())}
    for name, dv in vars(m.namespace).items():
        if _symbolic(dv) and not _pairs(dv, getattr(layer_ns, name, None), None, pairs):
            return {}
        lv = getattr(layer_ns, name, None)
        if isinstance(dv, tuple) and len(dv) == 2 and isinstance(dv[1], dict) and isinstance(lv, tuple) and \
                len(lv) == 2 and isinstance(lv[1], dict):  # a wrapped layer's raw arguments (units: U)
            for key, doc_value in dv[1].items():
                raw = lv[1].get(key)
                value = Integer(raw) if isinstance(raw, int) and not isinstance(raw, bool) else \
                    (symbols or {}).get(raw) if isinstance(raw, str) else None
                if isinstance(doc_value, str) and doc_value in doc_symbols and value is not None:
                    pairs.append((doc_symbols[doc_value], value, None))
    if len(input_shapes) != len(m.inputs) or any(len(a) != len(b) for a, b in zip(m.inputs, input_shapes)):
        return {}
    inputs: dict[Symbol, Expr] = {}
    spatial: dict[Symbol, int] = {}
    for doc, real in zip(m.inputs, input_shapes):
        k = 0
        for s, v in zip(doc, real):
            if isinstance(s, Symbol):
                inputs[s] = as_expr(v)
                if not s.name.startswith("C_"):
                    spatial[s] = k
                    k += 1
    out: dict[tuple[int, int], Substituted] = {}
    for o, shape in enumerate(m.outputs):
        for j, e in enumerate(shape):
            e = as_expr(e)
            if not isinstance(e, sympy.Basic) or e.is_Atom:
                continue
            where = {spatial[s] for s in e.free_symbols if s in spatial}
            t = next(iter(where)) if len(where) == 1 else None
            values: dict[Symbol, Expr] = dict(inputs)
            ok = True
            for s in e.free_symbols:
                if s in values:
                    continue
                got = {as_expr(v) for sym, v, p in pairs if sym == s and (p is None or t is None or p == t)}
                if len(got) != 1:
                    ok = False
                    break
                values[s] = got.pop()
            if ok:
                out[(o, j)] = Substituted(e, {s: v for s, v in values.items() if s in e.free_symbols})
    return out


class _SubstPrinter(_Printer):
    """Prints a general formula with its symbols as the layer's values, nothing simplified: products with a
    value put in are written with a dot (2·P, 1·(F − 1))."""

    def __init__(self, values: dict[Expr, str], atomic: set[Expr]) -> None:
        super().__init__(True)
        self.values = values
        self.atomic = atomic

    def paren(self, e: Expr, level: int) -> str:
        if e in self.values:
            return self.values[e] if e in self.atomic or level <= P_ADD else rf"\left({self.values[e]}\right)"
        return super().paren(e, level)

    def node(self, e: Expr) -> str:
        return self.values[e] if e in self.values else super().node(e)

    def product(self, coeff: Expr, rest: Expr) -> str:
        factors = list(rest.args) if isinstance(rest, sympy.Mul) else [rest]
        if rest == 1 or not any(f in self.values or f.free_symbols & set(self.values) for f in factors):
            return super().product(coeff, rest)
        parts = [self.paren(f, P_MUL) for f in factors]
        if coeff != 1:
            parts.insert(0, self(coeff))
        return r" \cdot ".join(parts)


def substituted_tex(s: Substituted, tex: Callable[[Expr], str]) -> str:
    """LaTeX of the general formula with the layer's values put in (each value printed by `tex`)."""
    values = {k: tex(v) for k, v in s.values.items()}
    atomic = {k for k, v in s.values.items() if v.is_Atom and not (v.is_Number and v.is_negative)}
    return _SubstPrinter(values, atomic)(s.general)
