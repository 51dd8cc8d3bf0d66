"""Signed margins of the validity conditions: how far each one is from holding, as an exact integer.

A margin is <= 0 where its condition holds and > 0 where it fails (the form Optuna's
``constraints_func`` expects), so a search learns where the feasible region is, not only that it
missed it. For a condition ``lhs op rhs`` on integers:

========  ======================  ==================================================
op        margin                  why
========  ======================  ==================================================
``>=``    ``rhs - lhs``           ``lhs >= rhs``  iff  ``rhs - lhs <= 0``
``>``     ``rhs - lhs + 1``       on integers ``lhs > rhs`` iff ``lhs >= rhs + 1``
``<=``    ``lhs - rhs``
``<``     ``lhs - rhs + 1``
``==``    ``|lhs - rhs|``         0 exactly when equal, else the distance
``!=``    ``1 - |lhs - rhs|``     <= 0 exactly when they differ
holds     ``0`` or ``1``          a boolean condition: 0 when it holds
========  ======================  ==================================================

A condition whose value is undefined at a binding (it reads a quotient by zero: a zero stride,
whose own ``>= 1`` condition fails too) has margin ``1``. For one binding the margins are exact
Python ints and ``margin > 0`` exactly for the conditions listed in ``Evaluation.violations``.
In batches they are int64 columns: a margin beyond int64 (two sizes near +-2**63 apart) is
saturated at +-(2**63 - 1), its sign exact. A row flagged in ``BatchResult.overflow`` (some value
does not fit int64: never valid, its other numbers 0) has its margins and ``first_violation``
computed exactly on Python ints and saturated the same way, so ``margin <= 0`` exactly where the
condition holds on every row; ``Derivation.evaluate`` gives its exact values.

The conditions are ``Compiled.conditions``, in the order of ``Evaluation.violations``;
``condition_names`` names them (``"layer 1 'max_pooling2d' (MaxPooling2D): output height"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .derive import Derivation
    from .evaluate import CheckInfo, Compiled

__all__ = ["MARGIN_OUTPUTS", "Margins", "batch_margins", "condition_names", "margins"]

MARGIN_OUTPUTS = ("margins", "first_violation")  # extra names evaluate_batch's `outputs` accepts
_MAX, _MIN = np.int64(2**63 - 1), np.int64(-(2**63))


def condition_names(c: Compiled) -> list[str]:
    """One name per condition, in margin order: where it comes from and what it checks."""
    return [f"{ck.origin}: {ck.label}" for ck in c.conditions]


def divisors(c: Compiled) -> list[tuple[int, ...]]:
    """Per condition, the registers it divides by (directly or through the values it reads): the
    condition is undefined exactly where one of them is 0 (a quotient by zero is 0 in numpy, None
    on Python ints, so a zero divisor is what both see). Computed once per compiled program."""
    cached = c.__dict__.get("_margin_divisors")
    if cached is not None:
        return cached
    ops = c.program.ops
    cone: dict[int, frozenset[int]] = {}  # register -> divisors in its cone, built in program order
    for i, (op, args) in enumerate(ops):
        if op in ("const", "sym"):
            cone[i] = frozenset()
            continue
        acc: set[int] = set()
        for a in args:
            acc |= cone[a]
        if op in ("fdiv", "mod"):
            acc.add(args[1])
        cone[i] = frozenset(acc)
    out = [tuple(sorted(cone[ck.lhs] | cone[ck.rhs] | cone[ck.truth])) for ck in c.conditions]
    c.__dict__["_margin_divisors"] = out
    return out


def margin_int(ck: CheckInfo, regs: Sequence[Any]) -> int:
    """The exact margin of one compiled condition from the registers of one binding."""
    if ck.op == "holds":
        return 0 if regs[ck.truth] else 1
    lhs, rhs = regs[ck.lhs], regs[ck.rhs]
    if lhs is None or rhs is None:
        return 1
    lhs, rhs = int(lhs), int(rhs)
    if ck.op == ">=":
        return rhs - lhs
    if ck.op == ">":
        return rhs - lhs + 1
    if ck.op == "<=":
        return lhs - rhs
    if ck.op == "<":
        return lhs - rhs + 1
    if ck.op == "==":
        return abs(lhs - rhs)
    if ck.op == "!=":
        return 1 - abs(lhs - rhs)
    raise ValueError(f"unknown condition operator {ck.op!r}")


@dataclass(frozen=True)
class Margins:
    """The signed margins at one binding: `values[k]` for condition `names[k]` (<= 0: it holds)."""

    names: tuple[str, ...]
    values: tuple[int, ...]

    @property
    def valid(self) -> bool:
        return all(v <= 0 for v in self.values)

    @property
    def first_violation(self) -> int:
        """The index of the first condition that fails, -1 when none does."""
        return next((k for k, v in enumerate(self.values) if v > 0), -1)

    def violated(self) -> dict[str, int]:
        """Failing conditions and their margins (how much each misses by)."""
        return {n: v for n, v in zip(self.names, self.values, strict=True) if v > 0}

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "values": list(self.values), "first_violation": self.first_violation}


def margins(d: Derivation | Compiled, bindings: Mapping[str, Any]) -> Margins:
    """Exact signed margins of every validity condition at one binding (checked as `evaluate` checks)."""
    from .evaluate import Compiled, check_bindings

    c: Compiled = d if isinstance(d, Compiled) else d.compiled
    regs = c.program.run_int(check_bindings(c, bindings), c.read)
    return Margins(tuple(condition_names(c)), tuple(margin_int(ck, regs) for ck in c.conditions))


# ---------------------------------------------------------------- columns


def _sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a - b on int64, saturated where the exact difference leaves int64 (its sign kept)."""
    with np.errstate(over="ignore"):
        d = a - b
    over = ((a ^ b) & (a ^ d)) < 0
    if over.any():
        d = np.where(over, np.where(a > b, _MAX, _MIN), d)
    return d


