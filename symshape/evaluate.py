"""Numbers from a derivation: exact integers for one binding, numpy columns for many.

Both run the derivation's one compiled program (:mod:`symshape.program`): the per-layer
recurrence, never the symbolic closed form, so evaluation stays linear in depth and exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import fastpath
from .algebra import as_expr
from .errors import BindingError, LimitError, did_you_mean
from .layers.base import NEGATE, Condition
from .layout import BatchLayout, batch_layout
from .limits import current
from .program import Program, ProgramBuilder  # noqa: F401 - Program is the type of .program

if TYPE_CHECKING:
    from .derive import Derivation, NetCondition

__all__ = ["BatchResult", "Evaluation", "LayerValues", "Violation"]

MAX_BATCH = 100_000_000  # the default of symshape.limits max_batch
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
BATCH_OUTPUTS = ("output_shape", "params", "trainable", "non_trainable", "buffers", "macs", "activations")


@dataclass(frozen=True)
class CheckInfo:
    """A compiled condition: where it comes from and the registers of its sides and truth."""

    layer: int | None
    name: str | None
    kind: str | None
    origin: str
    label: str
    op: str
    note: str
    lhs: int
    rhs: int
    truth: int


def condition_registers(b: ProgramBuilder, c: Condition) -> tuple[int, int, int]:
    """(lhs, rhs, truth) registers of a condition compiled into `b` ('holds': all three the same)."""
    if c.op == "holds":
        reg = b.add(c.lhs)
        return reg, reg, reg
    lhs, rhs = b.add(as_expr(c.lhs)), b.add(as_expr(c.rhs))
    return lhs, rhs, b.op(c.op, (lhs, rhs))


class Compiled:
    """The derivation's program and where each quantity lives in it: plain, picklable data
    (the gRPC server derives in worker processes and evaluates with this in its own)."""

    def __init__(self, d: Derivation) -> None:
        """Layer by layer: its sizes, counts and conditions, folded into running totals and a
        running validity, so that in batch evaluation each layer's arrays die soon after it."""
        b = ProgramBuilder(d.defs)
        self.conditions: list[CheckInfo] = []
        by_layer: dict[int | None, list[NetCondition]] = {}
        for nc in d.conditions:
            by_layer.setdefault(None if nc.layer is None else nc.layer.index, []).append(nc)
        valid: int | None = None
        totals: dict[str, int | None] = dict.fromkeys(("trainable", "non_trainable", "buffers", "macs",
                                                       "activations"))

        def check(nc: NetCondition) -> None:
            nonlocal valid
            c = nc.condition
            lhs, rhs, truth = condition_registers(b, c)
            ly = nc.layer
            self.conditions.append(CheckInfo(
                None if ly is None else ly.index, None if ly is None else ly.name, None if ly is None else ly.kind,
                nc.origin, c.label, c.op, c.note, lhs, rhs, truth))
            valid = truth if valid is None else b.op("and", (valid, truth))

        for nc in by_layer.get(None, []):
            check(nc)
        self.layer_regs: list[dict[str, Any]] = []
        for ly in d.layers:
            regs: dict[str, Any] = {"outputs": [[b.add(s) for s in shape] for shape in ly.outputs],
                                    "index": ly.index, "name": ly.name, "kind": ly.kind}
            for name in totals:
                regs[name] = b.add(getattr(ly, name))
                totals[name] = regs[name] if totals[name] is None else b.op("add", (totals[name], regs[name]))
            self.layer_regs.append(regs)
            for nc in by_layer.get(ly.index, []):
                check(nc)
        self.valid = valid if valid is not None else b.const(True)
        self.totals = {k: v if v is not None else b.const(0) for k, v in totals.items()}
        self.totals["params"] = b.op("add", (self.totals["trainable"], self.totals["non_trainable"]))
        self.output = [[b.add(s) for s in shape] for _, shape in d.outputs]
        self.batch: int | None = None if d.batch is None else b.add(d.batch)  # the spec's `batch:` (its register)
        # where each tensor holds the batch (symshape.layout: torch's batch_first=False puts it second)
        self.batch_axes: BatchLayout | None = None if d.batch is None else batch_layout(d)
        self.program: Program = b.build()
        self.accepted = tuple(d.symbols)
        self.read = self._read()

    def _read(self) -> tuple[int, ...]:
        """The registers an Evaluation reads: `Program.run_int(values, read)` computes only these and what
        they need (the running totals' and validity's links are summed at once). Set when compiled (not on
        first use: the server pickles a Compiled while other threads evaluate with it)."""
        regs = {self.valid, *self.totals.values()}
        for ck in self.conditions:
            regs.update((ck.lhs, ck.rhs, ck.truth))
        for lr in self.layer_regs:
            regs.update(r for shape in lr["outputs"] for r in shape)
            regs.update(lr[name] for name in ("trainable", "non_trainable", "buffers", "macs", "activations"))
        regs.update(r for shape in self.output for r in shape)
        if getattr(self, "batch", None) is not None:
            regs.add(self.batch)
        return tuple(sorted(r for r in regs if isinstance(r, int) and not isinstance(r, bool)))

    def depends_on(self, reg: int) -> list[str]:
        """Names of the symbols a register depends on, in program order."""
        seen = {reg}
        stack = [reg]
        names: set[str] = set()
        ops = self.program.ops
        while stack:
            op, args = ops[stack.pop()]
            if op == "sym":
                names.add(args[0])
            elif op != "const":
                for a in args:
                    if a not in seen:
                        seen.add(a)
                        stack.append(a)
        return [s for s in self.accepted if s in names]


