"""The derivation document (`symshape docs`, `symshape.document`): golden Markdown of the examples, the
HTML as a real headless browser lays it out at phone width, escaping of spec text, linear size in depth."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import symshape
from symshape.cli import main
from symshape.docs import render_document

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).parent / "golden" / "docs"

GOLDEN_CASES = [  # spec, example bindings (None: chosen by the document), golden file
    ("classic_symbolic.yaml", {"I": 32, "F": 5, "S": 2, "P": 1, "D": 8}, "classic_symbolic.md"),
    ("unet.yaml", None, "unet.md"),
    ("alexnet.yaml", {"H": 227, "W": 227}, "alexnet.md"),  # the closed form of the last spatial size, its steps
]


def check_golden(name: str, text: str, request: pytest.FixtureRequest) -> None:
    path = GOLDEN / name
    if request.config.getoption("--overwrite"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}: run pytest --overwrite"
    assert text == path.read_text(), f"{name} differs from its golden file (pytest --overwrite to accept)"


@pytest.mark.parametrize(("spec", "example", "golden"), GOLDEN_CASES)
def test_golden_markdown(spec: str, example: dict | None, golden: str, request: pytest.FixtureRequest) -> None:
    doc = render_document(EXAMPLES / spec, "markdown", example=example, image=golden.replace(".md", ".svg"))
    check_golden(golden, doc.text, request)
    stem = golden.removesuffix(".md")
    assert list(doc.files)[0] == f"{stem}.svg"  # the staircase, then the counts' plots and the graph
    assert all(n.startswith(f"{stem}-") for n in list(doc.files)[1:])
    for name, data in doc.files.items():
        assert f"]({name})" in doc.text
        svg = data.decode()
        assert svg.startswith("<svg") and "<path" in svg and "<?xml" not in svg, name


def test_sections_and_facts() -> None:
    """What the document says, checked against the derivation and the solver, not against itself."""
    text = symshape.document(EXAMPLES / "unet.yaml", format="markdown")
    for heading in ("## Summary", "## Symbols", "## Layers", "## Output in closed form", "## Valid inputs",
                    "## Worked example", "## Output size against input size"):
        assert heading in text, heading
    assert "| $K$ | number of output classes |" in text  # the spec's description: kept
    assert "H \\bmod 8 = 0" in text and "layer 32 'skip1' (cat)" in text  # tightest condition and its layer
    assert "`H ≥ 8 and H ≡ 0 (mod 8)`" in text  # the exact valid set from symshape.solve
    # layer k in terms of layer k-1: torch's formula with this layer's arguments put in, then simplified
    assert "$x_{1} = \\left\\lfloor \\frac{H + 2 \\cdot 0 - 1 \\cdot \\left(2 - 1\\right) - 1}{2} " \
        "\\right\\rfloor + 1 = \\left\\lfloor \\frac{H}{2} \\right\\rfloor$" in text
    assert "= \\left\\lfloor \\frac{x_{1}}{2} \\right\\rfloor$" in text and "$x_{3} = " in text
    assert "weights $36{,}864$, bias 64" in text or "weights 36,864, bias 64" in text
    classic = symshape.document(EXAMPLES / "classic_symbolic.yaml", format="markdown",
                                example={"I": 32, "F": 5, "S": 2, "P": 1, "D": 8})
    d = symshape.derive(EXAMPLES / "classic_symbolic.yaml")
    e = d.evaluate(I=32, F=5, S=2, P=1, D=8)
    assert f"Output shape: ({', '.join(map(str, e.output_shape))})" in classic
    assert "weights $3 D F^{2}$, bias $D$" in classic


def test_no_example_says_why() -> None:
    spec = {"framework": "torch", "input": [3, "H", "H"], "symbols": {"H": {"min": 1}},
            "layers": [{"Conv2d": {"out_channels": 4, "kernel_size": 5000}}]}
    text = symshape.document(spec, format="markdown")
    assert "No worked example: no value of H up to 4096" in text and "give other example values" in text
    assert "--example" not in text  # the RPC reads the same text: no CLI flag in it
    assert "No plot:" in text


def test_never_valid_spec_is_documented() -> None:
    spec = {"framework": "torch", "input": [3, "H", "W"],
            "layers": [{"Conv2d": {"out_channels": 4, "kernel_size": 3}}, {"Conv2d": {"in_channels": 5,
                                                                                      "out_channels": 4,
                                                                                      "kernel_size": 3}}]}
    text = symshape.document(spec, format="markdown")
    assert "## Never valid" in text and "- layer 1 'conv2d\\_1' (Conv2d): in\\_channels 5 != 4 incoming" in text
    for result in ("Output shape", "Parameters:", "MACs:", "closed form", "Worked example", "plot", "x_{1}"):
        assert result not in text, result


NV3 = "framework: keras\ninput: [0, 32, 3]\nlayers:\n  - Conv2D: {filters: 5, kernel_size: 3}\n"


@pytest.mark.parametrize("suffix", [".md", ".html", ".tex"])
def test_cli_documents_a_never_valid_spec_without_sizes_and_exits_1(suffix: str, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    spec = tmp_path / "nv3.yaml"
    spec.write_text(NV3)
    target = tmp_path / f"x{suffix}"
    assert main(["docs", str(spec), "-o", str(target)], out=io.StringIO()) == 1
    assert "never valid: input 'input': input axis 0: 0 < 1" in capsys.readouterr().err
    text = target.read_text()
    never, summary = text.index("Never valid"), text.index("Summary")
    assert never < summary and text.index("output height: -2") < summary  # the reasons first
    assert "-8,100" not in text and "-8100" not in text and "30, 5" not in text and "140" not in text
    assert not re.search(r"(?<!\w)-\d", text[summary:]), "a negative number among the results"  # not id="layer-0"
    assert "conv2d" in text[summary:] and "Conv2D" in text[summary:]  # the spec's facts stay
    assert list(tmp_path.iterdir()) == [spec, target] or set(tmp_path.iterdir()) == {spec, target}  # no plot
    if suffix == ".tex" and shutil.which("pdflatex"):  # compiles as it is (checked fully in test_docs_latex.py)
        from symshape.docs.latex import compile_pdf

        assert compile_pdf(text, {})[0].startswith(b"%PDF-")


HOSTILE = "<script>alert(1)</script> & <img src=x onerror=alert(2)> | $x$ `tick`"


def test_spec_text_is_escaped() -> None:
    spec = {"framework": "torch", "description": HOSTILE, "input": [3, "H", "W"],
            "symbols": {"H": {"min": 1, "description": HOSTILE}},
            "layers": [{"Conv2d": {"out_channels": 4, "kernel_size": 3}, "name": "<b>bold</b>"}]}
    html = symshape.document(spec, format="html")
    assert "<script" not in html and "<img" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img" in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:|//)", html)  # nothing fetched
    md = symshape.document(spec, format="markdown")
    prose = re.sub(r"`[^`]*`", "", md)  # code spans show their text literally
    assert not re.search(r"(?<!\\)<", prose) and "\\<script\\>" in md and "\\$x\\$" in md
    assert "`<b>bold</b>`" in md
    md = symshape.document({**spec, "description": "# not a heading\n- nor a list"}, format="markdown")
    assert "\n\\# not a heading - nor a list\n" in md
    md = symshape.document({**spec, "description": "- not a list"}, format="markdown")
    assert "\n\\- not a list\n" in md


def test_cli_writes_document_and_figure(tmp_path: Path) -> None:
    out = io.StringIO()
    target = tmp_path / "unet.md"
    assert main(["docs", str(EXAMPLES / "unet.yaml"), "-o", str(target), "--example", "H=64,W=64,C=3,K=2"],
                out=out) == 0
    assert target.exists() and (tmp_path / "unet.svg").exists()
    assert "](unet.svg)" in target.read_text() and "C=3, H=64, W=64, K=2" in target.read_text()
    assert main(["docs", str(EXAMPLES / "unet.yaml"), "-o", str(tmp_path / "x.docx")], out=out) == 2
    assert main(["docs", str(EXAMPLES / "unet.yaml"), "-o", str(tmp_path / "x.md"), "--example", "Q=3"],
                out=out) == 2


def test_unknown_format() -> None:
    with pytest.raises(symshape.SymshapeError, match="unknown document format 'docx'"):
        symshape.document(EXAMPLES / "unet.yaml", format="docx")
    with pytest.raises(symshape.SymshapeError, match="did you mean 'latex'"):
        symshape.document(EXAMPLES / "unet.yaml", format="latx")


# ---------------------------------------------------------------- in a real browser

PHONE = 400  # CSS pixels: the page is laid out in an iframe this wide (headless chromium's window is >= 500)

PROBE = """<script>
(function () {
  var maths = document.querySelectorAll('math'), empty = 0;
  maths.forEach(function (m) { var r = m.getBoundingClientRect(); if (r.width <= 0 || r.height <= 0) empty++; });
  var svgs = document.querySelectorAll('svg'), paths = 0, figures = [];
  svgs.forEach(function (s) {
    var r = s.getBoundingClientRect(), n = s.querySelectorAll('path, polygon, ellipse').length;
    paths += n;
    figures.push({w: r.width, h: r.height, shapes: n, right: r.right, text: s.textContent.length});
  });
  var block = document.querySelector('.math-block');
  var out = {fits: document.documentElement.scrollWidth <= window.innerWidth,
             scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
             maths: maths.length, emptyMaths: empty, svgs: svgs.length, paths: paths, figures: figures,
             closed: block ? block.textContent : '', text: document.body.innerText.length};
  var pre = parent.document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
  parent.document.body.appendChild(pre);
})();
</script>
</body>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (apt-get install chromium): the HTML is checked in a real browser")


