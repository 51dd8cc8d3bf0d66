"""The cost of training, symbolic: FLOPs under a stated convention and memory per batch size.

    from symshape.cost import cost
    c = cost(d, batch="B", dtype="bf16-mixed", optimizer="adamw", flops="fvcore")
    c.forward_flops            # a formula in B and the spec's symbols (closed form; .subs(H=224) works)
    c.formula("total_bytes", {"H": 224, "W": 224})            # memory as a function of B at 224x224
    c.evaluate({"B": 32, "H": 224, "W": 224}).total_bytes     # exact int
    c.largest("B", 24 * 2**30, {"H": 224, "W": 224})          # the largest batch that fits 24 GiB

Layers: :mod:`.conventions` (how FLOPs are counted; the tools' presets), :mod:`.facts` (what each layer
is, per sample), :mod:`.flops` (forward/backward FLOPs per layer), :mod:`.memory` (bytes: parameters,
gradients, optimizer state, buffers, saved activations), :mod:`.table` (the torchinfo-like table).
Every number is an exact integer; batch columns in int64 flag overflow instead of wrapping.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy
from sympy import Expr, Integer, Symbol

from ..errors import BindingError, did_you_mean
from ..layout import batch_layout, with_batch
from .conventions import PRESETS, FlopConvention, convention
from .facts import Facts, facts_of
from .flops import layer_flops
from .memory import (
    DTYPES,
    OPTIMIZERS,
    Precision,
    buffer_bytes,
    optimizer_slots,
    param_tensors,
    precision,
    saved_tensors,
    simplify,
)
from .program import LAYER_QUANTITIES, QUANTITIES, CostProgram

if TYPE_CHECKING:
    from ..derive import Derivation

__all__ = ["DTYPES", "OPTIMIZERS", "PRESETS", "QUANTITIES", "Cost", "CostProgram", "CostValues", "FlopConvention",
           "LayerCost", "cost", "parse_bytes"]

ZERO = Integer(0)


@dataclass(frozen=True)
class LayerCost:
    index: int
    name: str
    kind: str
    output_shape: tuple[Expr, ...]  # the batch where the framework puts it (symshape.layout)
    params: Expr
    forward_flops: Expr
    backward_flops: Expr
    saved_bytes: Expr  # activations this layer is the first to keep for backward
    keeps: tuple[str, ...]  # what it keeps, in words


@dataclass(frozen=True)
class CostValues:
    """Exact integers for one binding (None: undefined, a division by zero)."""

    bindings: dict[str, int]
    totals: dict[str, int | None]
    layers: tuple[dict[str, Any], ...]

    def __getattr__(self, name: str) -> Any:
        totals = self.__dict__.get("totals", {})
        if name in totals:
            return totals[name]
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"bindings": dict(self.bindings), **self.totals, "layers": [dict(ly) for ly in self.layers]}


@dataclass(frozen=True, eq=False)
class Cost:
    derivation: Any
    batch: Expr
    mode: str
    dtype: Precision
    optimizer: str
    convention: FlopConvention
    checkpoint: bool
    layers: tuple[LayerCost, ...]
    totals: dict[str, Expr]
    input_bytes: Expr
    segments: tuple[tuple[str, Expr, Expr], ...] = ()  # with checkpoint: (segment, inputs kept, recomputed)
    notes: tuple[str, ...] = ()  # what the numbers do not model (recurrent layers' saved gates and workspaces)

    def __getattr__(self, name: str) -> Any:
        totals = self.__dict__.get("totals", {})
        if name in totals:
            return self.formula(name)
        raise AttributeError(name)

    def formula(self, quantity: str, bindings: Mapping[str, int] | None = None) -> Expr:
        """A total (forward_flops, total_bytes, ...) in closed form, in the batch and the spec's own symbols
        (no internal size atoms), with the symbols in `bindings` replaced by their values."""
        totals = self.__dict__["totals"]
        if quantity not in totals:
            raise BindingError(f"unknown quantity '{quantity}'{did_you_mean(quantity, totals)}; "
                               f"one of {', '.join(totals)}")
        e = self.substitute(self.derivation.normal_form(totals[quantity]), bindings)
        return self.derivation.normal_form(e) if bindings else e

    def substitute(self, e: Expr, bindings: Mapping[str, int] | None) -> Expr:
        """`e` (a formula of this cost, in closed form) with some symbols given values; unknown names refused."""
        if not bindings:
            return e
        self.check_names(bindings)
        values = {s: Integer(int(bindings[s.name])) for s in e.free_symbols if s.name in bindings}
        return e.xreplace(values) if values else e

    def check_names(self, bindings: Mapping[str, Any]) -> None:
        """Every name bound is a symbol of this cost (a typo is refused, with a "did you mean")."""
        names = self.symbols
        for k in bindings:
            if k not in names:
                raise BindingError(f"'{k}' is not a symbol of this cost{did_you_mean(k, names)}; its symbols: "
                                   f"{', '.join(names) or 'none'}")

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols the cost depends on: the spec's free symbols and the batch (if symbolic)."""
        names = list(self.derivation.free_symbols)
        for s in sorted(self.batch.free_symbols, key=lambda s: s.name):
            if s.name not in names:
                names.append(s.name)
        return tuple(names)

    @cached_property
    def compiled(self) -> CostProgram:
        """The cost compiled for evaluation: plain, picklable data (`symshape.cost.program.CostProgram`)."""
        from ..program import ProgramBuilder

        b = ProgramBuilder(self.derivation.defs)
        totals = {k: b.add(v) for k, v in self.totals.items()}
        layers = tuple({"index": ly.index, "name": ly.name, "kind": ly.kind,
                        "output_shape": [b.add(s) for s in ly.output_shape],
                        **{q: b.add(getattr(ly, q)) for q in LAYER_QUANTITIES}} for ly in self.layers)
        batch = next(iter(self.batch.free_symbols)).name if self.batch.free_symbols else int(self.batch)
        options = (("batch", batch), ("dtype", self.dtype.name), ("optimizer", self.optimizer),
                   ("flops", self.convention.name), ("mode", self.mode), ("checkpoint", self.checkpoint))
        return CostProgram(b.build(), totals, layers, self.derivation.compiled, self.symbols, batch, options)

    def evaluate(self, bindings: Mapping[str, Any] | None = None, **kw: int) -> CostValues:
        """Exact integers for one binding: totals and per-layer values (`valid` and `violations` as
        `Derivation.evaluate` finds them, and the batch at least 1)."""
        p = self.compiled
        values = p.values({**(bindings or {}), **kw})
        totals, layers = p.run(values)
        return CostValues(values, totals, tuple(layers))

    def evaluate_batch(self, columns: Mapping[str, Any], outputs: Sequence[str] = ("total_bytes",),
                       chunk: int = 1 << 14) -> dict[str, Any]:
        """Columns of values -> int64 columns of totals, `valid` and `overflow` (rows whose exact value
        does not fit in int64 are flagged and read 0, never a wrapped number)."""
        return self.compiled.run_batch(columns, outputs, chunk)

    def largest(self, symbol: str, budget: int, bindings: Mapping[str, int] | None = None,
                quantity: str = "total_bytes", hi: int | None = None) -> int | None:
        """The largest value of `symbol` (the batch, or an input size) whose `quantity` stays within
        `budget`, with the network valid there; None if even the smallest does not fit. Exact: for the
        batch (cost linear in it) by one division, otherwise by bisection on exact evaluations and the
        valid set (`Derivation.solve`)."""
        from .inverse import largest

        return largest(self, symbol, budget, dict(bindings or {}), quantity, hi)

    def to_dict(self) -> dict[str, Any]:
        from .table import cost_dict

        return cost_dict(self)

    def __repr__(self) -> str:
        """<Cost of 'resnet50': batch B, fp32, sgd, train, FLOPs as symshape; 175 layers; symbols H, W, B>"""
        from ..views import _spec_name

        n = len(self.layers)
        name = _spec_name(self.derivation) or f" a {self.derivation.framework} network"
        return (f"<Cost of{name}: batch {self.batch}, {self.dtype.name}, {self.optimizer}, {self.mode}, FLOPs as "
                f"{self.convention.name}{', checkpointed' if self.checkpoint else ''}; "
                f"{n} layer{'s' if n != 1 else ''}; "
                f"symbols {', '.join(self.symbols) or 'none'}>")

    def summary(self, bindings: Mapping[str, int] | None = None, **kw: Any) -> None:
        """Print the table of `symshape cost` (numbers when `bindings` give every symbol, else formulas with
        the symbols given replaced by their values)."""
        full = bindings is not None and all(s in bindings for s in self.symbols)
        if bindings is not None and not full:
            kw["bindings"] = dict(bindings)
        print(self.table(self.evaluate(bindings) if full else None, **kw))

    def table(self, values: CostValues | None = None, **kw: Any) -> str:
        from .table import cost_table

        return cost_table(self, values, **kw)


