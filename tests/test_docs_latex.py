"""The derivation document as standalone LaTeX compiled by a real pdflatex (pages read back with pdftotext),
the closed form's merge steps (each one a true identity, checked at sampled integers), the figures (counts
against each symbol, the graph drawn by Graphviz), and the CLI's .tex/.pdf outputs."""

from __future__ import annotations

import io
import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import sympy

import symshape
from symshape.algebra import Dim, FloorDiv
from symshape.cli import main
from symshape.docs import render_document
from symshape.docs.blocks import Figure
from symshape.docs.latex import breakable, compile_pdf, escape, overfull
from symshape.docs.model import build
from symshape.docs.steps import closed_form_steps, holds, lhs, rhs

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
OVERFULL_PT = 1.0  # the most any line or table row may run past the text width, in points


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install {package}): the LaTeX is compiled by a real TeX")
    return path


def pdf_text(pdf: bytes, tmp_path: Path) -> list[str]:
    """The PDF's pages as pdftotext reads them."""
    exe = tool("pdftotext", "poppler-utils")
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run([exe, "-layout", str(path), "-"], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    return out.split("\f")


def chain(n: int) -> dict:
    layers = [{"Conv2d": {"out_channels": f"D{k}", "kernel_size": f"F{k}", "stride": f"S{k}", "padding": f"P{k}"}}
              for k in range(n)]
    return {"framework": "torch", "input": ["C", "H", "W"], "layers": layers}


PDF_CASES = [  # spec, example, words pdftotext must find (the closed form, the merge steps' results)
    ("classic_symbolic.yaml", {"I": 32, "F": 5, "S": 2, "P": 1, "D": 8}, ["Output in closed form", "2S",
                                                                          "How the floors merged"]),
    ("alexnet.yaml", {"H": 227, "W": 227}, ["H − 63", "W − 63", "How the floors merged", "32"]),
    ("unet.yaml", {"H": 64, "W": 64, "C": 3, "K": 2}, ["The graph", "H mod 8 = 0", "Worked example"]),
    ("resnet50.yaml", {"H": 224, "W": 224}, ["Summary", "1000", "25,557,032"]),
]


@pytest.mark.parametrize(("spec", "example", "words"), PDF_CASES)
def test_pdf_compiles_and_reads_back(spec: str, example: dict, words: list[str], tmp_path: Path) -> None:
    tool("pdflatex", "texlive-latex-base texlive-latex-recommended texlive-latex-extra lmodern")
    r = render_document(EXAMPLES / spec, "pdf", example=example)
    assert r.format == "pdf" and r.data.startswith(b"%PDF-") and r.data is r.pdf
    assert r.text.startswith(r"\documentclass") and r"\begin{document}" in r.text and r"\end{document}" in r.text
    bad = [pt for pt in overfull(r.log) if pt > OVERFULL_PT]
    assert not bad, f"overfull boxes (pt): {bad}"
    pages = pdf_text(r.data, tmp_path)
    text = " ".join(" ".join(p.split()) for p in pages)
    for w in words:
        assert w in text, w
    d = symshape.derive(EXAMPLES / spec)
    for ly in d.layers[:40]:  # every layer has its section (the first ones checked: names may hyphenate later)
        assert f"{ly.index}. {ly.name}"[:12] in text.replace("-\n", ""), ly.name
    assert len([p for p in pages if p.strip()]) >= 3


def test_latex_is_standalone_with_figures_beside(tmp_path: Path) -> None:
    r = render_document(EXAMPLES / "unet.yaml", "latex", image="unet.svg")
    assert r.format == "latex" and r.data == r.text.encode()
    names = re.findall(r"\\includegraphics\[[^\]]*\]\{([^}]+)\}", r.text)
    assert names and set(names) == set(r.files)
    assert "unet-size.pdf" in names and "unet-graph.pdf" in names and any("counts" in n for n in names)
    assert all(data.startswith(b"%PDF-") for data in r.files.values())
    assert r"\begin{longtable}" in r.text and r"\usepackage{longtable" in r.text.replace("array,", "")


def test_cli_writes_tex_and_pdf(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    tool("pdflatex", "texlive-latex-base texlive-latex-recommended texlive-latex-extra lmodern")
    out = io.StringIO()
    tex = tmp_path / "classic.tex"
    assert main(["docs", str(EXAMPLES / "classic_symbolic.yaml"), "-o", str(tex), "--example",
                 "I=32,F=5,S=2,P=1,D=8"], out=out) == 0
    assert tex.read_text().startswith(r"\documentclass") and (tmp_path / "classic-size.pdf").exists()
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "classic.tex"], cwd=tmp_path,
                          capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-2000:]
    pdf = tmp_path / "x.pdf"
    assert main(["docs", str(EXAMPLES / "classic_symbolic.yaml"), "-o", str(pdf)], out=out) == 0
    assert pdf.read_bytes().startswith(b"%PDF-") and sorted(p.name for p in tmp_path.glob("x*")) == ["x.pdf"]
    other = tmp_path / "y.out"
    assert main(["docs", str(EXAMPLES / "classic_symbolic.yaml"), "-o", str(other), "--format", "pdf"],
                out=out) == 0
    assert other.read_bytes().startswith(b"%PDF-")


