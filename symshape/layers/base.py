"""Layer rules: small immutable objects in one registry, keyed by (framework, class name).

A rule knows its framework's argument names, defaults and value kinds, and one function that
maps parsed arguments and input shapes (batch axis excluded) to a :class:`LayerOut`: output
shapes, parameter counts, MACs and validity conditions, all SymPy expressions. The formulas
themselves live in :mod:`symshape.layers.formulas`, written once and shared by both frameworks.

Conventions every rule follows:
- shapes exclude the batch axis; keras is channels-last, torch channels-first;
- parameters: ``trainable`` and ``non_trainable`` as keras' ``model.summary()`` counts them;
  torch's ``parameters()`` are all trainable, its persistent buffers (running statistics,
  ``num_batches_tracked``) go to ``buffers``;
- MACs: one multiply-add is one MAC, biases, activations, normalization and pooling excluded
  (fvcore's convention; torchinfo's "Mult-Adds" add the bias terms on top).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import sympy
from sympy import Expr, Integer

from ..errors import SpecError, did_you_mean

__all__ = [
    "APPENDS",
    "FOLLOWS",
    "REGISTRY",
    "Arg",
    "BatchAxes",
    "Condition",
    "Ctx",
    "LayerOut",
    "LayerRule",
    "Shape",
    "find_rule",
    "register",
    "rules",
]

Shape = tuple[Expr, ...]
REQUIRED = object()


@dataclass(frozen=True)
class Condition:
    """A validity condition ``lhs op rhs``; ``op == 'holds'`` means lhs is a boolean."""

    label: str
    lhs: Any
    op: str
    rhs: Any = 0
    note: str = ""

    def relation(self) -> sympy.Basic:
        if self.op == "holds":
            return self.lhs
        return sympy.Rel(self.lhs, self.rhs, self.op, evaluate=False)


NEGATE = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!=", "!=": "=="}


@dataclass
class LayerOut:
    outputs: list[Shape]
    trainable: Expr = Integer(0)
    non_trainable: Expr = Integer(0)
    buffers: Expr = Integer(0)
    macs: Expr = Integer(0)
    conditions: list[Condition] = field(default_factory=list)
    dropped: list[tuple[str, Expr]] = field(default_factory=list)  # (axis, input rows no window reads)


@dataclass
class Ctx:
    """What a rule may use besides its arguments: the expression parser and the layer's name."""

    framework: str
    parse: Callable[[object], Expr]  # raw spec value -> integer expression (records divisors)
    name: str = ""
    kind: str = ""
    extra_conditions: list[Condition] = field(default_factory=list)

    def error(self, message: str, argument: str | None = None) -> SpecError:
        from ..errors import Location

        return SpecError(message, Location(argument=argument))


# ---------------------------------------------------------------- argument kinds


class Kind:
    """How one argument's raw value (from YAML/JSON or a request) becomes a value."""

    label = "a value"

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> object:
        raise NotImplementedError

    def fail(self, raw: object, expected: str | None = None) -> SpecError:
        return SpecError(f"expected {expected or self.label}, got {_show(raw)}")


def _show(raw: object) -> str:
    try:
        text = repr(raw)
    except ValueError:  # an int beyond Python's digit limit for str()
        return "a huge number"
    return text if len(text) <= 60 else text[:57] + "..."


class IntKind(Kind):
    label = "an integer, a symbol or an expression"

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> Expr:
        if isinstance(raw, bool) or raw is None:
            raise self.fail(raw)
        if isinstance(raw, float):
            if not raw.is_integer():
                raise self.fail(raw, "an integer size (sizes are whole numbers)")
            raw = int(raw)
        if isinstance(raw, int):
            return checked_integer(raw)
        if isinstance(raw, str):
            word = raw.strip()
            if word.isidentifier() and is_mode_word(word):
                raise mode_error(word, rule, self.label)
            return ctx.parse(raw)
        raise self.fail(raw)


# Words that name a mode in either framework (padding, padding_mode, data_format, interpolation...): never
# symbols, so a mode written where it does not apply is an error, not a silent new symbol.
MODE_WORDS = frozenset({"valid", "same", "causal", "full", "none", "reflect", "zeros", "replicate", "circular",
                        "constant", "symmetric", "edge", "wrap", "channels_last", "channels_first"})