def _with_batch(d: Derivation, batch: int | str | Expr | None, mode: str) -> Derivation:
    """`d` as if its spec named this batch and mode, where that changes what is valid: a torch BatchNorm
    in training refuses one value per channel (N·∏spatial > 1, 'Expected more than 1 value per channel
    when training'), a condition the derivation states only for a spec that names its batch. Otherwise
    (no such layer, or nothing changed) `d` itself."""
    from ..layers.norm import TRAINING_BATCH_CHECKS

    spec = d.spec
    if not any((d.framework, ly.kind) in TRAINING_BATCH_CHECKS for ly in d.layers):
        return d
    if isinstance(batch, (int, np.integer)) and not isinstance(batch, bool):
        new_batch: int | str | None = int(batch)
    elif isinstance(batch, str) and batch.strip().isdigit():
        new_batch = int(batch.strip())
    elif isinstance(batch, str) and batch.strip().isidentifier() and batch.strip() not in d.symbols:
        new_batch = batch.strip()
    elif batch is None:
        new_batch = spec.batch if spec.batch is not None else _batch_expr(d, None).name
    else:
        new_batch = spec.batch  # a symbol of the spec (refused by _batch_expr) or an expression: as it is
    new_mode = mode if (new_batch is not None or spec.mode is not None) else spec.mode
    if new_batch == spec.batch and new_mode == (spec.mode or ("train" if spec.batch is not None else None)):
        return d
    from dataclasses import replace

    from ..derive import derive

    return derive(replace(spec, batch=new_batch, mode=new_mode))