def test_pdf_without_tex_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(symshape.SymshapeError, match="PDF needs a TeX: pdflatex is not installed"):
        render_document(EXAMPLES / "classic_symbolic.yaml", "pdf")


def test_deep_chain_latex_compiles_without_overfull_lines(tmp_path: Path) -> None:
    """Long formulas (a 40-layer all-symbolic chain's closed form and MACs) break across lines."""
    tool("pdflatex", "texlive-latex-base texlive-latex-recommended texlive-latex-extra lmodern")
    r = render_document(chain(40), "pdf")
    bad = [pt for pt in overfull(r.log) if pt > OVERFULL_PT]
    assert not bad, f"overfull boxes (pt): {bad}"
    text = " ".join(pdf_text(r.data, tmp_path))
    assert "Output in closed form" in text and "39. conv2d_39" in text.replace("-\n", "").replace("_\n", "_")


HOSTILE = r"\input{/etc/passwd} \def\x{1} $x$ & % # _ ^ ~ { } < > | \\ é 中 — ≥"


def test_spec_text_is_escaped_and_compiles(tmp_path: Path) -> None:
    tool("pdflatex", "texlive-latex-base texlive-latex-recommended texlive-latex-extra lmodern")
    spec = {"framework": "torch", "description": HOSTILE, "input": [3, "H", "W"],
            "symbols": {"H": {"min": 1, "description": HOSTILE}},
            "layers": [{"Conv2d": {"out_channels": 4, "kernel_size": 3}, "name": "a_b{c}"}]}
    r = render_document(spec, "pdf")
    assert r"\input{/etc/passwd}" not in r.text and r"\textbackslash{}input\{/etc/passwd\}" in r.text
    text = " ".join(pdf_text(r.data, tmp_path))
    assert "\\input{/etc/passwd}" in text.replace(" ", "") or "input{/etc/passwd}" in text
    assert "root:" not in text
    assert "[U+4E2D]" in text  # a character T1 cannot set is named, not dropped or fatal


ESCAPE_CASES = [  # text, LaTeX
    ("a_b", r"a\_\allowbreak{}b"),
    ("50%", r"50\%"),
    ("x ≥ 8 and x ≡ 0 (mod 8)", r"x $\geq$ 8 and x $\equiv$ 0 (mod 8)"),
    ("{}", r"\{\}"),
    ("it's", r"it\textquotesingle{}s"),
]


@pytest.mark.parametrize(("text", "tex"), ESCAPE_CASES)
def test_escape(text: str, tex: str) -> None:
    assert escape(text) == tex


