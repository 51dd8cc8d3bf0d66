"""Text views as people see them (in a pipe and at a terminal's width), and the Python views:
a short repr, summary(), and the HTML and Markdown that notebooks show."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import symshape
from symshape.cli import main
from symshape.report import derivation_report, evaluation_report

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"


def cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    out = io.StringIO()  # not a terminal: what a pipe or a file gets
    code = main(argv, out=out)
    captured = capsys.readouterr()
    return code, out.getvalue() + captured.out, captured.err


PIPED = [  # argv (examples/ prefixed), lines that must appear whole, fragments that must not appear
    (["derive", "resnet50.yaml"],
     ["Total params: 25,557,032", "Buffers: 53,173", "Output size (closed form): (1000,)",
      "  173   flatten (Flatten)                     (2048,)                                                        0",
      "  174   fc (Linear)                           (1000,)                                                2,049,000"],
     ["25557032", "(1000)", "Valid for every value of the symbols"]),
    (["eval", "resnet50.yaml", "--set", "H=224", "--set", "W=224"],
     ["Output shape: (1000,)", "Total params: 25,557,032", "MACs: 4,089,184,256", "Activations: 37,561,832 elements",
      "Valid."], ["(1000)", "4089184256"]),
    (["derive", "classic.yaml"], ["MACs: 121,500", "Valid."], ["Valid for every value of the symbols", "121500"]),
    (["derive", "lenet5.yaml"], ["Total params: 61,706"], ["61706"]),
    (["derive", "classic_symbolic.yaml"], ["Valid when:"], []),
]


@pytest.mark.parametrize(("argv", "lines", "absent"), PIPED)
def test_piped_text(argv: list[str], lines: list[str], absent: list[str], capsys: pytest.CaptureFixture,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")  # a terminal's width does not apply to a pipe
    code, out, err = cli([str(EXAMPLES / a) if a.endswith(".yaml") else a for a in argv], capsys)
    assert code == 0, err
    got = out.splitlines()
    assert not [ln for ln in got if ln != ln.rstrip()], "trailing spaces"
    for line in lines:
        assert line in got, line
    for fragment in absent:
        assert fragment not in out, fragment


def test_piped_output_never_wraps(capsys: pytest.CaptureFixture) -> None:
    """ResNet-50's MACs formula is one line of 300+ characters; each table row is one line."""
    code, out, _ = cli(["derive", str(EXAMPLES / "resnet50.yaml")], capsys)
    assert code == 0
    lines = out.splitlines()
    macs = [ln for ln in lines if ln.startswith("MACs: ")]
    assert len(macs) == 1 and len(macs[0]) > 200 and macs[0].endswith(" + 2048000")
    d = symshape.derive(EXAMPLES / "resnet50.yaml")
    rows = [ln for ln in lines if ln[:6].strip().isdigit()]
    assert len(rows) == len(d.layers)


def test_terminal_width_folds_the_table() -> None:
    d = symshape.derive(EXAMPLES / "resnet50.yaml")
    text = derivation_report(d, "table", width=100)
    table = text.split("\n\n")[1]
    assert max(len(ln) for ln in table.splitlines()) <= 100
    assert not [ln for ln in text.splitlines() if ln != ln.rstrip()]


def test_markdown_buffers_in_the_parameters_line() -> None:
    md = derivation_report(symshape.derive(EXAMPLES / "resnet50.yaml"), "markdown")
    assert not [ln for ln in md.splitlines() if ln.startswith(";")]
    assert "**Parameters**: $25{,}557{,}032$ (trainable $25{,}557{,}032$, non-trainable $0$; buffers $53{,}173$)" \
        in md.splitlines()


def test_no_symbols_no_promise_about_symbols() -> None:
    d = symshape.derive(EXAMPLES / "classic.yaml")
    assert derivation_report(d, "table").splitlines()[-1] == "Valid."
    assert "- yes (no symbols)" in derivation_report(d, "markdown")
    s = symshape.derive(EXAMPLES / "transformer_block.yaml")
    assert "symbols" not in derivation_report(s, "table").splitlines()[-1]


# ---------------------------------------------------------------- repr, summary, notebooks


