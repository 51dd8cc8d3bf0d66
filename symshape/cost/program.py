"""A cost compiled for evaluation: plain, picklable data (the gRPC server builds it in a worker and
evaluates it in its serving process), beside the derivation's own compiled program for validity.

`run(values)` gives exact Python ints for one binding; `run_batch(columns, outputs)` int64 columns with
every row whose exact value does not fit in int64 flagged in `overflow` (and read as 0, never wrapped).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BindingError, LimitError, did_you_mean
from ..limits import current

__all__ = ["QUANTITIES", "CostProgram"]

QUANTITIES = ("forward_flops", "backward_flops", "train_flops", "params_bytes", "grads_bytes", "optimizer_bytes",
              "buffers_bytes", "activations_bytes", "total_bytes")
LAYER_QUANTITIES = ("params", "forward_flops", "backward_flops", "saved_bytes")


@dataclass(frozen=True)
class CostProgram:
    program: Any  # symshape.program.Program of the cost expressions
    totals: dict[str, int]  # quantity -> register
    layers: tuple[dict[str, Any], ...]  # per layer: index, name, kind, output_shape registers, quantities
    validity: Any  # the derivation's symshape.evaluate.Compiled
    symbols: tuple[str, ...]  # what a binding must give: the spec's free symbols and a symbolic batch
    batch: str | int  # the batch symbol's name, or the batch size
    options: tuple[tuple[str, Any], ...]  # how the cost was asked for (batch, dtype, optimizer, flops, ...)

    def values(self, bindings: Mapping[str, Any]) -> dict[str, int]:
        if not isinstance(bindings, Mapping):
            raise BindingError(f"bindings map symbol names to integers, not {type(bindings).__name__}")
        accepted = (*self.validity.accepted, *self.symbols)
        out: dict[str, int] = {}
        for name, v in bindings.items():
            if name not in accepted:
                raise BindingError(f"unknown symbol '{name}'{did_you_mean(str(name), accepted)}; "
                                   f"this cost depends on {', '.join(self.symbols) or 'no symbol'}")
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise BindingError(f"the value of '{name}' must be an integer, got {v!r}")
            v = int(v)
            if v.bit_length() > current().max_bits:
                raise LimitError(f"the value of '{name}' has more than {current().max_bits} bits")
            out[name] = v
        missing = [s for s in self.symbols if s not in out]
        if missing:
            raise BindingError(f"missing value{'s' if len(missing) > 1 else ''} for {', '.join(missing)}")
        return out

    def run(self, values: Mapping[str, int]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(totals with valid and violations, per-layer values) for one checked binding."""
        from ..evaluate import evaluate

        regs = self.program.run_int(values)
        spec_values = {k: v for k, v in values.items() if k in self.validity.accepted}
        ev = evaluate(self.validity, spec_values)
        violations = [v.message for v in ev.violations]
        n = values[self.batch] if isinstance(self.batch, str) else self.batch
        if n < 1:
            violations.append(f"batch size {n} < 1")
        totals: dict[str, Any] = {k: regs[r] for k, r in self.totals.items()}
        totals["valid"] = not violations
        totals["violations"] = violations
        layers = [{"index": ly["index"], "name": ly["name"], "kind": ly["kind"],
                   "output_shape": [regs[r] for r in ly["output_shape"]],
                   **{q: regs[ly[q]] for q in LAYER_QUANTITIES}} for ly in self.layers]
        return totals, layers

    def run_batch(self, columns: Mapping[str, Any], outputs: Sequence[str] = ("total_bytes",),
                  chunk: int = 1 << 14, validity: bool = True) -> dict[str, Any]:
        """Columns of values -> {"length", one int64 column per output, "valid", "overflow",
        "column_overflow"} (`validity` False: the network's conditions are left to the caller, "valid" says
        only batch >= 1). Overflow is per column: a value that does not fit in int64 reads 0 and is flagged in
        column_overflow[output]; the row's other columns keep their exact values; "overflow" flags a row where
        any column did not fit; "valid" is the network's validity (not lowered by a cost column's overflow)."""
        from ..evaluate import _column, evaluate_batch

        for o in outputs:
            if o not in QUANTITIES:
                raise BindingError(f"unknown cost output '{o}'{did_you_mean(o, QUANTITIES)}")
        if not isinstance(columns, Mapping):
            raise BindingError(f"columns map symbol names to arrays, not {type(columns).__name__}")
        cols: dict[str, Any] = {}
        length = None
        for name, raw in columns.items():
            if name not in self.symbols and name not in self.validity.accepted:
                raise BindingError(f"unknown symbol '{name}'{did_you_mean(str(name), self.symbols)}")
            col = _column(name, raw)
            if isinstance(col, np.ndarray):
                if length is not None and len(col) != length:
                    raise BindingError(f"column '{name}' has {len(col)} values, others have {length}")
                length = len(col)
            cols[name] = col
        missing = [s for s in self.symbols if s not in cols]
        if missing:
            raise BindingError(f"missing column{'s' if len(missing) > 1 else ''} for {', '.join(missing)}")
        length = 1 if length is None else length
        if length > current().max_batch:
            raise LimitError(f"{length} bindings in one batch; the limit is {current().max_batch}")
        valid = np.ones(length, dtype=bool)
        overflow = np.zeros(length, dtype=bool)
        if validity:
            spec_cols = {k: v for k, v in cols.items() if k in self.validity.program.symbols}
            base = evaluate_batch(self.validity, spec_cols, (), chunk)
            valid &= np.broadcast_to(base.valid, (length,))
            if base.overflow is not None:
                overflow |= np.broadcast_to(base.overflow, (length,))
        # each column with its own overflow mask: a column that fits keeps its exact value though another
        # (FLOPs at a huge batch) does not; a column that does not fit reads 0 where its mask is set
        result = {o: np.zeros(length, dtype=np.int64) for o in outputs}
        column_overflow = {o: overflow.copy() for o in outputs}
        chunk = max(1, int(chunk))
        for o in outputs:
            reg = self.totals[o]
            plan = self.program.plan([reg])
            flags = column_overflow[o]
            for start in range(0, length, chunk):
                stop = min(start + chunk, length)
                part = {k: (v[start:stop] if isinstance(v, np.ndarray) else v) for k, v in cols.items()}
                got = self.program.run_numpy(part, [reg], stop - start, plan, overflow=flags[start:stop])
                result[o][start:stop] = got[reg]
            result[o][flags] = 0
        if isinstance(self.batch, str):
            bcol = cols[self.batch]
            valid &= (bcol >= 1) if isinstance(bcol, np.ndarray) else bool(bcol >= 1)
        valid &= ~overflow  # the network's own sizes did not fit: its validity is unknown
        any_overflow = overflow.copy()
        for flags in column_overflow.values():
            any_overflow |= flags
        return {"length": length, **result, "valid": valid, "overflow": any_overflow,
                "column_overflow": column_overflow}