BREAK_CASES = [  # LaTeX, room, what the breakable form holds
    (r"\left\lfloor \frac{H}{2} \right\rfloor", 80, r"\left\lfloor \frac{H}{2} \right\rfloor"),  # fits: as is
    (r"\left(\left\lfloor \frac{I + S - F + 2 P}{2 S} \right\rfloor, D\right)", 5, r"(\lfloor"),
    (r"\left\lfloor \frac{H + S_{0} \left(P_{0} + S_{1} \left(2 P_{1} - F_{1}\right)\right)}{S_{0} S_{1}} "
     r"\right\rfloor", 10, r"\lfloor (H + S_{0} (P_{0} + S_{1} (2 P_{1} - F_{1})))/(S_{0} S_{1}) \rfloor"),
]


@pytest.mark.parametrize(("latex", "room", "part"), BREAK_CASES)
def test_breakable(latex: str, room: float, part: str) -> None:
    out = breakable(latex, room)
    assert part in out.replace(r"\allowbreak ", ""), out
    if room < 80:
        assert r"\left" not in out and r"\right" not in out


# ---------------------------------------------------------------- the closed form's steps


STEP_SPECS = ["classic_symbolic.yaml", "alexnet.yaml", "unet.yaml", "vgg16.yaml", "resnet18.yaml"]


def _sample(exprs: list[sympy.Expr], rng: random.Random) -> dict:
    """Random values for every symbol and size atom: divisors' symbols positive, others any sign."""
    out = {}
    for e in exprs:
        for s in e.free_symbols:
            out.setdefault(s, rng.randint(1, 40) if not isinstance(s, Dim) else rng.randint(-60, 400))
    return out


@pytest.mark.parametrize("spec", STEP_SPECS + ["chain"])
def test_every_shown_merge_is_a_true_identity(spec: str) -> None:
    d = symshape.derive(chain(30) if spec == "chain" else EXAMPLES / spec)
    steps = closed_form_steps(d)
    if spec in ("alexnet.yaml", "vgg16.yaml", "resnet18.yaml"):  # the output is a constant: the last spatial size
        from symshape.docs.example import choose_example
        from symshape.docs.model import input_symbols, layer_steps

        ex = choose_example(d, None, input_symbols(d), False)
        steps = layer_steps(d, d.layers[ex.plot[1]])
    assert steps.total >= 1 and steps.merges
    rng = random.Random(9)
    for _, m in steps.merges:
        assert isinstance(lhs(m), FloorDiv) and isinstance(rhs(m), FloorDiv)
        symbols = [s for s in m.a.free_symbols | m.b.free_symbols]
        for _ in range(50):
            values = _sample([m.x, m.a, m.c, m.b], rng)
            for s in symbols:  # divisors positive: every divisor is a stride or pool size (>= 1)
                values[s] = rng.randint(1, 6)
            assert holds(m, values), (m, values)
    if spec == "chain":
        assert steps.total == 2 * 29 and len(steps.merges) == 24  # H and W: 29 merges each, the first 24 kept


def test_steps_end_at_the_closed_form() -> None:
    """The last merge of an axis gives the closed form itself (classic: floor((I + S - F + 2P)/(2S)))."""
    d = symshape.derive(EXAMPLES / "classic_symbolic.yaml")
    steps = closed_form_steps(d)
    _, last = steps.merges[-1]
    assert sympy.simplify(FloorDiv(last.x + last.a * last.c, last.a * last.b) - d.closed_form[0]) == 0
    md = symshape.document(EXAMPLES / "classic_symbolic.yaml", format="markdown")
    assert "### How the floors merged" in md and "(1 in all)" in md


def test_deep_chain_shows_a_bounded_number_of_steps() -> None:
    md = symshape.document(chain(60), format="markdown")
    assert "(118 in all, the first 24 shown)" in md and "94 more merges by the same identity" in md


# ---------------------------------------------------------------- figures