def browse(html: str, tmp_path: Path, name: str) -> tuple[dict, Path]:
    """The page laid out PHONE pixels wide (in a same-origin srcdoc iframe, where the probe script runs),
    as chromium's --dump-dom reports it, and a screenshot of the page itself at that width."""
    import json
    from html import escape

    exe = chromium()
    frame = tmp_path / f"{name}.frame.html"
    frame.write_text(f'<!DOCTYPE html><html><body style="margin:0"><iframe width="{PHONE}" height="900" '
                     f'style="border:0" srcdoc="{escape(html.replace("</body>", PROBE), quote=True)}"></iframe>'
                     "</body></html>")
    page = tmp_path / f"{name}.html"
    page.write_text(html)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", f"--window-size={PHONE},900", "--hide-scrollbars"]
    dom = subprocess.run([exe, *flags, "--dump-dom", frame.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    shot = tmp_path / f"{name}.png"
    subprocess.run([exe, *flags, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert m, "the probe script did not run"
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                      .replace("&gt;", ">")), shot


BROWSER_CASES = [  # spec, example, a piece of the closed form as the browser reads it (MathML text)
    ("classic_symbolic.yaml", None, "I+S−F+2P2S"),
    ("unet.yaml", {"H": 64, "W": 64, "C": 3, "K": 2}, "(K,8⌊H8⌋,8⌊W8⌋)"),
    ("resnet50.yaml", {"H": 224, "W": 224}, "1000"),
    ("chain40", None, "S38b(−F39b+2P39b+1)"),  # 40 all-symbolic layers: the long closed form scrolls in its box
]


@pytest.mark.parametrize(("spec", "example", "closed"), BROWSER_CASES)
def test_html_in_headless_browser(spec: str, example: dict | None, closed: str, tmp_path: Path) -> None:
    from PIL import Image

    source = chain(40, "_b") if spec == "chain40" else EXAMPLES / spec
    html = symshape.document(source, format="html", example=example)
    probe, shot = browse(html, tmp_path, spec.removesuffix(".yaml"))
    assert probe["innerWidth"] == PHONE and probe["fits"], f"horizontal overflow at phone width: {probe}"
    assert probe["maths"] > 10 and probe["emptyMaths"] == 0, probe
    figures = render_document(source, "markdown", example=example).files  # the same figures, as files
    assert probe["svgs"] == len(figures) >= 2, probe  # the staircase, the counts' plots (and a graph's drawing)
    for fig in probe["figures"]:  # each laid out inside the page, with content
        assert fig["w"] > 100 and fig["h"] > 50 and fig["right"] <= PHONE and fig["shapes"] > 5, fig
    if spec == "unet.yaml":  # the graph: a node per layer and input, an edge per input reference
        assert any(f["shapes"] > 3 * 38 for f in probe["figures"]), probe["figures"]
    assert closed in probe["closed"].replace(" ", "").replace("\u2061", ""), probe["closed"]
    assert probe["text"] > 1000
    img = Image.open(shot).convert("L")
    assert img.size[0] == 400
    dark = sum(img.histogram()[:128])
    assert dark > 0.01 * img.size[0] * img.size[1], "the page looks blank"


# ---------------------------------------------------------------- linear in depth


def chain(n: int, tag: str) -> dict:
    layers = [{"Conv2d": {"out_channels": f"D{k}{tag}", "kernel_size": f"F{k}{tag}", "stride": f"S{k}{tag}",
                          "padding": f"P{k}{tag}"}} for k in range(n)]
    return {"framework": "torch", "input": [f"C{tag}", f"H{tag}", f"W{tag}"], "layers": layers}


def test_deep_chain_document_is_linear() -> None:
    sizes, times = {}, {}
    for n in (100, 200, 300):
        d = symshape.derive(chain(n, f"_lin{n}"), cache=False)
        t0 = time.perf_counter()
        sizes[n] = len(symshape.document(d, format="html").encode())
        times[n] = time.perf_counter() - t0
    assert sizes[300] / sizes[100] < 3.5, sizes
    assert sizes[200] / sizes[100] < 2.4, sizes
    assert times[300] < 60, times


NO_PLOT = {"lstm_classifier.yaml"}


@pytest.mark.parametrize("spec", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_example_renders(spec: str) -> None:
    md = symshape.document(EXAMPLES / spec, format="markdown")
    d = symshape.derive(EXAMPLES / spec)
    assert len(re.findall(r"\n### \d+\. ", md)) == len(d.layers)  # one section per layer
    assert "output $\\left(0,\\right)$" not in md  # no degenerate general formula (keras Bidirectional)
    if spec in NO_PLOT:  # no size is a function of the sequence length T but T itself
        assert "No plot: no layer size depends on an input symbol" in md
    elif d.symbols:
        assert "## Output size against input size\n\n" in md and ".svg)" in md, spec
    html = symshape.document(EXAMPLES / spec, format="html")
    assert html.count('<h3 id="layer-') == len(d.layers)
    links = re.findall(r'href="#([^"]+)"', html)
    assert links and all(f'id="{a}"' in html for a in links)  # the contents' links reach their sections
    from symshape.docs.markdown import slug

    headings = {slug(h) for h in re.findall(r"(?m)^## (.+)$", md)}
    assert set(re.findall(r"\]\(#([^)]+)\)", md)) <= headings
    assert not re.findall(r"https?://(?!www\.w3\.org/)", html)  # no URL but XML namespace names


def test_description_must_be_text() -> None:
    spec = {"framework": "torch", "input": [3, "H", "W"], "symbols": {"H": {"min": 1, "description": 5}},
            "layers": [{"ReLU": {}}]}
    with pytest.raises(symshape.SpecError, match="a description is text"):
        symshape.derive(spec)


def test_without_matplotlib_the_plot_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed: import raises ImportError
    md = symshape.document(EXAMPLES / "unet.yaml", format="markdown")
    assert "No plot: plots need matplotlib: pip install 'symshape\\[docs\\]'." in md
    assert "(model.svg)" not in md and "-counts-" not in md  # no matplotlib figure; the graph is Graphviz's


CONVENTION_CASES = [  # a layer whose arguments make a framework convention matter, and the note it gets
    ("keras", ["H", "W", 3], {"Conv2D": {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}},
     "keras 'same' padding: each output size is ceil(x/s)"),
    ("torch", [3, "H", "W"], {"Conv2d": {"out_channels": 4, "kernel_size": 3, "padding": "same"}},
     "torch padding='same': the output keeps the input's size"),
    ("torch", [3, "H", "W"], {"MaxPool2d": {"kernel_size": 3, "stride": 2, "ceil_mode": True}},
     "torch ceil\\_mode: the output size rounds up"),
    ("keras", ["H", "W", 3], {"MaxPooling2D": {"pool_size": 2}}, "keras pooling: strides default to pool\\_size"),
]


@pytest.mark.parametrize(("framework", "shape", "layer", "note"), CONVENTION_CASES)
def test_convention_notes(framework: str, shape: list, layer: dict, note: str) -> None:
    md = symshape.document({"framework": framework, "input": shape, "layers": [layer]}, format="markdown")
    assert f"- Convention: {note}" in md
    plain = {"framework": framework, "input": shape, "layers": [{"ReLU": {}}]}
    assert "Convention:" not in symshape.document(plain, format="markdown")


def test_worked_example_names_dropped_rows_and_the_nearest_lossless_size() -> None:
    """cs231n's remark on AlexNet: 11x11 stride-4 windows over 224 rows leave one unread; 227 reads them all."""
    torch = pytest.importorskip("torch", reason="torch is not installed: the sizes are checked against torch")
    spec = {"framework": "torch", "input": [3, "H", "W"],
            "layers": [{"Conv2d": {"out_channels": 96, "kernel_size": 11, "stride": 4}},
                       {"MaxPool2d": {"kernel_size": 3, "stride": 2}}]}
    md = symshape.document(spec, format="markdown", example={"H": 224, "W": 224})
    assert "- layer 0 'conv2d' (Conv2d): 1 height row(s) never read" in md
    assert "Nearest H where no layer drops a row along it (the others as here): H = 219 or H = 227." in md
    for h in (219, 227):  # every window grid ends at its input's end: (x - k) divisible by the stride
        conv = torch.nn.Conv2d(3, 96, 11, stride=4)(torch.zeros(1, 3, h, h)).shape[-1]
        assert (h - 11) % 4 == 0 and (conv - 3) % 2 == 0
    assert "never read" not in symshape.document(spec, format="markdown", example={"H": 227, "W": 227})


def test_title_is_the_files_name_even_when_the_network_was_derived_from_text_first() -> None:
    text = (EXAMPLES / "classic_symbolic.yaml").read_text()
    symshape.derive(text)  # cached under the same network, read from text
    md = symshape.document(EXAMPLES / "classic_symbolic.yaml", format="markdown")
    assert md.startswith("# Derivation of classic\\_symbolic.yaml\n")
    assert symshape.document(text, format="markdown").startswith("# Derivation of keras network\n")
