"""The document's "Symbols" section: one row per symbol, its description, its domain as mathematics,
its declared default and the places it fills.

A domain is written as relations on the symbol, the same notation the validity section uses (every
symbol is an integer, which the section says once): ``H \\geq 1``, ``1 \\leq S \\leq 4``, ``S \\leq 4``,
``S = 4`` (min = max), ``S \\in \\mathbb{Z}`` (no bound). A declared ``step`` or ``log: true`` is a search's
hint (:mod:`symshape.integrations.optuna`), not a narrower domain, so it is said in words after the
relation: "searched in multiples of 8", "searched in steps of 2 from 1", "searched on a log scale". A minimum
that comes from the symbol's role rather than its declaration says so: "(as input size)".
"""

from __future__ import annotations

from collections.abc import Mapping

from ..derive import Derivation
from ..printing import to_latex
from ..views import count_text
from .blocks import Block, Heading, Line, Math, Para, Table, line

NONE = "\u2014"  # an em dash: no declared default, no description


def domain_tex(symbol: str, lo: int | None, hi: int | None) -> str:
    """The domain of the symbol whose LaTeX is `symbol`, as one relation: lo <= s <= hi, s >= lo, s <= hi."""
    if lo is not None and hi is not None:
        return rf"{symbol} = {lo}" if lo == hi else rf"{lo} \leq {symbol} \leq {hi}"
    if lo is not None:
        return rf"{symbol} \geq {lo}"
    if hi is not None:
        return rf"{symbol} \leq {hi}"
    return rf"{symbol} \in \mathbb{{Z}}"


def search_note(lo: int | None, step: int = 1, log: bool = False) -> str:
    """How a search samples the symbol (its declared `step` or `log`), '' when it takes every integer."""
    if log:
        return "searched on a log scale"
    if step > 1:
        if lo is None:
            return f"searched in steps of {step}"
        return f"searched in multiples of {step}" if lo % step == 0 else f"searched in steps of {step} from {lo}"
    return ""


def domain(symbol: str, lo: int | None, hi: int | None, step: int = 1, log: bool = False, why: str = "") -> Line:
    """The Domain cell: the relation, then in parentheses where an undeclared minimum comes from (`why`: the
    role, e.g. 'input size'; '' or 'declared' say nothing) and how a search samples the symbol."""
    notes = [f"as {why}"] if why and why != "declared" and lo is not None else []
    note = search_note(lo, step, log)
    if note:
        notes.append(note)
    return line(Math(domain_tex(symbol, lo, hi)), *([f" ({'; '.join(notes)})"] if notes else []))


def default_text(value: int | None) -> str:
    """The Default cell: the declared example value (61,100,840; a true minus sign), else an em dash."""
    if value is None:
        return NONE
    return f"\u2212{count_text(-value)}" if value < 0 else count_text(value)


def glossary(d: Derivation, descriptions: Mapping[str, str], fills: Mapping[str, list[str]]) -> list[Block]:
    """The section's blocks (none when the network has no symbol). The Description column is left out when
    no symbol has a description; when some have, the others show an em dash."""
    if not d.symbols:
        return []
    described = any(descriptions.get(name) for name in d.symbols)
    rows = []
    for name, info in d.symbols.items():
        decl = d.spec.symbols.get(name) or {}
        cells = [line(Math(to_latex(info.symbol)))]
        if described:
            cells.append(line(descriptions.get(name) or NONE))
        cells += [domain(to_latex(info.symbol), info.min, info.max, int(decl.get("step") or 1),
                         bool(decl.get("log")), info.why),
                  line(default_text(info.default)),
                  line(", ".join(fills.get(name, ())) or "(derived)")]
        rows.append(tuple(cells))
    header = ("Symbol", *(("Description",) if described else ()), "Domain", "Default", "Fills")
    default_col = header.index("Default")
    return [Heading(2, "Symbols", "symbols"), Para(line("Every symbol is an integer.")),
            Table(header, tuple(rows), numeric=(default_col,))]