_REGISTRY_MODES: dict[int, frozenset[str]] = {}


def _modes_of(kind: object) -> tuple[str, ...]:
    kind = getattr(kind, "inner", kind)
    return tuple(getattr(kind, "modes", None) or getattr(kind, "choices", None) or ())


def is_mode_word(word: str) -> bool:
    """A mode of either framework, or a choice some registered layer argument takes (any case)."""
    n = len(REGISTRY)
    known = _REGISTRY_MODES.get(n)
    if known is None:
        _REGISTRY_MODES.clear()
        known = _REGISTRY_MODES[n] = MODE_WORDS | {m.lower() for r in REGISTRY.values() for a in r.args
                                                     for m in _modes_of(a.kind)}
    return word.lower() in known


def mode_users(word: str) -> list[str]:
    """'keras Conv1D (padding)', ... : the layers whose arguments take `word` as a mode."""
    groups: dict[tuple[str, str], list[str]] = {}
    for r in REGISTRY.values():
        for a in r.args:
            if word.lower() in (m.lower() for m in _modes_of(a.kind)):
                groups.setdefault((r.framework, a.name), []).append(r.name)
    out = []
    for (fw, arg), names in groups.items():
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        out.append(f"{fw} {shown} ({arg})")
    return out


def mode_error(word: str, rule: LayerRule, takes: str, modes: Sequence[str] = ()) -> SpecError:
    users = mode_users(word)
    head = f"'{word}' is for {'; '.join(users[:3])}, not {rule.name}" if users else \
        f"'{word}' is a mode word, not a size"
    return SpecError(f"{head}; here {rule.name} takes {takes}{did_you_mean(word, modes) if modes else ''}")


def checked_integer(raw: int) -> Integer:
    """A literal integer within the grammar's bound on digits (a huge literal would slow everything)."""
    from ..errors import LimitError
    from ..expr import MAX_DIGITS

    if abs(raw) >= 10**MAX_DIGITS:
        raise LimitError(f"integer literal longer than {MAX_DIGITS} digits")
    return Integer(raw)


class IntsKind(Kind):
    """An int or a tuple of `n` ints (n: the rule's spatial rank unless given)."""

    def __init__(self, n: int | None = None) -> None:
        self.n = n

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> tuple[Expr, ...]:
        n = self.n or rule.rank
        if isinstance(raw, (list, tuple)):
            if len(raw) != n:
                raise SpecError(f"expected {n} values (one per spatial axis), got {len(raw)}: {_show(raw)}")
            return tuple(INT.parse(v, ctx, rule) for v in raw)
        return (INT.parse(raw, ctx, rule),) * n


class OptionalKind(Kind):
    def __init__(self, inner: Kind) -> None:
        self.inner = inner
        self.label = f"{inner.label}, or null"

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> object:
        return None if raw is None else self.inner.parse(raw, ctx, rule)


class BoolKind(Kind):
    label = "true or false"

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> bool:
        if not isinstance(raw, bool):
            raise self.fail(raw)
        return raw


class NumberKind(Kind):
    """A real number that does not affect shapes (dropout rates, epsilons): checked, kept."""

    label = "a number"

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> float:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise self.fail(raw)
        return float(raw)


class RatioKind(Kind):
    """An exact positive rational (a scale factor): int, decimal or 'a/b' text."""

    label = "a positive number (int, decimal or 'a/b')"

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> Fraction:
        try:
            if isinstance(raw, bool):
                raise ValueError
            text = str(raw).strip() if isinstance(raw, (int, float, str)) else None
            exponent = re.search(r"[eE]\s*([+-]?\d+)", text or "")
            if text is None or len(text) > 40 or (exponent and abs(int(exponent.group(1))) > 30):
                raise ValueError  # bounded before Fraction computes 10**exponent
            value = Fraction(text)
            if max(value.numerator.bit_length(), value.denominator.bit_length()) > 128:
                raise ValueError
        except (ValueError, ZeroDivisionError):
            value = None
        if value is None or value <= 0:
            raise self.fail(raw)
        return value


