"""Named sizes: every view of a deep derivation stays linear in size and time.

A derivation writes layer k's sizes on layer k-1's through size atoms (`Derivation.defs`). The
closed form of a layer's size in the network's symbols is short when few symbols feed it (ResNet-50
at any H, W: ``floor((H - 1)/32) + 1``), but when every layer brings symbols of its own (an
all-symbolic chain: kernel, stride, padding, filters per layer) layer k's closed form has O(k)
terms, and showing every layer's closed form costs O(depth**2) bytes and time.

So each expression shown is in one of two forms:
- its **closed form** (`Derivation.collapse`) when every size atom in it depends on at most
  `MAX_CLOSED_SYMBOLS` symbols (every network of examples/, the README's sample: unchanged);
- else its **named form**: the atoms become names ``x_1, x_2, ...`` (in the order the layers make
  them), each defined once, in terms of the names before it (`SizeNames.definitions`), so layer k
  reads in terms of layer k-1 and the whole stays linear in depth.

Closed forms of every layer are there on request (``Derivation.to_dict(closed_forms=True)``, the
gRPC Derive request's ``layer_closed_forms``). The network's own output shape is always given in
closed form too (one expression, linear in depth).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import sympy
from sympy import Expr, Symbol
from sympy.core.relational import Relational

from .algebra import Dim, as_expr

if TYPE_CHECKING:
    from .derive import Derivation

__all__ = ["MAX_CLOSED_FORM_SYMBOLS", "MAX_CLOSED_SYMBOLS", "TOO_LARGE", "SizeName", "SizeNames", "free_symbols"]

MAX_CLOSED_SYMBOLS = 16  # an atom fed by more symbols than this is shown by name
# closed forms on request: an expression whose atoms are fed by more symbols than this has a closed form too
# large to give (an all-symbolic chain's layer k: O(k^2) terms); it stays in named form, said so per layer
MAX_CLOSED_FORM_SYMBOLS = 256
# what a view says of a layer whose closed form, asked for, is too large to give (it stays in named sizes)
TOO_LARGE = f"too large: fed by more than {MAX_CLOSED_FORM_SYMBOLS} symbols; written in the named sizes of 'sizes'"


@dataclass(frozen=True)
class SizeName:
    name: Symbol  # x_1, x_2, ...
    atom: Dim
    layer: int  # the layer index that makes it
    output: int  # which output of the layer
    axis: int  # which axis of that output
    definition: Expr  # in the network's symbols and the atoms before it (print with SizeNames.names)


def dims(e: sympy.Basic) -> set[Expr]:
    """The size atoms of `e`, each shared subexpression visited once (SymPy's `atoms` walks the tree, and a
    closed form deep in an all-symbolic chain shares its subtrees: linear here, quadratic or worse there)."""
    out: set[Expr] = set()
    seen: set[int] = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, Dim):
            out.add(x)
            continue
        if x.is_Atom or id(x) in seen:
            continue
        seen.add(id(x))
        stack.extend(x.args)
    return out


def _free_kind(t: type) -> int:
    """How `t` answers free_symbols: 1 Basic's union over the args, 2 Symbol's {self}, 0 its own."""
    kind = _FREE_KIND.get(t)
    if kind is None:
        owner = next(c for c in t.__mro__ if "free_symbols" in c.__dict__)
        kind = _FREE_KIND[t] = 1 if owner is sympy.Basic else 2 if owner is Symbol else 0
    return kind


_FREE_KIND: dict[type, int] = {}


def free_symbols(e: sympy.Basic) -> set:
    """`e.free_symbols`, the same set, without building one set per node: the union over the args that Basic
    writes, taken once per shared node; a node of a class with its own rule (bound variables) asks it."""
    out: set = set()
    seen: set[int] = set()
    stack = [e]
    while stack:
        x = stack.pop()
        kind = _FREE_KIND.get(type(x)) or _free_kind(type(x))
        if kind == 1:
            if x.args and id(x) not in seen:
                seen.add(id(x))
                stack.extend(x.args)
        elif kind == 2:
            out.add(x)
        else:
            out |= x.free_symbols
    return out


class SizeNames:
    """The names of a derivation's size atoms and the choice, per expression, of closed or named form."""

    def __init__(self, d: Derivation) -> None:
        # (weakly: the derivation holds this in its `size_names`, and a cycle would keep an evicted derivation
        # alive until a collection finds it; the names are used through a live derivation)
        self._d = weakref.ref(d)
        taken = set(d.symbols)
        prefix = "x"
        while any(n.startswith(prefix + "_") for n in taken):
            prefix += "x"
        self.prefix = prefix
        self.names: dict[Expr, Symbol] = {}
        self.where: dict[Expr, tuple[int, int, int]] = {}
        names, where = self.names, self.where
        last: tuple = ()
        for ly in d.layers:
            for k, shape in enumerate(ly.outputs):
                if shape == last:  # the shape before again (a norm, an activation): its sizes are named already
                    continue
                last = shape
                for axis, s in enumerate(shape):
                    if isinstance(s, Dim) and s not in names:
                        names[s] = Symbol(f"{prefix}_{len(names) + 1}", integer=True)
                        where[s] = (ly.index, k, axis)
        # symbols feeding each atom (None: more than MAX_CLOSED_SYMBOLS), in definition order: linear
        self.feeds: dict[Expr, frozenset[str] | None] = {}
        for atom, definition in d.defs.items():
            self.feeds[atom] = self._feeds(free_symbols(as_expr(definition)))

    @property
    def d(self) -> Derivation:
        """The derivation these names belong to (they hold it weakly: keep the derivation while using them)."""
        d = self._d()
        if d is None:
            raise ReferenceError("the derivation of these size names is gone: keep the Derivation while using "
                                 "its size_names")
        return d

    def _feeds(self, symbols: Iterable[Expr], feeds: dict[Expr, frozenset[str] | None] | None = None,
               cap: int = MAX_CLOSED_SYMBOLS) -> frozenset[str] | None:
        feeds = self.feeds if feeds is None else feeds
        out: set[str] = set()
        for s in symbols:
            if isinstance(s, Dim):
                sub = feeds.get(s)
                if sub is None:
                    return None
                out |= sub
            else:
                out.add(s.name)  # type: ignore[attr-defined]
            if len(out) > cap:
                return None
        return frozenset(out)

    @cached_property
    def _wide_feeds(self) -> dict[Expr, frozenset[str] | None]:
        """Symbols feeding each atom up to MAX_CLOSED_FORM_SYMBOLS (None: more), for closed forms on request."""
        out: dict[Expr, frozenset[str] | None] = {}
        for atom, definition in self.d.defs.items():
            out[atom] = self._feeds(as_expr(definition).free_symbols, out, MAX_CLOSED_FORM_SYMBOLS)
        return out

    def closable(self, e: object) -> bool:
        """Whether `e`'s closed form is small enough to give on request (see MAX_CLOSED_FORM_SYMBOLS)."""
        e = as_expr(e)
        if self.closed(e):
            return True
        wide = self._wide_feeds
        return all(wide.get(a, frozenset()) is not None for a in dims(e))

    @cached_property
    def deep(self) -> bool:
        """Whether some atom is shown by name (then `definitions` are part of every view). (Asked for every
        expression shown; `feeds` is fixed once built.)"""
        return any(v is None for v in self.feeds.values())

    def closed(self, e: object) -> bool:
        """Whether `e` is shown in closed form: none of its atoms is fed by too many symbols."""
        e = as_expr(e)
        if not isinstance(e, sympy.Basic) or not self.deep:
            return True
        return all(self.feeds.get(a, frozenset()) is not None for a in dims(e))

    def form(self, e: object, closed_forms: bool = False) -> Expr:
        """The expression to analyze and show: closed form, or as it is (atoms kept) when named. (`to_dict`
        asks for closed forms only where `closable`.)"""
        e = as_expr(e)
        if closed_forms or self.closed(e):
            return self.d.collapse(e)
        return e

    def named(self, e: object) -> Expr:
        """Atoms replaced by their names; an expression without atoms as it is. (To print, passing
        `names` to the printer is cheaper: `symshape.render.text(e, names.names)`.)"""
        e = as_expr(e)
        if not isinstance(e, sympy.Basic) or not self.names:
            return e
        if isinstance(e, Relational):  # rebuilt as is: SymPy would try to decide it again
            return e.func(self.named(e.lhs), self.named(e.rhs), evaluate=False)  # type: ignore[return-value]
        atoms = dims(e)
        return e.xreplace({a: self.names[a] for a in atoms if a in self.names}) if atoms else e

    def show(self, e: object, closed_forms: bool = False) -> Expr:
        """`form`, printable."""
        return self.named(self.form(e, closed_forms))

    def definitions(self) -> list[SizeName]:
        """Every named size, in order, defined in the symbols and the atoms before it (print with
        `names`); empty when nothing is shown by name."""
        if not self.deep:
            return []
        return [SizeName(name, atom, *self.where[atom], self.d.defs[atom])
                for atom, name in self.names.items() if atom in self.d.defs]
