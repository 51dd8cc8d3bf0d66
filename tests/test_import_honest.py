"""Imported specs are never silently wrong: a graph torch.export specialized to the example size, sizes computed
from the input, depthwise convolutions under a channel tie, input names per axis (against real torch)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import symshape  # noqa: E402
from symshape.errors import SpecError  # noqa: E402
from symshape.lift import symbolize  # noqa: E402


class WidthBranch(nn.Module):  # runs conv2 only if the width after conv is > 4: torch.fx cannot trace it
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2)
        self.conv2 = nn.Conv2d(8, 8, 3)

    def forward(self, x):
        x = self.conv(x)
        if x.shape[-1] > 4:
            x = self.conv2(x)
        return x


class HeightBranch(nn.Module):  # pools only on tall inputs
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        if x.shape[2] > 10:
            x = F.max_pool2d(x, 2)
        return self.conv(x)


def _torch_out(model: nn.Module, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        with torch.no_grad():
            return tuple(model(torch.zeros(1, *shape)).shape[1:])
    except RuntimeError:
        return None


class EvenWidth(nn.Module):  # a branch no range can hold: pools only inputs of even width
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        if x.shape[-1] % 2 == 0:
            x = F.max_pool2d(x, 2)
        return self.conv(x)


class WiderThanTall(nn.Module):  # a branch on a relation of two sizes
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        if x.shape[-1] > x.shape[-2]:
            x = F.max_pool2d(x, 2)
        return self.conv(x)


@pytest.mark.parametrize("factory, example, fixed", [
    pytest.param(WidthBranch, (3, 16, 16), set(), id="branch-on-width"),
    pytest.param(HeightBranch, (3, 32, 32), set(), id="branch-on-height"),
    pytest.param(EvenWidth, (3, 16, 20), {"W"}, id="branch-on-parity"),
    pytest.param(WiderThanTall, (3, 16, 20), {"H"}, id="branch-on-a-relation"),
])
def test_specialized_graph_is_valid_only_where_it_holds(factory, example, fixed):
    model = factory().eval()
    imported = symshape.from_torch(model, torch.zeros(2, *example))
    assert "torch.export" in imported.source
    names = ["_" if n in fixed else n for n in ("H", "W")]
    if fixed:
        with pytest.raises(SpecError, match="specialized it to the example's size"):
            symbolize(imported, inputs={"input": ["H", "W"]})
    lifted = symbolize(imported, inputs={"input": names})
    d = symshape.derive(lifted.spec)
    valid = 0
    for h in range(3, 40, 3):
        for w in range(3, 40, 2):
            binding = {k: v for k, v in (("H", h), ("W", w)) if k in d.free_symbols}
            e = d.evaluate(binding)
            real = _torch_out(model, (example[0], *[binding.get(k, example[i + 1]) for i, k in enumerate("HW")]))
            if e.valid:  # symshape says valid: it must be torch's answer (never a silently wrong shape)
                assert real == tuple(e.layers[-1].output_shapes[0]), (binding, real, e.layers[-1].output_shapes)
                valid += 1
    assert valid > 5


def test_specialized_axis_cannot_be_symbolized():
    imported = symshape.from_torch(WidthBranch().eval(), torch.zeros(2, 3, 16, 16))
    with pytest.raises(SpecError, match="axis 0 cannot become the symbol 'C'.*specialized"):
        symbolize(imported, inputs={"input": ["C", "H", "W"]})


class SizeFromInput(nn.Module):  # the UNet/FPN pattern: upsample to another tensor's size
    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.skip = nn.Conv2d(3, 8, 1)

    def forward(self, x):
        y = F.interpolate(self.down(x), size=x.shape[2:], mode="nearest")
        return y + self.skip(x)


class SizeFromChannels(nn.Module):  # squeeze-excitation: a view built from the channel count only
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        x = self.conv(x)
        b, c = x.shape[0], x.shape[1]
        s = self.fc(x.mean(dim=(2, 3))).view(b, c, 1, 1)
        return x * s


@pytest.mark.parametrize("factory, symbolize_what, refused", [
    pytest.param(SizeFromInput, {"inputs": {"input": ["H", "W"]}}, "layer 'interpolate'.*input axis 1 \\(H\\)",
                 id="interpolate-to-input-size"),
    pytest.param(SizeFromInput, {"inputs": {"input": ["_", "H", "_"]}}, "input axis 1 \\(H\\)", id="one-axis"),
    pytest.param(SizeFromInput, {"hyper": ["kernel_size"]}, None, id="kernels-leave-the-size"),
    pytest.param(SizeFromChannels, {"inputs": {"input": ["H", "W"]}}, None, id="channel-count-only"),
])
def test_size_computed_from_a_tensor(factory, symbolize_what, refused):
    model = factory().eval()
    imported = symshape.from_torch(model, torch.zeros(2, 3, 16, 16))
    if refused:
        assert _torch_out(model, (3, 20, 20)) == (8, 20, 20)  # torch follows the size; a frozen [16, 16] would not
        with pytest.raises(SpecError, match=refused):
            symbolize(imported, **symbolize_what)
        return
    lifted = symbolize(imported, **symbolize_what)
    d = symshape.derive(lifted.spec)
    if "H" in d.free_symbols:
        for h, w in ((9, 9), (16, 23), (31, 12)):
            e = d.evaluate({"H": h, "W": w})
            assert e.valid and tuple(e.layers[-1].output_shapes[0]) == _torch_out(model, (3, h, w))


class Depthwise(nn.Module):  # MobileNet's pattern: depthwise (multiplier 1 and 2) and pointwise convolutions
    def __init__(self, w: int = 8) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 4 * w, 3), nn.BatchNorm2d(4 * w), nn.ReLU(),
                                 nn.Conv2d(4 * w, 4 * w, 3, groups=4 * w), nn.Conv2d(4 * w, 8 * w, 1),
                                 nn.Conv2d(8 * w, 16 * w, 3, stride=2, groups=8 * w), nn.Conv2d(16 * w, 4 * w, 1))

    def forward(self, x):
        return self.net(x)


@pytest.mark.parametrize("how", [pytest.param({"tie": {"out_channels": "width"}}, id="tie"),
                                 pytest.param({"tie": {"filters": "width"}}, id="tie-keras-spelling"),
                                 pytest.param({"hyper": ["out_channels"]}, id="per-layer")])
def test_depthwise_groups_follow_the_channels(how):
    imported = symshape.from_torch(Depthwise(8).eval(), torch.zeros(2, 3, 16, 16))
    lifted = symbolize(imported, **how)
    d = symshape.derive(lifted.spec)
    for w in (2, 3, 5):
        model = Depthwise(w).eval()
        if "width" in d.free_symbols:
            binding = {"width": 4 * w}
        else:  # per layer: each layer's symbol at its value in Depthwise(w)
            binding = {name: value * w // 8 for name, value in lifted.defaults.items()}
        e = d.evaluate(binding)
        assert e.valid, e.violations
        assert e.params == sum(p.numel() for p in model.parameters())
        assert tuple(e.layers[-1].output_shapes[0]) == _torch_out(model, (3, 16, 16))


# ---------------------------------------------------------------- ONNX: SAME padding, max pool padding


def _onnx_model(node_kwargs: dict, op: str, channels: int = 2, dims=("N", 2, "H", "W")):
    onnx = pytest.importorskip("onnx", reason="onnx is not installed")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    inits = []
    inputs = ["x"]
    if op == "Conv":
        k = node_kwargs.get("kernel_shape", [3, 3])
        weight = np.random.default_rng(0).standard_normal((3, channels, *k)).astype("float32")
        inits.append(numpy_helper.from_array(weight, "w"))
        inputs.append("w")
    node = helper.make_node(op, inputs, ["y"], name="op", **node_kwargs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert onnx.__version__
    return model


SAME_CASES = [  # op, attributes
    ("Conv", {"auto_pad": "SAME_UPPER", "kernel_shape": [3, 3], "strides": [2, 2]}),
    ("Conv", {"auto_pad": "SAME_LOWER", "kernel_shape": [4, 3], "strides": [3, 2]}),
    ("Conv", {"auto_pad": "SAME_UPPER", "kernel_shape": [5, 2], "strides": [3, 4]}),  # onnxruntime: no dilation
    ("MaxPool", {"auto_pad": "SAME_UPPER", "kernel_shape": [3, 3], "strides": [2, 2]}),
    ("AveragePool", {"auto_pad": "SAME_LOWER", "kernel_shape": [2, 2], "strides": [2, 2]}),
]


@pytest.mark.parametrize(("op", "attrs"), SAME_CASES,
                         ids=[f"{o}-{a['auto_pad']}-k{a['kernel_shape']}-s{a['strides']}" for o, a in SAME_CASES])
def test_onnx_same_padding_with_stride_at_every_size(op, attrs, tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    import numpy as np

    model = _onnx_model(attrs, op)
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    imported = symshape.from_onnx(path)
    assert imported.spec["input"] == [2, "H", "W"]
    assert "SAME padding with stride > 1" in imported.spec["description"]
    d = symshape.derive(imported.spec)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for h in range(1, 23, 2):
        for w in range(1, 19, 3):
            got = session.run(None, {"x": np.zeros((1, 2, h, w), dtype="float32")})[0].shape[1:]
            e = d.evaluate({"H": h, "W": w})
            assert e.valid and tuple(e.output_shape) == tuple(got), (h, w, e.output_shape, got)


def test_onnx_max_pool_pads_with_minus_infinity_and_the_export_says_what_differs(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    import numpy as np

    from symshape.export import to_torch

    model = _onnx_model({"kernel_shape": [2, 2], "strides": [2, 2], "pads": [0, 0, 1, 1]}, "MaxPool",
                        dims=(1, 2, 5, 7))
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    imported = symshape.from_onnx(path)
    x = -1 - np.random.default_rng(1).random((1, 2, 5, 7)).astype("float32")  # all negative: zeros would win
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    namespace: dict = {}
    exec(compile(to_torch(imported.spec), "exported", "exec"), namespace)  # noqa: S102 - the code symshape wrote
    with torch.no_grad():
        got = namespace["Model"]().eval()(torch.from_numpy(x)).numpy()
    assert np.array_equal(got, want)
    avg = _onnx_model({"kernel_shape": [2, 2], "strides": [2, 2], "pads": [0, 0, 1, 1]}, "AveragePool",
                      dims=(1, 2, 5, 7))
    path.write_bytes(avg.SerializeToString())
    code = to_torch(symshape.from_onnx(path).spec)
    assert "count_include_pad=0 and asymmetric pads" in code.split('"""')[1]  # stated in the exported file