class ChoiceKind(Kind):
    def __init__(self, *choices: str) -> None:
        self.choices = choices
        self.label = "one of " + ", ".join(repr(c) for c in choices)

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> str:
        if not isinstance(raw, str) or raw not in self.choices:
            hint = did_you_mean(raw, self.choices) if isinstance(raw, str) else ""
            raise SpecError(f"expected {self.label}, got {_show(raw)}{hint}")
        return raw


class StrKind(Kind):
    label = "a string"

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> str:
        if not isinstance(raw, str):
            raise self.fail(raw)
        return raw


# keras 3's activation names (keras.src.activations.ALL_OBJECTS_DICT; tests/test_honest.py compares)
KERAS_ACTIVATIONS = (
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish",
    "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu", "sigmoid",
    "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid", "sparsemax",
    "squareplus", "swish", "tanh", "tanh_shrink", "threshold",
)


class ActivationKind(Kind):
    """A keras activation by name (or null for none): an unknown name is an error, as in keras."""

    label = "a keras activation name such as 'relu', or null"

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> str | None:
        if raw is None:
            return None
        if not isinstance(raw, str) or raw not in KERAS_ACTIVATIONS:
            hint = did_you_mean(raw, KERAS_ACTIVATIONS) if isinstance(raw, str) else ""
            raise SpecError(f"unknown activation {_show(raw)}{hint}; keras takes {', '.join(KERAS_ACTIVATIONS[:8])}, "
                            f"... ({len(KERAS_ACTIVATIONS)} names), or null")
        return raw


class AnyKind(Kind):
    """Accepted and ignored: it changes neither shapes nor counts (initializers, activations...)."""

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> object:
        return raw


class ShapeKind(Kind):
    """A list of integer expressions (a target shape); `allow_minus_one` for one inferred axis."""

    label = "a list of integers, symbols or expressions"

    def __init__(self, allow_minus_one: bool = False, allow_none: bool = False) -> None:
        self.allow_minus_one = allow_minus_one
        self.allow_none = allow_none

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> tuple:
        items = list(raw) if isinstance(raw, (list, tuple)) else None
        if items is None:
            if isinstance(raw, (int, str)) and not isinstance(raw, bool):
                items = [raw]
            else:
                raise self.fail(raw)
        out: list = []
        for v in items:
            if v is None and self.allow_none:
                out.append(None)
            elif v == -1 and self.allow_minus_one:
                out.append(-1)
            else:
                out.append(INT.parse(v, ctx, rule))
        return tuple(out)


class PairsKind(Kind):
    """keras padding/cropping: int, tuple of `rank` ints, or tuple of `rank` (before, after) pairs."""

    label = "an int, a list of ints, or a list of [before, after] pairs"

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> tuple[tuple[Expr, Expr], ...]:
        n = rule.rank
        if not isinstance(raw, (list, tuple)):
            v = INT.parse(raw, ctx, rule)
            return ((v, v),) * n
        if n == 1 and len(raw) == 2 and not any(isinstance(r, (list, tuple)) for r in raw):
            return ((INT.parse(raw[0], ctx, rule), INT.parse(raw[1], ctx, rule)),)
        if len(raw) != n:
            raise SpecError(f"expected {n} entries (one per spatial axis), got {len(raw)}: {_show(raw)}")
        out = []
        for r in raw:
            if isinstance(r, (list, tuple)):
                if len(r) != 2:
                    raise SpecError(f"expected a [before, after] pair, got {_show(r)}")
                out.append((INT.parse(r[0], ctx, rule), INT.parse(r[1], ctx, rule)))
            else:
                v = INT.parse(r, ctx, rule)
                out.append((v, v))
        return tuple(out)


class LayerKind(Kind):
    """A nested layer spec (keras Bidirectional's `layer`): {ClassName: {args}}."""

    label = "a nested layer such as {LSTM: {units: 64}}"

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> tuple[str, dict]:
        if isinstance(raw, dict) and len(raw) == 1:
            (kind, args), = raw.items()
            if isinstance(kind, str) and (args is None or isinstance(args, dict)):
                return kind, dict(args or {})
        raise self.fail(raw)


