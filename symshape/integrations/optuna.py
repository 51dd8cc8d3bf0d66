"""symshape in Optuna searches (``pip install 'symshape[optuna]'``): suggest, check, prune before training.

::

    search = Search(Path("cnn.yaml"), budgets={"macs": 500_000_000})
    study = optuna.create_study(direction="maximize")    # TPE reads the constraints each trial sets

    def objective(trial):
        e = search.check(trial)      # every declared symbol suggested; invalid or over budget: TrialPruned
        return train(e.bindings)     # only valid, affordable candidates reach training

`Search.suggest` suggests every free symbol of the spec within its declared range: ``suggest_int(name,
min, max, step=step, log=log)`` from the ``symbols:`` declaration (``{min: 8, max: 256, log: true}``,
``{min: 1, max: 7, step: 2}``); `fixed` binds some symbols, `ranges` gives (lo, hi) for symbols the spec
leaves open. `Search.evaluate` evaluates exactly and records the **signed margins** (symshape.margins)
of every validity condition, then one per budget (``value - budget``; ``1``, "not satisfied or unknown",
when the candidate is invalid, whose sizes mean nothing, or the value is undefined), all <= 0 when feasible, with
``trial.set_constraint`` (Optuna 5's samplers read them, pruned trials included, so the sampler learns
where the feasible region is) and as the trial's user attribute ``symshape_constraints``, which
`Search.constraints` returns for a sampler's ``constraints_func`` (deprecated in Optuna 5).
`Search.check` prunes (``optuna.TrialPruned``) an invalid or over-budget candidate, in microseconds,
before any training. Budgets: ``params``, ``trainable``, ``macs``, ``activations`` (elements of one
sample's layer outputs; of the batch's when the spec names one, ``batch: B``) and ``memory`` (bytes:
``bytes_per_value`` x (params + buffers + activations)).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BindingError, did_you_mean

__all__ = ["BUDGETS", "CONSTRAINTS_ATTR", "Search", "SymbolRange", "constraints"]

BUDGETS = ("params", "trainable", "macs", "activations", "memory")
CONSTRAINTS_ATTR = "symshape_constraints"
_FLOAT_LIMIT = 1e300  # margins beyond it are reported at +-1e300 (their sign exact; Optuna wants floats)


@dataclass(frozen=True)
class SymbolRange:
    """How one symbol is suggested: suggest_int(name, lo, hi, step=step, log=log)."""

    name: str
    lo: int
    hi: int
    step: int = 1
    log: bool = False


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise BindingError(f"{what} must be an integer, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int):
        raise BindingError(f"{what} must be an integer, got {value!r}")
    return value


class Search:
    """One spec's search space for Optuna: suggestions, exact checks, margins, budgets."""

    def __init__(self, spec: Any, fixed: Mapping[str, int] | None = None,
                 ranges: Mapping[str, tuple[int, int]] | None = None, budgets: Mapping[str, int] | None = None,
                 bytes_per_value: int = 4, prefix: str = "") -> None:
        from ..derive import Derivation, derive

        self.derivation: Derivation = spec if isinstance(spec, Derivation) else derive(
            Path(spec) if isinstance(spec, Path) else spec)
        d = self.derivation
        self.fixed = {k: _as_int(v, f"fixed value of '{k}'") for k, v in (fixed or {}).items()}
        self.budgets = {k: _as_int(v, f"budget '{k}'") for k, v in (budgets or {}).items()}
        for name in [*self.fixed, *(ranges or {})]:
            if name not in d.symbols:
                raise BindingError(f"unknown symbol '{name}'{did_you_mean(name, d.symbols)}")
        for name in self.budgets:
            if name not in BUDGETS:
                raise BindingError(f"unknown budget '{name}'{did_you_mean(name, BUDGETS)}; "
                                   f"budgets: {', '.join(BUDGETS)}")
        self.bytes_per_value = bytes_per_value
        self.prefix = prefix
        self.space: list[SymbolRange] = []
        declared = d.spec.symbols
        for name in d.free_symbols:
            if name in self.fixed:
                continue
            info = d.symbols[name]
            decl = declared.get(name, {})
            lo, hi = (ranges or {}).get(name, (info.min, info.max))
            if lo is None or hi is None:
                raise BindingError(f"symbol '{name}' has no {'min' if lo is None else 'max'}: declare it under "
                                   f"'symbols:' ({name}: {{min: 1, max: 64}}), or pass ranges={{'{name}': (lo, hi)}} "
                                   f"or fixed={{'{name}': value}}")
            lo, hi = _as_int(lo, f"range of '{name}'"), _as_int(hi, f"range of '{name}'")
            if lo > hi:
                raise BindingError(f"range of '{name}': {lo} > {hi}")
            step = int(decl.get("step", 1))
            log = bool(decl.get("log", False))
            if log and lo < 1:
                raise BindingError(f"symbol '{name}' is sampled on a log scale: its range must start at 1 or more")
            hi = lo + (hi - lo) // step * step  # the last value of the step grid
            self.space.append(SymbolRange(name, lo, hi, step, log))
        from ..margins import condition_names

        self.condition_names = condition_names(d.compiled)
        self.last_seconds = 0.0

    @property
    def constraint_names(self) -> list[str]:
        """What each entry of the constraints is: the conditions, then 'budget: <name>' per budget."""
        return [*self.condition_names, *(f"budget: {k}" for k in self.budgets)]

    def suggest(self, trial: Any) -> dict[str, int]:
        """A value for every free symbol (the fixed ones as given), each suggested within its range."""
        values = dict(self.fixed)
        for r in self.space:
            values[r.name] = trial.suggest_int(self.prefix + r.name, r.lo, r.hi, step=r.step, log=r.log)
        return values

    def budget_values(self, e: Any) -> dict[str, int | None]:
        """The budgeted quantities of an Evaluation (None: undefined)."""
        return self._budgets(e.params, e.trainable, e.macs, e.activations, e.buffers)

    def _budgets(self, params: int | None, trainable: int | None, macs: int | None, activations: int | None,
                 buffers: int | None) -> dict[str, int | None]:
        memory = None
        if params is not None and buffers is not None and activations is not None:
            memory = self.bytes_per_value * (params + buffers + activations)
        values = {"params": params, "trainable": trainable, "macs": macs, "activations": activations,
                  "memory": memory}
        return {k: values[k] for k in self.budgets}

    def _measure(self, trial: Any, bindings: Mapping[str, int] | None) -> tuple[dict[str, int], list, list[int],
                                                                                dict[str, int | None]]:
        """Suggest (unless given), run the program once, record the constraints on the trial:
        (checked values, registers, condition margins, budgeted quantities)."""
        from ..evaluate import check_bindings
        from ..margins import margin_int

        c = self.derivation.compiled
        values = self.suggest(trial) if bindings is None else dict(bindings)
        began = time.perf_counter()
        values = check_bindings(c, values)
        regs = c.program.run_int(values, c.read)
        margins = [margin_int(ck, regs) for ck in c.conditions]
        t = c.totals
        quantities = self._budgets(regs[t["params"]], regs[t["trainable"]], regs[t["macs"]],
                                   regs[t["activations"]], regs[t["buffers"]])
        valid = all(m <= 0 for m in margins)
        # an invalid network's sizes mean nothing (a negative output height gives negative MACs): its budget
        # margins are 1, "not satisfied or unknown", never a (negative) "under budget" a sampler would learn
        over = [1 if v is None or not valid else v - self.budgets[k] for k, v in quantities.items()]
        self.last_seconds = time.perf_counter() - began  # symshape's own part of a check (no sampling)
        constraints = [_float(m) for m in (*margins, *over)]
        trial.set_user_attr(CONSTRAINTS_ATTR, constraints)
        trial.set_user_attr("symshape_valid", valid)
        if hasattr(trial, "set_constraint"):  # Optuna >= 5: the samplers read these (constraints_func is deprecated)
            for k, (name, value) in enumerate(zip(self.constraint_names, constraints, strict=True)):
                trial.set_constraint(f"{self.prefix}{k}: {name}", value)
        return values, regs, margins, quantities

    def evaluate(self, trial: Any, bindings: Mapping[str, int] | None = None) -> Any:
        """The exact Evaluation at the trial's values (suggested unless given), with margins; records the
        constraints (condition margins, then value - budget per budget) on the trial."""
        from ..evaluate import evaluation_from

        values, regs, _, _ = self._measure(trial, bindings)
        return evaluation_from(self.derivation.compiled, values, regs, margins=True)

    def feasible(self, e: Any) -> bool:
        return e.valid and all(v is not None and v <= self.budgets[k] for k, v in self.budget_values(e).items())

    def check(self, trial: Any, bindings: Mapping[str, int] | None = None) -> Any:
        """Suggest and check; optuna.TrialPruned when the candidate is invalid or over a budget (the reason
        is the trial's user attribute 'symshape_pruned'), decided from one run of the program, before any
        Evaluation is built; the Evaluation (with margins) otherwise."""
        import optuna

        from ..evaluate import _violation, evaluation_from

        values, regs, margins, quantities = self._measure(trial, bindings)
        c = self.derivation.compiled
        failing = next((k for k, m in enumerate(margins) if m > 0), None)
        if failing is not None:
            reason = _violation(c, c.conditions[failing], regs, values).message
        else:
            over = [f"{k} {v:,} > {self.budgets[k]:,}" for k, v in quantities.items()
                    if v is None or v > self.budgets[k]]
            reason = "over budget: " + ", ".join(over) if over else ""
        if reason:
            trial.set_user_attr("symshape_pruned", reason)
            raise optuna.TrialPruned(reason)
        return evaluation_from(c, values, regs, margins=True)

    def constraints(self, trial: Any) -> list[float]:
        """For constraints_func: the recorded margins (<= 0 feasible); a trial never evaluated gets 1.0
        for each (infeasible), so the list always has len(constraint_names) entries."""
        got = trial.user_attrs.get(CONSTRAINTS_ATTR)
        return list(got) if got is not None else [1.0] * len(self.constraint_names)


def constraints(trial: Any) -> list[float]:
    """A constraints_func for studies over several Search objects (one per architecture family member):
    the margins the trial recorded, or [1.0] (infeasible) when it recorded none."""
    got = trial.user_attrs.get(CONSTRAINTS_ATTR)
    return list(got) if got is not None else [1.0]


def _float(m: int) -> float:
    if m > _FLOAT_LIMIT:
        return _FLOAT_LIMIT
    if m < -_FLOAT_LIMIT:
        return -_FLOAT_LIMIT
    value = float(m)
    return value if math.isfinite(value) else math.copysign(_FLOAT_LIMIT, m)
