"""The format-neutral document: headings, paragraphs, tables, math and figures.

Inline content is a list of `Text` (plain, untrusted-safe: renderers escape it), `Code` and `Math`
(LaTeX made by symshape's printer, never from spec text). The HTML, Markdown and LaTeX renderers read the
same blocks, so every format says the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..printing import tex_names


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Math:
    latex: str

    def __post_init__(self) -> None:  # multi-letter names as one name in every format (Min, not M·i·n)
        object.__setattr__(self, "latex", tex_names(self.latex))


@dataclass(frozen=True)
class Link:
    """A link to a heading of the same document: its text is the heading's text, `anchor` its anchor."""

    text: str
    anchor: str


Inline = Text | Code | Math | Link
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "latex", tex_names(self.latex))


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Line, ...], ...]
    numeric: tuple[int, ...] = ()  # columns aligned right (and never wrapped)
    nowrap: tuple[int, ...] = ()  # columns never wrapped (short values: shapes)


@dataclass(frozen=True)
class Figure:
    """A drawing, made on demand in the format a renderer needs: 'svg' (HTML inline, Markdown beside)
    or 'pdf' (LaTeX). `name` is its SVG file's name beside a Markdown document; a LaTeX document names
    its PDF file `<stem>-<key>.pdf`."""

    name: str
    caption: str
    key: str  # 'size', 'graph', 'counts-F': unique in a document
    draw: Callable[[str], bytes] = field(compare=False, repr=False)
    _made: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    def data(self, fmt: str) -> bytes:
        if fmt not in self._made:
            self._made[fmt] = self.draw(fmt)
        return self._made[fmt]

    @property
    def svg(self) -> str:
        """The SVG element (no XML prolog), for inlining in HTML."""
        return self.data("svg").decode()


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