def test_short_reprs() -> None:
    d = symshape.derive(EXAMPLES / "resnet50.yaml")
    assert repr(d) == "<Derivation torch 'resnet50': 175 layers, input (3, H, W), output (1000,), symbols H, W>"
    e = d.evaluate(H=224, W=224)
    assert repr(e) == "<Evaluation at H=224, W=224: valid, output (1000,), params 25,557,032, MACs 4,089,184,256>"
    bad = symshape.derive(EXAMPLES / "classic_symbolic.yaml").evaluate(I=2, F=3, S=1, P=0, D=5)
    assert repr(bad).startswith("<Evaluation at I=2, F=3, S=1, P=0, D=5: INVALID (")
    many = symshape.derive({"framework": "keras", "inputs": {f"x{i}": [f"N{i}"] for i in range(9)},
                            "layers": [{"Concatenate": {}, "inputs": [f"x{i}" for i in range(9)]}]})
    r = repr(many)
    assert len(r) < 300 and "symbols N0, N1, N2, N3, N4, N5, ... (9 in all)" in r and r.startswith("<Derivation keras:")
    for name in ("alexnet", "vgg16", "unet", "lstm_classifier", "transformer_block"):
        assert len(repr(symshape.derive(EXAMPLES / f"{name}.yaml"))) < 300


def test_summary_prints_the_table(capsys: pytest.CaptureFixture) -> None:
    d = symshape.derive(EXAMPLES / "resnet18.yaml")
    assert d.summary() is None
    assert capsys.readouterr().out == derivation_report(d, "table")
    e = d.evaluate(H=224, W=224)
    assert e.summary() is None
    out = capsys.readouterr().out
    assert out == evaluation_report(None, e) and "Total params: 11,689,512" in out


def test_notebook_views_escape_and_agree() -> None:
    spec = {"framework": "torch", "input": [3, "H", "W"],
            "layers": [{"Conv2d": {"out_channels": 8, "kernel_size": 3}, "name": "<b>conv & co</b>"}]}
    d = symshape.derive(spec)
    h = d._repr_html_()
    assert "<b>conv" not in h and "&lt;b&gt;conv &amp; co&lt;/b&gt;" in h
    assert h.startswith('<table class="symshape">') and h.count("<tr>") == 1 + len(d.layers)
    assert "Total params: 224" in h
    assert d._repr_markdown_() == derivation_report(d, "markdown")
    e = d.evaluate(H=32, W=32)
    eh = e._repr_html_()
    assert "&lt;b&gt;conv &amp; co&lt;/b&gt;" in eh and "(8, 30, 30)" in eh and "Valid." in eh
    em = e._repr_markdown_()
    assert "| 0 | `<b>conv & co</b>` | Conv2d | (8, 30, 30) | 224 | 194,400 |" in em
    assert "**Valid.**" in em


def test_on_a_terminal_the_table_fits_its_width() -> None:
    """stdout a terminal (a pty) with COLUMNS=80: table lines fit; the MACs formula stays one line."""
    import os

    from tests.terminal import run_on_terminal

    code, text = run_on_terminal(["derive", str(EXAMPLES / "resnet50.yaml")], env={**os.environ, "COLUMNS": "80"})
    assert code == 0
    lines = text.replace("\r\n", "\n").splitlines()
    table = lines[: lines.index("Output size (closed form): (1000,)")]
    assert len(table) > len(symshape.derive(EXAMPLES / "resnet50.yaml").layers)  # shapes folded onto two lines
    assert max(len(ln) for ln in table) <= 80
    assert len([ln for ln in lines if ln.startswith("MACs: ")][0]) > 200


COUNTS = [  # value, text
    (0, "0"), (-5, "-5"), (61_100_840, "61,100,840"), (None, "undefined"),
    (10**5000, "~1.000e+5000 (5,001 digits)"),  # str() of it raises ValueError (Python's 4,300-digit limit)
    (3**20000, "~2.661e+9542 (9,543 digits)"),
    (-(7**9000), "~-7.627e+7605 (7,606 digits)"),
]


@pytest.mark.parametrize(("value", "expected"), COUNTS, ids=[e for _, e in COUNTS])
def test_count_text(value: int | None, expected: str) -> None:
    from symshape.report import count
    from symshape.views import count_text

    assert count_text(value) == expected
    assert count(value) == expected
