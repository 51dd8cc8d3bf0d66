"""From a spec to a `Derivation`: every layer's shapes, counts and conditions, symbolically.

Layer k's sizes are built on layer k-1's expressions, so the network is one shared expression
graph: O(1) new nodes per layer, however deep. From it, lazily and once:
- the collapsed closed form (:func:`symshape.algebra.collapse`, linear in depth);
- one compiled program for exact and vectorized evaluation (:mod:`symshape.program`).

A `Derivation` is a plain immutable value; `derive` caches it by the spec's canonical hash.
"""

from __future__ import annotations

import hashlib
import operator
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sympy
from sympy import Expr, Integer

from .algebra import Dim, FloorDiv, _Collapser, as_expr, expand, expand_small
from .conditions import Verdicts as _Verdicts
from .conditions import analyze as _analyze
from .deep import deep, run_deep
from .errors import Location, SpecError, did_you_mean
from .expr import parse_expression
from .layers import Condition, Ctx, LayerRule, Shape, find_rule
from .layers.base import checked_integer, prod
from .layers.norm import TRAINING_BATCH_CHECKS
from .spec import LIMITS, LayerSpec, Spec, load_spec
from .symbols import SymbolInfo, SymbolTable, collect_roles

__all__ = ["Derivation", "LayerResult", "NetCondition", "clear_cache", "derive"]


@dataclass(frozen=True, eq=False)
class LayerResult:
    index: int
    name: str
    kind: str
    inputs: tuple[str, ...]
    input_shapes: tuple[Shape, ...]
    outputs: tuple[Shape, ...]
    trainable: Expr
    non_trainable: Expr
    buffers: Expr
    macs: Expr
    conditions: tuple[Condition, ...]
    rule: LayerRule
    args: SimpleNamespace
    dropped: tuple[tuple[str, Expr], ...] = ()  # (axis, input rows no window reads): lossless when all 0
    batch: Expr | None = None  # the spec's `batch:`: activations count every sample (None: one sample)

    @property
    def output_shape(self) -> Shape:
        return self.outputs[0]

    @property
    def params(self) -> Expr:
        return self.trainable + self.non_trainable

    @cached_property
    def activations(self) -> Expr:  # cached: SymPy's product of a layer's sizes costs ~1 ms, asked for thrice
        per_sample = _per_sample(self.outputs)
        return per_sample if self.batch is None else self.batch * per_sample

    def describe(self) -> str:
        return f"layer {self.index} '{self.name}' ({self.kind})"


@dataclass(frozen=True)
class NetCondition:
    """A validity condition and where it comes from (layer None: the inputs or the symbols)."""

    layer: LayerResult | None
    condition: Condition
    origin: str  # "layer 4 'pool2' (MaxPooling2D)", "input 'x'", "symbol 'P'"

    def relation(self) -> sympy.Basic:
        return self.condition.relation()


# ---------------------------------------------------------------- derive


_CACHE: OrderedDict[str, Derivation] = OrderedDict()
_RAW: dict[str, str] = {}  # hash of the spec as given -> canonical key
_CACHE_SIZE = 256
_LOCK = threading.Lock()


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()
        _RAW.clear()


def derive(spec: str | Any | Mapping[str, Any], *, source: str | None = None, cache: bool = True) -> Derivation:
    """Derive a network: `spec` is YAML/JSON text (a str), a file (a `pathlib.Path`) or a dict. Raises `SpecError`."""
    raw_key = _raw_key(spec, source) if cache else None
    if raw_key is not None:
        with _LOCK:
            hit = _CACHE.get(_RAW.get(raw_key, ""))
            if hit is not None:  # the very same text, dict or file content: no parsing at all
                _CACHE.move_to_end(hit.key)
                return hit
    loaded = spec if isinstance(spec, Spec) else load_spec(spec, source=source)
    key = loaded.key
    if cache:
        with _LOCK:
            hit = _CACHE.get(key)
            if hit is not None:
                _CACHE.move_to_end(key)
                if raw_key is not None:
                    _RAW[raw_key] = key
                return hit
    result = run_deep(lambda: _Deriver(loaded).run())
    if cache:
        with _LOCK:
            _CACHE[key] = result
            if raw_key is not None:
                _RAW[raw_key] = key
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
            while len(_RAW) > 4 * _CACHE_SIZE:
                _RAW.pop(next(iter(_RAW)))
    return result


