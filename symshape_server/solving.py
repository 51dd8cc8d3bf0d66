"""The Solve RPC's work: the request checked against the derivation here, the solve in a worker.

`symshape.solve.solve` takes a Derivation, but the server keeps only what a worker sent back: the
compiled program (plain data) and the symbols' ranges. `Network` offers what solve reads from a
Derivation (the symbols and their ranges, the compiled program, evaluate and evaluate_batch),
backed by the compiled program, so a cached derivation_id is solved without deriving again.

`check` runs in the serving process (cheap, and precise about the request field at fault);
`solve_reply` runs in a worker process, where the deadline can stop an enumeration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.rpc import code_pb2

from symshape.errors import did_you_mean
from symshape.evaluate import Compiled, evaluate, evaluate_batch
from symshape.symbols import SymbolInfo, make_symbol

from .status import Abort

__all__ = ["MAX_PIECES", "Network", "check", "exact_values", "solve_reply"]

# Pieces in one answer by default (ServerConfig.max_solve_pieces): each is a number quadruple and a
# term of the condition (SymPy builds a few thousand a second). More: ask for a narrower range (lo, hi).
MAX_PIECES = 1_000

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


def exact_values(derived: Any, symbol: str, bindings: Mapping[str, int], lo: int | None) -> dict[str, int]:
    """The largest values solve evaluates exactly (on Python ints, not int64): the bindings, and the
    symbol no further than the prefix solve may check past the start of its range (its explanation
    evaluates one value there); the rest is int64 arithmetic with overflow flagged."""
    from symshape.solve import MAX_PREFIX

    start = lo if lo is not None else next((m for name, m, _ in derived.symbols if name == symbol), None) or 0
    return {**{k: v for k, v in bindings.items() if k != symbol}, symbol: abs(start) + 2 * MAX_PREFIX}


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
