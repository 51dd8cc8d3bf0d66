"""The derivation document prints the batch where the framework puts it, as `symshape derive` and `symshape eval`
do: torch's MultiheadAttention and RNN/LSTM/GRU with batch_first=False (and the Linear, LayerNorm, Dropout, add
after them) are (L, B, ...). Table-driven over the sequence-first networks of tests/test_cost_layout.py, with
batch_first True and False: the document's input, summary table, closed form and worked example (Markdown; the
HTML once, in a real chromium) equal the derive and eval views; the worked example's shapes are torch's own, run
on a tensor of the input shape the document prints. And the Symbols table's Fills column names the argument a
symbol fills however deep in a list, tuple or pair of pairs it is written.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import symshape
from symshape.docs import render_document
from symshape.docs.model import fills
from symshape.report import derivation_report, evaluation_report

from .test_cost_layout import CASES, SEQ_FIRST, VALUES, bound, derive_shapes, derived
from .test_docs import chromium

torch = pytest.importorskip("torch", reason="torch")

EXAMPLES = Path(__file__).parent.parent / "examples"
SEQ_VALUES = {"L": 5, "E": 16, "Hh": 4, "H": 6, "B": 3}


def _norm(tex: str) -> str:
    """A printed shape without its LaTeX sizing and spaces: '\\left(L, B, 4 E\\right)' -> '(L,B,4E)'."""
    return re.sub(r"\\left|\\right|\s|\u2061|\u2062", "", tex)


def _spec(name: str, bf: bool) -> Any:
    return derived(name, bf) if name != "seq_first" else symshape.derive(yaml.safe_load(SEQ_FIRST))


def _derive_md(d: symshape.Derivation) -> dict[str, Any]:
    """`symshape derive --format markdown`: input, each layer's shape, the closed form (normalised)."""
    md = derivation_report(d, "markdown")
    return {
        "input": _norm(re.search(r"\*\*Input\*\*: x (\([^)]*\))", md).group(1)),
        "layers": {m.group(1): _norm(m.group(2)) for m in re.finditer(r"^\| \d+ \| `([^`]+)` \| \w+ \| \$([^$]*)\$ \|",
                                                                       md, re.M)},
        "closed": _norm(re.search(r"\*\*Output size \(closed form\)\*\*: \$([^$]*)\$", md).group(1)),
    }


def _document_md(text: str) -> dict[str, Any]:
    """The same facts as the document's Markdown prints them, and its worked example's rows."""
    summary = text[text.index("## Summary"):text.index("## Symbols")]
    example = text[text.index("## Worked example"):text.index("## Cost of training")]
    closed = text[text.index("## Output in closed form"):text.index("## Valid inputs")]
    return {
        "input": _norm(re.search(r"Input \$x (\([^$]*\))\$", text).group(1)),
        "layers": {m.group(1): _norm(m.group(2)) for m in re.finditer(r"^\| \d+ \| `([^`]+)` \| \w+ \| \$([^$]*)\$ \|",
                                                                       summary, re.M)},
        "closed": _norm(re.search(r"\$\$\n(.*?)\n\$\$", closed, re.S).group(1)),
        "example": {m.group(1): m.group(2) for m in re.finditer(r"^\| \d+ \| `([^`]+)` \|[^|]*\| (\([^)]*\)) \|",
                                                                 example, re.M)},
        "example_output": re.search(r"^- Output shape: (\([^)]*\))$", example, re.M).group(1),
    }


TABLE = [(name, bf) for name in CASES for bf in (True, False)] + [("seq_first", False)]


@pytest.mark.parametrize(("name", "batch_first"), TABLE, ids=[f"{n}-bf{b}" for n, b in TABLE])
def test_document_shapes_are_the_derive_views(name: str, batch_first: bool) -> None:
    d = _spec(name, batch_first)
    values = {k: v for k, v in (SEQ_VALUES if name == "seq_first" else VALUES).items() if k in d.free_symbols}
    text = render_document(d, "markdown", example=values).text
    doc, view = _document_md(text), _derive_md(d)
    assert doc["input"] == view["input"] == ("(B,L,E)" if batch_first else "(L,B,E)")
    assert doc["layers"] == view["layers"] and len(doc["layers"]) == len(d.layers)
    assert doc["closed"] == view["closed"]
    note = re.search(r"\(torch, batch B ([^)]*)\)", derivation_report(d, "markdown")).group(1)  # 'first', or...
    assert f"the batch $B$ {note}; " in text  # 'where each layer puts it': an LSTM's h_n is (layers, B, H)
    # the worked example: the rows `symshape eval` prints at the same values
    e = d.evaluate(values)
    names = [ly.name for ly in d.layers]
    assert doc["example"] == derive_shapes(evaluation_report(d, e), names)
    assert doc["example_output"] == re.search(r"^Output shape: (\([^)]*\))", evaluation_report(d, e), re.M).group(1)