def _raw_key(spec: object, source: str | None) -> str | None:
    """A hash of the spec exactly as given (text, file content or dict), for the fast path of the cache.

    Errors carry the source name, so it is part of the key; anything unusual skips the fast path.
    """
    try:
        if isinstance(spec, os.PathLike):  # a file: its content (a str is always text, never a path)
            path = Path(spec)
            with path.open("rb") as f:
                data = f.read(LIMITS.max_bytes + 1)
            if len(data) > LIMITS.max_bytes:
                return None
            text = f"file:{path}:" + data.decode("utf-8")
        elif isinstance(spec, str):
            text = "text:" + spec
        else:  # dicts skip the fast path: loading one is as quick as hashing it, and bounded
            return None
        return hashlib.sha256(f"{source}\x00{text}".encode()).hexdigest()
    except (OSError, UnicodeError, TypeError, ValueError):
        return None


def snake_case(name: str) -> str:
    """keras' own naming: MaxPooling2D -> max_pooling2d."""
    name = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class _Deriver:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.symbols = SymbolTable(spec.symbols, collect_roles(spec.inputs, [ly.args for ly in spec.layers]),
                                   spec.where)
        self.tensors: dict[str, tuple[Shape, ...]] = {}
        self.layers: list[LayerResult] = []
        self.conditions: list[NetCondition] = []
        self.name_counts: dict[str, int] = {}
        self.seen: set[tuple] = set()
        self.defs: dict[Dim, Expr] = {}
        self.atom_of: dict[Expr, Dim] = {}

    def where(self, path: tuple, ly: LayerSpec | None = None, name: str | None = None,
              argument: str | None = None) -> dict[str, Any]:
        loc = self.spec.where(path)
        out: dict[str, Any] = {"source": loc.source, "line": loc.line, "path": path}
        if ly is not None:
            out.update(layer_index=ly.index, layer_name=name or ly.name, layer_kind=ly.kind)
        if argument is not None:
            out["argument"] = argument
        return out

    def parse_value(self, raw: object, ctx: Ctx | None, label: str) -> Expr:
        if isinstance(raw, bool) or not isinstance(raw, (int, str)):
            raise SpecError(f"expected an integer, a symbol or an expression, got {raw!r}")
        if isinstance(raw, int):
            return checked_integer(raw)
        parsed = parse_expression(raw, self.symbols)
        for d in parsed.divisors:
            cond = Condition(f"divisor {d} in {label}", d, ">=", 1)
            if ctx is not None:
                ctx.extra_conditions.append(cond)
            else:
                self.conditions.append(NetCondition(None, cond, label))
        return parsed.expr

    def run(self) -> Derivation:
        spec = self.spec
        for name, raw_shape in spec.inputs.items():
            path = ("input",) if "input" in spec.inputs and len(spec.inputs) == 1 else ("inputs", name)
            shape = []
            for i, raw in enumerate(raw_shape):
                try:
                    shape.append(self.parse_value(raw, None, f"input '{name}'"))
                except SpecError as err:
                    raise err.at(**self.where((*path, i))) from None
            shape_t = tuple(shape)
            self.tensors[name] = (shape_t,)
            for i, size in enumerate(shape_t):
                self.add_condition(None, Condition(f"input axis {i}", size, ">=", 1), f"input '{name}'")
        self.batch = None
        if spec.batch is not None:
            try:
                self.batch = self.parse_value(spec.batch, None, "batch")
            except SpecError as err:
                raise err.at(**self.where(("batch",))) from None
            self.add_condition(None, Condition("batch size", self.batch, ">=", 1), "batch")
        previous = next(iter(spec.inputs))
        for ly in spec.layers:
            previous = self.layer(ly, previous)
        for info in self.symbols.infos().values():
            if info.min is not None:
                why = info.why
                label, note = ("declared minimum", "") if why == "declared" else \
                    (f"minimum as {why}", "the domain of a symbol comes from the arguments it fills") if why else \
                    ("minimum", "symbols are at least 1 unless declared or used as padding")
                self.add_condition(None, Condition(label, info.symbol, ">=", info.min, note),
                                   f"symbol '{info.name}'")
            if info.max is not None:
                self.add_condition(None, Condition("declared maximum", info.symbol, "<=", info.max),
                                   f"symbol '{info.name}'")
        outputs = spec.outputs or (previous,)
        resolved = []
        for i, ref in enumerate(outputs):
            try:
                resolved.append((ref, self.resolve(ref)))
            except SpecError as err:
                raise err.at(**self.where(("outputs", i))) from None
        return Derivation(spec=spec, key=spec.key, symbols=self.symbols.infos(),
                          inputs={k: v[0] for k, v in self.tensors.items() if k in spec.inputs},
                          layers=tuple(self.layers), outputs=tuple(resolved),
                          conditions=tuple(self.conditions), defs=self.defs,
                          warnings=tuple(dict.fromkeys(self.symbols.warnings)), batch=self.batch,
                          mode=spec.mode or ("train" if spec.batch is not None else None))

    def add_condition(self, layer: LayerResult | None, cond: Condition, origin: str) -> None:
        key = (cond.lhs, cond.op, cond.rhs)
        if key in self.seen:  # the same condition from another axis or layer: reported once, first
            return
        self.seen.add(key)
        if _fold(cond) is not True:
            self.conditions.append(NetCondition(layer, cond, origin))

    def resolve(self, ref: str) -> Shape:
        name, _, index = ref.rpartition(":") if ":" in ref else (ref, "", "")
        if name not in self.tensors:
            known = list(self.tensors)
            raise SpecError(f"unknown input '{ref}'{did_you_mean(name, known)}: inputs name earlier layers "
                            f"or the network inputs ({', '.join(known[-6:])})")
        outs = self.tensors[name]
        k = int(index) if index.isdigit() else 0 if index == "" else None
        if k is None or k >= len(outs):
            raise SpecError(f"'{ref}': '{name}' has {len(outs)} output(s), numbered 0 to {len(outs) - 1}")
        return outs[k]

    def layer(self, ly: LayerSpec, previous: str) -> str:
        where = self.where(ly.path, ly)
        try:
            rule = find_rule(self.spec.framework, ly.kind)
        except SpecError as err:
            raise err.at(**where) from None
        name = ly.name or self.auto_name(rule.name)
        where = self.where(ly.path, ly, name)
        if name in self.tensors:
            raise SpecError(f"the name '{name}' is used twice").at(**self.where((*ly.path[:2], "name"), ly, name))
        refs = ly.inputs or (previous,)
        lo, hi = rule.n_inputs
        if len(refs) < lo or (hi >= 0 and len(refs) > hi):
            want = f"{lo}" if lo == hi else f"{lo} or more" if hi < 0 else f"{lo} to {hi}"
            raise SpecError(f"{rule.name} takes {want} input(s), got {len(refs)}: {list(refs)}").at(**where)
        try:
            inputs = [self.resolve(r) for r in refs]
        except SpecError as err:
            raise err.at(**self.where((*ly.path[:2], "inputs"), ly, name)) from None
        ctx = Ctx(self.spec.framework, lambda raw: self.parse_value(raw, ctx, "an argument"), name, rule.name)
        args = self.parse_args(rule, ly, name, ctx)
        try:
            out = rule.apply(args, inputs, ctx)
        except SpecError as err:
            raise err.at(**where) from None
        batch_check = TRAINING_BATCH_CHECKS.get((rule.framework, rule.name))
        if batch_check is not None and self.batch is not None and (self.spec.mode or "train") == "train":
            ctx.extra_conditions.extend(batch_check(inputs[0], self.batch))
        if len(out.outputs) < 1:
            raise RuntimeError(f"{rule.name} produced no output")
        outputs = tuple(self.atoms(name, i, shape) for i, shape in enumerate(out.outputs))
        result = LayerResult(ly.index, name, rule.name, tuple(refs), tuple(inputs), outputs,
                             out.trainable, out.non_trainable, out.buffers, out.macs,
                             tuple([*out.conditions, *ctx.extra_conditions]), rule, args,
                             tuple(out.dropped), self.batch)
        self.layers.append(result)
        self.tensors[name] = result.outputs
        for cond in result.conditions:
            self.add_condition(result, cond, result.describe())
        return name

    def atoms(self, layer: str, k: int, shape: Shape) -> Shape:
        """Sizes that are more than a plain polynomial get an atom (so the next layers stay O(1))."""
        out = []
        for axis, size in enumerate(shape):
            if isinstance(size, (Integer, sympy.Symbol)) or not size.has(Dim, FloorDiv, sympy.Max, sympy.Min,
                                                                         sympy.Mod):
                out.append(size)
                continue
            atom = self.atom_of.get(size)
            if atom is None:  # the same size twice (square inputs) is one atom: its conditions dedupe
                atom = Dim(f"{layer}:{k}.{axis}", integer=True)
                self.defs[atom] = size
                self.atom_of[size] = atom
            out.append(atom)
        return tuple(out)

    def auto_name(self, kind: str) -> str:
        base = snake_case(kind)
        n = self.name_counts.get(base, 0)
        self.name_counts[base] = n + 1
        name = base if n == 0 else f"{base}_{n}"
        while name in self.tensors:
            n += 1
            self.name_counts[base] = n + 1
            name = f"{base}_{n}"
        return name

    def parse_args(self, rule: LayerRule, ly: LayerSpec, name: str, ctx: Ctx) -> SimpleNamespace:
        known = [a.name for a in rule.args]
        for key in ly.args:
            if key not in known:
                raise SpecError(f"unknown argument '{key}' for {rule.name}{did_you_mean(str(key), known)}; "
                                f"it takes {', '.join(known[:12])}{', ...' if len(known) > 12 else ''}"
                                ).at(**self.where((*ly.path, key), ly, name, str(key)))
        values: dict[str, Any] = {}
        for arg in rule.args:
            if arg.name in ly.args:
                raw = ly.args[arg.name]
            elif arg.required:
                raise SpecError(f"missing required argument '{arg.name}' for {rule.name}"
                                ).at(**self.where(ly.path, ly, name, arg.name))
            else:
                raw = arg.default
            if raw is None and arg.default is None:
                values[arg.name] = None
                continue
            try:
                values[arg.name] = arg.kind.parse(raw, ctx, rule)
            except SpecError as err:
                raise err.at(**self.where((*ly.path, arg.name), ly, name, arg.name)) from None
        return SimpleNamespace(**values)


