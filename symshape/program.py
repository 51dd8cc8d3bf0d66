"""Straight-line programs: how symshape evaluates its expressions, exactly and in bulk.

A derivation's expressions share their subtrees (layer k's size is built on layer k-1's), so
compiling them into one program, one register per distinct node, gives back the per-layer
recurrence: a few instructions per layer, however deep the network. The same program runs

- on Python ints, for one binding: exact at any magnitude (no floats anywhere); a division by
  zero makes that register and everything computed from it undefined (``None``);
- on numpy int64 columns, for millions of bindings: one vectorized operation per instruction,
  chunk by chunk, each register dropped after its last use so memory stays bounded.

Nothing is generated as Python source and nothing is passed to eval: the program is data.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import sympy
from sympy import Add, Expr, Integer, Mod, Mul, Pow, Symbol
from sympy.logic.boolalg import And, BooleanFalse, BooleanTrue, Not, Or

from .algebra import FloorDiv

__all__ = ["Program", "ProgramBuilder"]

_RELATIONS: dict[str, Callable[[object, object], object]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
    "==": operator.eq, "!=": operator.ne,
}


@dataclass(frozen=True)
class Program:
    """Instructions ``(op, args)``; args are register numbers, except for 'const' and 'sym'."""

    ops: tuple[tuple[str, tuple], ...]
    symbols: tuple[str, ...]

    def run_int(self, values: Mapping[str, int]) -> list[int | bool | None]:
        """Evaluate every register on exact Python ints; None marks an undefined value.

        The fast path runs precompiled steps with no checks; a division by zero (an invalid binding:
        a zero stride) sends the evaluation to the careful path, which marks what it makes undefined.
        """
        steps = self.__dict__.get("_steps")
        if steps is None:
            steps = _fast_steps(self.ops)
            object.__setattr__(self, "_steps", steps)
        regs: list = []
        append = regs.append
        try:
            for step in steps:
                append(step(regs, values))
            return regs
        except ZeroDivisionError:
            return self._run_careful(values)

    def __getstate__(self) -> dict:
        """Pickle the program, not the closures run_int caches (the server ships programs between processes)."""
        return {k: v for k, v in self.__dict__.items() if k != "_steps"}

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)

    def _run_careful(self, values: Mapping[str, int]) -> list[int | bool | None]:
        regs: list = [None] * len(self.ops)
        for i, (op, args) in enumerate(self.ops):
            if op == "const":
                regs[i] = args[0]
                continue
            if op == "sym":
                regs[i] = values[args[0]]
                continue
            vals = [regs[a] for a in args]
            if op in ("and", "or"):
                # a condition on an undefined value is not satisfied
                truth = [bool(v) if v is not None else False for v in vals]
                regs[i] = all(truth) if op == "and" else any(truth)
                continue
            if any(v is None for v in vals):
                continue
            regs[i] = _apply_int(op, vals)
        return regs

    def run_numpy(self, columns: Mapping[str, np.ndarray | int], wanted: Sequence[int],
                  length: int, plan: dict | None = None) -> dict[int, np.ndarray]:
        """Evaluate the wanted registers over columns of int64 values (one chunk)."""
        last_use = plan if plan is not None else self.plan(wanted)
        keep = set(wanted)
        regs: list = [None] * len(self.ops)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for i, (op, args) in enumerate(self.ops):
                if i > last_use.get("max", -1):
                    break
                if i not in last_use and i not in keep:
                    continue
                if op == "const":
                    regs[i] = args[0]
                elif op == "sym":
                    regs[i] = columns[args[0]]
                else:
                    regs[i] = _apply_numpy(op, [regs[a] for a in args])
                    for a in args:
                        if last_use.get(a) == i and a not in keep:
                            regs[a] = None
        out: dict[int, np.ndarray] = {}
        for w in wanted:
            v = regs[w]
            out[w] = np.broadcast_to(np.asarray(v), (length,)) if np.ndim(v) == 0 else v
        return out

    def plan(self, wanted: Sequence[int]) -> dict:
        """Registers needed for `wanted` -> index of their last reader; 'max' -> last needed op."""
        needed = set(wanted)
        for i in range(len(self.ops) - 1, -1, -1):
            if i in needed:
                op, args = self.ops[i]
                if op not in ("const", "sym"):
                    needed.update(args)
        last: dict = {}
        for i, (op, args) in enumerate(self.ops):
            if i in needed and op not in ("const", "sym"):
                for a in args:
                    last[a] = i
        for i in needed:
            last.setdefault(i, i)
        last["max"] = max(needed, default=-1)
        return last


def _fast_steps(ops: Sequence[tuple[str, tuple]]) -> list[Callable[[list, Mapping[str, int]], object]]:
    """One small function per instruction: regs, values -> the register's value."""
    steps: list[Callable[[list, Mapping[str, int]], object]] = []
    for op, args in ops:
        if op == "const":
            steps.append(lambda r, v, c=args[0]: c)
        elif op == "sym":
            steps.append(lambda r, v, n=args[0]: v[n])
        elif len(args) == 2 and op in _BINARY:
            steps.append(lambda r, v, f=_BINARY[op], a=args[0], b=args[1]: f(r[a], r[b]))
        elif op == "add":
            steps.append(lambda r, v, a=args: sum([r[i] for i in a]))
        elif op == "mul":
            steps.append(lambda r, v, a=args: math.prod([r[i] for i in a]))
        elif op in ("max", "min"):
            steps.append(lambda r, v, f=max if op == "max" else min, a=args: f([r[i] for i in a]))
        elif op == "and":
            steps.append(lambda r, v, a=args: all([r[i] for i in a]))
        elif op == "or":
            steps.append(lambda r, v, a=args: any([r[i] for i in a]))
        elif op == "not":
            steps.append(lambda r, v, a=args[0]: not r[a])
        else:
            steps.append(lambda r, v, o=op, a=args: _apply_int(o, [r[i] for i in a]))
    return steps


