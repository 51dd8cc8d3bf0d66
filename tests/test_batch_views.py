"""A spec that names its batch (`batch: B`): the views show the batch axis first and activations carry B.

Checked against real torch: at B=4 every layer's full output shape (batch included) and the activations
(the element counts of every layer's outputs, summed) equal what the torch module built from the spec
produces. The derivation's own axes (out0 = the first axis after the batch: `--where out0`, `--target out0`,
`evaluate_batch`'s output_shape columns) do not move; a spec without `batch:` does not change at all.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

import symshape
from symshape.cli import main
from symshape.report import derivation_report, eval_shape, evaluation_report

EXAMPLES = Path(__file__).parent.parent / "examples"

TORCH_NETS = [  # (example, bindings without the batch)
    ("resnet18.yaml", {"H": 64, "W": 48}),
    ("unet.yaml", {"C": 3, "H": 32, "W": 40, "K": 2}),
    ("transformer_block.yaml", {"L": 7, "E": 16, "Hh": 4}),
    ("alexnet.yaml", {"H": 96, "W": 80}),
]


def with_batch(name: str, batch: object = "B") -> symshape.Derivation:
    doc = yaml.safe_load((EXAMPLES / name).read_text())
    return symshape.derive({**doc, "batch": batch})


@pytest.mark.parametrize(("name", "bindings"), TORCH_NETS)
def test_full_shapes_and_activations_match_torch(name: str, bindings: dict) -> None:
    torch = pytest.importorskip("torch", reason="torch")
    from tests.test_cost_net import build, inputs

    d = with_batch(name)
    free = {k: v for k, v in {**d.defaults(), **bindings}.items() if k in d.free_symbols and k != "B"}
    net = build(d, free)
    shapes: dict[str, list[tuple[int, ...]]] = {}

    def hook(name_: str):  # noqa: ANN202
        def record(_m: object, _i: object, out: object) -> None:
            outs = out if isinstance(out, tuple) else (out,)
            shapes[name_] = [tuple(t.shape) for t in outs if isinstance(t, torch.Tensor)]
        return record

    for layer in net.layer_names:
        net.mods[layer.replace(".", "_")].register_forward_hook(hook(layer))
    with torch.no_grad():
        net(*inputs(d, free, 4))
    e = d.evaluate({**free, "B": 4})
    assert e.valid and e.batch == 4
    for ly in e.layers:
        shown = [tuple(json.loads("[" + s.strip("()").rstrip(",") + "]"))
                 for s in [eval_shape(shape, e.batch) for shape in ly.output_shapes]]  # what the views print
        assert shown == shapes[ly.name][:len(shown)], ly.name
    assert e.activations == sum(int(np.prod(s)) for outs in shapes.values() for s in outs)
    per_sample = symshape.derive(EXAMPLES / name).evaluate(free)
    assert e.activations == 4 * per_sample.activations
    assert e.output_shape == per_sample.output_shape  # the evaluation's axes: out0 after the batch


@pytest.mark.parametrize(("name", "first_out"), [("resnet18.yaml", "(B, 1000)"),
                                                 ("classic_symbolic.yaml", "(B, floor(")])
def test_views_show_the_batch_first(name: str, first_out: str) -> None:
    d = with_batch(name)
    data = d.to_dict()
    assert data["batch"] == "B" and data["mode"] == "train"
    assert data["output_shape"][0] == "B" and data["closed_form"][0] == "B"
    assert all(ly["output_shape"][0] == "B" for ly in data["layers"])
    assert data["activations"].startswith("B*") or "B*" in data["activations"]
    table = derivation_report(d, "table")
    assert f"Output size (closed form): {first_out}" in table
    assert "batch B first" in derivation_report(d, "markdown")
    assert r"\left(B, " in derivation_report(d, "latex") or "(B, " in derivation_report(d, "latex")
    assert "output (B, " in repr(d)


def test_keras_shows_batch_then_channels_last() -> None:
    d = with_batch("classic_symbolic.yaml")
    e = d.evaluate(I=32, F=3, S=1, P=1, D=8, B=4)
    report = evaluation_report(d, e)
    assert "(4, 32, 32, 8)" in report and "Output shape: (4, 16, 16, 8)" in report
    assert "Activations: 40,960 elements" in report  # 4 * (32*32*8 + 16*16*8)
    assert "output (4, 16, 16, 8)" in repr(e)
    assert e.to_dict()["batch"] == 4 and e.to_dict()["output_shape"] == [16, 16, 8]


def test_an_integer_batch_is_shown_as_given() -> None:
    d = with_batch("classic_symbolic.yaml", 16)
    assert d.to_dict()["output_shape"][0] == "16"
    assert d.evaluate(I=32, F=3, S=1, P=1, D=8).batch == 16


def test_output_axes_keep_their_numbers() -> None:
    """out0 is the first axis after the batch: --where, --target and evaluate_batch's columns as before."""
    plain = symshape.derive(EXAMPLES / "classic_symbolic.yaml")
    d = with_batch("classic_symbolic.yaml")
    cols = {"I": np.arange(30, 40), "F": 3, "S": 1, "P": 1, "D": 8}
    a = plain.evaluate_batch(cols, outputs=("output_shape", "activations"))
    b = d.evaluate_batch({**cols, "B": 4}, outputs=("output_shape", "activations"))
    assert len(a.columns["output_shape"]) == len(b.columns["output_shape"]) == 3
    for x, y in zip(a.columns["output_shape"], b.columns["output_shape"], strict=True):
        assert np.array_equal(x, y)
    assert np.array_equal(4 * np.asarray(a.columns["activations"]), np.asarray(b.columns["activations"]))
    assert d.solve("I", {"F": 3, "S": 1, "P": 1, "D": 8, "B": 4}, target={0: 16}).first(5) == \
        plain.solve("I", {"F": 3, "S": 1, "P": 1, "D": 8}, target={0: 16}).first(5) == [32, 33]


