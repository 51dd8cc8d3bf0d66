"""LaTeX (from symshape's printer) to presentation MathML, for HTML that renders math natively."""

from __future__ import annotations

import html
from functools import lru_cache

from .formulas import group_digits


@lru_cache(maxsize=1 << 16)
def mathml(latex: str, display: bool = False) -> str:
    """A <math> element; the LaTeX as escaped text inside <code> when latex2mathml is not installed."""
    try:
        from latex2mathml.converter import convert
    except ImportError:
        return f"<code>{html.escape(latex)}</code>"
    return convert(group_digits(latex), display="block" if display else "inline")