def _batch_expr(d: Derivation, batch: int | str | Expr | None) -> Expr:
    if batch is None and getattr(d, "batch", None) is not None:
        return d.batch
    if batch is None:
        name = "B" if "B" not in d.symbols else "N"
        return Symbol(name, integer=True, positive=True)
    if isinstance(batch, bool):
        raise BindingError(f"batch is an integer or a symbol name, got {batch!r}")
    if isinstance(batch, (int, np.integer)):
        if batch < 1:
            raise BindingError(f"batch must be at least 1, got {batch}")
        return Integer(int(batch))
    if isinstance(batch, str):
        text = batch.strip()
        if text.isdigit():
            return _batch_expr(d, int(text))
        if not text.isidentifier():
            raise BindingError(f"batch is an integer or a symbol name, got {batch!r}")
        info = d.symbols.get(text)
        if info is not None and (d.batch is None or str(d.batch) != text):
            raise BindingError(f"batch '{text}' is already a symbol of the spec (it fills {info.why or 'a size'}); "
                               "name the batch with another symbol, or give the spec `batch: " + text + "`")
        return info.symbol if info is not None else Symbol(text, integer=True, positive=True)
    if isinstance(batch, Expr):
        return batch
    raise BindingError(f"batch is an integer or a symbol name, got {type(batch).__name__}")


def cost(d: Derivation, *, batch: int | str | Expr | None = None, dtype: str | Precision = "fp32",
         optimizer: str = "sgd", flops: str | FlopConvention | None = None, mode: str | None = None,
         checkpoint: bool = False) -> Cost:
    """The cost of training `d` (a `Derivation`) as formulas: per layer and in total, FLOPs forward and
    backward under the convention `flops` (a preset name or a `FlopConvention`), and memory in bytes
    at the batch `batch` (an int, a symbol name, default the spec's `batch:` or the symbol B)."""
    key: tuple | None = (getattr(d, "key", None), batch if not isinstance(batch, Expr) else str(batch), str(dtype),
                         optimizer, flops, mode, bool(checkpoint))
    try:
        with _LOCK:
            hit = _CACHE.get(key)  # type: ignore[arg-type]
            if hit is not None:
                _CACHE.move_to_end(key)  # type: ignore[arg-type]
    except TypeError:  # an unhashable option: no caching (the checks below say what is wrong)
        key, hit = None, None
    if hit is not None and hit[0] is d:
        return hit[1]
    result = _cost(d, batch, dtype, optimizer, flops, mode, checkpoint)
    if key is not None and key[0] is not None:
        with _LOCK:
            _CACHE[key] = (d, result)
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return result


# (derivation key, options) -> (the derivation, its cost), the most recent last. Bounded, and by key: a cache
# keyed by the derivation itself (a WeakKeyDictionary) would never let it go, as a Cost holds its derivation.
_CACHE: OrderedDict[tuple, tuple[Any, Cost]] = OrderedDict()
_CACHE_SIZE = 64
_LOCK = threading.Lock()