def test_training_only_modules_are_stated(tmp_path):
    zoo = pytest.importorskip("tests.zoo", reason="tests/zoo.py (torchvision's code) is missing")

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)
            self.drop = zoo.StochasticDepth(0.2, "row")

        def forward(self, x):
            return x + self.drop(self.conv(x))

    imported = symshape.from_torch(Block(), torch.zeros(2, 4, 8, 8))
    assert "StochasticDepth (drop)" in imported.spec["description"]
    from symshape.export import to_torch

    assert "StochasticDepth (drop)" in to_torch(imported.spec).split('"""')[1]  # the exported file says it
    plain = symshape.from_torch(nn.Sequential(nn.Conv2d(3, 4, 3)), torch.zeros(2, 3, 8, 8))
    assert "description" not in plain.spec


@pytest.mark.parametrize(("framework", "shape", "names", "result"), [
    ("torch", [3, 224, 224], ["H"], "has 3 axes \\(3, 224, 224\\).*input=_,H,W.*input=H,W"),
    ("torch", [3, 224, 224], ["A", "B", "C", "D"], "has 3 axes"),
    ("keras", [224, 224, 3], ["H"], "input=H,W,_"),
    ("torch", [3, 224, 224], ["H", "W"], [3, "H", "W"]),
    ("torch", [3, 224, 224], ["_", "H", "W"], [3, "H", "W"]),
    ("keras", [224, 224, 3], ["H", "W"], ["H", "W", 3]),
    ("torch", [10, 32], ["T", "_"], ["T", 32]),
    ("torch", [10, 32], ["E"], [10, "E"]),
])
def test_input_names_per_axis(framework, shape, names, result):
    spec = {"framework": framework, "input": shape, "layers": [{"Flatten": {}}]}
    if isinstance(result, str):
        with pytest.raises(SpecError, match=result):
            symbolize(spec, inputs={"input": names})
    else:
        assert symbolize(spec, inputs={"input": names}).spec["input"] == result