# ---------------------------------------------------------------- one binding


@dataclass(frozen=True)
class Violation:
    layer: int | None
    name: str | None
    kind: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "name": self.name, "kind": self.kind, "message": self.message}


@dataclass(frozen=True)
class _Totals:
    """What a network and each of its layers share: output shapes and counts (None: undefined)."""

    output_shapes: tuple[tuple[int | None, ...], ...]
    trainable: int | None
    non_trainable: int | None
    buffers: int | None
    macs: int | None
    activations: int | None

    @property
    def output_shape(self) -> tuple[int | None, ...]:
        return self.output_shapes[0]

    @property
    def params(self) -> int | None:
        if self.trainable is None or self.non_trainable is None:
            return None
        return self.trainable + self.non_trainable

    def _counts_dict(self) -> dict[str, Any]:
        return {
            "output_shape": list(self.output_shape),
            "output_shapes": [list(s) for s in self.output_shapes],
            "params": {"trainable": self.trainable, "non_trainable": self.non_trainable, "total": self.params},
            "buffers": self.buffers, "macs": self.macs, "activations": self.activations,
        }


@dataclass(frozen=True)
class LayerValues(_Totals):
    index: int
    name: str
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "kind": self.kind, **self._counts_dict()}


@dataclass(frozen=True)
class Evaluation(_Totals):
    bindings: dict[str, int]
    layers: tuple[LayerValues, ...]
    violations: tuple[Violation, ...]
    margins: Any = None  # symshape.margins.Margins when asked for (evaluate(..., margins=True))
    batch: int | None = None  # the spec's `batch:` at these bindings (None: the spec names no batch)
    batch_axes: BatchLayout | None = field(default=None, repr=False)  # where each tensor holds it (views)

    @property
    def valid(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {
            "bindings": dict(self.bindings),
            **self._counts_dict(),
            "layers": [ly.to_dict() for ly in self.layers],
            "valid": self.valid,
            "violations": [v.to_dict() for v in self.violations],
            **({} if self.margins is None else {"margins": self.margins.to_dict()}),
            **({} if self.batch is None else {"batch": self.batch}),
        }

    # views (symshape.views): a one-line repr, the table, and what notebooks show
    def __repr__(self) -> str:
        from .views import evaluation_repr

        return evaluation_repr(self)

    def summary(self) -> None:
        """Print the table of `symshape eval` (layers, shapes, parameters, MACs, validity)."""
        from .views import evaluation_summary

        evaluation_summary(self)

    def _repr_html_(self) -> str:
        from .views import evaluation_html

        return evaluation_html(self)

    def _repr_markdown_(self) -> str:
        from .views import evaluation_markdown

        return evaluation_markdown(self)


def check_bindings(c: Compiled, bindings: Mapping[str, Any]) -> dict[str, int]:
    if not isinstance(bindings, Mapping):
        raise BindingError(f"bindings map symbol names to integers, not {type(bindings).__name__}")
    out: dict[str, int] = {}
    accepted, max_bits = c.accepted, current().max_bits
    for name, value in bindings.items():
        if name not in accepted:
            raise BindingError(f"unknown symbol '{name}'{did_you_mean(str(name), accepted)}; "
                               f"this network's symbols: {', '.join(accepted) or 'none'}")
        if value.__class__ is not int:  # (a plain int, the common case, needs no conversion)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
                    value = int(value)
                else:
                    raise BindingError(f"the value of '{name}' must be an integer, got {_short(value)}")
            value = int(value)
        if value.bit_length() > max_bits:
            raise LimitError(f"the value of '{name}' has more than {max_bits} bits (symshape.limits max_bits)")
        out[name] = value
    if len(out) == len(c.program.symbols) and all(s in out for s in c.program.symbols):
        return out  # every symbol the program reads is bound
    needed = set(c.program.symbols)
    missing = [s for s in accepted if s in needed and s not in out]
    if missing:
        raise BindingError(f"missing value{'s' if len(missing) > 1 else ''} for {', '.join(missing)}")
    return out


def _short(value: object) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int beyond Python's digit limit for str()
        return f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def evaluate(d: Derivation | Compiled, bindings: Mapping[str, Any], margins: bool = False) -> Evaluation:
    """Exact values at one binding; with `margins`, `Evaluation.margins` holds each condition's signed
    margin (<= 0: it holds; symshape.margins), in the order of `Compiled.conditions`."""
    c: Compiled = d if isinstance(d, Compiled) else d.compiled
    values = check_bindings(c, bindings)
    return evaluation_from(c, values, c.program.run_int(values, c.read), margins)


def evaluation_from(c: Compiled, values: dict[str, int], regs: list, margins: bool = False) -> Evaluation:
    """The Evaluation of checked bindings from the program's registers (run_int), for callers that
    looked at the registers first (symshape.integrations.optuna prunes without building it)."""
    signed = None
    if margins:
        from .margins import Margins, condition_names, margin_int

        signed = Margins(tuple(condition_names(c)), tuple(margin_int(ck, regs) for ck in c.conditions))
    get = regs.__getitem__  # sizes and counts are exact Python ints (None: undefined by a division by zero)
    layers = [LayerValues(tuple(tuple(map(get, shape)) for shape in lr["outputs"]),
                          get(lr["trainable"]), get(lr["non_trainable"]), get(lr["buffers"]), get(lr["macs"]),
                          get(lr["activations"]), lr["index"], lr["name"], lr["kind"]) for lr in c.layer_regs]
    violations = [_violation(c, check, regs, values) for check in c.conditions if not regs[check.truth]]
    return Evaluation(
        bindings=values,
        output_shapes=tuple(tuple(map(get, shape)) for shape in c.output),
        trainable=get(c.totals["trainable"]), non_trainable=get(c.totals["non_trainable"]),
        buffers=get(c.totals["buffers"]), macs=get(c.totals["macs"]),
        activations=get(c.totals["activations"]), layers=tuple(layers), violations=tuple(violations),
        margins=signed, batch=None if getattr(c, "batch", None) is None else get(c.batch),
        batch_axes=getattr(c, "batch_axes", None))


def _separated(v: object) -> str:
    if isinstance(v, bool) or not isinstance(v, int):
        return str(v)
    return f"{v:,}" if v.bit_length() < 4096 else f"~{v:.3e}"


def _violation(c: Compiled, check: CheckInfo, regs: list, values: dict[str, int]) -> Violation:
    lhs, rhs = check.lhs, check.rhs
    if check.op == "holds":
        text = f"{check.label} does not hold"
    elif regs[lhs] is None or regs[rhs] is None:
        text = f"{check.label} is undefined (division by zero)"
    else:  # numbers as every text view shows them (25,088); 'a vs b' labels read 'a 100 != 25,088 b'
        first, vs, second = check.label.partition(" vs ")
        shown_l, shown_r = _separated(regs[lhs]), _separated(regs[rhs])
        text = f"{first} {shown_l} {NEGATE[check.op]} {shown_r} {second}" if vs else \
            f"{check.label} {shown_l} {NEGATE[check.op]} {shown_r}"
    names = c.depends_on(lhs) + [n for n in c.depends_on(rhs) if n not in c.depends_on(lhs)]
    if names and check.layer is not None or len(names) > 1:
        shown = ", ".join(f"{n}={values[n]}" for n in names[:8])
        text += f" at {shown}{', ...' if len(names) > 8 else ''}"
    if check.note:
        text += f" ({check.note})"
    return Violation(check.layer, check.name, check.kind, f"{check.origin}: {text}")


# ---------------------------------------------------------------- many bindings


@dataclass(frozen=True)
class BatchResult:
    """Columns of results, one entry per binding; `valid` is the validity mask.

    Batches compute in int64. `overflow` flags the rows where some value the results need does not
    fit in int64 (sizes over 2**63 - 1, or a product of them): those rows are never valid and their
    numbers are 0, not a wrapped value; ``Derivation.evaluate`` gives their exact values.
    """

    length: int
    columns: dict[str, Any]  # "output_shape": [array per axis], "params": array, ...
    valid: np.ndarray
    overflow: np.ndarray | None = None  # bool per row (None only when built by hand)
    # with outputs "margins" / "first_violation" (symshape.margins): columns["margins"] is one int64
    # column per condition (<= 0: it holds), columns["first_violation"] the index of the first failing
    # condition (int32, -1 for none); condition_names names them in that order. On overflow rows these
    # two are computed exactly on Python ints (margins saturated at +-(2**63 - 1)), not 0
    condition_names: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"length": self.length, "valid": self.valid.tolist(),
                               "overflow": (self.overflow if self.overflow is not None
                                            else np.zeros(self.length, dtype=bool)).tolist()}
        for k, v in self.columns.items():
            out[k] = [a.tolist() for a in v] if isinstance(v, list) else v.tolist()
        if self.condition_names:
            out["condition_names"] = list(self.condition_names)
        return out


