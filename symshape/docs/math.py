"""LaTeX (from symshape's printer) to presentation MathML, for HTML that renders math natively."""

from __future__ import annotations

import html
import re
from functools import lru_cache

from .formulas import group_digits

# a multi-letter name (\mathit{Min}, \mathrm{in}): latex2mathml would split it into one <mi> per letter
_NAME = re.compile(r"\\math(it|rm)\{([A-Za-z][A-Za-z0-9]+)\}")
_MARK = re.compile(r"<mtext>\u2063(\d+)\u2063</mtext>")
_VARIANT = {"it": "italic", "rm": "normal"}


@lru_cache(maxsize=1 << 16)
def mathml(latex: str, display: bool = False) -> str:
    """A <math> element; the LaTeX as escaped text inside <code> when latex2mathml is not installed."""
    try:
        from latex2mathml.converter import convert
    except ImportError:
        return f"<code>{html.escape(latex)}</code>"
    names: list[tuple[str, str]] = []

    def mark(m: re.Match[str]) -> str:
        names.append((m.group(1), m.group(2)))
        return f"\\text{{\u2063{len(names) - 1}\u2063}}"

    out = convert(_NAME.sub(mark, group_digits(latex)), display="block" if display else "inline")

    def name(m: re.Match[str]) -> str:
        variant, text = names[int(m.group(1))]
        return f'<mi mathvariant="{_VARIANT[variant]}">{text}</mi>'

    return _MARK.sub(name, out)