def test_counts_plots_and_graph() -> None:
    d = symshape.derive(EXAMPLES / "unet.yaml")
    doc = build(d, d.spec.descriptions, {"H": 64, "W": 64, "C": 3, "K": 2}, "unet.svg")
    figs = {b.key: b for b in doc.blocks if isinstance(b, Figure)}
    assert set(figs) == {"size", "counts-C", "counts-H", "counts-W", "counts-K", "graph"}
    assert figs["counts-H"].caption == "MACs against H"  # parameters do not depend on H
    assert figs["counts-C"].caption == "Parameters and MACs against C"
    graph = figs["graph"].svg
    assert graph.startswith("<svg") and graph.count('class="node"') == len(d.layers) + 1
    assert graph.count('class="edge"') == sum(len(ly.inputs) for ly in d.layers)  # the skips are drawn
    for f in figs.values():
        assert f.data("pdf").startswith(b"%PDF-")
    plain = build(symshape.derive(EXAMPLES / "vgg16.yaml"), {}, {"H": 224, "W": 224}, "m.svg")
    assert "graph" not in {b.key for b in plain.blocks if isinstance(b, Figure)}  # a chain: no drawing


def test_graph_labels_are_escaped() -> None:
    from symshape.docs.plots import graph_source

    spec = {"framework": "torch", "input": [3, "H", "W"],
            "layers": [{"Conv2d": {"out_channels": 4, "kernel_size": 3}, "name": 'a"; x -> y [label="z'},
                       {"ReLU": {}, "name": "b\\"}, {"add": {}, "inputs": ['a"; x -> y [label="z', "b\\"]}]}
    d = symshape.derive(spec)
    src = graph_source(d, {})
    assert len(re.findall(r"(?m)^  [il]\d+ -> l\d+", src)) == 4  # one edge per input reference
    assert len(re.findall(r"(?m)^  l\d+ \[label=", src)) == 3
    done = subprocess.run([tool("dot", "graphviz"), "-Tsvg"], input=src.encode(), capture_output=True, timeout=60)
    assert done.returncode == 0 and done.stdout.decode().count('class="node"') == 4


# ---------------------------------------------------------------- derive --format latex


DERIVE_CASES = ["classic_symbolic.yaml", "unet.yaml", "alexnet.yaml", "chain", "never"]


