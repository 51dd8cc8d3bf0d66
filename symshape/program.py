"""Straight-line programs: how symshape evaluates its expressions, exactly and in bulk.

A derivation's expressions share their subtrees (layer k's size is built on layer k-1's), so
compiling them into one program, one register per distinct node, gives back the per-layer
recurrence: a few instructions per layer, however deep the network. The same program runs

- on Python ints, for one binding: exact (no floats anywhere) up to ``limits.max_bits`` bits, a
  product or power over it refused with a LimitError before it is computed; a division by
  zero makes that register and everything computed from it undefined (``None``);
- on numpy int64 columns, for millions of bindings: one vectorized operation per instruction,
  chunk by chunk, each register dropped after its last use so memory stays bounded. Each
  register carries exact interval bounds (O(1) per instruction); only where they leave int64 are
  the rows checked one by one (a float64 shadow), and a row whose exact value does not fit in
  int64 is flagged in an overflow mask, never returned as a wrapped number.

Nothing is generated as Python source and nothing is passed to eval: the program is data.
"""

from __future__ import annotations

import operator
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import sympy
from sympy import Add, Expr, Integer, Mod, Mul, Pow, Symbol
from sympy.logic.boolalg import And, BooleanFalse, BooleanTrue, Not, Or

from .algebra import FloorDiv
from .errors import LimitError
from .limits import current

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

    def __post_init__(self) -> None:
        # run_int's plans, (max_bits, wanted) -> plan: there from the start, so that a first run in one thread
        # never changes this object's attributes while another thread pickles it (the server does)
        object.__setattr__(self, "_plans", {})
        object.__setattr__(self, "_last", None)  # (wanted, max_bits, plan) of the last call: found without hashing

    def run_int(self, values: Mapping[str, int], wanted: tuple[int, ...] | None = None,
                checked: bool = True) -> list[int | bool | None]:
        """Evaluate every register on exact Python ints; None marks an undefined value.

        The fast path runs precompiled steps with no checks; a division by zero (an invalid binding:
        a zero stride) sends the evaluation to the careful path, which marks what it makes undefined.
        With `wanted`, only the registers those need are computed, and a chain of additions (or of
        conjunctions) whose links nothing else reads is one sum (one all()): a network's running
        totals and running validity, with the comparisons only it reads (one map() per kind). The other
        registers then hold None or their constant. `checked=False` leaves out the bounds on products and
        powers (`limits.max_bits`): for a caller that has proved them unreachable (the server bounds every
        register over int64 bindings: symshape_server.bounds).
        """
        max_bits = current().max_bits if checked else None
        last = self._last  # a caller passes the same tuple each time (Compiled.read): no hash of it then
        if last is not None and last[0] is wanted and last[1] == max_bits:
            plan = last[2]
        else:
            plans = self._plans
            plan = plans.get((max_bits, wanted))
            if plan is None:
                if len(plans) >= 16:  # a few callers, each with its own set: a bound, not a cache policy
                    plans.clear()
                plan = plans[(max_bits, wanted)] = _plan(self.ops, max_bits, wanted)
            object.__setattr__(self, "_last", (wanted, max_bits, plan))
        constants, steps = plan
        regs = constants.copy()
        try:
            for i, step in steps:
                regs[i] = step(regs, values)
            return regs
        except ZeroDivisionError:
            return self._run_careful(values)

    def __getstate__(self) -> dict:
        """Pickle the program, not the plans run_int caches (the server ships programs between processes)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_plans", "_last")}

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)
        self.__post_init__()

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
            regs[i] = _apply_int(op, vals, current().max_bits)
        return regs

    def run_numpy(self, columns: Mapping[str, np.ndarray | int], wanted: Sequence[int],
                  length: int, plan: dict | None = None, overflow: np.ndarray | None = None) -> dict[int, np.ndarray]:
        """Evaluate the wanted registers over columns of int64 values (one chunk).

        `overflow` (a bool array of `length`, updated in place) flags the rows where some needed
        value does not fit in int64: their numbers are meaningless. Without it, such rows raise
        LimitError, so that a wrapped number can never pass for a result.
        """
        last_use = plan if plan is not None else self.plan(wanted)
        keep = set(wanted)
        regs: list = [None] * len(self.ops)
        bounds: list = [None] * len(self.ops)
        flags = overflow if overflow is not None else np.zeros(length, dtype=bool)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for i, (op, args) in enumerate(self.ops):
                if i > last_use.get("max", -1):
                    break
                if i not in last_use and i not in keep:
                    continue
                if op in ("const", "sym"):
                    v = args[0] if op == "const" else columns[args[0]]
                    if isinstance(v, (bool, np.bool_)):
                        regs[i], bounds[i] = v, (0, 1)
                    elif np.ndim(v) == 0:
                        v = int(v)
                        if not _I64_MIN <= v <= _I64_MAX:  # a constant beyond int64: every row
                            flags[:] = True
                            v = 0
                        regs[i], bounds[i] = v, (v, v)
                    else:
                        regs[i] = v
                        bounds[i] = (int(v.min()), int(v.max())) if len(v) else (0, 0)
                else:
                    vals = [regs[a] for a in args]
                    # scalars (constants, broadcast bindings): exact, then into int64 or flagged
                    if not any(isinstance(x, np.ndarray) and x.ndim for x in vals):
                        regs[i], bounds[i] = _scalar_op(op, vals, flags)
                    else:
                        regs[i] = _apply_numpy(op, vals)
                        bound = _bound(op, [bounds[a] for a in args])
                        if bound is None or bound[0] < _I64_MIN or bound[1] > _I64_MAX:
                            bound = _check_rows(op, vals, regs[i], flags)
                        bounds[i] = bound
                    for a in args:
                        if last_use.get(a) == i and a not in keep:
                            regs[a] = None
        if overflow is None and flags.any():
            raise LimitError(f"{int(flags.sum())} of {length} rows overflow int64: evaluate them exactly one by one")
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


def _too_big(max_bits: int) -> LimitError:
    return LimitError(f"an exact value over {max_bits} bits (about {int(max_bits * 0.30103):,} digits): "
                      "symshape.limits max_bits")


def _mul(a: int, b: int, max_bits: int) -> int:
    if a.bit_length() + b.bit_length() > max_bits + 1:
        raise _too_big(max_bits)
    return a * b


def _pow(a: int, k: int, max_bits: int) -> int:
    if a not in (0, 1, -1) and (k > max_bits or (a.bit_length() - 1) * k > max_bits):
        raise _too_big(max_bits)
    return a**k


def _prod(values: list, max_bits: int) -> int:
    out = 1
    for x in values:
        out = _mul(out, x, max_bits)
    return out


def _mul3(x: int, y: int, z: int, max_bits: int) -> int:
    """x * y * z with _prod's bound: at once when the bit lengths show that no step of _prod's (1 * x, then
    x * y, then xy * z) can pass it (a product has at most its factors' bit lengths summed), else _prod's
    checks, factor by factor."""
    bits = x.bit_length()  # (x alone is checked too: _prod's first step is 1 * x)
    if bits <= max_bits and bits + y.bit_length() + z.bit_length() <= max_bits + 1:
        return x * y * z
    return _prod([x, y, z], max_bits)


def _fast_steps(ops: Sequence[tuple[str, tuple]],
                max_bits: int | None) -> list[Callable[[list, Mapping[str, int]], object]]:
    """One small function per instruction: regs, values -> the register's value (max_bits None: products
    and powers unbounded, see run_int's `checked`)."""
    steps: list[Callable[[list, Mapping[str, int]], object]] = []
    unchecked = max_bits is None
    if max_bits is None:  # (the rarer shapes keep their checks, against a bound no number reaches)
        max_bits = sys.maxsize
    for op, args in ops:
        if unchecked and op in _UNCHECKED and len(args) in _UNCHECKED[op]:
            steps.append(_UNCHECKED[op][len(args)](*args))
        elif op == "const":
            steps.append(lambda r, v, c=args[0]: c)
        elif op == "sym":
            steps.append(lambda r, v, n=args[0]: v[n])
        elif op in ("mul", "pow") and len(args) == 2:
            steps.append(lambda r, v, f=_mul if op == "mul" else _pow, a=args[0], b=args[1], m=max_bits:
                         f(r[a], r[b], m))
        elif len(args) == 2 and op in _INLINE:  # the commonest, without a call to the operator
            steps.append(_INLINE[op](args[0], args[1]))
        elif len(args) == 2 and op in _BINARY:
            steps.append(lambda r, v, f=_BINARY[op], a=args[0], b=args[1]: f(r[a], r[b]))
        elif op == "add":
            steps.append(lambda r, v, a=args: sum([r[i] for i in a]))
        elif op == "mul" and len(args) == 3:  # a count: weights x height x width
            steps.append(lambda r, v, a=args[0], b=args[1], c=args[2], m=max_bits: _mul3(r[a], r[b], r[c], m))
        elif op == "mul":
            steps.append(lambda r, v, a=args, m=max_bits: _prod([r[i] for i in a], m))
        elif op in ("max", "min"):
            steps.append(lambda r, v, f=max if op == "max" else min, a=args: f([r[i] for i in a]))
        elif op == "and":
            steps.append(lambda r, v, a=args: all([r[i] for i in a]))
        elif op == "or":
            steps.append(lambda r, v, a=args: any([r[i] for i in a]))
        elif op == "not":
            steps.append(lambda r, v, a=args[0]: not r[a])
        else:
            steps.append(lambda r, v, o=op, a=args, m=max_bits: _apply_int(o, [r[i] for i in a], m))
    return steps


def _plan(ops: Sequence[tuple[str, tuple]], max_bits: int | None,
          wanted: tuple[int, ...] | None) -> tuple[list, list[tuple[int, Callable]]]:
    """(constants filled in, [(register, step)]) for run_int: every instruction, or (`wanted`) those it needs
    with chains of additions and of conjunctions fused (see run_int): a link is fused into its chain when no
    other instruction of the run reads it, and a comparison so read is done where it is conjoined."""
    constants = [args[0] if op == "const" else None for op, args in ops]
    steps = _fast_steps(ops, max_bits)
    if wanted is None:
        return constants, [(i, f) for i, (f, (op, _)) in enumerate(zip(steps, ops, strict=True)) if op != "const"]
    keep = set(wanted)
    needed = set(wanted)
    for i in range(len(ops) - 1, -1, -1):
        if i in needed and ops[i][0] not in ("const", "sym"):
            needed.update(ops[i][1])
    uses = [0] * len(ops)  # readers among the instructions this run computes (the others never run)
    for i in needed:
        op, args = ops[i]
        if op not in ("const", "sym"):
            for a in args:
                uses[a] += 1
    absorbed: set[int] = set()  # links of a fused chain: computed as part of its end, never on their own
    fused: dict[int, Callable] = {}  # a chain's end -> its one step
    for i in sorted(needed, reverse=True):
        op, args = ops[i]
        if op not in ("add", "and") or i in absorbed:
            continue
        found: list[int] = []
        linked = False  # links absorbed: this chain must be one step (they are never computed)
        stack = list(args)
        while stack:
            x = stack.pop()
            if ops[x][0] == op and uses[x] == 1 and x not in keep:
                absorbed.add(x)
                linked = True
                stack.extend(ops[x][1])
            else:
                found.append(x)
        relations: dict[str, tuple[list[int], list[int]]] = {}  # a conjunction's comparisons: op -> (lefts, rights)
        if op == "and":  # (a sum keeps its repeated terms; a conjunction needs each once)
            times = Counter(found)
            found = []
            for x in times:
                xop, xargs = ops[x]
                if xop in _RELATIONS and len(xargs) == 2 and times[x] == uses[x] and x not in keep:
                    absorbed.add(x)  # read only by this chain: compared where it is conjoined
                    lefts, rights = relations.setdefault(xop, ([], []))
                    lefts.append(xargs[0])
                    rights.append(xargs[1])
                else:
                    found.append(x)
        if relations:
            fused[i] = _conjunction(found, relations)
        elif linked:
            get = register_getter(found)
            fused[i] = (lambda r, v, g=get: sum(g(r))) if op == "add" else (lambda r, v, g=get: all(g(r)))
    for i in sorted(needed - absorbed):  # a size: floor((x + c1) / c2) + c3, one step
        op, args = ops[i]
        if i in fused or op != "add" or len(args) != 2:
            continue
        c3, q = (args[0], args[1]) if ops[args[0]][0] == "const" else (args[1], args[0])
        if ops[c3][0] != "const" or ops[q][0] != "fdiv" or uses[q] != 1 or q in keep:
            continue
        n, c2 = ops[q][1]
        if ops[c2][0] != "const" or ops[n][0] != "add" or len(ops[n][1]) != 2 or uses[n] != 1 or n in keep \
                or n in fused:
            continue
        c1, x = ops[n][1] if ops[ops[n][1][0]][0] == "const" else ops[n][1][::-1]
        if ops[c1][0] != "const" or any(ops[k][1][0].__class__ is not int for k in (c1, c2, c3)):
            continue
        absorbed.update((q, n))
        fused[i] = lambda r, v, x=x, c1=ops[c1][1][0], c2=ops[c2][1][0], c3=ops[c3][1][0]: (r[x] + c1) // c2 + c3
    plan: list[tuple[int, Callable]] = []
    for i in sorted(needed - absorbed):
        if ops[i][0] != "const":
            plan.append((i, fused.get(i, steps[i])))
    return constants, plan


def register_getter(indices: Sequence[int]) -> Callable[[list], tuple]:
    """regs -> the registers at `indices`, a tuple even of none or one (one C call for two or more)."""
    if not indices:
        return lambda r: ()
    if len(indices) == 1:
        only = indices[0]
        return lambda r: (r[only],)
    return operator.itemgetter(*indices)


def _conjunction(leaves: list[int], relations: dict[str, tuple[list[int], list[int]]]) -> Callable:
    """One step for a chain of conjunctions whose links include comparisons used nowhere else: each kind of
    comparison is one map() over the compared registers (no step, no call per comparison)."""
    checks = tuple((_RELATIONS[op], register_getter(lefts), register_getter(rights))
                   for op, (lefts, rights) in relations.items())
    rest = register_getter(leaves)

    def conjunction(r: list, v: Mapping[str, int]) -> bool:
        if not all(rest(r)):
            return False
        for compare, lefts, rights in checks:
            if not all(map(compare, lefts(r), rights(r))):
                return False
        return True

    return conjunction


_BINARY: dict[str, Callable[[object, object], object]] = {
    "add": operator.add, "mul": operator.mul, "fdiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow,
    "max": max, "min": min, "and": lambda a, b: bool(a) and bool(b), "or": lambda a, b: bool(a) or bool(b),
    **_RELATIONS,
}


_INLINE: dict[str, Callable[[int, int], Callable[[list, Mapping[str, int]], object]]] = {
    "add": lambda a, b: lambda r, v: r[a] + r[b],  # (running totals: most of a network's additions)
    ">=": lambda a, b: lambda r, v: r[a] >= r[b],
    "==": lambda a, b: lambda r, v: r[a] == r[b],
    "and": lambda a, b: lambda r, v: bool(r[a]) and bool(r[b]),  # (the running validity)
    "fdiv": lambda a, b: lambda r, v: r[a] // r[b],  # (a zero divisor raises: run_int's careful path)
}


_UNCHECKED: dict[str, dict[int, Callable[..., Callable[[list, Mapping[str, int]], object]]]] = {
    "mul": {2: lambda a, b: lambda r, v: r[a] * r[b], 3: lambda a, b, c: lambda r, v: r[a] * r[b] * r[c]},
    "pow": {2: lambda a, b: lambda r, v: r[a] ** r[b]},
}


def _apply_int(op: str, v: list, max_bits: int) -> object:
    try:
        if op == "add":
            return sum(v)
        if op == "mul":
            return _prod(v, max_bits)
        if op == "fdiv":
            return v[0] // v[1]
        if op == "mod":
            return v[0] % v[1]
        if op == "pow":
            return _pow(v[0], v[1], max_bits)
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


_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_F64_LIMIT = 2.0**63 * (1 - 2.0**-20)  # a float shadow this large may not fit in int64 (float rounding)


def _bound(op: str, b: list) -> tuple[int, int] | None:
    """Exact bounds of an instruction's result from its arguments' bounds (None: unknown)."""
    if None in b:
        return None
    if op == "add":
        if len(b) == 2:
            return b[0][0] + b[1][0], b[0][1] + b[1][1]
        return sum(x[0] for x in b), sum(x[1] for x in b)
    if op == "mul":
        lo, hi = b[0]
        for c, d in b[1:]:
            ends = (lo * c, lo * d, hi * c, hi * d)
            lo, hi = min(ends), max(ends)
        return lo, hi
    if op == "pow":
        (lo, hi), (k0, k1) = b
        if k0 < 0 or k1 > 64:
            return None
        big = max(abs(lo), abs(hi))
        if big > 1 and big.bit_length() * k1 > 70:
            return None
        top = big**k1 if big > 1 else 1
        return (-top if lo < 0 else 0), top
    if op in ("fdiv", "mod"):
        m = max(abs(x) for x in (b[0] if op == "fdiv" else b[1]))
        return -m, m
    if op == "max":
        return max(x[0] for x in b), max(x[1] for x in b)
    if op == "min":
        return min(x[0] for x in b), min(x[1] for x in b)
    return 0, 1  # relations and logic: booleans


def _scalar_op(op: str, vals: list, flags: np.ndarray) -> tuple[object, tuple[int, int]]:
    """An instruction on scalars (broadcast bindings, constants), exactly: the rows all fit or all overflow."""
    exact = [bool(x) if isinstance(x, (bool, np.bool_)) else int(x) for x in vals]
    if op in ("and", "or"):
        return (all if op == "and" else any)(exact), (0, 1)
    try:
        value = _apply_int(op, exact, 4 * 64)
    except LimitError:
        value = _I64_MAX + 1
    if value is None:  # a division by zero: numpy's 0 (the divisor's condition fails)
        value = 0
    if isinstance(value, bool):
        return value, (0, 1)
    if not _I64_MIN <= value <= _I64_MAX:
        flags[:] = True
        value = 0
    return value, (value, value)


def _check_rows(op: str, vals: list, result: np.ndarray, flags: np.ndarray) -> tuple[int, int]:
    """Flag the rows whose exact result leaves int64 (from a float64 shadow), and bound the others."""
    if op in ("add", "mul", "pow", "fdiv"):
        f = [np.asarray(x, dtype=np.float64) for x in vals]
        if op == "add":
            shadow = f[0] + f[1]
            for x in f[2:]:
                shadow = shadow + x
        elif op == "mul":
            shadow = f[0] * f[1]
            for x in f[2:]:
                shadow = shadow * x
        elif op == "pow":
            shadow = np.power(f[0], f[1])
        else:
            shadow = f[0] / np.where(f[1] == 0, 1.0, f[1])
        flags |= ~(np.abs(shadow) < _F64_LIMIT)  # nan and inf too
    if result.dtype == bool:
        return 0, 1
    ok = result[~flags] if flags.any() else result
    return (int(ok.min()), int(ok.max())) if len(ok) else (0, 0)


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
        if op == "add" and all(self.ops[a][0] == "const" and type(self.ops[a][1][0]) is int for a in args):
            return self.const(sum(self.ops[a][1][0] for a in args))  # constants folded (running totals of counts)
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
