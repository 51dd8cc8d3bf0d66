"""The worked example's binding, its evaluation, the exact valid sets and the plotted axis.

Given values (`--example H=224,W=224`) win; missing ones come from the symbols' declared defaults
(`symbols: {H: {default: 224}}`, an imported model's original values), else their minimums, and the
input sizes, when neither given nor defaulted, are the smallest value (the same for every input
symbol) that makes the network valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..algebra import Dim
from ..derive import Derivation
from ..errors import BindingError, SymshapeError
from ..solve import ValueSet, solve

SEARCH_HI = 4096


@dataclass
class Example:
    bindings: dict[str, int] = field(default_factory=dict)
    evaluation: Any = None  # an Evaluation, or None with `why`
    why: str = ""
    solved: list[tuple[str, ValueSet]] = field(default_factory=list)
    plot: tuple[str, int | None, int] | None = None  # (input symbol, layer (None: the output), axis)
    plot_why: str = ""


def choose_example(d: Derivation, given: Mapping[str, int] | None, inputs: list[str], never: bool) -> Example:
    ex = Example()
    free = list(d.free_symbols)
    given = dict(given or {})
    for k in given:
        if k not in d.symbols:
            from ..errors import did_you_mean

            raise BindingError(f"--example: unknown symbol '{k}'{did_you_mean(k, d.symbols)}")
    if never:
        ex.why = "No worked example: the network is never valid."
        ex.plot_why = "No plot: the network is never valid."
        return ex
    defaults = {s: v for s, v in d.defaults().items() if s in free and s not in given}
    bindings = {s: given.get(s, defaults.get(s, d.symbols[s].min if d.symbols[s].min is not None else 1))
                for s in free}
    closed = d.closed_form
    sizes = {x.name for e in closed for x in e.free_symbols} & set(inputs)  # input symbols reaching the output
    sizes = sizes or _reaching_inner(d, inputs)
    missing = [s for s in inputs if s in free and s not in given and s not in defaults and s in sizes]
    if missing:
        v = _smallest_valid(d, bindings, missing)
        if v is None:
            ex.why = _no_example(d, bindings, missing, given, defaults)
            ex.plot_why = "No plot: no example binding (see the worked example)."
            return ex
        bindings.update({s: v for s in missing})
    if defaults:
        rest = [s for s in free if s not in given and s not in defaults and s not in missing]
        parts = [f"{', '.join(names)} at {what if len(names) > 1 else one}" for names, what, one in (
            ([s for s in free if s in given], "the given values", "the given value"),
            (list(defaults), "their declared defaults", "its declared default"),
            (rest, "their minimums", "its minimum"), (missing, "the smallest valid value", "the smallest valid value"))
            if names]
        ex.why = "The symbols " + "; ".join(parts)
    elif missing:
        ex.why = ("The symbols at " + ("the given values, the others at " if given else "")
                  + f"their minimums, the input sizes {', '.join(missing)} at the smallest valid value")
    else:
        ex.why = "The symbols at the given values" if given else "The symbols at their minimums"
    ex.bindings = bindings
    ex.evaluation = d.evaluate(bindings)
    for s in inputs:
        if s not in free:
            continue
        axis = next((k for k, e in enumerate(closed) if s in {x.name for x in e.free_symbols}), None)
        if axis is not None and ex.plot is None:
            ex.plot = (s, None, axis)
    if ex.plot is None:
        ex.plot = _last_reached(d, [s for s in inputs if s in free])
        ex.plot_why = "" if ex.plot else ("No plot: no layer size depends on an input symbol "
                                              "(other than being the symbol itself).")
    reaching = [s for s in inputs if s in sizes] or ([ex.plot[0]] if ex.plot else [])
    for s in reaching:
        if s in free:
            others = {k: v for k, v in bindings.items() if k != s}
            try:
                ex.solved.append((s, solve(d, s, others)))
            except SymshapeError:
                pass  # no closed form for this set: the plot still shows it over its range
    return ex


def _no_example(d: Derivation, bindings: Mapping[str, int], missing: list[str], given: Mapping[str, int],
                defaults: Mapping[str, int]) -> str:
    """Why no value of the input sizes `missing` makes the network valid: the values it was given (or took
    from defaults and minimums) and a condition that fails with them whatever `missing` is (it fails at the
    largest value searched too, and does not name a missing symbol)."""
    fixed = {k: v for k, v in bindings.items() if k not in missing}
    how = ", ".join(f"{k} = {v}" + ("" if k in given else " (its default)" if k in defaults else " (its minimum)")
                    for k, v in fixed.items())
    said = f"No worked example: no value of {', '.join(missing)} up to {SEARCH_HI} makes the network valid" + \
        (f" with {how}" if how else "")
    try:
        e = d.evaluate({**fixed, **{s: SEARCH_HI for s in missing}})
    except SymshapeError:
        return said + "; give other example values."
    fails = [v.message for v in e.violations if not any(f"{m}=" in v.message.rsplit(" at ", 1)[-1] for m in missing)]
    if fails and fixed:
        return said + f". It fails whatever {', '.join(missing)} is: {fails[0]}" + \
            (f" (and {len(fails) - 1} more)" if len(fails) > 1 else "") + "; give other example values."
    return said + "; give other example values."


def _reaching_inner(d: Derivation, inputs: list[str]) -> set[str]:
    """The input symbols the last size-dependent layer depends on (the output does not: global pooling)."""
    for ly in reversed(d.layers):
        names = {x.name for a in ly.output_shape if isinstance(a, Dim) for x in d.collapse(a).free_symbols}
        if names & set(inputs):
            return names & set(inputs)
    return set()


def _last_reached(d: Derivation, inputs: list[str]) -> tuple[str, int, int] | None:
    """The last layer size that an input symbol reaches (the output itself does not: global pooling)."""
    for ly in reversed(d.layers):
        for axis, a in enumerate(ly.output_shape):
            if not isinstance(a, Dim):
                continue
            names = {x.name for x in d.collapse(a).free_symbols}
            for s in inputs:
                if s in names:
                    return s, ly.index, axis
    return None


def _smallest_valid(d: Derivation, bindings: Mapping[str, int], symbols: list[str]) -> int | None:
    values = np.arange(1, SEARCH_HI + 1, dtype=np.int64)
    cols = {**{k: v for k, v in bindings.items() if k not in symbols}, **{s: values for s in symbols}}
    result = d.evaluate_batch(cols, outputs=("output_shape",))
    hits = np.flatnonzero(result.valid)
    return int(values[hits[0]]) if hits.size else None
