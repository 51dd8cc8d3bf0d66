"""How large can a program's numbers get? A cheap upper bound, checked before the server evaluates.

Exact evaluation on Python ints is only as fast as its numbers are small: `(((I**64)**64)**64)**64`
at I = 2**62 - 1 has about 10**9 digits and would hold the serving process (and its GIL) for
minutes. Before evaluating, the server walks the program once with the magnitudes only: log2 of an
upper bound of |value| per register (sums by log-sum-exp, products add, a power multiplies by the
exponent's bound, a quotient is no larger than its dividend, a remainder no larger than its divisor).
A binding whose bound exceeds MAX_BITS is refused with a LimitError before any big number exists.

The bound with every symbol at the int64 extreme is computed once per derivation: when it is under
the limit (every ordinary network), no per-call check is needed at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from symshape.errors import LimitError, Location
from symshape.program import Program

__all__ = ["INT64_BITS", "MAX_BITS", "bits_at", "check_bits", "max_bits", "register_bits"]

# Twice the library's own limit on exact results (symshape.limits max_bits, 4,096 by default), which the
# library checks as it computes: this guard only makes sure no number far beyond it is ever built.
MAX_BITS = 8192
INT64_BITS = 63.0


def _log2(value: object) -> float:
    if isinstance(value, bool) or value is None:
        return 0.0
    if isinstance(value, float):
        return math.inf if not math.isfinite(value) else max(0.0, math.log2(abs(value)) if value else 0.0)
    magnitude = abs(int(value))  # type: ignore[call-overload]
    return math.log2(magnitude) if magnitude > 1 else 0.0


def _log_sum(values: list[float]) -> float:
    top = max(values)
    if top == math.inf:
        return math.inf
    return top + math.log2(sum(2.0 ** (v - top) for v in values))


def max_bits(program: Program, symbol_bits: Mapping[str, float] | float) -> float:
    """log2 of an upper bound of |value| over all registers, for symbols of at most these magnitudes."""
    return max(register_bits(program, symbol_bits), default=0.0)


def register_bits(program: Program, symbol_bits: Mapping[str, float] | float) -> list[float]:
    """log2 of an upper bound of |value| per register, for symbols of at most these magnitudes."""
    sizes: list[float] = []
    append = sizes.append
    for op, args in program.ops:
        if op == "const":
            append(_log2(args[0]))
        elif op == "sym":
            append(symbol_bits if isinstance(symbol_bits, (int, float)) else symbol_bits.get(args[0], INT64_BITS))
        elif op == "add":
            append(_log_sum([sizes[a] for a in args]))
        elif op == "mul":
            append(sum(sizes[a] for a in args))
        elif op == "fdiv":
            append(sizes[args[0]])
        elif op == "mod":
            append(sizes[args[1]])
        elif op == "pow":
            base, exponent = sizes[args[0]], sizes[args[1]]
            append(0.0 if base == 0.0 else math.inf if exponent > 64 else base * 2.0 ** exponent)
        elif op in ("max", "min"):
            append(max(sizes[a] for a in args))
        else:  # relations, and, or, not: truth values
            append(0.0)
    return sizes


def bits_at(program: Program, bindings: Mapping[str, int], registers: list[int]) -> float:
    """log2 of an upper bound of |value| over what `registers` need (themselves and the registers they
    are computed from), with the symbols at most these values."""
    needed = [k for k in program.plan(registers) if k != "max"]
    sizes = register_bits(program, {k: _log2(v) for k, v in bindings.items()})
    return max((sizes[k] for k in needed), default=0.0)


def check_bits(program: Program, bindings: Mapping[str, int], limit: int = MAX_BITS) -> None:
    """Raise LimitError when evaluating at `bindings` could produce a number over `limit` bits."""
    bound = max_bits(program, {k: _log2(v) for k, v in bindings.items()})
    if bound > limit:
        size = "unbounded" if bound == math.inf else f"up to {math.ceil(bound):,} bits"
        raise LimitError(f"at these values the evaluation needs numbers of {size}; the limit is {limit:,} bits "
                         f"({int(limit * math.log10(2)):,} digits)", Location(source="bindings"))