def test_a_spec_without_batch_is_unchanged() -> None:
    d = symshape.derive(EXAMPLES / "classic_symbolic.yaml")
    data = d.to_dict()
    assert "batch" not in data and data["output_shape"][0] != "B"
    assert "batch axis excluded" in derivation_report(d, "markdown")
    e = d.evaluate(I=32, F=3, S=1, P=1, D=8)
    assert e.batch is None and "batch" not in e.to_dict()


def test_document_shows_the_batch_and_the_cost_section() -> None:
    d = with_batch("classic_symbolic.yaml")
    md = symshape.document(d, format="markdown", example={"I": 32, "F": 3, "S": 1, "P": 1, "D": 8, "B": 4})
    assert "(the batch $B$ first; train mode)" in md
    assert "## Cost of training" in md
    assert r"\left(B, " in md.split("## Summary")[1].split("## Symbols")[0]
    assert "Output shape: (4, 16, 16, 8)" in md


def test_cli_eval_report(tmp_path: Path) -> None:
    spec = tmp_path / "b.yaml"
    spec.write_text("batch: B\n" + (EXAMPLES / "classic_symbolic.yaml").read_text())
    out = io.StringIO()
    sets = [x for kv in ("I=32", "F=3", "S=1", "P=1", "D=8", "B=4") for x in ("--set", kv)]
    assert main(["eval", str(spec), *sets], out=out) == 0
    assert "Output shape: (4, 16, 16, 8)" in out.getvalue()


def test_largest_batch_within_an_activations_budget(tmp_path: Path) -> None:
    """10,240 elements a sample (32*32*8 + 16*16*8): 9 samples within 100,000."""
    d = with_batch("classic_symbolic.yaml")
    assert d.evaluate(I=32, F=3, S=1, P=1, D=8, B=9).activations == 92_160
    spec = tmp_path / "b.yaml"
    spec.write_text("batch: B\n" + (EXAMPLES / "classic_symbolic.yaml").read_text())
    sets = [x for kv in ("I=32", "F=3", "S=1", "P=1", "D=8") for x in ("--set", kv)]
    out = io.StringIO()
    main(["solve", str(spec), "--for", "B", *sets, "--budget", "activations=100000"], out=out)
    assert "B = 9 (activations 92,160)" in out.getvalue()


def test_keras_full_shapes_and_activations() -> None:
    """keras' summary prints None for the batch; at a real batch of 4 its outputs are what the views show."""
    keras = pytest.importorskip("keras", reason="keras")
    d = with_batch("classic_symbolic.yaml")
    values = {"I": 32, "F": 3, "S": 2, "P": 0, "D": 8, "B": 4}
    e = d.evaluate(values)
    layers = [keras.layers.Conv2D(8, 3, strides=2), keras.layers.MaxPooling2D((2, 2))]
    x = keras.ops.convert_to_tensor(np.zeros((4, 32, 32, 3), dtype="float32"))
    shapes = []
    for layer in layers:
        x = layer(x)
        shapes.append(tuple(int(s) for s in x.shape))
    assert [tuple(json.loads("[" + eval_shape(ly.output_shape, e.batch).strip("()").rstrip(",") + "]"))
            for ly in e.layers] == shapes
    assert e.activations == sum(int(np.prod(s)) for s in shapes)


GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize(("argv", "golden"), [
    (["derive"], "derive.classic_batch.txt"),
    (["derive", "--format", "markdown"], "derive.classic_batch.md"),
    (["eval", *[x for kv in ("I=32", "F=3", "S=1", "P=1", "D=8", "B=4") for x in ("--set", kv)]],
     "eval.classic_batch.txt"),
])
def test_golden_views(argv: list[str], golden: str, tmp_path: Path) -> None:
    """The classic example with `batch: B`: the batch first in every shape, activations at B=4."""
    spec = tmp_path / "classic_batch.yaml"
    spec.write_text("batch: B\n" + (EXAMPLES / "classic_symbolic.yaml").read_text())
    out = io.StringIO()
    main([argv[0], str(spec), *argv[1:]], out=out)
    assert out.getvalue() == (GOLDEN / golden).read_text(), f"{golden} differs from its golden file"