def _fold(cond: Condition) -> bool | None:
    """True/False when a condition is decided without any symbol, else None."""
    if cond.op == "holds":
        return bool(cond.lhs) if isinstance(cond.lhs, (bool, sympy.logic.boolalg.BooleanAtom)) else None
    lhs, rhs = cond.lhs, cond.rhs
    if isinstance(lhs, (int, Integer)) and isinstance(rhs, (int, Integer)):
        return bool(_COMPARE[cond.op](int(lhs), int(rhs)))
    return None


def _total(terms: list[Expr]) -> Expr:
    """`sympy.Add(*terms)`, the very same expression, built from each distinct term once: a network's layers
    repeat their counts (ResNet-50: 175 activations, 14 distinct), and SymPy's Add gathers like terms one by one.

    Integers are summed; a term n times over, when a product c*M (c an integer or none), is given as (n*c)*M
    written as Add writes it (the coefficient in first place, M's factors as they are); any other term is
    passed n times. Add then sees the same coefficients per M and the same number (exact integer sums, in
    any order): it builds the same arguments in its canonical order."""
    const = 0
    counts: dict[Expr, int] = {}
    for t in terms:
        if isinstance(t, Integer):
            const += t.p
        else:
            counts[t] = counts.get(t, 0) + 1
    out: list[Expr] = [Integer(const)] if const else []
    for t, n in counts.items():
        if n == 1:
            out.append(t)
        elif isinstance(t, sympy.Mul) and isinstance(t.args[0], Integer):
            out.append(t._new_rawargs(Integer(n * t.args[0].p), *t.args[1:]))
        elif isinstance(t, sympy.Mul) and not t.args[0].is_Number:
            out.append(t._new_rawargs(Integer(n), *t.args))
        else:
            out.extend([t] * n)
    return sympy.Add(*out)


