"""The Solve RPC's work: the request checked against the derivation here, the solve in a worker.

`symshape.solve.solve` takes a Derivation, but the server keeps only what a worker sent back: the
compiled program (plain data) and the symbols' ranges. `Network` offers what solve reads from a
Derivation (the symbols and their ranges, the compiled program, evaluate and evaluate_batch),
backed by the compiled program, so a cached derivation_id is solved without deriving again.

`check` runs in the serving process (cheap, and precise about the request field at fault);
`solve_reply` runs in a worker process, where the deadline can stop an enumeration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from google.rpc import code_pb2

from symshape.errors import did_you_mean
from symshape.evaluate import Compiled, evaluate, evaluate_batch
from symshape.symbols import SymbolInfo, make_symbol

from .status import Abort

__all__ = ["MAX_PIECES", "Network", "check", "check_int64", "exact_values", "solve_reply"]

# Pieces in one answer by default (ServerConfig.max_solve_pieces): each is a number quadruple and a
# term of the condition (SymPy builds a few thousand a second). More: ask for a narrower range (lo, hi).
MAX_PIECES = 1_000

# The bound is a float log2: at 2**63 - 1 plus a little it rounds to exactly 63.0, so one bit is kept spare.
SAFE_BITS = 62.0

SymbolRanges = tuple[tuple[str, int | None, int | None], ...]


class Network:
    """What `symshape.solve.solve` reads from a Derivation, from the compiled program and the ranges."""

    def __init__(self, compiled: Compiled, symbols: SymbolRanges) -> None:
        self.compiled = compiled
        self.symbols = {name: SymbolInfo(name, lo, hi, make_symbol(name, lo)) for name, lo, hi in symbols}

    def evaluate(self, bindings: Mapping[str, int] | None = None, **kw: int) -> Any:
        return evaluate(self.compiled, {**(bindings or {}), **kw})

    def evaluate_batch(self, columns: Mapping[str, Any], outputs: tuple[str, ...] = ("output_shape", "params"),
                       chunk: int = 1 << 14) -> Any:
        return evaluate_batch(self.compiled, columns, outputs, chunk)


def check(compiled: Compiled, symbol: str, bindings: Mapping[str, int], targets: Mapping[int, int]) -> None:
    """Refuse a request the library would refuse, naming the field: `symbol`, `bindings[W]`, `targets[3]`."""
    known = compiled.accepted
    if not symbol:
        raise Abort(code_pb2.INVALID_ARGUMENT, "symbol is required: the name of the symbol to solve for",
                    "MISSING_SYMBOL", [("symbol", "missing")])
    if symbol not in known:
        message = (f"unknown symbol '{symbol[:80]}'{did_you_mean(symbol, known)}; this network's symbols: "
                   f"{', '.join(known) or 'none'}")
        raise Abort(code_pb2.INVALID_ARGUMENT, message, "BAD_BINDINGS", [("symbol", message)])
    unknown = [name for name in bindings if name not in known]
    if unknown:
        violations = [(f"bindings[{name[:80]}]", f"unknown symbol '{name[:80]}'{did_you_mean(name, known)}")
                      for name in unknown]
        raise Abort(code_pb2.INVALID_ARGUMENT, "; ".join(d for _, d in violations), "BAD_BINDINGS", violations)
    needed = set(compiled.program.symbols)
    missing = [s for s in known if s in needed and s != symbol and s not in bindings]
    if missing:
        message = f"bind {', '.join(missing)} to solve for {symbol}"
        raise Abort(code_pb2.INVALID_ARGUMENT, message, "BAD_BINDINGS",
                    [(f"bindings[{name}]", f"missing: a value is needed to solve for {symbol}") for name in missing])
    rank = len(compiled.output[0])
    bad = [axis for axis in targets if axis >= rank]
    if bad:
        message = f"the output has {rank} axes (0..{rank - 1}); no axis {bad[0]}"
        raise Abort(code_pb2.INVALID_ARGUMENT, message, "BAD_TARGET",
                    [(f"targets[{axis}]", f"no such output axis (the output has {rank})") for axis in bad])


def exact_values(derived: Any, symbol: str, bindings: Mapping[str, int], lo: int | None,
                 hi: int | None) -> dict[str, int]:
    """The largest values solve evaluates the program at: the bindings, and the symbol as far as solve
    evaluates from the start of its range (at most MAX_PREFIX values past lo, and never past hi)."""
    from symshape.solve import MAX_PREFIX

    start = lo if lo is not None else next((m for name, m, _ in derived.symbols if name == symbol), None) or 0
    end = start + 2 * MAX_PREFIX if hi is None else max(start, min(hi, start + 2 * MAX_PREFIX))
    return {**{k: v for k, v in bindings.items() if k != symbol}, symbol: max(abs(start), abs(end))}


def check_int64(compiled: Compiled, values: Mapping[str, int], targets: Mapping[int, int], lo_given: bool) -> None:
    """solve evaluates the program on int64 (symshape.solve._evaluate) and counts a value whose numbers
    overflow as not a member, which exact arithmetic may contradict (a wide Flatten is valid at sizes
    whose element count is beyond int64). Refuse (OUT_OF_RANGE) values at which the validity or a target
    size could need more than int64, rather than answer from wrapped numbers.

    `values` are `exact_values`: the bindings, the symbol as far as solve evaluates it.
    """
    from .bounds import bits_at

    bound = bits_at(compiled.program, values, [compiled.valid, *(compiled.output[0][axis] for axis in targets)])
    if bound > SAFE_BITS:
        big = "unbounded" if bound == math.inf else f"up to {math.ceil(bound):,} bits"
        message = (f"solve evaluates the network on int64, and at these values its sizes could need numbers of "
                   f"{big} (over {SAFE_BITS:.0f}): use smaller bindings{' or a smaller lo' if lo_given else ''}")
        fields = [("bindings", message)] + ([("lo", message)] if lo_given else [])
        raise Abort(code_pb2.OUT_OF_RANGE, message, "INT64_OVERFLOW", fields)


def solve_reply(key: str, compiled: Compiled, symbols: SymbolRanges, symbol: str, bindings: dict[str, int],
                targets: dict[int, int], lo: int | None, hi: int | None, near: int | None,
                max_pieces: int = MAX_PIECES) -> bytes:
    """A SolveResponse (bytes): symshape.solve on the compiled program, then the answer as numbers and
    as a portable condition."""
    from symshape.errors import LimitError
    from symshape.solve import solve

    from .convert import solve_response

    answer = solve(Network(compiled, symbols), symbol, bindings, target=targets or None,  # type: ignore[arg-type]
                   lo=lo, hi=hi)
    if len(answer.pieces) > max_pieces:
        raise LimitError(f"the set of {symbol} has {len(answer.pieces):,} pieces; the limit is {max_pieces:,}: "
                         "ask for a narrower range (lo, hi)")
    return solve_response(key, answer, near).SerializeToString()
