"""Multi-letter symbol names (Min, width, Hh) and word subscripts (C_in) print as one name in every format
that prints math: the document's HTML (parsed MathML), Markdown and LaTeX, `derive --format markdown|latex`,
the layer reference and the JSON's LaTeX."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from symshape.cli import main
from symshape.docs import render_document
from symshape.printing import symbol_tex, tex_names, to_latex

SPEC = """\
framework: keras
input: [width, Min, 3]
symbols:
  width: {min: 8}
  Min: {min: 8}
  Hh: {min: 1}
layers:
  - Conv2D: {filters: Hh, kernel_size: 3}
  - MaxPooling2D: {pool_size: 2}
"""
NAMES = ("Min", "width", "Hh")
MATHML = "{http://www.w3.org/1998/Math/MathML}"


@pytest.mark.parametrize(("name", "tex"), [
    ("Min", r"\mathit{Min}"), ("width", r"\mathit{width}"), ("Hh", r"\mathit{Hh}"), ("H", "H"),
    ("C_in", r"C_{\mathrm{in}}"), ("H_out0", r"H_{\mathrm{out0}}"), ("x_1", "x_{1}"), ("N1", "N_{1}"),
    ("alpha", r"\alpha"), ("width_in", r"\mathit{width}_{\mathrm{in}}"),
])
def test_symbol_tex(name: str, tex: str) -> None:
    assert symbol_tex(name) == tex


@pytest.mark.parametrize("latex", [
    r"\text{output} = \left\lfloor \frac{Min + 2}{Hh} \right\rfloor \bmod C_{in} \geq \max\left(a, b\right)",
    r"\begin{aligned} x &= 1 \\ \operatorname{ceil}\left(x\right) \end{aligned}",
])
def test_tex_names_idempotent_and_leaves_commands(latex: str) -> None:
    once = tex_names(latex)
    assert tex_names(once) == once
    for kept in (r"\text{output}", r"\lfloor", r"\bmod", r"\max", r"\begin{aligned}", r"\operatorname{ceil}"):
        assert (kept in once) == (kept in latex)


def _bare(math: str) -> str:
    """The math with \\mathit{..}, \\mathrm{..}, \\text{..} and commands removed: what would read as letters."""
    return re.sub(r"\\(math[a-z]*|text[a-z]*|operatorname)\{[^{}]*\}|\\[A-Za-z]+", " ", math)


def _check_tex_math(segments: list[str]) -> None:
    assert segments
    joined = " ".join(segments)
    for n in NAMES:
        assert rf"\mathit{{{n}}}" in joined, n
    for s in segments:
        bare = _bare(s)
        assert not re.search(r"[A-Za-z]{2,}", bare), s  # every multi-letter run sits inside \mathit/\mathrm


def _math_segments(md: str) -> list[str]:
    return re.findall(r"\$\$?([^$]+)\$\$?", md)


def test_html_mathml_one_token_per_name() -> None:
    html = render_document(SPEC, "html").text
    maths = re.findall(r"<math\b.*?</math>", html, flags=re.S)
    assert maths
    seen: set[str] = set()
    for m in maths:
        root = ET.fromstring(m)
        for el in root.iter():
            if el.tag == f"{MATHML}mi" and el.text:
                seen.add(el.text)
            kids = [k for k in el if k.tag == f"{MATHML}mi"]
            letters = "".join(k.text or "" for k in kids if len(k.text or "") == 1)
            for n in NAMES:
                assert n not in letters, (n, m)  # never one <mi> per letter
    assert set(NAMES) <= seen


def test_markdown_and_latex_documents() -> None:
    md = render_document(SPEC, "markdown").text
    _check_tex_math(_math_segments(md))
    tex = render_document(SPEC, "latex").text
    body = tex.split(r"\begin{document}", 1)[1]
    _check_tex_math(re.findall(r"\$([^$]+)\$", body))


@pytest.mark.parametrize("fmt", ["markdown", "latex"])
def test_derive_formats(fmt: str, tmp_path: Path) -> None:
    spec = tmp_path / "names.yaml"
    spec.write_text(SPEC)
    out = io.StringIO()
    assert main(["derive", str(spec), "--format", fmt], out=out) == 0
    text = out.getvalue()
    segments = _math_segments(text) if fmt == "markdown" else re.findall(r"\$([^$]+)\$", text)
    _check_tex_math(segments)


def test_json_latex() -> None:
    import sympy

    assert to_latex(sympy.Symbol("Min") + sympy.Symbol("Hh")) in (r"\mathit{Hh} + \mathit{Min}",
                                                                  r"\mathit{Min} + \mathit{Hh}")