INT = IntKind()
INTS = IntsKind()
BOOL = BoolKind()
NUMBER = NumberKind()
ANY = AnyKind()
ACTIVATION = ActivationKind()
STR = StrKind()
OPT_INT = OptionalKind(INT)


@dataclass(frozen=True)
class Arg:
    name: str
    kind: Kind
    default: object = REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


# ---------------------------------------------------------------- rules and registry


@dataclass(frozen=True)
class BatchAxes:
    """Where a layer's tensors carry the batch axis in the framework's own layout (the shapes here exclude it):
    `inputs` for each input tensor, `outputs` one per output (an output not listed: first, 0). torch's
    MultiheadAttention and RNN/LSTM/GRU with batch_first=False take and return (L, N, ...): 1."""

    inputs: int = 0
    outputs: tuple[int, ...] = ()

    def output(self, k: int) -> int:
        return self.outputs[k] if k < len(self.outputs) else 0


# LayerRule.batch_axes: None, the batch first in every tensor (most layers); FOLLOWS, each output (of the input's
# rank) keeps the batch where its input has it (layers acting on trailing axes, or elementwise: Linear, LayerNorm,
# Dropout, activations, add); APPENDS, as FOLLOWS for a layer that keeps all its input's axes and appends new ones
# at the end (torch Embedding: (*) -> (*, D)): each output of at least the input's rank keeps the batch at the
# input's index; or a function of the parsed arguments -> BatchAxes (batch_first).
FOLLOWS = "follows"
APPENDS = "appends"
BatchRule = Callable[[Any], BatchAxes] | str | None


@dataclass(frozen=True)
class LayerRule:
    framework: str
    name: str
    args: tuple[Arg, ...]
    apply: Callable[..., LayerOut]
    summary: str
    rank: int = 0  # spatial rank for conv/pool-like rules
    n_inputs: tuple[int, int] = (1, 1)  # how many input tensors (min, max); max -1: any
    n_outputs: int = 1
    doc_args: tuple[tuple[str, object], ...] = ()  # arguments that make the documented generic instance
    doc_input: tuple[str, ...] = ()  # the documented generic input shape
    batch_axes: BatchRule = None  # where the batch axis goes in its tensors (see BatchAxes, FOLLOWS, APPENDS)

    def batch_layout(self, args: Any) -> BatchAxes | str:
        """BatchAxes for these parsed arguments, or FOLLOWS, or APPENDS."""
        if self.batch_axes is None:
            return BatchAxes()
        return self.batch_axes if isinstance(self.batch_axes, str) else self.batch_axes(args)

    def arg(self, name: str) -> Arg | None:
        for a in self.args:
            if a.name == name:
                return a
        return None


REGISTRY: dict[tuple[str, str], LayerRule] = {}
FRAMEWORKS = ("keras", "torch")

# keras 3's own aliases of the classes symshape supports (`keras.layers.MaxPool2D is keras.layers.MaxPooling2D`;
# tests/test_honest.py checks each against keras, and that none is missing)
ALIASES: dict[tuple[str, str], str] = {("keras", alias): name for alias, name in {
    "AvgPool1D": "AveragePooling1D", "AvgPool2D": "AveragePooling2D", "AvgPool3D": "AveragePooling3D",
    "Convolution1D": "Conv1D", "Convolution2D": "Conv2D", "Convolution3D": "Conv3D",
    "Convolution1DTranspose": "Conv1DTranspose", "Convolution2DTranspose": "Conv2DTranspose",
    "Convolution3DTranspose": "Conv3DTranspose",
    "GlobalAvgPool1D": "GlobalAveragePooling1D", "GlobalAvgPool2D": "GlobalAveragePooling2D",
    "GlobalAvgPool3D": "GlobalAveragePooling3D",
    "GlobalMaxPool1D": "GlobalMaxPooling1D", "GlobalMaxPool2D": "GlobalMaxPooling2D",
    "GlobalMaxPool3D": "GlobalMaxPooling3D",
    "MaxPool1D": "MaxPooling1D", "MaxPool2D": "MaxPooling2D", "MaxPool3D": "MaxPooling3D",
    "SeparableConvolution1D": "SeparableConv1D", "SeparableConvolution2D": "SeparableConv2D",
}.items()}


