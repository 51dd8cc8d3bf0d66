"""What the layer reference says about one rule, computed by the rule itself.

``facts(rule)`` derives the rule's documented instance (``symshape.layers.docmeta``: its arguments as
symbols, its input axes as C_in, H_in...) as an ordinary spec, then applies the same rule object that
computes networks: the output-size formula, parameters split into weights and bias, MACs, every validity
condition (with the framework's own error), the formula under each mode an argument selects ('same'
padding, ceil_mode, return_sequences...), and a worked example evaluated at numbers (the test suite runs
the same example in real PyTorch or keras). The pages (`symshape.docs.reference`) and `symshape layers`
read these facts; nothing here is written twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import sympy
from sympy import Expr, Integer, Symbol

from ..algebra import normalize_relation
from ..errors import SymshapeError
from ..layers.base import AnyKind, BoolKind, ChoiceKind, Condition, Ctx, LayerOut, LayerRule, OptionalKind
from ..layers.conv import PaddingKind
from ..layers.docmeta import (
    INFERRED,
    INFERRED_AXIS,
    VOCAB,
    counterpart,
    differences,
    documented_arguments,
    example_value,
    extra_variants,
    framework_error,
    input_names,
    symbol_meaning,
)
from ..symbols import make_symbol

__all__ = ["ConditionFact", "Example", "LayerFacts", "Variant", "equations", "facts", "meaning", "page_symbols",
           "staircase"]

NO_VARIANT = {"bias", "use_bias", "trainable", "batch_first"}  # shown by the weight/bias split, or no effect


@dataclass(frozen=True)
class ConditionFact:
    label: str
    relation: sympy.Basic  # normalized: H_in + 2 p - d (k - 1) - 1 >= 0
    note: str
    error: str  # the framework's own error when it fails ('' when it has none of its own)


@dataclass(frozen=True)
class Variant:
    argument: str
    value: object
    inputs: tuple[tuple[Expr, ...], ...] = ()  # set when the variant changes the input's layout
    outputs: tuple[tuple[Expr, ...], ...] = ()
    params: Expr | None = None  # trainable + non-trainable, when it differs from the base
    buffers: Expr | None = None
    macs: Expr | None = None
    conditions: tuple[ConditionFact, ...] = ()  # conditions the base does not have
    refused: str = ""  # the framework refuses this value with the documented arguments
    output_names: tuple[tuple[str | None, ...], ...] = ()
    changes: dict[str, Any] = field(default_factory=dict, compare=False)  # the arguments it sets, as a spec does
    domains: dict[str, tuple[int | None, int | None]] = field(default_factory=dict, compare=False)

    def example_changes(self, framework: str) -> dict[str, Any]:
        """The changed arguments at the worked example's numbers."""
        values = {name: v for name in _names(self.changes) if (v := example_value(framework, name)) is not None}
        return {k: _numbers(v, values) for k, v in self.changes.items()}

    @property
    def title(self) -> str:
        if len(self.changes) > 1:
            return ", ".join(f"{k}={_show(v)}" for k, v in self.changes.items())
        return f"{self.argument}={_show(self.value)}"


@dataclass(frozen=True)
class Example:
    values: dict[str, int]  # symbol -> value
    args: dict[str, Any]  # the layer's arguments as numbers (as written in a spec)
    inputs: tuple[tuple[int, ...], ...]
    outputs: tuple[tuple[int, ...], ...]
    trainable: int
    non_trainable: int
    buffers: int
    macs: int
    weights: int | None
    bias: int | None
    valid: bool
    violations: tuple[str, ...] = ()


@dataclass
class LayerFacts:
    rule: LayerRule
    args: dict[str, Any]  # the documented arguments as a spec writes them
    inputs: tuple[tuple[Expr, ...], ...]
    outputs: tuple[tuple[Expr, ...], ...]
    output_names: tuple[tuple[str | None, ...], ...]  # H_out... per output axis (None: no name)
    trainable: Expr
    non_trainable: Expr
    buffers: Expr
    macs: Expr
    weights: Expr | None  # with the bias switched off; None: the layer has no bias switch
    bias: Expr | None
    conditions: tuple[ConditionFact, ...]
    variants: tuple[Variant, ...]
    domains: dict[str, tuple[int | None, int | None]]
    roles: dict[str, str]  # symbol -> the argument or input axis it fills
    example: Example | None
    example_error: str = ""
    other: LayerFacts | None = None  # the other framework's counterpart
    differences: tuple[str, ...] = ()
    fixed: dict[str, Any] = field(default_factory=dict)  # arguments documented at a fixed value
    namespace: Any = None  # the parsed arguments, as the rule receives them

    @property
    def params(self) -> Expr:
        return self.trainable + self.non_trainable


