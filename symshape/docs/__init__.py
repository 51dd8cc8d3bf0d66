"""Generated documentation: one network's derivation document, as self-contained HTML or Markdown.

    text = symshape.document(Path("model.yaml"), format="html")
    doc = render_document(spec, "markdown", example={"H": 224, "W": 224}, image="model.svg")
    doc.text, doc.files                           # the Markdown and {"model.svg": b"<svg ..."}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..deep import run_deep
from ..derive import Derivation, derive
from ..errors import SymshapeError
from ..spec import load_spec
from .blocks import Figure

__all__ = ["FORMATS", "Rendered", "document", "render_document"]

FORMATS = ("html", "markdown")


@dataclass(frozen=True)
class Rendered:
    text: str
    files: dict[str, bytes] = field(default_factory=dict)  # figures beside a Markdown document


def render_document(spec: Any, format: str = "html", *, example: Mapping[str, int] | None = None,
                    image: str = "model.svg", source: str | None = None) -> Rendered:
    """The derivation document of `spec` (a Path, YAML/JSON text, a dict or a `Derivation`)."""
    if format not in FORMATS:
        raise SymshapeError(f"unknown document format '{format}': one of {', '.join(FORMATS)}")
    if isinstance(spec, Derivation):
        d, descriptions = spec, spec.spec.descriptions
    else:  # loaded here too: descriptions are not part of the derivation's cache key
        loaded = load_spec(spec, source=source)
        d, descriptions = derive(loaded), loaded.descriptions
    from .model import Analysis, build

    analysis = Analysis.of(d)  # the derivation's own analysis, under its own time limit
    doc = run_deep(build, d, descriptions, example, image, analysis)
    if format == "html":
        from .html import render as html

        return Rendered(run_deep(html, doc))
    from .markdown import render as markdown

    files = {b.name: b.svg.encode() for b in doc.blocks if isinstance(b, Figure)}
    return Rendered(run_deep(markdown, doc), files)


def document(spec: Any, format: str = "html", *, example: Mapping[str, int] | None = None,
             image: str = "model.svg") -> str:
    """The derivation document as text ('html': self-contained; 'markdown': figures referenced as `image`,
    see `render_document` for their content)."""
    return render_document(spec, format, example=example, image=image).text