def register(framework: str, name: str, args: Sequence[Arg], apply: Callable[..., LayerOut], summary: str,
             **extra: Any) -> LayerRule:
    key = (framework, name)
    if key in REGISTRY:
        raise RuntimeError(f"layer {framework}.{name} registered twice")
    names = [a.name for a in args]
    if len(set(names)) != len(names):
        raise RuntimeError(f"layer {framework}.{name} declares an argument twice")
    rule = LayerRule(framework, name, tuple(args), apply, summary, **extra)
    REGISTRY[key] = rule
    return rule


def rules(framework: str | None = None) -> list[LayerRule]:
    return [r for (fw, _), r in sorted(REGISTRY.items()) if framework in (None, fw)]


def find_rule(framework: str, name: object) -> LayerRule:
    if not isinstance(name, str):
        raise SpecError(f"a layer kind must be a class name, got {_show(name)}")
    rule = REGISTRY.get((framework, ALIASES.get((framework, name), name)))
    if rule is not None:
        return rule
    own = [n for (fw, n) in (*REGISTRY, *ALIASES) if fw == framework]
    hint = did_you_mean(name, own)
    other = [fw for fw in FRAMEWORKS if fw != framework and ((fw, name) in REGISTRY or (fw, name) in ALIASES)]
    if other:
        raise SpecError(f"'{name}' is a {other[0]} layer, but this spec is framework: {framework}{hint}")
    raise SpecError(f"unknown {framework} layer '{name}'{hint}")


# ---------------------------------------------------------------- helpers shared by rules


def prod(items: Sequence[Expr | int]) -> Expr:
    """The product, built in one SymPy call (each call sorts its factors once)."""
    return sympy.Mul(*items) if items else Integer(1)


def spatial_names(rank: int) -> tuple[str, ...]:
    return {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}.get(
        rank, tuple(f"axis {i}" for i in range(rank)))


def channels_last(framework: str, data_format: str | None) -> bool:
    if data_format is not None:
        return data_format == "channels_last"
    return framework == "keras"


def split_channels(shape: Shape, rank: int, last: bool, ctx: Ctx, what: str) -> tuple[Expr, Shape]:
    """(C, spatial) of a channels-first or channels-last input of the given spatial rank."""
    if len(shape) != rank + 1:
        layout = ("(" + ", ".join([*spatial_names(rank), "channels"]) + ")") if last else \
                 ("(" + ", ".join(["channels", *spatial_names(rank)]) + ")")
        raise SpecError(f"{what} expects a {rank + 1}-d input {layout} (batch axis excluded), "
                        f"got {len(shape)}-d {_fmt(shape)}")
    return (shape[-1], shape[:-1]) if last else (shape[0], shape[1:])


def join_channels(c: Expr, spatial: Sequence[Expr], last: bool) -> Shape:
    return (*spatial, c) if last else (c, *spatial)


def _fmt(shape: Sequence[Expr]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def positive(label: str, value: Expr, note: str = "") -> Condition:
    return Condition(label, value, ">=", 1, note)


def nonnegative(label: str, value: Expr, note: str = "") -> Condition:
    return Condition(label, value, ">=", 0, note)


def divides(label: str, num: Expr, den: Expr, note: str = "") -> Condition:
    """den divides num (a condition that folds away for den = 1 or integer operands)."""
    if den == 1:
        rem: Expr = Integer(0)
    elif isinstance(num, Integer) and isinstance(den, Integer) and den != 0:
        rem = Integer(num.p % den.p)
    else:
        rem = sympy.Mod(num, den, evaluate=False)
    return Condition(label, rem, "==", 0, note)


def equal(label: str, lhs: Expr, rhs: Expr, note: str = "") -> Condition:
    return Condition(label, lhs, "==", rhs, note)


def size_conditions(prefix: str, sizes: Sequence[Expr], names: Sequence[str]) -> list[Condition]:
    return [positive(f"{prefix} {n}", s) for s, n in zip(sizes, names, strict=True)]
