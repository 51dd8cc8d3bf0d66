"""A document as Markdown with `$…$`/`$$…$$` math, as GitHub renders it; figures as files beside it."""

from __future__ import annotations

import re

from .blocks import Bullets, Code, Document, Figure, Heading, Line, Link, Math, MathBlock, Para, Table, Text
from .formulas import group_digits


def _escape(s: str) -> str:
    """Plain text that Markdown shows as written (no markup, no HTML, no table breaks)."""
    out = []
    for c in s:
        if c in "\\`*_[]<>|$~&#":
            out.append("\\" + c)
        elif c in "\r\n":
            out.append(" ")
        else:
            out.append(c)
    return "".join(out)


def _code(s: str) -> str:
    s = s.replace("\n", " ").replace("|", "\\|")
    fence = "``" if "`" in s else "`"
    return f"{fence} {s} {fence}" if fence == "``" else f"`{s}`"


def _inline(content: Line) -> str:
    parts = []
    for p in content:
        if isinstance(p, Math):
            parts.append(f"${group_digits(p.latex).replace('|', chr(92) + 'vert ')}$")
        elif isinstance(p, Code):
            parts.append(_code(p.text))
        elif isinstance(p, Link):
            parts.append(f"[{_escape(p.text)}](#{slug(p.text)})")
        elif isinstance(p, Text):
            parts.append(_escape(p.text))
    return "".join(parts)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _block_start(s: str) -> str:
    """A paragraph that would start a list, a quote or a rule (text from the spec) starts escaped."""
    return "\\" + s if re.match(r"[-+=]|\d+[.)]", s) else s


def render(doc: Document) -> str:
    out: list[str] = []
    for b in doc.blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + _escape(b.text), ""]
        elif isinstance(b, Para):
            out += [_block_start(_inline(b.content)), ""]
        elif isinstance(b, Bullets):
            out += [f"- {_block_start(_inline(item))}" for item in b.items] + [""]
        elif isinstance(b, MathBlock):
            out += ["$$", group_digits(b.latex), "$$", ""]
        elif isinstance(b, Table):
            out.append("| " + " | ".join(b.header) + " |")  # our own column names
            out.append("|" + "|".join("---:" if k in b.numeric else "---" for k in range(len(b.header))) + "|")
            out += ["| " + " | ".join(_inline(c) for c in row) + " |" for row in b.rows]
            out.append("")
        elif isinstance(b, Figure):
            out += [f"![{_escape(b.caption)}]({b.name})", ""]
    return "\n".join(out).rstrip("\n") + "\n"