def _column(name: str, raw: Any) -> np.ndarray | int:
    """One batch column (or a scalar for every row) as int64, refusing what int64 cannot hold exactly."""
    try:
        arr = np.asarray(raw)
    except (ValueError, TypeError, OverflowError) as err:
        raise BindingError(f"the values of '{name}' are not a column of integers: {err}") from None
    if arr.ndim > 1:
        raise BindingError(f"'{name}' must be a scalar or a 1-d column")
    kind = arr.dtype.kind
    if kind == "b":
        raise BindingError(f"the values of '{name}' must be integers, not booleans")
    if kind == "O":  # Python ints beyond int64 (or anything else): checked one by one
        items = arr.tolist() if arr.ndim else [arr.item()]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            raise BindingError(f"the values of '{name}' must be integers, got dtype object")
        kind = "i"
        if any(not _I64_MIN <= v <= _I64_MAX for v in items):
            raise BindingError(f"a value of '{name}' does not fit in int64; batches compute in int64: "
                               "evaluate such values one by one (Derivation.evaluate is exact)")
        arr = np.asarray(items, dtype=np.int64).reshape(arr.shape)
    elif kind == "f":
        with np.errstate(invalid="ignore"):
            if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
                raise BindingError(f"the values of '{name}' must be integers")
        if arr.size and not np.all(np.abs(arr) < 2.0**63):
            raise BindingError(f"a value of '{name}' does not fit in int64; batches compute in int64: "
                               "evaluate such values one by one (Derivation.evaluate is exact)")
    elif kind == "u":
        if arr.size and arr.max() > _I64_MAX:
            raise BindingError(f"a value of '{name}' does not fit in int64 (uint64 column); batches compute "
                               "in int64: evaluate such values one by one (Derivation.evaluate is exact)")
    elif kind != "i":
        raise BindingError(f"the values of '{name}' must be integers, got dtype {arr.dtype}")
    if arr.ndim == 0:
        return int(arr)
    return arr.astype(np.int64, copy=False)


