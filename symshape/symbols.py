"""The symbols of a spec: integer SymPy symbols with domains.

All symbols are integers. A symbol's domain comes from its declaration under ``symbols:`` when
it gives bounds, else from the arguments the symbol fills (its roles): padding amounts
(``padding``, ``output_padding``, ``cropping``, ``proj_size``) may be 0, every other size
(input sizes, kernels, strides, dilations, filters, units...) is at least 1; a symbol in several
roles takes the stricter minimum. A declared ``min`` overrides the roles. A declared ``default`` (an
example value: the worked example's, ``symshape eval --defaults``') lies in the domain. ``symbols:`` may
declare some symbols and not others; a used name one edit away from a declared one gets a
warning with "did you mean".

The SymPy assumptions of each symbol (positive / nonnegative) match its minimum: the closed
form's simplifications rely on them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sympy
from sympy import Symbol

from .errors import Location, SpecError

__all__ = ["ZERO_ROLES", "SymbolInfo", "SymbolTable", "collect_roles", "make_symbol"]

ZERO_ROLES = frozenset({"padding", "output_padding", "cropping", "proj_size", "padding_idx"})
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class SymbolInfo:
    name: str
    min: int | None
    max: int | None
    symbol: Symbol
    why: str = ""  # where the minimum comes from: "declared", "as padding", "as kernel_size"...
    default: int | None = None  # the declared example value (`default:`), inside the domain

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


@dataclass(frozen=True)
class Role:
    """The minimum a name gets from the arguments it fills, and the argument that sets it."""

    min: int
    argument: str


def collect_roles(inputs: Mapping[str, Iterable[Any]], layers: Iterable[Mapping[str, Any]]) -> dict[str, Role]:
    """name -> its role minimum, from every place a bare name fills a value.

    `inputs`: input name -> its raw sizes; `layers`: each layer's raw arguments. A bare name (the
    whole value, or one element of a list) in an argument of ZERO_ROLES may be 0; anywhere else it
    is a size, at least 1. Names inside expressions take no role from them.
    """
    roles: dict[str, Role] = {}

    def note(name: str, role: Role) -> None:
        old = roles.get(name)
        if old is None or role.min > old.min:
            roles[name] = role

    def walk(argument: str, raw: object, depth: int) -> None:
        if depth > 8:
            return
        if isinstance(raw, str):
            word = raw.strip()
            if _IDENT.fullmatch(word):
                note(word, Role(0 if argument in ZERO_ROLES else 1, argument))
        elif isinstance(raw, (list, tuple)):
            for item in raw[:10_000]:
                walk(argument, item, depth + 1)
        elif isinstance(raw, Mapping):  # a nested layer ({LSTM: {units: U}}): its own arguments
            for key, value in list(raw.items())[:10_000]:
                walk(key if isinstance(key, str) else argument, value, depth + 1)

    for sizes in inputs.values():
        walk("input size", list(sizes), 0)
    for args in layers:
        for key, value in args.items():
            walk(str(key), value, 0)
    return roles


def _one_edit(a: str, b: str) -> bool:
    """a and b differ by one insertion, deletion, substitution or swap of neighbours."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and
                                  a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def looks_like(used: str, declared: str) -> bool:
    """`used` is probably a misspelling of `declared`: the same but for case, or one edit away in a
    name of 3 or more characters (one-letter names and numbered families such as D1, D2 are apart)."""
    if used == declared:
        return False
    if used.lower() == declared.lower():
        return True
    if max(len(used), len(declared)) < 3 or re.sub(r"\d", "", used) == re.sub(r"\d", "", declared):
        return False
    return _one_edit(used, declared)


class SymbolTable:
    def __init__(self, declared: Mapping[str, Mapping[str, int]], roles: Mapping[str, Role] | None = None,
                 where: Callable[[tuple], Location] | None = None) -> None:
        """`where(path)`: the location of a path in the spec (for the error of a default outside the domain)."""
        self.declared = declared
        self.where = where
        self.roles = dict(roles or {})
        self.table: dict[str, SymbolInfo] = {}
        self.warnings: list[str] = []
        for name, decl in declared.items():
            self._add(name, decl)

    def _add(self, name: str, decl: Mapping[str, int]) -> SymbolInfo:
        role = self.roles.get(name)
        if "min" in decl:
            lo, why = decl["min"], "declared"
        elif role is not None:
            lo, why = role.min, role.argument
        else:
            lo, why = 1, ""
        default = decl.get("default")
        if default is not None and lo is not None and default < lo:  # a declared min was checked with the spec
            because = f"as {why}: the domain of a symbol comes from the arguments it fills" if why else \
                "symbols are at least 1 unless declared or used as padding"
            raise SpecError(f"symbol '{name}': default {default} is below its minimum {lo} ({because}; declare a "
                            f"min to change it)",
                            self.where(("symbols", name, "default")) if self.where else None)
        info = SymbolInfo(name, lo, decl.get("max"), make_symbol(name, lo), why, default)
        self.table[name] = info
        return info

    def __call__(self, name: str) -> Symbol:
        info = self.table.get(name)
        if info is None:
            from .layers.base import is_mode_word, mode_users

            if is_mode_word(name):  # 'same', 'causal', 'reflect'...: a mode, never a symbol
                users = mode_users(name)
                where = f" (it is for {'; '.join(users[:3])})" if users else ""
                raise SpecError(f"'{name}' is a mode word{where}, not a symbol: sizes in an expression are "
                                f"integers or symbols with other names")
            close = [d for d in self.declared if looks_like(name, d)]
            if close:
                self.warnings.append(f"symbol '{name}' is not declared under 'symbols' (did you mean "
                                     f"'{close[0]}'?); it is a new symbol")
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