def _cost(d: Derivation, batch: int | str | Expr | None, dtype: str | Precision, optimizer: str,
          flops: str | FlopConvention | None, mode: str | None, checkpoint: bool) -> Cost:
    conv = convention(flops)
    prec = precision(dtype)
    slots = optimizer_slots(optimizer)
    mode = mode or getattr(d.spec, "mode", None) or "train"
    if mode not in ("train", "eval"):
        raise BindingError(f"mode is 'train' or 'eval', got {mode!r}{did_you_mean(str(mode), ('train', 'eval'))}")
    d = _with_batch(d, batch, mode)
    n = _batch_expr(d, batch)
    layout = batch_layout(d)
    facts = [facts_of(ly, d.framework) for ly in d.layers]
    root = _aliases(facts)
    needs_grad: dict[str, bool] = dict.fromkeys(d.inputs, False)
    first_keeper: dict[str, int] = {}
    keeps: dict[int, list[tuple[str, Expr]]] = {}
    layer_costs = []
    flops_f, flops_b = [], []
    params_bytes, grads, opt, bufs = [], [], [], []
    for f in facts:
        g_in = any(needs_grad.get(r.partition(":")[0], False) for r in f.inputs)
        lf = layer_flops(f, conv, n, mode, g_in)
        mine: list[tuple[str, Expr]] = []
        for key, nbytes in saved_tensors(f, prec, g_in, mode, n):
            base = key if key.startswith("own:") else "out:" + root(key[4:].partition(":")[0])
            if base not in first_keeper:
                first_keeper[base] = f.index
                mine.append((key, nbytes))
        keeps[f.index] = mine
        needs_grad[f.name] = g_in or f.trainable != 0
        saved = simplify(sum((b for _, b in mine), ZERO))
        shape = with_batch(d.layers[f.index].outputs[0], n, layout.output(f.index, 0))
        layer_costs.append(LayerCost(f.index, f.name, f.kind, shape, f.params,
                                     lf.forward, lf.backward if mode == "train" else ZERO, saved,
                                     tuple(_describe(k, f) for k, _ in mine)))
        flops_f.append(lf.forward)
        flops_b.append(lf.backward)
        params_bytes.append(f.params * prec.param)
        grads.append(f.trainable * prec.grad)
        opt.append(slots * f.trainable * prec.optimizer + (4 * param_tensors(f) if slots == 2 and f.framework == "torch"
                                                           else 0))
        bufs.append(buffer_bytes(f, prec))
    activations = sympy.Add(*[lc.saved_bytes for lc in layer_costs])
    segments: tuple = ()
    if checkpoint and mode == "train":
        activations, segments = _checkpointed(d, facts, needs_grad, n, prec, mode, root)
    training = mode == "train"
    totals = {
        "forward_flops": simplify(sympy.Add(*flops_f)),
        "backward_flops": simplify(sympy.Add(*flops_b)) if training else ZERO,
        "params_bytes": simplify(sympy.Add(*params_bytes)),
        "grads_bytes": simplify(sympy.Add(*grads)) if training else ZERO,
        # keras' optimizers also hold `iteration` (int32) and `learning_rate` (float32): 8 bytes
        "optimizer_bytes": simplify(sympy.Add(*opt) + (8 if d.framework == "keras" and optimizer != "none" else 0))
        if training else ZERO,
        "buffers_bytes": simplify(sympy.Add(*bufs)),
        "activations_bytes": activations,
    }
    totals["train_flops"] = simplify(totals["forward_flops"] + totals["backward_flops"])
    totals["total_bytes"] = sympy.Add(*[totals[k] for k in ("params_bytes", "grads_bytes", "optimizer_bytes",
                                                            "buffers_bytes", "activations_bytes")])
    inputs = sympy.Add(*[n * sympy.Mul(*shape) * prec.activation for shape in d.inputs.values()])
    notes = tuple(f"layer {f.index} '{f.name}' ({f.kind}): what it keeps for backward is not modelled beyond its "
                  "input (torch keeps its gates, and a workspace for LSTM): activations and memory are lower bounds"
                  for f in facts if f.family == "recurrent" and mode == "train")
    if d.framework != "torch" and conv.tool is not None:
        notes += (f"{d.framework} spec: the {conv.name} preset is a torch tool's; here it counts by its knobs only "
                  f"({conv.multiply_add} FLOP{'s' if conv.multiply_add > 1 else ''} per multiply-add"
                  f"{', bias' if conv.bias else ''}{', per sample' if conv.per_sample else ''}), not {conv.tool}'s "
                  "per-layer rules, which run on torch modules",)
    if d.framework == "keras" and mode == "train":
        notes += ("keras: the activations saved for backward are an estimate, what the torch counterpart of each "
                  "layer keeps (keras itself keeps other tensors: not exact); parameters, gradients and optimizer "
                  "variables are keras' own (exact)",)
    return Cost(d, n, mode, prec, optimizer, conv, bool(checkpoint), tuple(layer_costs), totals, inputs, segments,
                notes)


