"""Generated documentation: one network's derivation document, as self-contained HTML, Markdown,
standalone LaTeX or PDF.

    text = symshape.document(Path("model.yaml"), format="html")
    doc = render_document(spec, "markdown", example={"H": 224, "W": 224}, image="model.svg")
    doc.text, doc.files                           # the Markdown and {"model.svg": b"<svg ...", ...}
    pdf = render_document(spec, "pdf").data       # the PDF's bytes (pdflatex must be installed)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..deep import run_deep
from ..derive import Derivation, derive
from ..errors import SymshapeError
from ..spec import load_spec
from .blocks import Figure

__all__ = ["FORMATS", "Rendered", "document", "render_document"]

FORMATS = ("html", "markdown", "latex", "pdf")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # figure files beside a document: never a path
SUFFIXES = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown", ".tex": "latex",
            ".pdf": "pdf"}


@dataclass(frozen=True)
class Rendered:
    """A rendered document: `text` (HTML, Markdown or LaTeX; for 'pdf' the LaTeX it was compiled from),
    `files` to put beside it (Markdown's SVG figures, LaTeX's PDF figures; none for HTML and PDF), and for
    'pdf' the PDF itself in `pdf` and pdflatex's log in `log`. `data` is the document's bytes in any format."""

    text: str
    files: dict[str, bytes] = field(default_factory=dict)
    format: str = "html"
    pdf: bytes | None = None
    log: str = ""

    @property
    def data(self) -> bytes:
        return self.pdf if self.pdf is not None else self.text.encode()

    @property
    def media_type(self) -> str:
        return {"html": "text/html", "markdown": "text/markdown", "latex": "application/x-latex",
                "pdf": "application/pdf"}[self.format]


def render_document(spec: Any, format: str = "html", *, example: Mapping[str, int] | None = None,
                    image: str = "model.svg", source: str | None = None) -> Rendered:
    """The derivation document of `spec` (a Path, YAML/JSON text, a dict or a `Derivation`) in `format`
    ('html', 'markdown', 'latex' or 'pdf'). `image` names the figures beside a Markdown or LaTeX document
    (`model.svg`, `model-graph.svg`...; LaTeX: `model-size.pdf`...)."""
    if format not in FORMATS:
        from ..errors import did_you_mean

        raise SymshapeError(f"unknown document format '{format}': one of {', '.join(FORMATS)}"
                            f"{did_you_mean(format, FORMATS)}")
    if not isinstance(image, str) or not _FILE_NAME.fullmatch(image) or len(image) > 200:
        raise SymshapeError(f"image {str(image)[:80]!r}: figures are named from a plain file name (letters, digits, "
                            "'.', '_', '-'; no directory), e.g. 'model.svg'")
    if format == "pdf":
        from .latex import pdflatex

        pdflatex()  # no TeX: say so before any work
    if isinstance(spec, Derivation):
        d, descriptions, origin = spec, spec.spec.descriptions, spec.spec.source
    else:  # loaded here too: descriptions and the file's name are not part of the derivation's cache key
        loaded = load_spec(spec, source=source)
        d, descriptions, origin = derive(loaded), loaded.descriptions, loaded.source
    from .model import Analysis, build

    analysis = Analysis.of(d)  # the derivation's own analysis, under its own time limit
    doc = run_deep(build, d, descriptions, example, image, analysis, origin)
    _draw(doc, "svg" if format in ("html", "markdown") else "pdf")
    if format == "html":
        from .html import render as html

        return Rendered(run_deep(html, doc), format="html")
    if format == "markdown":
        from .markdown import render as markdown

        files = {b.name: b.data("svg") for b in doc.blocks if isinstance(b, Figure)}
        return Rendered(run_deep(markdown, doc), files, "markdown")
    from .latex import compile_pdf
    from .latex import render as latex

    tex, files = run_deep(latex, doc, Path(image).stem)
    if format == "latex":
        return Rendered(tex, files, "latex")
    pdf, log = compile_pdf(tex, files)
    return Rendered(tex, {}, "pdf", pdf, log)


def _draw(doc: Any, fmt: str) -> None:
    """Draw every figure now, in the format the renderer needs; a drawing that fails (Graphviz past its
    time limit) becomes a line saying why, and the rest of the document stands."""
    from .blocks import Para, line

    for k, b in enumerate(doc.blocks):
        if isinstance(b, Figure):
            try:
                b.data(fmt)
            except SymshapeError as err:
                doc.blocks[k] = Para(line(f"No drawing ({b.caption}): {err}."))


def document(spec: Any, format: str = "html", *, example: Mapping[str, int] | None = None,
             image: str = "model.svg") -> str | bytes:
    """The derivation document: text for 'html' (self-contained), 'markdown' (figures referenced by the
    names `image` gives, see `render_document` for their content) and 'latex' (standalone); the PDF's
    bytes for 'pdf'."""
    r = render_document(spec, format, example=example, image=image)
    return r.data if format == "pdf" else r.text
