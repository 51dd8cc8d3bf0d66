"""symshape.cost: formulas against evaluation, the inverse, the CLI (golden tables), errors, overflow."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
import sympy

import symshape
from symshape.cli import main
from symshape.cost import PRESETS, FlopConvention, cost, parse_bytes
from symshape.cost.table import human, human_bytes
from symshape.errors import BindingError

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).parent / "golden"


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    out = io.StringIO()
    code = main(argv, out=out)
    captured = capsys.readouterr()
    return code, out.getvalue() + captured.out, captured.err


def check_golden(name: str, text: str, request: pytest.FixtureRequest) -> None:
    path = GOLDEN / name
    if request.config.getoption("--overwrite"):
        path.write_text(text)
    assert path.exists(), f"no golden file {path}: run pytest --overwrite"
    assert text == path.read_text(), f"{name} differs from its golden file (pytest --overwrite to accept)"


GOLDEN_CASES = [
    (["cost", "classic.yaml", "--batch", "4"], "cost.classic.txt"),
    (["cost", "transformer_block.yaml"], "cost.transformer_block.txt"),
    (["cost", "resnet50.yaml", "--set", "H=224", "--set", "W=224", "--batch", "32", "--optimizer", "adamw",
      "--flops", "fvcore", "--depth", "1"], "cost.resnet50.txt"),
    (["cost", "resnet18.yaml", "--set", "H=224", "--set", "W=224", "--optimizer", "adam", "--dtype", "bf16-mixed",
      "--memory", "8GiB", "--for", "B", "--depth", "2", "--columns", "output_shape,params,flops,backward,saved"],
     "cost.resnet18.largest.txt"),
    (["cost", "transformer_block.yaml", "--compare", "--batch", "1"], "cost.transformer_block.compare.txt"),
    (["cost", "unet.yaml", "--set", "C=3", "--set", "H=256", "--set", "W=256", "--set", "K=2", "--batch", "1",
      "--mode", "eval", "--compare"], "cost.unet.compare.txt"),
    (["derive", "classic_symbolic.yaml", "--columns", "flops,backward,saved", "--batch", "8"],
     "derive.classic_symbolic.cost.txt"),
    (["derive", "transformer_block.yaml", "--columns", "flops,saved", "--format", "markdown"],
     "derive.transformer_block.cost.md"),
]


@pytest.mark.parametrize(("argv", "golden"), GOLDEN_CASES, ids=[g for _, g in GOLDEN_CASES])
def test_cost_tables(argv: list[str], golden: str, capsys: pytest.CaptureFixture,
                     request: pytest.FixtureRequest) -> None:
    argv = [str(EXAMPLES / a) if a.endswith(".yaml") else a for a in argv]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    check_golden(golden, out, request)


# ---------------------------------------------------------------- formulas vs exact evaluation

SAMPLED = [  # spec, symbol ranges (the batch B included)
    ("transformer_block.yaml", {"L": (1, 40), "E": (1, 8), "Hh": (1, 4), "B": (1, 64)}),
    ("unet.yaml", {"C": (1, 4), "H": (1, 9), "W": (1, 9), "K": (1, 5), "B": (1, 16)}),
    ("resnet18.yaml", {"H": (32, 300), "W": (32, 300), "B": (1, 512)}),
]


@pytest.mark.parametrize(("spec", "ranges"), SAMPLED, ids=[s for s, _ in SAMPLED])
@pytest.mark.parametrize("flops", ["symshape", "fvcore", "thop", "ptflops"])
def test_formulas_agree_with_the_program(spec: str, ranges: dict, flops: str) -> None:
    """Sampled property: the closed-form formulas (substituted in SymPy) equal the exact program."""
    d = symshape.derive(EXAMPLES / spec)
    c = cost(d, flops=flops, optimizer="adamw")
    d = c.derivation  # the derivation at the cost's batch (a torch BatchNorm: the spec as if it named B)
    r = random.Random(7)
    for _ in range(6):
        values = {k: r.randint(*v) for k, v in ranges.items()}
        if spec == "unet.yaml":
            values["H"] *= 8
            values["W"] *= 8
        if spec == "transformer_block.yaml":
            values["E"] *= values["Hh"]
        got = c.evaluate(values)
        subs = {s: sympy.Integer(values[s.name]) for s in _symbols(d, c)}
        for key in ("forward_flops", "backward_flops", "total_bytes"):
            closed = d.collapse(c.totals[key])
            assert int(closed.xreplace(subs)) == got.totals[key], (key, values)


def _symbols(d: symshape.Derivation, c: object) -> set:
    out = set()
    for e in c.totals.values():
        out |= d.collapse(e).free_symbols
    return out


def test_batch_linear_and_largest_exact() -> None:
    d = symshape.derive(EXAMPLES / "resnet50.yaml")
    c = cost(d, optimizer="adamw", dtype="bf16-mixed")
    budget = 24 * 2**30
    best = c.largest("B", budget, {"H": 224, "W": 224})
    assert c.evaluate(B=best, H=224, W=224).total_bytes <= budget < c.evaluate(B=best + 1, H=224, W=224).total_bytes


def test_largest_input_size_is_valid_and_fits() -> None:
    d = symshape.derive(EXAMPLES / "unet.yaml")
    c = cost(d, batch=4)
    budget = 2 * 10**9
    h = c.largest("H", budget, {"C": 3, "W": 256, "K": 2})
    assert h % 8 == 0  # the U-Net is valid only for multiples of 8
    assert c.evaluate(C=3, W=256, K=2, H=h).total_bytes <= budget
    nxt = d.solve("H", {"C": 3, "W": 256, "K": 2}).nearest(h + 1)[1]
    assert c.evaluate(C=3, W=256, K=2, H=nxt).total_bytes > budget


def test_nothing_fits() -> None:
    c = cost(symshape.derive(EXAMPLES / "resnet50.yaml"))
    assert c.largest("B", 1000, {"H": 224, "W": 224}) is None


def test_eval_mode_saves_nothing_and_has_no_backward() -> None:
    c = cost(symshape.derive(EXAMPLES / "resnet18.yaml"), mode="eval", batch=8)
    v = c.evaluate(H=224, W=224)
    assert v.activations_bytes == v.backward_flops == v.grads_bytes == v.optimizer_bytes == 0


def test_checkpointing_keeps_less() -> None:
    d = symshape.derive(EXAMPLES / "resnet50.yaml")
    full = cost(d, batch=8).evaluate(H=224, W=224).activations_bytes
    ck = cost(d, batch=8, checkpoint=True).evaluate(H=224, W=224).activations_bytes
    assert 0 < ck < full


def test_custom_convention() -> None:
    d = symshape.derive(EXAMPLES / "resnet18.yaml")
    macs = cost(d, batch=1).evaluate(H=224, W=224).forward_flops
    two = cost(d, batch=1, flops=FlopConvention(multiply_add=2)).evaluate(H=224, W=224).forward_flops
    more = cost(d, batch=1, flops=FlopConvention(multiply_add=2, bias=1, norm=2, activations=1, pooling=1,
                                                 elementwise=1)).evaluate(H=224, W=224).forward_flops
    assert two == 2 * macs and more > two
    assert macs == d.evaluate({"H": 224, "W": 224}).macs


def test_overflow_in_batch_columns_is_flagged_not_wrapped() -> None:
    d = symshape.derive(EXAMPLES / "resnet50.yaml")
    c = cost(d, flops="flop_counter")
    cols = {"H": np.array([224, 224, 224]), "W": np.array([224, 224, 224]),
            "B": np.array([32, 2 * 10**9, 4 * 10**9])}
    res = c.evaluate_batch(cols, ("forward_flops", "total_bytes"))
    assert res["overflow"].tolist() == [False, True, True]
    assert res["valid"].tolist() == [True, True, True]  # the network is valid; the FLOPs do not fit
    assert res["column_overflow"]["forward_flops"].tolist() == [False, True, True]
    assert res["column_overflow"]["total_bytes"].tolist() == [False, False, False]
    assert res["forward_flops"][0] == c.evaluate(H=224, W=224, B=32).forward_flops
    assert res["forward_flops"][1] == 0  # not a wrapped number
    for i, b in enumerate([32, 2 * 10**9, 4 * 10**9]):  # the memory column keeps its exact value
        assert res["total_bytes"][i] == c.evaluate(H=224, W=224, B=b).total_bytes
    exact = c.evaluate(H=224, W=224, B=2 * 10**9).forward_flops
    assert exact > 2**63  # the exact value is there, one by one


def test_evaluate_batch_matches_one_by_one() -> None:
    d = symshape.derive(EXAMPLES / "unet.yaml")
    c = cost(d, optimizer="adam")
    r = np.random.default_rng(0)
    n = 200
    cols = {"C": r.integers(1, 4, n), "H": r.integers(1, 60, n), "W": 8 * r.integers(1, 8, n),
            "K": r.integers(1, 5, n), "B": r.integers(1, 64, n)}
    res = c.evaluate_batch(cols, ("total_bytes", "train_flops"))
    for i in range(0, n, 17):
        one = {k: int(v[i]) for k, v in cols.items()}
        v = c.evaluate(one)
        assert bool(res["valid"][i]) == v.valid
        if v.valid:
            assert res["total_bytes"][i] == v.total_bytes and res["train_flops"][i] == v.train_flops


ERRORS = [
    (dict(flops="fvcor"), "did you mean 'fvcore'"),
    (dict(dtype="bf61"), "unknown dtype"),
    (dict(optimizer="adamm"), "did you mean 'adam'"),
    (dict(mode="training"), "mode is 'train' or 'eval'"),
    (dict(batch=0), "batch must be at least 1"),
    (dict(batch="3x"), "batch is an integer or a symbol name"),
]


@pytest.mark.parametrize(("kw", "fragment"), ERRORS, ids=[f for _, f in ERRORS])
def test_errors(kw: dict, fragment: str) -> None:
    with pytest.raises(BindingError, match=fragment):
        cost(symshape.derive(EXAMPLES / "classic.yaml"), **kw)


def test_binding_errors() -> None:
    c = cost(symshape.derive(EXAMPLES / "resnet18.yaml"))
    with pytest.raises(BindingError, match="missing value for B"):
        c.evaluate(H=224, W=224)
    with pytest.raises(BindingError, match="did you mean 'H'"):
        c.evaluate(HH=224, W=224, B=1)


BYTES = [("24GiB", 24 * 2**30), ("800MB", 800 * 10**6), ("1e9", 10**9), ("1.5 GiB", 3 * 2**29), ("512", 512),
         ("2_000kB", 2 * 10**6)]


@pytest.mark.parametrize(("text", "value"), BYTES)
def test_parse_bytes(text: str, value: int) -> None:
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["24GX", "lots", "-1GB", "1e999"])
def test_parse_bytes_refuses(text: str) -> None:
    with pytest.raises(BindingError):
        parse_bytes(text)


HUMAN = [(0, "0"), (999, "999"), (1000, "1.00 k"), (1_810_000_000, "1.81 G"), (87_100_000, "87.1 M"),
         (123_456_789_012, "123 G")]


@pytest.mark.parametrize(("n", "text"), HUMAN)
def test_human(n: int, text: str) -> None:
    assert human(n) == text


def test_human_bytes() -> None:
    assert human_bytes(87_100_000) == "87.1 MB" and human_bytes(12) == "12 B"


def test_derive_columns_refused_for_latex_and_unknown(capsys: pytest.CaptureFixture) -> None:
    code, _, err = run(["derive", str(EXAMPLES / "classic.yaml"), "--columns", "flops", "--format", "latex"], capsys)
    assert code == 2 and "table and markdown" in err
    code, _, err = run(["derive", str(EXAMPLES / "classic.yaml"), "--columns", "flps"], capsys)
    assert code == 2 and "did you mean 'flops'" in err


CLI_ERRORS = [
    (["--memory", "8GiB"], "--memory and --for go together"),
    (["--memory", "8GiB", "--for", "Q", "--set", "H=224", "--set", "W=224"], "not a symbol of this cost"),
    (["--memory", "lots", "--for", "B", "--set", "H=224", "--set", "W=224"], "a memory size"),
    (["--columns", "kind,flps"], "did you mean 'flops'"),
    (["--depth", "0"], "--depth is at least 1"),
]


@pytest.mark.parametrize(("extra", "fragment"), CLI_ERRORS, ids=[f for _, f in CLI_ERRORS])
def test_cli_errors(extra: list[str], fragment: str, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run(["cost", str(EXAMPLES / "resnet18.yaml"), *extra], capsys)
    assert code == 2 and fragment in err and "Traceback" not in err


def test_cli_json(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(["cost", str(EXAMPLES / "resnet18.yaml"), "--set", "H=224", "--set", "W=224", "--batch", "16",
                        "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["values"]["total_bytes"] == cost(symshape.derive(EXAMPLES / "resnet18.yaml"),
                                                               batch=16).evaluate(H=224, W=224).total_bytes


def test_derivation_cost_method() -> None:
    d = symshape.derive(EXAMPLES / "resnet18.yaml")
    assert d.cost(batch=2).evaluate(H=64, W=64).forward_flops == cost(d, batch=2).evaluate(H=64, W=64).forward_flops


def test_evaluate_batch_cost_columns() -> None:
    """Derivation.evaluate_batch: cost columns beside the usual ones, one validity, one overflow mask."""
    d = symshape.derive(EXAMPLES / "resnet18.yaml")
    cols = {"H": np.array([224, 0, 224, 224]), "W": np.array([224, 224, 160, 224]),
            "B": np.array([32, 32, 1, 3 * 10**9])}
    opts = {"optimizer": "adamw", "dtype": "bf16-mixed", "flops": "flop_counter"}
    r = d.evaluate_batch(cols, ("output_shape", "params", "total_bytes", "train_flops"), cost=opts)
    c = d.cost(**opts)
    assert r.valid.tolist() == [True, False, True, True] and r.overflow.tolist() == [False, False, False, True]
    for i in (0, 2):
        v = c.evaluate(H=int(cols["H"][i]), W=int(cols["W"][i]), B=int(cols["B"][i]))
        assert (r.columns["total_bytes"][i], r.columns["train_flops"][i]) == (v.total_bytes, v.train_flops)
        assert r.columns["params"][i] == 11_689_512 and r.columns["output_shape"][0][i] == 1000
    assert r.columns["train_flops"][3] == 0 and r.columns["params"][3] == 11_689_512  # per column
    assert r.columns["total_bytes"][3] == c.evaluate(H=224, W=224, B=3 * 10**9).total_bytes
    with pytest.raises(BindingError, match="missing column for B"):
        d.evaluate_batch({"H": cols["H"], "W": cols["W"]}, ("total_bytes",))
    with pytest.raises(BindingError, match="did you mean 'total_bytes'"):
        d.evaluate_batch(cols, ("total_byte",))


def test_readme_largest_batch(capsys: pytest.CaptureFixture) -> None:
    """The README's sentence about the largest ResNet-50 batch in 24 GiB is the command's last line."""
    readme = (ROOT / "README.md").read_text()
    code, out, _ = run(["cost", str(EXAMPLES / "resnet50.yaml"), "--set", "H=224", "--set", "W=224", "--dtype",
                        "bf16-mixed", "--optimizer", "adamw", "--memory", "24GiB", "--for", "B"], capsys)
    last = out.rstrip("\n").splitlines()[-1]
    assert code == 0 and last.endswith("B = 578") and f"`{last}`" in readme.replace("\n  ", " ")


@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_cost_section_blocks_render(fmt: str) -> None:
    """The document's cost section (symshape.cost.docs.cost_blocks) renders in every format with the formulas
    and the numbers at the example."""
    from symshape.cost.docs import cost_blocks
    from symshape.docs import html, markdown
    from symshape.docs.blocks import Document

    d = symshape.derive(EXAMPLES / "transformer_block.yaml")
    doc = Document("t")
    doc.add(*cost_blocks(d, {"L": 128, "E": 512, "Hh": 8}, optimizer="adamw"))
    text = (markdown if fmt == "markdown" else html).render(doc)
    total = d.cost(optimizer="adamw").evaluate(L=128, E=512, Hh=8, B=32).total_bytes
    assert "Cost of training" in text and f"{total:,} bytes" in text
    if fmt == "markdown":
        assert "$2 B E L^{2} + 12 B L E^{2}$" in text


def test_cli_choices_are_the_librarys() -> None:
    from symshape.commands import cost as command
    from symshape.cost import DTYPES, OPTIMIZERS, PRESETS
    from symshape.cost.table import COLUMNS

    assert (command.PRESETS, command.DTYPES, command.OPTIMIZERS, command.COLUMNS) == \
        (tuple(PRESETS), tuple(DTYPES), tuple(OPTIMIZERS), COLUMNS)


def test_batch_cannot_be_a_spec_symbol() -> None:
    with pytest.raises(BindingError, match="already a symbol of the spec"):
        symshape.derive(EXAMPLES / "resnet18.yaml").cost(batch="H")


def test_never_valid_spec(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    spec = tmp_path / "never.yaml"
    spec.write_text("framework: torch\ninput: [3, 4]\nlayers:\n  - Conv1d: {in_channels: 5, out_channels: 2, "
                    "kernel_size: 1}\n")
    code, out, err = run(["cost", str(spec)], capsys)
    assert code == 1 and "never valid" in err and out == ""


def test_repr_is_one_short_line() -> None:
    c = symshape.derive(EXAMPLES / "resnet50.yaml").cost(optimizer="adamw")
    assert repr(c) == ("<Cost of 'resnet50': batch B, fp32, adamw, train, FLOPs as symshape; 175 layers; "
                       "symbols H, W, B>")


def test_compare_json_equals_each_preset(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(["cost", str(EXAMPLES / "resnet18.yaml"), "--set", "H=224", "--set", "W=224", "--batch", "4",
                        "--compare", "--format", "json"], capsys)
    data = json.loads(out)["forward_flops"]
    d = symshape.derive(EXAMPLES / "resnet18.yaml")
    assert code == 0 and set(data) == set(PRESETS)
    for name, value in data.items():
        assert value == d.cost(batch=4, flops=name).evaluate(H=224, W=224).forward_flops


PARTIAL = [
    (["cost", "resnet50.yaml", "--set", "H=64", "--set", "W=64", "--depth", "1"], "H, W", "B"),
    (["cost", "transformer_block.yaml", "--set", "L=128", "--batch", "4"], "L", "E, Hh"),
    (["cost", "resnet50.yaml", "--memory", "1KB", "--for", "B", "--set", "H=224", "--set", "W=224"], "H, W", "B"),
]


@pytest.mark.parametrize(("argv", "bound", "free"), PARTIAL, ids=["resnet50-HW", "transformer-L", "nothing-fits"])
def test_partial_set_is_applied(argv: list[str], bound: str, free: str, capsys: pytest.CaptureFixture) -> None:
    """A partial --set: the formulas are in the free symbols only, the given ones replaced by their values."""
    argv = [argv[0], str(EXAMPLES / argv[1]), *argv[2:]]
    _, text, _ = run(argv, capsys)
    table = text.split("(formulas:")[0]
    for name in bound.split(", "):
        assert not any(name in line.split() or f"*{name}" in line or f"{name}*" in line for line in
                       table.splitlines()[3:]), (name, table)
    assert f"(formulas: give --set for {free} for numbers)" in text


def test_resnet50_memory_in_b_at_224_equals_evaluation() -> None:
    d = symshape.derive(EXAMPLES / "resnet50.yaml")
    c = cost(d, batch="B")
    f = c.formula("total_bytes", {"H": 224, "W": 224})
    assert {s.name for s in f.free_symbols} == {"B"}
    for b in (1, 7, 32):
        assert f.xreplace({next(iter(f.free_symbols)): b}) == c.evaluate({"H": 224, "W": 224, "B": b}).total_bytes
    # every total is in the spec's symbols and the batch only (no internal size atoms)
    for q in ("forward_flops", "total_bytes", "activations_bytes"):
        assert {s.name for s in getattr(c, q).free_symbols} <= {"H", "W", "B"}


def test_a_typo_in_set_is_refused(capsys: pytest.CaptureFixture) -> None:
    code, _, err = run(["cost", str(EXAMPLES / "resnet50.yaml"), "--set", "Q=2"], capsys)
    assert code == 2 and "'Q' is not a symbol of this cost" in err
    code, _, err = run(["cost", str(EXAMPLES / "resnet50.yaml"), "--set", "h=2"], capsys)
    assert code == 2 and "did you mean 'H'" in err
    with pytest.raises(BindingError, match="not a symbol"):
        cost(symshape.derive(EXAMPLES / "resnet50.yaml")).formula("total_bytes", {"Q": 1})


def test_column_named_after_the_convention_and_param_share_in_formulas(capsys: pytest.CaptureFixture) -> None:
    _, text, _ = run(["cost", str(EXAMPLES / "classic.yaml")], capsys)
    header = text.splitlines()[1].split()
    assert "MACs" in header and "FLOPs" not in header
    assert "100.00%" in text  # the parameters are numbers though the batch is free
    _, text, _ = run(["cost", str(EXAMPLES / "classic.yaml"), "--flops", "fvcore"], capsys)
    assert "FLOPs" in text.splitlines()[1].split()


@pytest.mark.parametrize(("argv", "message"), [
    (["--optimizer", "bogus", "--columns", "flops"], "unknown optimizer 'bogus'"),
    (["--flops", "fvcor", "--columns", "flops"], "did you mean 'fvcore'"),
    (["--batch", "4"], "--batch goes with --columns"),
])
def test_derive_cost_options_checked(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run(["derive", str(EXAMPLES / "resnet18.yaml"), *argv], capsys)
    assert code == 2 and message in err


def test_torch_tool_presets_on_a_keras_spec_are_said_to_be_knobs(capsys: pytest.CaptureFixture) -> None:
    d = symshape.derive(EXAMPLES / "lstm_classifier.yaml")
    assert any("counts by its knobs only" in n for n in cost(d, flops="fvcore").notes)
    assert not any("knobs" in n for n in cost(d).notes)
    _, text, _ = run(["cost", str(EXAMPLES / "lstm_classifier.yaml"), "--compare"], capsys)
    assert text.startswith("(keras spec: the torch tools' presets count by their knobs")