def _numeric(e: Expr) -> bool:
    """A number, or a power of one (2**k): a factor SymPy's Mul may merge with a numeric coefficient."""
    return bool(e.is_Number or (e.is_Pow and e.args[0].is_Number))


def _scaled(c: Expr, m: Expr) -> Expr | None:
    """c*m exactly as SymPy's Mul builds it, built as m's factors with c put first (how SymPy's Add builds c*M),
    when that is what Mul does: c an integer other than 0 and 1, m a product whose factors are none numeric (no
    coefficient, no power of a number), so that Mul has nothing to merge or distribute. Else None."""
    if isinstance(c, Integer) and c.p not in (0, 1) and isinstance(m, sympy.Mul) and \
            not any(_numeric(a) for a in m.args):
        return m._new_rawargs(c, *m.args)
    return None


def _product(shape: Shape) -> Expr:
    """`prod(shape)`, the same expression: a count of channels times sizes (64, H', W') is built from the sizes'
    product (`_scaled`), which the layers of a stage share; SymPy builds each such product slowly."""
    if len(shape) > 2:
        out = _scaled(shape[0], prod(shape[1:]))
        if out is not None:
            return out
    return prod(shape)


_PER_SAMPLE: dict[tuple[Shape, ...], Expr] = {}  # a layer's outputs -> their products' sum: layers repeat shapes


