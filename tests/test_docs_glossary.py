"""The document's Symbols section: each symbol's domain as mathematics (relations on the symbol, a declared
step or log scale in words), its declared default (an em dash when none), its description (the column left
out when no symbol has one), the same in the format-neutral blocks and in Markdown, HTML (MathML, laid out by
a real chromium) and LaTeX (compiled by a real pdflatex, read back by pdftotext)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import symshape
from symshape.docs import render_document
from symshape.docs.blocks import Math, Text
from symshape.docs.glossary import default_text, domain
from symshape.docs.latex import overfull

from .test_docs import PHONE, browse
from .test_docs_latex import OVERFULL_PT, pdf_text, tool

EXAMPLES = Path(__file__).parent.parent / "examples"

DOMAIN_CASES = [  # min, max, step, log, why (where an undeclared min comes from), the relation, the words after it
    (1, None, 1, False, "declared", r"S \geq 1", ""),  # min only
    (1, 4, 1, False, "declared", r"1 \leq S \leq 4", ""),  # min and max
    (None, 4, 1, False, "", r"S \leq 4", ""),  # max only
    (-2, None, 1, False, "declared", r"S \geq -2", ""),  # a negative min
    (4, 4, 1, False, "declared", r"S = 4", ""),  # one value
    (None, None, 1, False, "", r"S \in \mathbb{Z}", ""),  # no bound
    (8, 256, 8, False, "declared", r"8 \leq S \leq 256", " (searched in multiples of 8)"),  # step from a multiple
    (1, 7, 2, False, "declared", r"1 \leq S \leq 7", " (searched in steps of 2 from 1)"),  # step from elsewhere
    (0, 64, 16, False, "padding", r"0 \leq S \leq 64", " (as padding; searched in multiples of 16)"),
    (1, 1024, 1, True, "declared", r"1 \leq S \leq 1024", " (searched on a log scale)"),  # log
    (1, 64, 1, True, "input size", r"1 \leq S \leq 64", " (as input size; searched on a log scale)"),
    (1, None, 1, False, "input size", r"S \geq 1", " (as input size)"),  # the min from the symbol's role
    (1, None, 1, False, "", r"S \geq 1", ""),  # the min every size has
]


@pytest.mark.parametrize(("lo", "hi", "step", "log", "why", "relation", "words"), DOMAIN_CASES)
def test_domain_cell(lo: int | None, hi: int | None, step: int, log: bool, why: str, relation: str,
                     words: str) -> None:
    cell = domain("S", lo, hi, step, log, why)
    assert cell[0] == Math(relation)
    assert "".join(p.text for p in cell[1:] if isinstance(p, Text)) == words
    assert len(cell) == (2 if words else 1)


DEFAULT_CASES = [(None, "\u2014"), (0, "0"), (32, "32"), (20_000, "20,000"), (-1, "\u22121")]


@pytest.mark.parametrize(("value", "text"), DEFAULT_CASES)
def test_default_cell(value: int | None, text: str) -> None:
    assert default_text(value) == text


# one symbol per kind of domain; H and K declare defaults, only H a description
SPEC = {"framework": "torch", "input": [3, "H", "W"],
        "symbols": {"H": {"min": 8, "max": 256, "step": 8, "default": 64, "description": "image height"},
                    "W": {"max": 64, "log": True}, "K": {"min": 1, "max": 7, "step": 2, "default": 3},
                    "P": {"min": -2, "default": -1}},
        "layers": [{"Conv2d": {"out_channels": 4, "kernel_size": "K", "padding": "P + 2"}}]}

FORMAT_CASES = [  # format, the Symbols table's rows as the format writes them
    ("markdown", [
        "| Symbol | Description | Domain | Default | Fills |",
        "|---|---|---|---:|---|",
        "| $H$ | image height | $8 \\leq H \\leq 256$ (searched in multiples of 8) | 64 | input 'input' axis 1 |",
        "| $W$ | \u2014 | $1 \\leq W \\leq 64$ (as input size; searched on a log scale) | \u2014 | "
        "input 'input' axis 2 |",
        "| $K$ | \u2014 | $1 \\leq K \\leq 7$ (searched in steps of 2 from 1) | 3 | conv2d.kernel\\_size |",
        "| $P$ | \u2014 | $P \\geq -2$ | \u22121 | conv2d.padding |",
    ]),
    ("latex", [
        r"\textbf{Symbol} & \textbf{Description} & \textbf{Domain} & \textbf{Default} & \textbf{Fills} \\",
        r"$H$ & image height & $8 \leq H \leq 256$ (searched in multiples of 8) & 64 & input "
        r"\textquotesingle{}input\textquotesingle{} axis 1 \\",
        r"$W$ & --- & $1 \leq W \leq 64$ (as input size; searched on a log scale) & --- & input "
        r"\textquotesingle{}input\textquotesingle{} axis 2 \\",
        r"$K$ & --- & $1 \leq K \leq 7$ (searched in steps of 2 from 1) & 3 & conv2d.kernel\_\allowbreak{}size \\",
        r"$P$ & --- & $P \geq -2$ & \textminus{}1 & conv2d.padding \\",
    ]),
    ("html", [
        "<th>Symbol</th><th>Description</th><th>Domain</th><th>Default</th><th>Fills</th>",
        "<td>image height</td><td><span class=\"scroll math\"><math xmlns=\"http://www.w3.org/1998/Math/MathML\" "
        "display=\"inline\"><mrow><mn>8</mn><mo>&#x02264;</mo><mi>H</mi><mo>&#x02264;</mo><mn>256</mn></mrow></math>"
        "</span> (searched in multiples of 8)</td><td class=n>64</td><td>input &#x27;input&#x27; axis 1</td>",
        "<mrow><mn>1</mn><mo>&#x02264;</mo><mi>W</mi><mo>&#x02264;</mo><mn>64</mn></mrow></math></span> (as input "
        "size; searched on a log scale)</td><td class=n>\u2014</td>",
        "<mrow><mi>P</mi><mo>&#x02265;</mo><mo>&#x02212;</mo><mn>2</mn></mrow></math></span></td>"
        "<td class=n>\u22121</td>",
    ]),
]


def _symbols_section(text: str, fmt: str) -> str:
    start = {"markdown": "## Symbols", "latex": r"\section*{Symbols}", "html": '<h2 id="symbols">'}[fmt]
    end = {"markdown": "## Layers", "latex": r"\section*{Layers}", "html": '<h2 id="layers">'}[fmt]
    return text[text.index(start):text.index(end)]


@pytest.mark.parametrize(("fmt", "rows"), FORMAT_CASES)
def test_symbols_table_in_each_format(fmt: str, rows: list[str]) -> None:
    section = _symbols_section(render_document(SPEC, fmt).text, fmt)
    for row in rows:
        assert row in section, f"{row!r} not in\n{section}"
    assert "Every symbol is an integer." in section
    assert not re.search(r"None|\binf\b|\[1,", section), section


def test_description_column_only_when_a_symbol_has_one() -> None:
    md = _symbols_section(symshape.document(EXAMPLES / "classic_symbolic.yaml", format="markdown"), "markdown")
    assert "| Symbol | Domain | Default | Fills |" in md and "Description" not in md
    assert "| $I$ | $I \\geq 1$ | 32 | input 'input' axis 0, input 'input' axis 1 |" in md
    assert "| $P$ | $P \\geq 0$ | 0 | conv2d.padding |" in md
    md = _symbols_section(symshape.document(EXAMPLES / "unet.yaml", format="markdown"), "markdown")
    assert "| $K$ | number of output classes | $K \\geq 1$ | 2 | head.out\\_channels |" in md
    assert "| $C$ | \u2014 | $C \\geq 1$ | 3 | input 'input' axis 0 |" in md  # no empty cell


@pytest.mark.parametrize("spec", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_examples_symbols_read_as_mathematics(spec: str) -> None:
    d = symshape.derive(EXAMPLES / spec)
    for fmt in ("markdown", "html", "latex"):
        text = symshape.document(d, format=fmt)
        if not d.symbols:
            assert "Symbols" not in text
            continue
        section = _symbols_section(text, fmt).replace(r"\allowbreak{}", "")  # LaTeX: 20,000 may break
        assert "Default" in section and not re.search(r"None|\binf\b", section), (spec, fmt)
        for name, info in d.symbols.items():
            if info.default is not None:
                assert f"{info.default:,}" in section, (spec, fmt, name)


def test_symbols_table_fits_a_phone_in_chromium(tmp_path: Path) -> None:
    probe, _ = browse(symshape.document(SPEC, format="html"), tmp_path, "glossary")
    assert probe["innerWidth"] == PHONE and probe["fits"], probe
    assert probe["maths"] > 10 and probe["emptyMaths"] == 0, probe


def test_symbols_table_compiles_and_reads_back(tmp_path: Path) -> None:
    tool("pdflatex", "texlive-latex-base texlive-latex-recommended texlive-latex-extra lmodern")
    r = render_document(SPEC, "pdf")
    bad = [pt for pt in overfull(r.log) if pt > OVERFULL_PT]
    assert not bad, f"overfull boxes (pt): {bad}"
    text = re.sub(r"\s+", " ", " ".join(pdf_text(r.data, tmp_path)))
    section = text[text.index("Symbols Every"):text.index("Layers 0.")]
    for words in ("Default", "8 ≤ H ≤ 256", "(searched in multiples", "1 ≤ W ≤ 64", "(as input size;", "log scale)",
                  "1 ≤ K ≤ 7", "(searched in steps of 2", "P ≥ −2 −1"):  # cells wrap: the words of one line
        assert words in section, (words, section)
