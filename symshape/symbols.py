"""The symbols of a spec: integer SymPy symbols with declared domains.

All symbols are integers, positive unless declared otherwise (``P: {min: 0}``). When a spec
declares a ``symbols:`` section, every symbol it uses must be declared there (a misspelled
name then gets a "did you mean" instead of silently becoming a new symbol).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy
from sympy import Symbol

from .errors import SpecError, did_you_mean

__all__ = ["SymbolInfo", "SymbolTable"]


@dataclass(frozen=True)
class SymbolInfo:
    name: str
    min: int | None
    max: int | None
    symbol: Symbol

    @property
    def domain(self) -> str:
        lo = "-inf" if self.min is None else str(self.min)
        hi = "inf" if self.max is None else str(self.max)
        return f"[{lo}, {hi}]"


def make_symbol(name: str, lo: int | None) -> Symbol:
    if lo is not None and lo >= 1:
        return Symbol(name, integer=True, positive=True)
    if lo is not None and lo >= 0:
        return Symbol(name, integer=True, nonnegative=True)
    return Symbol(name, integer=True)


class SymbolTable:
    def __init__(self, declared: dict[str, dict[str, int]]) -> None:
        self.strict = bool(declared)
        self.declared = declared
        self.table: dict[str, SymbolInfo] = {}
        for name, decl in declared.items():
            self._add(name, decl)

    def _add(self, name: str, decl: dict[str, int]) -> SymbolInfo:
        lo = decl.get("min", 1)
        info = SymbolInfo(name, lo, decl.get("max"), make_symbol(name, lo))
        self.table[name] = info
        return info

    def __call__(self, name: str) -> Symbol:
        info = self.table.get(name)
        if info is None:
            if self.strict:
                raise SpecError(f"symbol '{name}' is not declared under 'symbols'"
                                f"{did_you_mean(name, self.table)}")
            info = self._add(name, {})
        return info.symbol

    def infos(self) -> dict[str, SymbolInfo]:
        return dict(self.table)

    def domain_conditions(self) -> list[tuple[str, sympy.Expr, str, int]]:
        out = []
        for info in self.table.values():
            if info.min is not None:
                out.append((info.name, info.symbol, ">=", info.min))
            if info.max is not None:
                out.append((info.name, info.symbol, "<=", info.max))
        return out