def _per_sample(outputs: tuple[Shape, ...]) -> Expr:
    """A layer's activations per sample, the sum of its outputs' products (`sympy.Add(*map(prod, outputs))`),
    memoized: ResNet-50's 175 layers have 15 distinct outputs."""
    hit = _PER_SAMPLE.get(outputs)
    if hit is None:
        if len(_PER_SAMPLE) >= 4096:
            _PER_SAMPLE.clear()
        hit = _PER_SAMPLE[outputs] = sympy.Add(*[_product(shape) for shape in outputs])
    return hit


_COMPARE = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq,
            "!=": operator.ne}


# ---------------------------------------------------------------- the derivation


@dataclass(frozen=True, eq=False)
class Derivation:
    spec: Spec
    key: str
    symbols: dict[str, SymbolInfo]
    inputs: dict[str, Shape]
    layers: tuple[LayerResult, ...]
    outputs: tuple[tuple[str, Shape], ...]
    conditions: tuple[NetCondition, ...]
    defs: dict[Dim, Expr] = field(default_factory=dict, repr=False)  # size atom -> its definition
    warnings: tuple[str, ...] = ()  # e.g. a symbol one edit away from a declared one
    batch: Expr | None = None  # the spec's `batch:` (None: the batch axis is excluded)
    mode: str | None = None  # the spec's `mode:` ("train" by default when it names its batch)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def framework(self) -> str:
        return self.spec.framework

    def defaults(self) -> dict[str, int]:
        """The declared defaults (`symbols: {H: {default: 224}}`), symbol -> value, in declaration order."""
        return {name: info.default for name, info in self.symbols.items() if info.default is not None}

    @cached_property
    def output_shape(self) -> Shape:
        """The network's output sizes in nested (recurrence) form, in the input symbols."""
        return tuple(self.expand(s) for s in self.outputs[0][1])

    @deep
    def expand(self, e: Expr) -> Expr:
        """Any expression of this derivation with its size atoms replaced by their definitions."""
        with self._lock:
            return expand(as_expr(e), self.defs, self._expanded)

    @cached_property
    def _expanded(self) -> dict[Expr, Expr]:
        return {}

    @cached_property
    def trainable(self) -> Expr:
        return _total([ly.trainable for ly in self.layers])

    @cached_property
    def non_trainable(self) -> Expr:
        return _total([ly.non_trainable for ly in self.layers])

    @property
    def params(self) -> Expr:
        return self.trainable + self.non_trainable

    @cached_property
    def buffers(self) -> Expr:
        return _total([ly.buffers for ly in self.layers])

    @cached_property
    def macs(self) -> Expr:
        return _total([ly.macs for ly in self.layers])

    @cached_property
    def activations(self) -> Expr:
        return _total([ly.activations for ly in self.layers])

    def layer(self, layer: int | str) -> LayerResult:
        """A layer by index or name."""
        for ly in self.layers:
            if ly.index == layer or ly.name == layer:
                return ly
        raise KeyError(f"no layer {layer!r}{did_you_mean(str(layer), [ly.name for ly in self.layers])}")

    def layer_shape(self, layer: int | str, output: int = 0, closed: bool = True) -> Shape:
        """A layer's output sizes in the network's symbols: closed form, or nested (closed=False).

        (`LayerResult.outputs` hold opaque size atoms, the recurrence's intermediate names.)
        """
        shape = self.layer(layer).outputs[output]
        return tuple(self.collapse(s) if closed else self.expand(s) for s in shape)

    @cached_property
    def collapser(self) -> _Collapser:
        return _Collapser(self.defs)

    def collapse(self, e: Expr) -> Expr:
        """The compact closed form of any expression of this derivation (memoized)."""
        e = as_expr(e)
        done = self.collapser.memo.get(e)  # collapsed before (most are: layers share sizes and counts)
        return done if done is not None else self._collapse_new(e)

    @deep
    def _collapse_new(self, e: Expr) -> Expr:
        with self._lock:
            return self._collapse(e)

    def _collapse(self, e: Expr) -> Expr:
        """`collapser(e)`, with the products c*M of counts (a number times sizes: every layer's MACs and
        activations, the terms of the totals) sharing the closed form of M: ResNet-50's counts are a few
        dozen numbers times a few products of sizes, and SymPy builds each product of closed forms slowly.

        c*closed(M) is closed(M) with c in first place: how SymPy writes a product (its Add builds c*M so),
        taken only where closed(M) is a product with no number in it (no coefficient, no numeric power) and
        c an integer, where SymPy's Mul has nothing to merge or distribute: the same expression, exactly."""
        collapser = self.collapser
        hit = collapser.memo.get(e)
        if hit is not None:
            return hit
        if isinstance(e, sympy.Add):  # as the collapser does, its terms through the shortcut
            args = [self._collapse(a) for a in e.args]
            out = e if all(a is b for a, b in zip(args, e.args, strict=True)) else e.func(*args)
        elif isinstance(e, sympy.Mul) and len(e.args) > 2 and isinstance(e.args[0], Integer):
            out = _scaled(e.args[0], collapser(e._new_rawargs(*e.args[1:])))  # M: two or more factors
            if out is None:
                out = collapser(e)
        else:
            return collapser(e)
        collapser.memo[e] = out
        return out

    def normal_form(self, e: Expr) -> Expr:
        """The closed form of a count, multiplied out when small: the one printed form of a quantity
        shown in several places (total, trainable and non-trainable parameters)."""
        return expand_small(self.collapse(e))

    @cached_property
    def closed_form(self) -> Shape:
        """The network's output sizes, nested floors collapsed to one per chain."""
        return tuple(self.collapse(s) for s in self.outputs[0][1])

    @cached_property
    def _verdicts(self) -> _Verdicts:
        return run_deep(_analyze, self)

    @property
    def never_valid(self) -> tuple[NetCondition, ...]:
        """The conditions false for every value of the symbols: constant false, or impossible
        within the symbols' domains (and the bounds other conditions put on single symbols).
        Non-empty means no value of the symbols makes the network valid."""
        return self._verdicts.never_valid

    def never_valid_reason(self) -> str | None:
        """'never valid: layer 2 'conv2d_1' (Conv2d): in_channels 32 != 16 incoming channels', or None."""
        v = self._verdicts
        if not v.never_valid:
            return None
        more = len(v.never_valid) - 1
        return f"never valid: {v.reasons[0]}" + (f" (and {more} more condition{'s' if more > 1 else ''})"
                                                   if more else "")

    def never_valid_reasons(self) -> tuple[str, ...]:
        """One line per never-valid condition, in the order of the conditions."""
        return self._verdicts.reasons

    @cached_property
    def size_names(self) -> Any:
        """`symshape.named.SizeNames`: x_1, x_2, ... for the size atoms, and which expressions every view
        shows in closed form (deep all-symbolic networks: named, so that views stay linear in depth)."""
        from .named import SizeNames

        return SizeNames(self)

    def constraints(self, closed_forms: bool = False) -> list[tuple[NetCondition, sympy.Basic]]:
        """The validity conditions to show, as SymPy relations in closed form (floors solved where linear).

        A short list that says the same as all conditions: each once (a condition that collapses to
        one already listed, or to a tautology, is left out), only the tightest bound of a family
        (``H >= 8``, not ``H >= 1, 2, 4, 8``), none implied by the symbols' domains and the bounds on
        single symbols, divisibility as ``x % k == 0``. Never-valid conditions are not listed here
        (see `never_valid`). Evaluation checks every original condition regardless. In a deep network whose
        sizes are fed by many symbols, a condition on them is written in named sizes (`size_names`), or with
        `closed_forms` in closed form (quadratic in depth there; named where too large, `SizeNames.closable`).
        """
        names = self.size_names
        if not names.deep:
            return list(self._verdicts.shown)
        if closed_forms:
            from .algebra import normalize_relation

            def closed(rel: sympy.Basic) -> sympy.Basic:  # too large a closed form: named sizes (names.closable)
                if not isinstance(rel, sympy.core.relational.Relational) or names.closed(rel):
                    return rel
                if not names.closable(rel):
                    return names.named(rel)
                return normalize_relation(type(rel)(self.collapse(rel.lhs), self.collapse(rel.rhs), evaluate=False))

            return [(nc, closed(rel)) for nc, rel in self._verdicts.shown]
        return [(nc, names.named(rel)) for nc, rel in self._verdicts.shown]

    @cached_property
    def compiled(self) -> Any:
        from .evaluate import Compiled

        return run_deep(Compiled, self)

    @property
    def free_symbols(self) -> tuple[str, ...]:
        """Names of the symbols evaluation needs values for, in the spec's order."""
        needed = set(self.compiled.program.symbols)
        return tuple(s for s in self.symbols if s in needed)

    def evaluate(self, bindings: Mapping[str, int] | None = None, **kw: int) -> Any:
        """Exact integers for one binding: an `Evaluation` (see `.to_dict()`)."""
        from .evaluate import evaluate

        return evaluate(self, {**(bindings or {}), **kw})

    def evaluate_batch(self, columns: Mapping[str, Any], outputs: tuple[str, ...] = ("output_shape", "params",
                       "macs"), chunk: int = 1 << 14, cost: Mapping[str, Any] | None = None) -> Any:
        """Columns of values (one array per symbol) -> columns of results and a validity mask; cost outputs
        ("total_bytes", "forward_flops", ...: symshape.cost.QUANTITIES) as `cost` asks (batch, dtype, ...)."""
        from .evaluate import evaluate_batch

        return evaluate_batch(self, columns, outputs, chunk, cost)

    def cost(self, **options: Any) -> Any:
        """The cost of training as formulas (`symshape.cost.cost`: batch, dtype, optimizer, flops, mode,
        checkpoint): FLOPs forward and backward under a stated convention, memory per batch size."""
        from .cost import cost

        return cost(self, **options)

    def solve(self, symbol: str, bindings: Mapping[str, int] | None = None, *,
              target: Mapping[int, int] | None = None, lo: int | None = None, hi: int | None = None,
              lossless: bool = False) -> Any:
        """The exact set of values of `symbol` (the other symbols bound) where the network is valid
        (with `target` {axis: size}, where the output hits it; with `lossless`, where no layer drops a
        row), in closed form: a `symshape.solve.ValueSet` (pieces, `contains`, `nearest`, `first`,
        `count`, an explanation, `to_dict()`). The range defaults to the symbol's domain, unbounded
        above unless declared.
        """
        from . import solve as solving

        fn = solving.lossless if lossless else solving.solve
        return fn(self, symbol, bindings, target=target, lo=lo, hi=hi)

    def to_dict(self, closed_forms: bool = False) -> dict[str, Any]:
        """Plain data (JSON-ready). Size and time linear in depth: in a deep network whose sizes are fed
        by many symbols, layers are written in named sizes (``sizes``: x_k defined on the names before
        it); `closed_forms` gives every layer's closed form in the network's symbols instead."""
        from .render import derivation_dict

        return run_deep(derivation_dict, self, closed_forms)

    # views (symshape.views): a one-line repr, the table, and what notebooks show
    def __repr__(self) -> str:
        from .views import derivation_repr

        return run_deep(derivation_repr, self)

    def summary(self) -> None:
        """Print the table of `symshape derive` (layers, shapes, parameters, totals, conditions)."""
        from .views import derivation_summary

        derivation_summary(self)

    def _repr_html_(self) -> str:
        from .views import derivation_html

        return run_deep(derivation_html, self)

    def _repr_markdown_(self) -> str:
        from .views import derivation_markdown

        return run_deep(derivation_markdown, self)

    def where(self, layer: LayerResult) -> Location:
        return self.spec.where(("layers", layer.index), layer_index=layer.index, layer_name=layer.name,
                               layer_kind=layer.kind)