# ---------------------------------------------------------------- messages


def test_messages_onnx_no_weak_suggestion_and_no_stray_hint(tmp_path):
    pytest.importorskip("onnx", reason="onnx is not installed")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Einsum", ["x", "x"], ["y"], name="weird", equation="nchw,nchw->nc")],
                              "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / "u.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    with pytest.raises(SpecError) as err:
        symshape.from_onnx(path)
    text = str(err.value)
    assert "node 'weird': op Einsum" in text and "did you mean" not in text and "as torch layers" not in text


@pytest.mark.parametrize(("word", "known", "suggested"), [
    ("Einsum", ["Sum", "Conv"], None), ("relu", ["ReLU", "Conv"], "ReLU"), ("Conv2D", ["Conv2d"], "Conv2d"),
    ("MaxPool2dd", ["MaxPool2d"], "MaxPool2d"),
])
def test_suggestions_only_when_close(word, known, suggested):
    from symshape.importers.common import UnsupportedOpError

    text = str(UnsupportedOpError("onnx", "n", word, None, known))
    assert (f"did you mean '{suggested}'" in text) if suggested else "did you mean" not in text


def test_messages_keras(tmp_path):
    keras = pytest.importorskip("keras", reason="keras is not installed")
    bad = tmp_path / "bad.json"
    bad.write_text('{"bad": 1}')
    with pytest.raises(SpecError, match="not a keras model's architecture"):
        symshape.from_keras(bad)
    inputs = keras.Input(shape=(8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="c1")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(8, 3, name="c2")(x))
    lifted = symbolize(symshape.from_keras(model), tie={"filters": "width"})
    assert lifted.spec["symbols"]["width"]["description"].startswith("filters (tied")


    class Twice(keras.layers.Layer):  # a layer class of the user's own: the error names its file and line
        def call(self, x):
            return x * 2

    custom = keras.Model(inputs, Twice(name="twice")(inputs))
    with pytest.raises(SpecError, match="test_import_honest.py:\\d+ \\(class Twice\\)"):
        symshape.from_keras(custom)


def test_sweep_marks_opaque_layers(tmp_path, capsys):
    from symshape.cli import main

    class Fold(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, dim=2)

    model = nn.Sequential(nn.Conv2d(3, 4, 3), Fold())
    imported = symshape.from_torch(model, torch.zeros(2, 3, 8, 8), allow_opaque=True)
    path = tmp_path / "o.yaml"
    path.write_text(imported.to_yaml())
    import io

    assert main(["sweep", str(path), "--all"], io.StringIO()) == 0
    assert "OPAQUE layers" in capsys.readouterr().err


@pytest.mark.parametrize("how", [{"hyper": ["kernel_size"]}, {"tie": {"out_channels": "width"}}])
def test_specialized_graph_keeps_its_hyperparameters(how):
    model = WidthBranch().eval()  # a kernel of 5 in conv would take the other branch at 16x16
    imported = symshape.from_torch(model, torch.zeros(2, 3, 16, 16))
    with pytest.raises(SpecError, match="read from torch.export"):
        symbolize(imported, **how)