def _columns(c: Compiled, columns: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    if not isinstance(columns, Mapping):
        raise BindingError(f"columns map symbol names to arrays, not {type(columns).__name__}")
    out: dict[str, Any] = {}
    length: int | None = None
    for name, raw in columns.items():
        if name not in c.accepted:
            raise BindingError(f"unknown symbol '{name}'{did_you_mean(str(name), c.accepted)}")
        col = _column(name, raw)
        if isinstance(col, np.ndarray):
            if length is not None and len(col) != length:
                raise BindingError(f"column '{name}' has {len(col)} values, others have {length}")
            length = len(col)
        out[name] = col
    missing = [s for s in c.program.symbols if s not in out]
    if missing:
        raise BindingError(f"missing column{'s' if len(missing) > 1 else ''} for {', '.join(missing)}")
    length = 1 if length is None else length
    limit = current().max_batch
    if length > limit:
        raise LimitError(f"{length} bindings in one batch; the limit is {limit}")
    return out, length


def evaluate_batch(d: Derivation | Compiled, columns: Mapping[str, Any], outputs: Sequence[str],
                   chunk: int = 1 << 14, cost: Mapping[str, Any] | Any | None = None) -> BatchResult:
    """Columns of values -> columns of results and a validity mask. Cost outputs (symshape.cost.QUANTITIES:
    "total_bytes", "forward_flops", ...) are computed as `cost` asks ({"batch": "B", "dtype": "bf16-mixed",
    "optimizer": "adamw", "flops": "fvcore", ...}, or a `symshape.cost.CostProgram`); the batch symbol is
    then a column too. Their rows overflow like the others: flagged, never valid, 0."""
    from .cost.program import QUANTITIES as COST_OUTPUTS

    wanted_cost = [o for o in outputs if o in COST_OUTPUTS]
    if wanted_cost or cost is not None:
        return _with_cost(d, columns, outputs, chunk, cost, wanted_cost)
    c: Compiled = d if isinstance(d, Compiled) else d.compiled
    from .margins import MARGIN_OUTPUTS

    for o in outputs:
        if o not in BATCH_OUTPUTS and o not in MARGIN_OUTPUTS:
            raise BindingError(f"unknown batch output '{o}'"
                               f"{did_you_mean(o, BATCH_OUTPUTS + MARGIN_OUTPUTS + COST_OUTPUTS)}")
    cols, length = _columns(c, columns)
    extra = [o for o in outputs if o in MARGIN_OUTPUTS]
    if extra:  # signed margins: the results first, then the conditions' sides (symshape.margins)
        from .margins import batch_margins, condition_names

        res = evaluate_batch(c, cols, [o for o in outputs if o not in MARGIN_OUTPUTS], chunk)
        overflow = res.overflow if res.overflow is not None else np.zeros(length, dtype=bool)
        margins, first = batch_margins(c, cols, length, "margins" in extra, "first_violation" in extra,
                                       overflow, res.valid, chunk)
        out_cols = dict(res.columns)
        for o in outputs:
            if o in MARGIN_OUTPUTS:
                out_cols[o] = margins if o == "margins" else first
        if overflow.any():
            res.valid[overflow] = False
            for o, v in out_cols.items():
                if o not in MARGIN_OUTPUTS:
                    for arr in (v if isinstance(v, list) else [v]):
                        arr[overflow] = 0
        return BatchResult(length, {o: out_cols[o] for o in outputs}, res.valid, overflow,
                           tuple(condition_names(c)))
    fast = fastpath.batch(c, cols, length, outputs)  # one column varies: the closed form, not every layer
    if fast is not None:
        return fast
    wanted: list[int] = [c.valid]
    for o in outputs:
        wanted += c.output[0] if o == "output_shape" else [c.totals[o]]
    wanted = list(dict.fromkeys(wanted))
    plan = c.program.plan(wanted)
    results = {w: np.empty(length, dtype=np.int64) for w in wanted if w != c.valid}
    valid = np.empty(length, dtype=bool)
    overflow = np.zeros(length, dtype=bool)
    chunk = max(1, int(chunk))
    for start in range(0, length, chunk):
        stop = min(start + chunk, length)
        part = {k: (v[start:stop] if isinstance(v, np.ndarray) else v) for k, v in cols.items()}
        flags = overflow[start:stop]  # a view: run_numpy flags in place
        got = c.program.run_numpy(part, wanted, stop - start, plan, overflow=flags)
        valid[start:stop] = got[c.valid]
        for w, arr in results.items():
            arr[start:stop] = got[w]
    if overflow.any():  # never valid, and no wrapped number shown
        valid &= ~overflow
        for arr in results.values():
            arr[overflow] = 0
    out: dict[str, Any] = {}
    for o in outputs:
        out[o] = [results[r] for r in c.output[0]] if o == "output_shape" else results[c.totals[o]]
    return BatchResult(length, out, valid, overflow)



def _with_cost(d: Derivation | Compiled, columns: Mapping[str, Any], outputs: Sequence[str], chunk: int,
               cost: Mapping[str, Any] | Any | None, wanted: list[str]) -> BatchResult:
    """evaluate_batch with cost outputs: the derivation's results and the cost program's, on one validity."""
    from .cost.program import CostProgram

    if isinstance(cost, CostProgram):
        program = cost
    elif isinstance(d, Compiled):
        raise BindingError("cost outputs need the Derivation (or cost= a symshape.cost.CostProgram)")
    else:
        if cost is not None and not isinstance(cost, Mapping):
            raise BindingError(f"cost takes the options of symshape.cost.cost as a mapping, not {type(cost).__name__}")
        program = d.cost(**dict(cost or {})).compiled
    if not isinstance(columns, Mapping):
        raise BindingError(f"columns map symbol names to arrays, not {type(columns).__name__}")
    plain = [o for o in outputs if o not in wanted]
    spec_cols = {k: v for k, v in columns.items() if k in program.validity.accepted}
    base = evaluate_batch(program.validity, spec_cols, plain, chunk)
    got = program.run_batch(columns, wanted, chunk, validity=False)  # the validity is base's
    length = got["length"]
    out: dict[str, Any] = {}
    for o in outputs:
        if o in wanted:
            out[o] = got[o]
        else:
            v = base.columns[o]
            out[o] = [np.broadcast_to(a, (length,)).copy() for a in v] if isinstance(v, list) else \
                np.broadcast_to(v, (length,)).copy()
    # per-column overflow (symshape.cost.CostProgram.run_batch): a cost column that fits keeps its value though
    # another does not; the network's own columns read 0 only where its sizes overflow
    spec_overflow = np.broadcast_to(base.overflow if base.overflow is not None else False, (length,))
    overflow = got["overflow"] | spec_overflow
    valid = got["valid"] & np.broadcast_to(base.valid, (length,)) & ~spec_overflow
    for o, v in out.items():
        if o in ("margins", "first_violation") or o in wanted:
            continue
        for arr in v if isinstance(v, list) else [v]:
            arr[spec_overflow] = 0
    return BatchResult(length, out, valid, overflow, getattr(base, "condition_names", ()))
