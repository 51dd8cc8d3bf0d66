"""The format-neutral document: headings, paragraphs, tables, math and figures.

Inline content is a list of `Text` (plain, untrusted-safe: renderers escape it), `Code` and `Math`
(LaTeX made by symshape's printer, never from spec text). The HTML and Markdown renderers read the
same blocks, so both formats always say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Math:
    latex: str


Inline = Text | Code | Math
Line = tuple[Inline, ...]


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str = ""


@dataclass(frozen=True)
class Para:
    content: Line


@dataclass(frozen=True)
class Bullets:
    items: tuple[Line, ...]


@dataclass(frozen=True)
class MathBlock:
    latex: str


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Line, ...], ...]
    numeric: tuple[int, ...] = ()  # columns aligned right (and never wrapped)
    nowrap: tuple[int, ...] = ()  # columns never wrapped (short values: shapes)


@dataclass(frozen=True)
class Figure:
    name: str  # the file name beside a Markdown document
    svg: str
    caption: str


Block = Heading | Para | Bullets | MathBlock | Table | Figure


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)


def line(*parts: Inline | str) -> Line:
    """Inline content; a bare str is plain text."""
    return tuple(Text(p) if isinstance(p, str) else p for p in parts)