def _plus_one(d: np.ndarray) -> np.ndarray:
    return np.where(d == _MAX, _MAX, d + np.where(d == _MAX, 0, 1))


def _abs(d: np.ndarray) -> np.ndarray:
    return np.where(d == _MIN, _MAX, np.abs(np.where(d == _MIN, 0, d)))


def margin_column(ck: CheckInfo, got: Mapping[int, np.ndarray], undefined: np.ndarray | None,
                  n: int) -> np.ndarray:
    """One condition's margins over a chunk (int64), from the program's columns `got`."""
    if ck.op == "holds":
        truth = np.broadcast_to(np.asarray(got[ck.truth], dtype=bool), (n,))
        out = (~truth).astype(np.int64)
    else:
        lhs = np.broadcast_to(np.asarray(got[ck.lhs], dtype=np.int64), (n,))
        rhs = np.broadcast_to(np.asarray(got[ck.rhs], dtype=np.int64), (n,))
        if ck.op in (">=", ">"):
            out = _sub(rhs, lhs)
        else:
            out = _sub(lhs, rhs)
        if ck.op in (">", "<"):
            out = _plus_one(out)
        elif ck.op == "==":
            out = _abs(out)
        elif ck.op == "!=":
            out = 1 - _abs(out)
    if undefined is not None and undefined.any():
        out = np.where(undefined, np.int64(1), out)
    return out.astype(np.int64, copy=False)


def batch_margins(c: Compiled, cols: Mapping[str, Any], length: int, want_margins: bool, want_first: bool,
                  overflow: np.ndarray, valid: np.ndarray, chunk: int = 1 << 14
                  ) -> tuple[list[np.ndarray] | None, np.ndarray | None]:
    """(one int64 margin column per condition, or None; the first failing condition per row as int32,
    -1 for none, or None). Only the rows that are not valid are evaluated for `first_violation` alone.
    `overflow` is updated in place where a condition's value leaves int64 (the caller clears `valid` there)."""
    checks = c.conditions
    divs = divisors(c)
    wanted: list[int] = []
    for ck, dv in zip(checks, divs, strict=True):  # first_violation alone reads the truths, not the sides
        wanted += [ck.truth] if ck.op == "holds" or not want_margins else [ck.lhs, ck.rhs]
        wanted += dv
    wanted = list(dict.fromkeys(wanted))
    plan = c.program.plan(wanted) if wanted else None
    first = np.full(length, -1, dtype=np.int32) if want_first else None
    columns = [np.zeros(length, dtype=np.int64) for _ in checks] if want_margins else None
    if want_margins:
        rows = np.arange(length) if length else np.zeros(0, dtype=np.int64)
    else:  # the first violation of the rows that are not valid (and not overflowing: their numbers are 0)
        rows = np.flatnonzero(~valid & ~overflow)
    if not checks or not len(rows):
        return columns, first
    chunk = max(1, int(chunk))
    for start in range(0, len(rows), chunk):
        idx = rows[start:start + chunk]
        whole = want_margins  # contiguous rows: slices, not gathers
        part = {k: (v[idx[0]:idx[-1] + 1] if whole else v[idx]) if isinstance(v, np.ndarray) else v
                for k, v in cols.items()}
        n = len(idx)
        flags = np.zeros(n, dtype=bool)
        got = c.program.run_numpy(part, wanted, n, plan, overflow=flags)
        if flags.any():  # a condition's side leaves int64 here: the row overflows (updated in place)
            overflow[idx[flags]] = True
        todo = np.ones(n, dtype=bool) if first is not None else None
        for k, (ck, dv) in enumerate(zip(checks, divs, strict=True)):
            undefined = None
            for r in dv:
                zero = np.broadcast_to(np.asarray(got[r]) == 0, (n,))
                undefined = zero if undefined is None else undefined | zero
            if columns is not None:
                m = margin_column(ck, got, undefined, n)
                columns[k][idx[0]:idx[-1] + 1] = m
                fails = m > 0
            else:  # the truth, where defined (a condition on a quotient by zero fails, as one by one)
                fails = ~np.broadcast_to(np.asarray(got[ck.truth], dtype=bool), (n,))
                if undefined is not None:
                    fails = fails | undefined
            if todo is not None and first is not None:
                hit = todo & fails
                if hit.any():
                    first[idx[hit]] = k
                    todo &= ~hit
                    if columns is None and not todo.any():
                        break  # every row of the chunk has its first failing condition
    _exact_overflow_rows(c, cols, overflow, columns, first)
    return columns, first


def _saturate(v: int) -> int:
    return max(-(2**63 - 1), min(2**63 - 1, v))


def _exact_overflow_rows(c: Compiled, cols: Mapping[str, Any], overflow: np.ndarray,
                         columns: list[np.ndarray] | None, first: np.ndarray | None) -> None:
    """The margins and first violation of the rows flagged in `overflow`, computed exactly on Python
    ints (few rows: they leave int64) and saturated at +-(2**63 - 1), the sign exact."""
    bad = np.flatnonzero(overflow)
    if not len(bad) or (columns is None and first is None):
        return
    checks = c.conditions
    for r in bad:
        row = {k: int(v[r]) if isinstance(v, np.ndarray) else int(v) for k, v in cols.items()}
        regs = c.program.run_int(row, c.read)
        exact = [margin_int(ck, regs) for ck in checks]
        if columns is not None:
            for k, m in enumerate(exact):
                columns[k][r] = _saturate(m)
        if first is not None:
            first[r] = next((k for k, m in enumerate(exact) if m > 0), -1)