_BINARY: dict[str, Callable[[object, object], object]] = {
    "add": operator.add, "mul": operator.mul, "fdiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow,
    "max": max, "min": min, "and": lambda a, b: bool(a) and bool(b), "or": lambda a, b: bool(a) or bool(b),
    **_RELATIONS,
}


def _apply_int(op: str, v: list) -> object:
    try:
        if op == "add":
            return sum(v)
        if op == "mul":
            out = 1
            for x in v:
                out *= x
            return out
        if op == "fdiv":
            return v[0] // v[1]
        if op == "mod":
            return v[0] % v[1]
        if op == "pow":
            return v[0] ** v[1]
        if op == "max":
            return max(v)
        if op == "min":
            return min(v)
        if op == "not":
            return not v[0]
        return _RELATIONS[op](v[0], v[1])
    except ZeroDivisionError:
        return None


_NARY = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum, "and": np.bitwise_and,
         "or": np.bitwise_or}


def _apply_numpy(op: str, v: list) -> object:
    ufunc = _NARY.get(op)
    if ufunc is not None:
        out = ufunc(v[0], v[1])
        for x in v[2:]:
            if isinstance(out, np.ndarray) and out.ndim == 1 and (np.ndim(x) == 0 or len(x) == len(out)):
                ufunc(out, x, out=out)  # out is ours (fresh from the first call): accumulate in place
            else:
                out = ufunc(out, x)
        return out
    if op == "fdiv":
        return np.floor_divide(v[0], v[1])
    if op == "mod":
        return np.mod(v[0], v[1])
    if op == "pow":
        return v[0] ** v[1]
    if op == "not":
        return ~np.asarray(v[0], dtype=bool)
    # relations; where a division by zero happened upstream numpy gave 0, and the divisor's
    # own condition (>= 1) fails, so the binding is invalid whatever this comparison says
    return _RELATIONS[op](v[0], v[1])


class ProgramBuilder:
    """Compiles SymPy expressions into one shared program (common subexpressions once)."""

    def __init__(self, defs: Mapping[Expr, Expr] | None = None) -> None:
        self.defs = defs or {}
        self.ops: list[tuple[str, tuple]] = []
        self.memo: dict[object, int] = {}
        self.symbols: dict[str, int] = {}

    def build(self) -> Program:
        return Program(tuple(self.ops), tuple(self.symbols))

    def _emit(self, key: object, op: str, args: tuple) -> int:
        self.ops.append((op, args))
        self.memo[key] = len(self.ops) - 1
        return len(self.ops) - 1

    def const(self, value: int | bool) -> int:
        key = ("const", type(value), value)
        if key in self.memo:
            return self.memo[key]
        return self._emit(key, "const", (value,))

    def op(self, op: str, args: Sequence[int]) -> int:
        key = (op, tuple(args))
        if key in self.memo:
            return self.memo[key]
        return self._emit(key, op, tuple(args))

    def add(self, e: Expr | bool) -> int:
        """Register holding e's value; compiles iteratively (deep trees do not recurse)."""
        if isinstance(e, bool):
            return self.const(e)
        if e in self.memo:
            return self.memo[e]
        stack: list[tuple[Expr, bool]] = [(e, False)]
        while stack:
            node, ready = stack.pop()
            if node in self.memo:
                continue
            children = (self.defs[node],) if node in self.defs else _children(node)
            if not ready:
                stack.append((node, True))
                stack.extend((c, False) for c in children if c not in self.memo)
                continue
            if node in self.defs:  # a size atom is the register of its definition
                self.memo[node] = self.memo[children[0]]
            else:
                self.memo[node] = self._node(node, [self.memo[c] for c in children])
        return self.memo[e]

    def _node(self, node: Expr, args: list[int]) -> int:
        if isinstance(node, Integer):
            return self.const(int(node.p))
        if isinstance(node, (BooleanTrue, BooleanFalse)):
            return self.const(bool(node))
        if isinstance(node, Symbol):
            if node.name not in self.symbols:
                self.symbols[node.name] = self.op("sym", (node.name,))
            return self.symbols[node.name]
        if isinstance(node, Add):
            return self.op("add", args)
        if isinstance(node, Mul):
            return self.op("mul", args)
        if isinstance(node, Pow):
            return self.op("pow", args)
        if isinstance(node, FloorDiv):
            return self.op("fdiv", args)
        if isinstance(node, Mod):
            return self.op("mod", args)
        if isinstance(node, sympy.Max):
            return self.op("max", args)
        if isinstance(node, sympy.Min):
            return self.op("min", args)
        if isinstance(node, sympy.core.relational.Relational):
            return self.op(node.rel_op, args)
        if isinstance(node, And):
            return self.op("and", args)
        if isinstance(node, Or):
            return self.op("or", args)
        if isinstance(node, Not):
            return self.op("not", args)
        raise TypeError(f"cannot compile {type(node).__name__}: {node}")


def _children(node: Expr) -> tuple:
    if isinstance(node, (Integer, Symbol, BooleanTrue, BooleanFalse)):
        return ()
    if isinstance(node, Pow):
        base, exp = node.args
        if not isinstance(exp, Integer) or exp.p < 0:
            raise TypeError(f"cannot compile a power with exponent {exp}")
        return (base, exp)
    if node.is_Number:
        raise TypeError(f"non-integer number {node} in a size expression")
    return node.args