TORCH_TABLE = [(name, bf) for name in CASES for bf in (True, False)]


@pytest.mark.parametrize(("name", "batch_first"), TORCH_TABLE, ids=[f"{n}-bf{b}" for n, b in TORCH_TABLE])
def test_worked_example_is_what_torch_returns(name: str, batch_first: bool) -> None:
    """A tensor of the input shape the document prints, at the worked example's values, through the torch
    module: each layer's first output has the shape the worked example prints, and so has the network's."""
    torch.manual_seed(0)
    d = derived(name, batch_first)
    values = {k: v for k, v in VALUES.items() if k in d.free_symbols}
    text = render_document(d, "markdown", example=values).text
    doc = _document_md(text)
    x = torch.randn(*bound(doc["input"], values))
    got = CASES[name][1](batch_first, values)(x)
    assert got
    for layer, tensors in got.items():
        assert bound(doc["example"][layer], values) == tuple(tensors[0].shape), layer
    last = d.layers[-1].name
    if last in got:
        assert bound(doc["example_output"], values) == tuple(got[last][0].shape)


PROBE = """<script>
(function () {
  function rows(anchor) {
    var el = document.getElementById(anchor);
    while (el && el.tagName !== 'TABLE') { el = el.nextElementSibling; if (el && el.querySelector('table')) {
      el = el.querySelector('table'); } }
    var out = {};
    el.querySelectorAll('tbody tr').forEach(function (tr) {
      var td = tr.querySelectorAll('td'); out[td[1].textContent] = td[3].textContent; });
    return out;
  }
  var block = document.getElementById('closed-form').nextElementSibling;
  var pre = document.createElement('pre'); pre.id = 'probe';
  pre.textContent = JSON.stringify({summary: rows('summary'), example: rows('example'), closed: block.textContent});
  document.body.appendChild(pre);
})();
</script>
</body>"""


@pytest.mark.parametrize("batch_first", [True, False])
def test_html_in_chromium_reads_the_same_shapes(batch_first: bool, tmp_path: Path) -> None:
    """The HTML's summary, closed form and worked example as a real chromium lays out the DOM (MathML text)."""
    exe = chromium()
    d = derived("TransformerEncoderLayer", batch_first)
    values = {k: v for k, v in VALUES.items() if k in d.free_symbols}
    page = tmp_path / "doc.html"
    page.write_text(render_document(d, "html", example=values).text.replace("</body>", PROBE))
    dom = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert m, "the probe script did not run"
    probe = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                       .replace("&gt;", ">"))
    view = _derive_md(d)
    assert {k: _norm(v) for k, v in probe["summary"].items()} == view["layers"]
    assert _norm(probe["closed"]) == view["closed"] == ("(B,L,E)" if batch_first else "(L,B,E)")
    e = d.evaluate(values)
    assert probe["example"] == derive_shapes(evaluation_report(d, e), [ly.name for ly in d.layers])


# ---------------------------------------------------------------- Fills: arguments written as lists and pairs

FILLS = [  # framework, input, layer, the symbol, the layer's name in the spec, where the symbol fills
    ("torch", ["C", "H", "W"], {"ZeroPad2d": {"padding": ["P", "P", 1, 1]}}, "P", "zero_pad2d.padding"),
    ("torch", ["C", "H", "W"], {"ConstantPad1d": {"padding": [0, "P"], "value": 0.0}}, "P", "constant_pad1d.padding"),
    ("torch", ["C", "H", "W"], {"Conv2d": {"in_channels": "C", "out_channels": 4, "kernel_size": ["K", 3]}},
     "K", "conv2d.kernel_size"),
    ("torch", ["C", "H", "W"], {"Unflatten": {"dim": 1, "unflattened_size": ["G", -1]}}, "G",
     "unflatten.unflattened_size"),
    ("torch", ["C", "H", "W"], {"Upsample": {"size": ["S", "S"]}}, "S", "upsample.size"),
    ("keras", ["H", "W", "C"], {"Cropping2D": {"cropping": [["P", "P"], [1, 1]]}}, "P", "cropping2d.cropping"),
    ("keras", ["H", "W", "C"], {"ZeroPadding2D": {"padding": [[0, "P"], 2]}}, "P", "zero_padding2d.padding"),
    ("keras", ["H", "W", "C"], {"Reshape": {"target_shape": [-1, "G"]}}, "G", "reshape.target_shape"),
    ("keras", ["H", "W", "C"], {"Conv2D": {"filters": 4, "kernel_size": [3, "K"], "strides": ["S", 1]}}, "S",
     "conv2d.strides"),
    ("keras", ["T", "C"], {"Bidirectional": {"layer": {"LSTM": {"units": "2*U"}}}}, "U",
     "bidirectional.layer.LSTM.units (units of the wrapped LSTM)"),
]