def _spec(rule: LayerRule, args: dict[str, Any], shapes: list[list[Any]]) -> dict[str, Any]:
    layer: dict[str, Any] = {rule.name: args}
    if len(shapes) == 1:
        return {"framework": rule.framework, "input": shapes[0], "layers": [layer]}
    names = [f"x{i + 1}" for i in range(len(shapes))]
    return {"framework": rule.framework, "inputs": dict(zip(names, shapes, strict=True)),
            "layers": [{**layer, "inputs": names}]}


def _parser(symbols: dict[str, Symbol]):  # noqa: ANN202 - the Ctx's parse function
    from ..expr import parse_expression

    def parse(raw: object) -> Expr:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return Integer(raw)
        return parse_expression(str(raw), lambda name: symbols.get(name) or make_symbol(name, 1)).expr

    return parse


def _apply(rule: LayerRule, spec: dict[str, Any]) -> tuple[LayerOut, Any, Any]:
    """The rule applied to the spec's (single) layer: (its LayerOut, the derivation, the layer)."""
    from ..derive import derive

    d = derive(spec, cache=False)
    ly = d.layers[0]
    symbols = {n: s.symbol for n, s in d.symbols.items()}
    ctx = Ctx(rule.framework, _parser(symbols), ly.name, rule.name)
    out = rule.apply(ly.args, [tuple(s) for s in ly.input_shapes], ctx)
    out.conditions = [*out.conditions, *ctx.extra_conditions]
    return out, d, ly


def _trivial(c: Condition) -> bool:
    from ..derive import _fold

    return _fold(c) is True


def _conditions(rule: LayerRule, out: LayerOut) -> tuple[ConditionFact, ...]:
    seen: dict[str, ConditionFact] = {}
    for c in out.conditions:
        if _trivial(c) or (c.op in ("==", ">=", "<=") and sympy.expand(c.lhs - c.rhs) == 0):
            continue
        rel = c.relation()
        rel = normalize_relation(rel) if isinstance(rel, sympy.core.relational.Relational) else rel
        key = str(rel)
        if key not in seen:
            seen[key] = ConditionFact(c.label, rel, c.note, framework_error(rule.framework, rule.name, c.label))
        elif seen[key].label != c.label and not seen[key].label.endswith("(every axis)"):
            # one symbol on every axis: the same condition for each, said once
            first = seen[key]
            label = " ".join(_AXIS_WORDS.sub("", first.label).split())
            seen[key] = ConditionFact(label + " (every axis)", first.relation, first.note, first.error)
    return tuple(seen.values())


_AXIS_WORDS = re.compile(r"\b(height|width|depth|length)\b")


def _bias_switch(rule: LayerRule) -> str | None:
    for name in ("bias", "use_bias"):
        arg = rule.arg(name)
        if arg is not None and isinstance(arg.kind, BoolKind) and arg.default is True:
            return name
    if rule.arg("layer") is not None and type(rule.arg("layer").kind).__name__ == "LayerKind":
        return "layer"  # a wrapper (keras Bidirectional): the wrapped layer's use_bias
    return None