@pytest.mark.parametrize("spec", DERIVE_CASES)
def test_derive_latex_is_a_standalone_document_that_compiles(spec: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    tool("pdflatex", "texlive-latex-base texlive-latex-recommended texlive-latex-extra lmodern")
    import json

    if spec == "chain":
        path = tmp_path / "chain.json"
        path.write_text(json.dumps(chain(40)))
    elif spec == "never":
        path = tmp_path / "never.yaml"
        path.write_text("framework: torch\ninput: [3, H, W]\nlayers:\n  - Conv2d: {out_channels: 16, kernel_size: 3}\n"
                        "  - Conv2d: {in_channels: 32, out_channels: 8, kernel_size: 3, name: a_b&c}\n")
    else:
        path = EXAMPLES / spec
    code = main(["derive", str(path), "--format", "latex"])
    tex = capsys.readouterr().out
    assert code == (1 if spec == "never" else 0)
    assert tex.startswith(r"\documentclass") and tex.rstrip().endswith(r"\end{document}")
    pdf, log = compile_pdf(tex, {})
    bad = [pt for pt in overfull(log) if pt > OVERFULL_PT]
    assert not bad, f"overfull boxes (pt): {bad}"
    text = " ".join(" ".join(p.split()) for p in pdf_text(pdf, tmp_path))
    if spec == "never":
        assert "Never valid" in text and "in_channels 32 != 16" in text
    else:
        assert "output =" in text and "parameters =" in text and "MACs =" in text


@pytest.mark.parametrize("image", ["../x.svg", "a/b.svg", "x y.svg", "{x}.svg", "", ".svg"])
def test_figure_names_are_plain_file_names(image: str) -> None:
    with pytest.raises(symshape.SymshapeError, match="plain file name"):
        render_document(EXAMPLES / "classic_symbolic.yaml", "latex", image=image)


def test_cli_names_figures_from_any_output_name(tmp_path: Path) -> None:
    target = tmp_path / "my model%.tex"
    assert main(["docs", str(EXAMPLES / "classic_symbolic.yaml"), "-o", str(target)], out=io.StringIO()) == 0
    assert r"\includegraphics" in target.read_text() and (tmp_path / "my_model_-size.pdf").exists()


def test_huge_example_values(tmp_path: Path) -> None:
    """Values past int64: evaluated exactly, shown whole (breakable in LaTeX), no plot (plots sweep in int64)."""
    tool("pdflatex", "texlive-latex-base texlive-latex-recommended texlive-latex-extra lmodern")
    spec = {"framework": "torch", "input": [3, "H", "W"],
            "layers": [{"Conv2d": {"out_channels": 96, "kernel_size": 11, "stride": 4}},
                       {"MaxPool2d": {"kernel_size": 3, "stride": 2}}]}
    example = {"H": 10 ** 30 + 1, "W": 10 ** 20}
    md = symshape.document(spec, format="markdown", example=example)
    h = (10 ** 30 + 1 - 11) // 4 + 1
    assert f"x_{{1}} = {h:,}".replace(",", "{,}") in md  # exact, not a float
    assert "No plot: the example's H, W does not fit in int64, which plots sweep in." in md.replace("\\", "")
    r = render_document(spec, "pdf", example=example)
    bad = [pt for pt in overfull(r.log) if pt > OVERFULL_PT]
    assert not bad, f"overfull boxes (pt): {bad}"


def test_without_graphviz_the_graph_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # as if Graphviz were not installed
    md = symshape.document(EXAMPLES / "unet.yaml", format="markdown")
    assert "No drawing: drawing the graph needs Graphviz's dot: apt-get install graphviz." in md
    assert "-graph.svg" not in md and "## The graph" in md


ALL_EXAMPLES = sorted(p.name for p in EXAMPLES.glob("*.yaml"))
COMPILED = {case[0] for case in PDF_CASES}  # compiled and read back above
DEFAULT = {"lstm_classifier.yaml", "transformer_block.yaml", "transformer_block_keras.yaml"}  # recurrent, attention
LONG = os.environ.get("SYMSHAPE_LONG") == "1"  # then every example (about 20 s more)


@pytest.mark.parametrize("spec", [s for s in ALL_EXAMPLES if s not in COMPILED and (LONG or s in DEFAULT)])
def test_every_example_compiles(spec: str) -> None:
    """The examples' documents compile with no overfull box (all of them with SYMSHAPE_LONG=1)."""
    tool("pdflatex", "texlive-latex-base texlive-latex-recommended texlive-latex-extra lmodern")
    r = render_document(EXAMPLES / spec, "pdf")
    assert r.data.startswith(b"%PDF-")
    bad = [pt for pt in overfull(r.log) if pt > OVERFULL_PT]
    assert not bad, f"overfull boxes (pt): {bad}"


def test_a_failing_drawing_leaves_the_document_standing() -> None:
    """A drawing that fails when drawn (Graphviz past its time limit) becomes a line saying why."""
    from symshape.docs import _draw
    from symshape.docs.blocks import Document, Para
    from symshape.docs.plots import NoPlotting

    def draw(fmt: str) -> bytes:
        raise NoPlotting("Graphviz's dot took more than 60 s to lay out the graph")

    ok = Figure("a.svg", "A", "a", lambda fmt: b"<svg><path/></svg>")
    doc = Document("t", [ok, Figure("g.svg", "The graph", "graph", draw)])
    _draw(doc, "svg")
    assert doc.blocks[0] is ok and isinstance(doc.blocks[1], Para)
    assert doc.blocks[1].content[0].text == "No drawing (The graph): Graphviz's dot took more than 60 s to lay out " \
        "the graph."
