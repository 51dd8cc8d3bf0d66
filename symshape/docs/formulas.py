"""A rule's documented general formula (its doc arguments as symbols, generic inputs) as LaTeX,
with input placeholders written with subscripts (H_in, not the product H·i·n)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy
from sympy import Integer, Symbol

from ..layers.base import Ctx, LayerRule
from ..printing import to_latex
from ..render import placeholders
from ..report import generic_instance


@dataclass(frozen=True)
class General:
    inputs: str
    outputs: str
    trainable: str
    macs: str


def shape_tex(items: list[str]) -> str:
    return r"\left(" + ", ".join(items) + ("," if len(items) == 1 else "") + r"\right)"


def _subscripted(name: str) -> str:
    """Hin -> H_in, Cin0 -> C_in0: a placeholder's name as SymPy prints a subscript."""
    m = re.fullmatch(r"(.+?)(in\d*)", name)
    return f"{m.group(1)}_{m.group(2)}" if m else name


def general(rule: LayerRule) -> General | None:
    """None when the rule has no meaningful generic instance (a wrapper around another layer)."""
    args, shapes = generic_instance(rule)
    inputs = placeholders(rule, shapes, rule.framework)
    ctx = Ctx(rule.framework, lambda raw: Integer(0), "", rule.name)
    out = rule.apply(args, inputs, ctx)
    rename = {s: Symbol(_subscripted(s.name), **s.assumptions0) for shape in inputs for s in shape
              if isinstance(s, Symbol)}

    def tex(e: object) -> str:
        return to_latex(e.xreplace(rename) if isinstance(e, sympy.Basic) else e)

    if any(s == 0 for shape in out.outputs for s in shape):  # a wrapper's placeholder layer: no general form
        return None
    return General("; ".join(shape_tex([tex(s) for s in shape]) for shape in inputs),
                   "; ".join(shape_tex([tex(s) for s in shape]) for shape in out.outputs),
                   tex(out.trainable), tex(out.macs))


_BIG = re.compile(r"(?<![\w{.])(\d{5,})(?![\w.])")


def group_digits(latex: str) -> str:
    """7695552 -> 7{,}695{,}552 in LaTeX: large counts readable in math too."""
    return _BIG.sub(lambda m: f"{int(m.group(1)):,}".replace(",", "{,}"), latex)