def _bias_off(switch: str, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments with the bias switched off (a wrapper's: in the wrapped layer, {LSTM: {use_bias: False}})."""
    if switch == "layer":
        wrapped = args.get("layer")
        if isinstance(wrapped, dict) and len(wrapped) == 1:
            kind, inner = next(iter(wrapped.items()))
            return {**args, "layer": {kind: {**inner, "use_bias": False}}}
        return args
    return {**args, switch: False}


def _output_names(rule: LayerRule, inputs: list[list[str]], outputs: list[tuple[Expr, ...]]
                  ) -> tuple[tuple[str | None, ...], ...]:
    """H_out for the axis at H_in's place when an output has the input's rank."""
    first = inputs[0]
    names = []
    for k, shape in enumerate(outputs):
        if len(shape) != len(first):
            names.append(tuple(None for _ in shape))
            continue
        if k > 0:  # the states and weights a layer also returns: shown as tuples
            names.append(tuple(None for _ in shape))
            continue
        names.append(tuple(f"{x.split('_')[0]}_out" for x in first))
    return tuple(names)


def _variant_values(rule: LayerRule, documented: dict[str, Any]) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = [(name, changes) for name, changes in extra_variants(rule)]
    for arg in rule.args:
        if arg.name in NO_VARIANT or isinstance(arg.kind, AnyKind):
            continue
        kind = arg.kind.inner if isinstance(arg.kind, OptionalKind) else arg.kind
        current = documented.get(arg.name, arg.default)
        if isinstance(kind, BoolKind):
            out.append((arg.name, not current))
        elif isinstance(kind, ChoiceKind):
            if arg.name == "data_format" and current is None:  # keras' default layout: channels_last
                current = "channels_last" if rule.framework == "keras" else "channels_first"
            out += [(arg.name, c) for c in kind.choices if c != current]
        elif isinstance(kind, PaddingKind):
            out += [(arg.name, m) for m in kind.modes if m != current]
            if kind.numbers and rule.framework == "keras":
                out.append((arg.name, "p"))  # symshape's extension: explicit zeros on each side
    return out


def _relayout(rule: LayerRule, shapes: list[list[str]], data_format: object) -> list[list[str]]:
    """The documented input in the other layout (channels first or last)."""
    out = []
    for shape in shapes:
        c = [x for x in shape if x.startswith("C_")]
        rest = [x for x in shape if not x.startswith("C_")]
        out.append(c + rest if data_format == "channels_first" else rest + c)
    return out


def _names(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in _names(v)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _names(v)]
    return []


def _show(value: object) -> str:
    """An argument's value as a reader writes it: symbols bare (p, [o, o]), everything else as Python."""
    if isinstance(value, Symbol):
        return value.name
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z](_\w+)?", value):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


def _same(a: LayerOut, b: LayerOut) -> bool:
    return (a.outputs == b.outputs and a.trainable == b.trainable and a.non_trainable == b.non_trainable
            and a.buffers == b.buffers and a.macs == b.macs)


def _variants(rule: LayerRule, documented: dict[str, Any], shapes: list[list[str]], base: LayerOut,
              base_conds: tuple[ConditionFact, ...]) -> tuple[Variant, ...]:
    known = {str(c.relation) for c in base_conds}
    out = []
    for name, value in _variant_values(rule, documented):
        changes = value if isinstance(value, dict) else {name: value}
        args = {**documented, **changes}
        shown: object = Symbol("p") if value == "p" and name == "padding" else \
            _shown(changes[name]) if isinstance(value, dict) and name in changes else value
        layout = _relayout(rule, shapes, value) if name == "data_format" else None
        try:
            vo, vd, _ = _apply(rule, _spec(rule, args, layout or shapes))
        except SymshapeError as err:
            out.append(Variant(name, shown, refused=err.message if hasattr(err, "message") else str(err),
                               changes=changes))
            continue
        conds = _conditions(rule, vo)
        extra = tuple(c for c in conds if str(c.relation) not in known)
        if _same(vo, base) and not extra:
            continue
        params = vo.trainable + vo.non_trainable
        ins = tuple(tuple(s) for s in vd.layers[0].input_shapes) if layout else ()
        names = _output_names(rule, layout or shapes, vo.outputs)
        out.append(Variant(name, shown, ins, tuple(tuple(s) for s in vo.outputs),
                           params if params != base.trainable + base.non_trainable else None,
                           vo.buffers if vo.buffers != base.buffers else None,
                           vo.macs if vo.macs != base.macs else None, extra, output_names=names,
                           changes=changes, domains={n: (s.min, s.max) for n, s in vd.symbols.items()}))
    return tuple(out)


def _shown(value: object) -> object:
    """A documented value as the page shows it: a symbol's name as a symbol, a list of them as a list."""
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z](_\w+)?", value):
        return Symbol(value)
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def _numbers(value: object, values: dict[str, int]) -> object:
    """The documented arguments with every symbol replaced by its example value."""
    if isinstance(value, str):
        if value in values:
            return values[value]
        if re.fullmatch(r"[A-Za-z_]\w*", value) and example_value("", value) is not None:
            return example_value("", value)
        return value
    if isinstance(value, list):
        return [_numbers(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _numbers(v, values) for k, v in value.items()}
    return value


def _example(rule: LayerRule, documented: dict[str, Any], shapes: list[list[str]], symbols: list[str],
             bias_switch: str | None) -> Example:
    from ..derive import derive

    values = {}
    for name in symbols:
        v = example_value(rule.framework, name)
        if v is None:
            raise SymshapeError(f"no example value for the symbol {name}")
        values[name] = v
    args = {k: _numbers(v, values) for k, v in documented.items()}
    inputs = [[values[x] if isinstance(x, str) else x for x in shape] for shape in shapes]
    inferred = {}
    for arg in rule.args:  # the call as written in the framework: inferred sizes given (in_channels=...)
        where = INFERRED_AXIS.get(arg.name)
        if where is not None and where[0] < len(inputs) and arg.name not in args:
            inferred[arg.name] = inputs[where[0]][where[1]]
    args = {**inferred, **args}
    e = derive(_spec(rule, args, inputs), cache=False).evaluate()
    ly = e.layers[0]
    weights = bias = None
    if bias_switch:
        off = derive(_spec(rule, _bias_off(bias_switch, args), inputs), cache=False).evaluate().layers[0]
        weights = int(off.trainable + off.non_trainable)
        bias = int(ly.trainable + ly.non_trainable) - weights
    return Example(values, args, tuple(tuple(s) for s in inputs), tuple(tuple(s) for s in ly.output_shapes),
                   int(ly.trainable), int(ly.non_trainable), int(ly.buffers), int(ly.macs), weights, bias,
                   e.valid, tuple(v.message for v in e.violations))


def _free(e: object) -> set[str]:
    return {s.name for s in getattr(e, "free_symbols", ())}


def _roles(rule: LayerRule, documented: dict[str, Any], shapes: list[list[str]]) -> dict[str, str]:
    roles: dict[str, str] = {}
    for k, shape in enumerate(shapes):
        for i, x in enumerate(shape):
            roles.setdefault(x, f"input {k + 1}, axis {i + 1}" if len(shapes) > 1 else f"input axis {i + 1}")

    def walk(value: object, arg: str) -> None:
        if isinstance(value, str):
            roles.setdefault(value, f"`{arg}`")
        elif isinstance(value, list):
            for v in value:
                walk(v, arg)
        elif isinstance(value, dict):
            for k2, v in value.items():
                walk(v, k2)

    for name, value in documented.items():
        walk(value, name)
    return roles


def facts(rule: LayerRule, with_other: bool = True) -> LayerFacts:
    """Everything the reference says about `rule`, from the rule itself (computed once per rule)."""
    return _facts(rule.framework, rule.name, with_other)


@lru_cache(maxsize=1024)
def _facts(framework: str, name: str, with_other: bool) -> LayerFacts:
    from ..layers.base import REGISTRY

    rule = REGISTRY[(framework, name)]
    documented = documented_arguments(rule)
    shapes = input_names(rule)
    out, d, ly = _apply(rule, _spec(rule, documented, shapes))
    conds = _conditions(rule, out)
    switch = _bias_switch(rule)
    weights = bias = None
    if switch:
        off, _, _ = _apply(rule, _spec(rule, _bias_off(switch, documented), shapes))
        weights = off.trainable + off.non_trainable
        bias = sympy.expand(out.trainable + out.non_trainable - weights)
    variants = _variants(rule, documented, shapes, out, conds)
    domains = {n: (s.min, s.max) for n, s in d.symbols.items()}
    roles = _roles(rule, documented, shapes)
    for v in variants:  # a symbol only a mode uses: its argument and domain from that mode
        for name, rng in v.domains.items():
            domains.setdefault(name, rng)
        for name, role in _roles(rule, v.changes, []).items():
            roles.setdefault(name, role)
    example, example_error = None, ""
    try:
        example = _example(rule, documented, shapes, sorted(n for n, _ in d.symbols.items()), switch)
    except SymshapeError as err:
        example_error = str(err)
    other = None
    pair = counterpart(rule) if with_other else None
    if pair is not None:
        other_rule = REGISTRY.get(pair)
        other = facts(other_rule, with_other=False) if other_rule is not None else None
    fixed = {k: v for k, v in documented.items() if not isinstance(v, str) or k == "target_shape"}
    return LayerFacts(rule, documented, tuple(tuple(s) for s in d.layers[0].input_shapes),
                      tuple(tuple(s) for s in out.outputs), _output_names(rule, shapes, out.outputs),
                      out.trainable, out.non_trainable, out.buffers, out.macs, weights, bias, conds, variants,
                      domains, roles, example, example_error, other,
                      tuple(differences(rule)), fixed, ly.args)


STAIRCASE = range(1, 17)  # the input sizes a page tabulates


def staircase(f: LayerFacts) -> tuple[str, str, list[tuple[int, int | None]]] | None:
    """(input symbol, output symbol, [(x, output size or None where invalid)]): the first output axis whose
    formula depends on one input axis, at the worked example's other values, for x in STAIRCASE; None when
    no axis has such a formula. Sizes and validity are the rule's own formula and conditions."""
    ex = f.example
    if ex is None:
        return None
    inputs = {s.name for shape in f.inputs for s in shape if isinstance(s, Symbol)}
    for name, e in equations(f.outputs, f.output_names):
        axis = [s for s in e.free_symbols if s.name in inputs]
        if len(axis) != 1 or not any(s.name not in inputs for s in e.free_symbols):
            continue
        x = axis[0]
        rows: list[tuple[int, int | None]] = []
        for v in STAIRCASE:
            values = {**{s: Integer(ex.values[s.name]) for s in _all_symbols(f)}, x: Integer(v)}
            ok = all(bool(c.relation.xreplace(values)) for c in f.conditions)
            rows.append((v, int(e.xreplace(values)) if ok else None))
        return x.name, name, rows
    return None


def _all_symbols(f: LayerFacts) -> set[Symbol]:
    out: set[Symbol] = set()
    for e in [*(s for shape in (*f.inputs, *f.outputs) for s in shape), f.trainable, f.macs,
              *(c.relation for c in f.conditions)]:
        out |= {s for s in getattr(e, "free_symbols", ()) if isinstance(s, Symbol)}
    return out


def page_symbols(f: LayerFacts) -> list[str]:
    """Every symbol the page of `f` shows, in the order a reader meets them (inputs, arguments, outputs)."""
    found: dict[str, None] = {}
    for shape in f.inputs:
        for s in shape:
            found.update(dict.fromkeys(sorted(_free(s))))
    exprs: list[object] = [*[s for shape in f.outputs for s in shape], f.trainable, f.non_trainable, f.buffers,
                           f.macs, f.weights, f.bias, *[c.relation for c in f.conditions]]
    for v in f.variants:
        exprs += [*[s for shape in v.outputs for s in shape], v.params, v.buffers, v.macs,
                  *[c.relation for c in v.conditions]]
        if isinstance(v.value, Symbol):
            exprs.append(v.value)
    if f.other is not None:
        exprs += [*[s for shape in f.other.inputs for s in shape], *[s for shape in f.other.outputs for s in shape],
                  f.other.trainable + f.other.non_trainable]
    rest: set[str] = set()
    for e in exprs:
        rest |= _free(e)
    for name in _names(f.args):  # the arguments' symbols in the order the layer takes them
        if name in rest:
            found.setdefault(name)
    for name in sorted(rest, key=lambda n: (n not in VOCAB_ORDER, VOCAB_ORDER.get(n, 0), n)):
        found.setdefault(name)
    named = equations(f.outputs, f.output_names)
    for v in f.variants:
        named += equations(v.outputs, v.output_names)
    if f.other is not None:
        named += equations(f.other.outputs, f.other.output_names)
    for n, _ in named:
        found.setdefault(n)
    return list(found)


def equations(outputs: tuple[tuple[Expr, ...], ...], names: tuple[tuple[str | None, ...], ...]
              ) -> list[tuple[str, Expr]]:
    """(H_out, its formula) for every named output axis that is more than a plain symbol or number."""
    out = []
    for shape, shape_names in zip(outputs, names, strict=False):
        for e, n in zip(shape, shape_names, strict=False):
            if n is not None and not isinstance(e, (Symbol, Integer)):
                out.append((n, e))
    return out


VOCAB_ORDER = {sym: i for i, (sym, _) in enumerate(VOCAB.values())}


def meaning(f: LayerFacts, name: str) -> str:
    """The glossary's meaning of a symbol on the page of `f` (from the argument it fills there, when it fills one)."""
    role = f.roles.get(name, "").strip("`")
    if role in VOCAB and VOCAB[role][0] == name:
        return VOCAB[role][1]
    text = symbol_meaning(name)
    if text:
        return text
    for arg, what in INFERRED.items():
        if name == arg:
            return what
    return ""