def _describe(key: str, f: Facts) -> str:
    if key.startswith("own:"):
        return key.rsplit(":", 1)[-1]
    ref = key[4:]
    return "output" if ref == f.name else "input"


def _checkpointed(d: Derivation, facts: Sequence[Facts], grads: Mapping[str, bool], n: Expr, prec: Precision,
                  mode: str, root: Any) -> tuple[Expr, tuple[tuple[str, Expr, Expr], ...]]:
    """Segments at the top-level name prefixes (``layer1.0.*`` one segment, ``conv1`` another), each run
    under checkpointing: the forward keeps each segment's inputs only (each tensor once); the backward
    recomputes one segment at a time, which keeps what its layers keep, its inputs aside. Saved at the
    peak: Σ inputs kept + max over segments of what one keeps. Returns that and, per segment, (name,
    inputs kept, recomputed activations)."""
    segments: dict[str, list[Facts]] = {}
    for f in facts:
        segments.setdefault(_segment(f.name), []).append(f)
    kept_all: dict[str, Expr] = {}
    parts = []
    for seg, members in segments.items():
        inside = {f.name for f in members}
        kept: dict[str, Expr] = {}
        for f in members:
            for ref in f.inputs:
                base, _, k = ref.partition(":")
                if base in inside or root(base) in kept:
                    continue
                base = root(base)
                if base in d.inputs:
                    kept[base] = n * sympy.Mul(*d.inputs[base]) * prec.param  # the caller's tensor, as given
                else:
                    ly = next(x for x in d.layers if x.name == base)
                    kept[base] = n * sympy.Mul(*ly.outputs[int(k or 0)]) * prec.activation
        seen: dict[str, Expr] = {}
        for f in members:
            g_in = any(grads.get(r.partition(":")[0], False) for r in f.inputs)
            for key, nbytes in saved_tensors(f, prec, g_in, mode, n):
                base = key if key.startswith("own:") else root(key[4:].partition(":")[0])
                if base in kept or base in seen:
                    continue
                seen[base] = nbytes
        inner = sympy.Add(*seen.values())
        parts.append((seg, sympy.Add(*kept.values()), inner))
        for k, v in kept.items():
            kept_all.setdefault(k, v)
    inners = [p[2] for p in parts]
    peak = sympy.Max(*inners) if len(inners) > 1 else inners[0] if inners else ZERO
    return sympy.Add(*kept_all.values()) + peak, tuple(parts)


VIEWS = {"Flatten", "Unflatten", "Reshape", "reshape", "view", "Identity"}  # outputs that share their input's storage


def _aliases(facts: Sequence[Facts]) -> Any:
    """name -> the layer (or input) whose storage its output is: a view (Flatten...) is its input's."""
    parent = {f.name: f.inputs[0].partition(":")[0] for f in facts if f.kind in VIEWS and f.inputs}

    def root(name: str) -> str:
        seen = 0
        while name in parent and seen < len(parent):
            name = parent[name]
            seen += 1
        return name

    return root


def _segment(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else parts[0]


def parse_bytes(text: str) -> int:
    """'24GiB', '24 GB', '1.5GiB', '800MB', '1e9' -> bytes (exact: decimal text through Fraction)."""
    from fractions import Fraction

    units = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "kib": 2**10, "mib": 2**20,
             "gib": 2**30, "tib": 2**40, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
    s = str(text).strip().replace("_", "").replace(",", "")
    i = len(s)
    while i > 0 and s[i - 1].isalpha():
        i -= 1
    number, unit = s[:i].strip(), s[i:].lower()
    if unit not in units or not number or len(number) > 40:
        raise BindingError(f"a memory size such as 24GiB, 800MB or 1e9, got {text!r}"
                           f"{did_you_mean(unit, [u for u in units if u])}")
    try:
        if "e" in number.lower():
            mant, _, exp = number.lower().partition("e")
            if abs(int(exp)) > 30:
                raise ValueError
            value = Fraction(mant) * Fraction(10) ** int(exp)
        else:
            value = Fraction(number)
    except (ValueError, ZeroDivisionError):
        raise BindingError(f"a memory size such as 24GiB, 800MB or 1e9, got {text!r}") from None
    out = value * units[unit]
    if out < 0:
        raise BindingError(f"a memory budget is not negative, got {text!r}")
    return int(out)  # whole bytes: a fractional byte rounds down