def _fills_spec(fw: str, shape: list, layer: dict, sym: str) -> dict:
    return {"framework": fw, "inputs": {"x": shape}, "symbols": {sym: {"min": 1, "default": 2}}, "layers": [layer]}


@pytest.mark.parametrize(("fw", "shape", "layer", "sym", "where"), FILLS, ids=[f"{c[0]}-{next(iter(c[2]))}" for c in
                                                                               FILLS])
def test_fills_names_an_argument_written_as_a_list(fw: str, shape: list, layer: dict, sym: str, where: str) -> None:
    d = symshape.derive(_fills_spec(fw, shape, layer, sym))
    assert fills(d)[sym] == [where]


def test_fills_cell_in_the_document() -> None:
    spec = _fills_spec("torch", ["C", "H", "W"], {"ZeroPad2d": {"padding": ["P", "P", 1, 1]}}, "P")
    text = render_document(spec, "markdown").text
    section = text[text.index("## Symbols"):text.index("## Layers")]
    assert "| zero\\_pad2d.padding |" in section and "(derived)" not in section, section


def _raw_names(raw: object) -> set[str]:
    stack, out = [raw], set()
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, str):
            out.update(re.findall(r"[A-Za-z_]\w*", v))
    return out


@pytest.mark.parametrize("spec", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_symbol_written_in_an_argument_is_named_there(spec: str) -> None:
    """Read from the spec's own text (not the parsed arguments the code walks): each symbol written anywhere in
    a layer's argument is listed as filling that argument; no used symbol is '(derived)'."""
    d = symshape.derive(EXAMPLES / spec)
    got = fills(d)
    for ly in d.layers:
        for arg, raw in d.spec.layers[ly.index].args.items():
            if isinstance(raw, dict):  # a wrapped layer: listed per its own argument
                continue
            for n in _raw_names(raw) & set(d.symbols):
                assert f"{ly.name}.{arg}" in got[n], (spec, ly.name, arg, n)
    assert all(got.values()), {k: v for k, v in got.items() if not v}


def _listed(rule: Any, documented: dict[str, Any]) -> dict[str, Any]:
    """The documented instance with each symbolic per-axis argument written out as a list (torch's
    (left, right, top, bottom) padding, keras's ((top, bottom), (left, right)) pairs, a kernel per axis), each
    entry its own symbol: a_1, a_2, ..."""
    from symshape.layers.base import IntsKind, OptionalKind, PairsKind

    out = dict(documented)
    for arg in rule.args:
        raw = documented.get(arg.name)
        kind = arg.kind.inner if isinstance(arg.kind, OptionalKind) else arg.kind
        if not isinstance(raw, str) or not raw.isidentifier() or not rule.rank:
            continue
        n = rule.rank
        if isinstance(kind, PairsKind):
            out[arg.name] = [[f"{raw}_{2 * i + 1}", f"{raw}_{2 * i + 2}"] for i in range(n)]
        elif type(kind).__name__ == "TorchPadKind":
            out[arg.name] = [f"{raw}_{i + 1}" for i in range(2 * n)]
        elif isinstance(kind, IntsKind) and (kind.n or n) > 1:
            out[arg.name] = [f"{raw}_{i + 1}" for i in range(kind.n or n)]
    return out


def _check_named(d: symshape.Derivation) -> None:
    got = fills(d)
    for ly in d.layers:
        for arg, raw in d.spec.layers[ly.index].args.items():
            for n in _raw_names(raw) & set(d.symbols):
                where = [w for w in got[n] if w == f"{ly.name}.{arg}" or w.startswith(f"{ly.name}.{arg}.")]
                assert where, (ly.kind, arg, n, got[n])


def test_every_layer_kinds_list_arguments_are_named() -> None:
    """Every registered rule's documented instance, and the same with each per-axis argument written as a list of
    its own symbols: each symbol written in an argument is listed as filling it."""
    from symshape.docs.reference_facts import _spec as documented_spec
    from symshape.layers.base import REGISTRY
    from symshape.layers.docmeta import documented_arguments, input_names

    listed = 0
    for rule in REGISTRY.values():
        documented, shapes = documented_arguments(rule), input_names(rule)
        _check_named(symshape.derive(documented_spec(rule, documented, shapes), cache=False))
        written = _listed(rule, documented)
        if written != documented:
            _check_named(symshape.derive(documented_spec(rule, written, shapes), cache=False))
            listed += 1
    assert listed >= 30, listed  # convolutions, poolings, paddings, croppings of both frameworks
