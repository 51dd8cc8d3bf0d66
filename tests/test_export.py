"""Import, lift, bind, export and run: the exported model (torch and keras code written by symshape) built and run
on real tensors, its output shape and parameter count equal to symshape's evaluation; and the CLI's `import` and
`export` commands end to end."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import symshape  # noqa: E402
from symshape.cli import main  # noqa: E402
from symshape.errors import BindingError, SpecError  # noqa: E402
from symshape.export import to_torch  # noqa: E402
from symshape.importers import from_torch  # noqa: E402
from symshape.lift import defaults_of, symbolize  # noqa: E402
from tests.test_import_torch import FoldOnly, Mobile, Squeezy, TinyResNet, Tokens, Unet, WithLSTM  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def load(code: str, tmp_path: Path, name: str = "exported"):
    """The code symshape wrote, as a module file imported the ordinary way."""
    path = tmp_path / f"{name}.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_exported(spec: dict, binding: dict, tmp_path: Path, shape: tuple[int, ...]) -> None:
    code = to_torch(spec, binding)
    model = load(code, tmp_path).Model().eval()
    e = symshape.derive(spec).evaluate({**defaults_of(spec), **binding})
    assert e.valid
    with torch.no_grad():
        out = model(torch.zeros(2, *shape))
    out = out[0] if isinstance(out, tuple) else out
    assert tuple(out.shape[1:]) == tuple(e.output_shape)
    assert sum(p.numel() for p in model.parameters()) == e.params
    assert sum(b.numel() for b in model.buffers()) == e.buffers


CASES = [  # model, example shape, symbolize, tie, binding, the input at that binding
    (TinyResNet, (3, 64, 64), {"input": ["H", "W"]}, ["kernel_size"], {"out_channels": "width"},
     {"H": 40, "W": 52, "width": 4, "K_stem": 5}, (3, 40, 52)),
    (Squeezy, (3, 64, 64), {"input": ["H", "W"]}, ["stride"], {}, {"H": 33, "W": 48, "S_features_0": 1},
     (3, 33, 48)),
    (Unet, (3, 32, 32), {"input": ["H", "W"]}, [], {"out_channels": "C"}, {"H": 16, "W": 24, "C": 3}, (3, 16, 24)),
    (Mobile, (3, 32, 32), {"input": ["H", "W"]}, [], {}, {"H": 16, "W": 16}, (3, 16, 16)),
    (Tokens, (10, 32), {"input": ["T", "_"]}, ["out_features"], {}, {"T": 5, "F_mlp_0": 16}, (5, 32)),
    (WithLSTM, (9, 6), {"input": ["T", "_"]}, [], {}, {"T": 4}, (4, 6)),
]


@pytest.mark.parametrize(("factory", "example", "inputs", "hyper", "tie", "binding", "shape"), CASES,
                         ids=[c[0].__name__ for c in CASES])
def test_import_lift_bind_export_run(factory, example, inputs, hyper, tie, binding, shape, tmp_path) -> None:
    imported = from_torch(factory().eval(), torch.zeros(2, *example))
    lifted = symbolize(imported.spec, inputs=inputs, hyper=hyper, tie=tie)
    assert defaults_of(lifted.spec) == lifted.defaults  # the defaults live in the spec file itself
    run_exported(lifted.spec, binding, tmp_path, shape)


def test_zoo_resnet18_exported_at_a_picked_width(tmp_path) -> None:
    zoo = pytest.importorskip("tests.zoo")
    model = zoo.resnet18().eval()
    lifted = symbolize(from_torch(model, torch.zeros(1, 3, 64, 64)).spec, inputs={"input": ["H", "W"]},
                       tie={"out_channels": "width"})
    assert lifted.defaults["width"] == 64
    d = symshape.derive(lifted.spec)
    assert d.evaluate(**lifted.defaults).params == sum(p.numel() for p in model.parameters())
    run_exported(lifted.spec, {"H": 96, "W": 80, "width": 16}, tmp_path, (3, 96, 80))


def test_exported_examples_run(tmp_path) -> None:
    for name, binding, shape in [("resnet18.yaml", {"H": 64, "W": 64}, (3, 64, 64)),
                                 ("unet.yaml", {"H": 64, "W": 64, "C": 3, "K": 2}, (3, 64, 64)),
                                 ("alexnet.yaml", {"H": 70, "W": 90}, (3, 70, 90))]:
        run_exported(_as_dict((ROOT / "examples" / name).read_text()), binding, tmp_path, shape)


def _as_dict(text: str) -> dict:
    import yaml

    return yaml.safe_load(text)


def test_export_refuses_what_it_cannot_write() -> None:
    imported = from_torch(FoldOnly(), torch.zeros(2, 4, 2, 2), allow_opaque=True)
    with pytest.raises(SpecError, match="cannot export opaque layers.*fold"):
        to_torch(imported.spec)
    lifted = symbolize(from_torch(TinyResNet(), torch.zeros(2, 3, 64, 64)).spec, inputs={"input": ["H", "W"]})
    with pytest.raises(BindingError, match="not valid"):
        to_torch(lifted.spec, {"H": 0, "W": 5})
    spec = {"framework": "torch", "input": [3, "H", "W"], "layers": [{"Conv2d": {"out_channels": 4, "kernel_size": 3}}]}
    with pytest.raises(BindingError, match="--set H=...*--set W=..."):
        to_torch(spec)
    with pytest.raises(SpecError, match="try --to torch"):
        symshape.export.to_keras(spec, {"H": 5, "W": 5})


def _cli(args: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    code = main(args, out)
    return code, out.getvalue()


def test_cli_import_then_export(tmp_path, capsys) -> None:
    spec_path = tmp_path / "tiny.yaml"
    code, _ = _cli(["import", "torch", "tests.test_import_torch:TinyResNet", "--input-shape", "3,64,64",
                    "--symbolize", "input=H,W", "--symbolize", "kernel_size", "--tie", "out_channels=width",
                    "-o", str(spec_path)])
    assert code == 0
    err = capsys.readouterr().err
    assert "imported 22 layers" in err and "symbols: H, W, width" in err
    text = spec_path.read_text()
    assert "width: {default: 8, description: 'out_channels (tied" in text  # a first-class default: the imported value
    assert "K_layer1_0_conv1: {default: 3," in text and "--defaults" in text.splitlines()[1]
    code, out = _cli(["eval", str(spec_path), *sum((["--set", f"{k}={v}"] for k, v in
                                                    defaults_of(_as_dict(text)).items()), [])])
    assert code == 0 and "6,218" in out  # the imported values: torch's parameter count
    assert _cli(["eval", str(spec_path), "--defaults"]) == (code, out)  # the same, from the recorded defaults
    code, small = _cli(["eval", str(spec_path), "--defaults", "--set", "width=2"])
    assert code == 0 and "6,218" not in small
    model_path = tmp_path / "model.py"
    code, _ = _cli(["export", str(spec_path), "--to", "torch", "--set", "H=50", "--set", "W=30", "--set", "width=2",
                    "-o", str(model_path)])
    assert code == 0
    model = load(model_path.read_text(), tmp_path, "cli_model").Model()
    assert model(torch.zeros(1, 3, 50, 30)).shape == (1, 10)


def test_cli_import_errors(capsys) -> None:
    code, _ = _cli(["import", "torch", "tests.test_import_torch:Odd", "--input-shape", "3,8,8"])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot import torch node" in err and "getitem" in err and "Traceback" not in err
    code, _ = _cli(["import", "torch", "tests.test_import_torch:Nope"])
    assert code == 2 and "has no attribute 'Nope'" in capsys.readouterr().err
    code, _ = _cli(["import", "onnx", "missing.onnx"])
    assert code == 2 and "no such file" in capsys.readouterr().err
    code, _ = _cli(["import", "torch", "tests.test_import_torch:TinyResNet", "--symbolize", "kernal_size"])
    assert code == 2 and "did you mean 'kernel_size'" in capsys.readouterr().err


class TwoInputs(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.b = torch.nn.Conv2d(5, 4, 1)

    def forward(self, image, mask):
        return torch.cat([self.a(image), self.b(mask)], dim=1)


def test_two_inputs_round_trip_and_export(tmp_path) -> None:
    imported = from_torch(TwoInputs(), (torch.zeros(2, 3, 8, 8), torch.zeros(2, 5, 8, 8)))
    assert imported.spec["inputs"] == {"image": [3, 8, 8], "mask": [5, 8, 8]}
    lifted = symbolize(imported.spec, inputs={"image": ["H", "W"], "mask": ["H", "W"]})
    d = symshape.derive(lifted.spec)
    assert not d.evaluate(H=8, W=8).violations and tuple(d.evaluate(H=5, W=7).output_shape) == (8, 5, 7)
    code = to_torch(lifted.spec, {"H": 6, "W": 9})
    model = load(code, tmp_path, "two").Model()
    assert model(torch.zeros(1, 3, 6, 9), torch.zeros(1, 5, 6, 9)).shape == (1, 8, 6, 9)


def test_cli_import_keras_and_onnx(tmp_path, capsys) -> None:
    keras = pytest.importorskip("keras")
    onnx = pytest.importorskip("onnx")
    inputs = keras.Input(shape=(16, 16, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, name="c")(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="g")(x))
    path = tmp_path / "m.keras"
    model.save(path)
    code, out = _cli(["import", "keras", str(path), "--symbolize", "input=H,W", "--format", "json"])
    assert code == 0
    import json

    spec = json.loads(out)
    assert spec["input"] == ["H", "W", 3] and spec["layers"][0]["name"] == "c"
    assert symshape.derive(spec).evaluate(H=16, W=16).output_shape == (4,)
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, "H", "W"])])
    onnx_path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph), str(onnx_path))
    code, out = _cli(["import", "onnx", str(onnx_path)])
    assert code == 0 and "input: [3, H, W]" in out and "ReLU" in out
    assert "symbols: H, W" in capsys.readouterr().err


@pytest.mark.parametrize(("binding", "message"), [
    ({"widht": 3}, "no symbol 'widht' \\(did you mean 'width'\\?\\)"),
    ({"H": 40, "Q": 2}, "no symbol 'Q'; its symbols: H, W, width"),
])
def test_export_refuses_unknown_symbols(binding, message) -> None:
    lifted = symbolize(from_torch(TinyResNet(), torch.zeros(2, 3, 64, 64)).spec, inputs={"input": ["H", "W"]},
                       tie={"out_channels": "width"})
    with pytest.raises(BindingError, match=message):
        to_torch(lifted.spec, binding)


def test_keras_nested_model_exported_and_run(tmp_path) -> None:
    keras = pytest.importorskip("keras")
    from symshape.importers import from_keras

    inner_in = keras.Input(shape=(None, None, 4))
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inner_in)
    block = keras.Model(inner_in, keras.layers.BatchNormalization()(y), name="block")
    inputs = keras.Input(shape=(20, 16, 3))
    x = keras.layers.Conv2D(4, 3, name="stem")(inputs)
    x = keras.layers.Add(name="add")([x, block(x)])
    model = keras.Model(inputs, keras.layers.Dense(5, name="dense")(keras.layers.GlobalAveragePooling2D()(x)))
    imported = from_keras(model)
    assert any("." in entry["name"] for entry in imported.spec["layers"])  # block.conv2d...: names keras refuses
    lifted = symbolize(imported.spec, inputs={"input": ["H", "W"]})
    code = symshape.export.to_keras(lifted.spec, {"H": 12, "W": 9})
    built = load(code, tmp_path, "nested_keras").build_model()
    e = symshape.derive(lifted.spec).evaluate({"H": 12, "W": 9})
    assert tuple(built.output_shape[1:]) == tuple(e.output_shape)
    assert built.count_params() == e.params
    import numpy as np

    assert built(np.zeros((2, 12, 9, 3), dtype="float32")).shape == (2, 5)
