"""Importing ONNX models (symshape.from_onnx) against onnxruntime and ONNX's own shape inference.

Files are built with onnx.helper (every op the importer maps, dim_param names as symbols) and with torch's
exporter (dynamic H and W). At many input sizes: onnxruntime runs ⇔ symshape says valid, and the output
shapes agree; parameters equal the initializers the layers use.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import symshape  # noqa: E402
from symshape.importers import UnsupportedOpError, from_onnx  # noqa: E402

RNG = np.random.default_rng(0)


def _init(name: str, *shape: int, dtype=np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(RNG.standard_normal(shape).astype(dtype) if dtype == np.float32 else
                                   np.zeros(shape, dtype=dtype), name)


def _ints(name: str, values: list) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def _floats(name: str, values: list) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.float32), name)


def _model(nodes, inits, inputs, outputs, opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _input(name: str = "x", shape=("N", 3, "H", "W")):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def _output(name: str = "y", rank: int = 2, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, [None] * rank)


def cnn() -> onnx.ModelProto:
    """Conv (asymmetric pads, auto_pad SAME_UPPER with an even kernel, groups), BN, pools (ceil_mode, pads),
    Concat, Resize, Transpose, GlobalAveragePool, Flatten, Gemm, MatMul + Add (one Linear)."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[0, 0, 1, 1], strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c1", "s", "bb", "m", "v"], ["n1"], epsilon=1e-5),
        helper.make_node("Relu", ["n1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=2),
        helper.make_node("AveragePool", ["p1"], ["a1"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]),
        helper.make_node("Concat", ["c2", "a1"], ["cat"], axis=1),
        helper.make_node("Resize", ["cat", "", "scales"], ["up"], mode="nearest"),
        helper.make_node("Conv", ["up", "w3"], ["c3"], kernel_shape=[1, 1]),
        helper.make_node("Conv", ["c3", "w4"], ["c4"], kernel_shape=[4, 4], auto_pad="SAME_UPPER"),
        helper.make_node("HardSwish", ["c4"], ["h"]),
        helper.make_node("Transpose", ["h"], ["t"], perm=[0, 1, 3, 2]),
        helper.make_node("GlobalAveragePool", ["t"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "wg", "bg"], ["fc"], transB=1),
        helper.make_node("MatMul", ["fc", "wm"], ["mm"]),
        helper.make_node("Add", ["mm", "bm"], ["y"]),
    ]
    inits = [_init("w1", 8, 3, 3, 3), _init("b1", 8), _init("s", 8), _init("bb", 8), _init("m", 8),
             numpy_helper.from_array(np.ones(8, np.float32), "v"), _init("w2", 8, 4, 3, 3),
             _floats("scales", [1, 1, 2, 2]), _init("w3", 6, 16, 1, 1), _init("w4", 6, 6, 4, 4),
             _init("wg", 12, 6), _init("bg", 12),
             _init("wm", 12, 5), _init("bm", 5)]
    return _model(nodes, inits, [_input()], [_output()])


def reshape_net() -> onnx.ModelProto:
    """Reshape to a constant shape, then to x.size(0), -1 computed in the graph (Shape/Gather/Unsqueeze/Concat);
    Pad; ConvTranspose; ReduceMean; Softmax."""
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["pad"], mode="reflect"),
        helper.make_node("ConvTranspose", ["pad", "wt"], ["ct"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["ct", "w"], ["c"], kernel_shape=[3, 3], auto_pad="VALID"),
        helper.make_node("Reshape", ["c", "shape"], ["rs"]),
        helper.make_node("ReduceMean", ["rs", "axes"], ["mean"], keepdims=0),
        helper.make_node("Shape", ["mean"], ["sh"]),
        helper.make_node("Gather", ["sh", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "zero1"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["mean", "target"], ["flat"]),
        helper.make_node("Softmax", ["flat"], ["y"], axis=-1),
    ]
    inits = [_ints("pads", [0, 0, 1, 2, 0, 0, 1, 2]), _init("wt", 3, 4, 2, 2), _init("w", 6, 4, 3, 3),
             _ints("shape", [0, 6, 2, -1]), _ints("axes", [3]), _ints("zero", 0), _ints("zero1", [0]),
             _ints("minus1", [-1])]
    return _model(nodes, inits, [_input()], [_output()], opset=18)


_ORT_WORKER = """
import json, sys
import numpy as np
import onnxruntime as ort
sess = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
name = sess.get_inputs()[0].name
for line in sys.stdin:
    shape = json.loads(line)
    try:
        out = sess.run(None, {name: np.zeros([1, *shape], np.float32)})[0]
        print(json.dumps(None if 0 in out.shape else list(out.shape[1:])), flush=True)
    except Exception:
        print("null", flush=True)
"""


def run_ort(model: onnx.ModelProto, shapes: list[tuple[int, ...]], tmp_path) -> list[tuple | None]:
    """onnxruntime's output shape (batch excluded) at each input shape, None where it refuses the input (or
    makes an empty axis). It runs in a child process: on some invalid inputs onnxruntime dies of a floating
    point exception instead of raising, which counts as a refusal (the child is restarted after it)."""
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    results: list[tuple | None] = []
    while len(results) < len(shapes):
        todo = shapes[len(results):]
        proc = subprocess.run([sys.executable, "-c", _ORT_WORKER, str(path)], capture_output=True, text=True,
                              input="".join(json.dumps(list(s)) + "\n" for s in todo), timeout=300)
        lines = proc.stdout.splitlines()
        results += [tuple(v) if v is not None else None for v in map(json.loads, lines)]
        if proc.returncode != 0:
            results.append(None)  # the input it died on
    return results


def initializer_count(model: onnx.ModelProto) -> int:
    """The weights each node uses (an initializer the exporter shares between equal values, through Identity,
    counts once per use, as each layer holds its own), not a Resize's scales or the values of a Pad or Clip."""
    floats = {t.name: int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type == TensorProto.FLOAT}
    alias = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Identity"}
    total = 0
    for n in model.graph.node:
        if n.op_type in ("Identity", "Resize", "Upsample", "Pad", "Clip"):
            continue
        for name in n.input:
            while name in alias:
                name = alias[name]
            total += floats.get(name, 0)
    return total


@pytest.mark.parametrize("build", [cnn, reshape_net])
def test_helper_models_against_onnxruntime_at_many_sizes(build, tmp_path) -> None:
    model = build()
    imported = from_onnx(model)
    d = symshape.derive(imported.spec)
    assert set(d.free_symbols) == {"H", "W"}  # the dim_params
    seen = {True: 0, False: 0}
    sizes = [(h, w) for h in range(1, 40, 2) for w in (h, 2 * h + 1, 7)]
    for (h, w), expected in zip(sizes, run_ort(model, [(3, h, w) for h, w in sizes], tmp_path), strict=True):
        e = d.evaluate(H=h, W=w)
        assert e.valid is (expected is not None), (h, w, expected, e.violations[:2])
        if expected is not None:
            assert tuple(e.output_shape) == expected, (h, w)
        seen[e.valid] += 1
    assert seen[True] and seen[False]
    bn = sum(1 for ly in d.layers if ly.kind.startswith("BatchNorm"))  # torch's num_batches_tracked
    e = d.evaluate(H=32, W=32)
    assert e.params + e.buffers - bn == initializer_count(model)


def test_shapes_equal_onnx_shape_inference() -> None:
    model = cnn()
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for dim, value in zip(fixed.graph.input[0].type.tensor_type.shape.dim, (1, 3, 33, 47), strict=True):
        dim.Clear()
        dim.dim_value = value
    inferred = onnx.shape_inference.infer_shapes(fixed)
    dims = {vi.name: tuple(d.dim_value for d in vi.type.tensor_type.shape.dim[1:]) for vi in inferred.graph.value_info}
    imported = from_onnx(fixed)
    assert imported.spec["input"] == [3, 33, 47]
    e = imported.derive().evaluate()
    assert e.valid
    # each layer's output is the output of the ONNX node it came from: same order, compare by position
    mapped = [n.output[0] for n in fixed.graph.node if n.op_type not in ("Add",)]  # MatMul + Add: one Linear
    by_layer = [tuple(ly.output_shape) for ly in e.layers if not ly.name.endswith(".pad")]
    assert len(mapped) == len(by_layer)
    for name, shape in zip(mapped[:-1], by_layer[:-1], strict=True):
        assert dims[name] == shape, name
    assert by_layer[-1] == (5,)


def test_dim_param_names_become_symbols() -> None:
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    model = _model(nodes, [], [_input("x", ("batch", "channels", "image height"))], [_output(rank=3)])
    spec = from_onnx(model).spec
    assert spec["input"] == ["channels", "image_height"]
    assert symshape.derive(spec).free_symbols == ("channels", "image_height")


TORCH_MODELS = ["TinyResNet", "Squeezy", "Unet"]


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_torch_exported_files(name, tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from tests import test_import_torch as models

    model = getattr(models, name)().eval()
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, 64, 64),), str(path), dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "N", 2: "H", 3: "W"}, "y": {0: "N"}})
    loaded = onnx.load(str(path))
    imported = from_onnx(path)
    d = symshape.derive(imported.spec)
    assert set(d.free_symbols) == {"H", "W"}
    seen = {True: 0, False: 0}
    sizes = [(h, w) for h in [1, 2, 3, 5, 8, 13, 16, 21, 32, 33, 47, 64] for w in (h, 40, 9)]
    for (h, w), expected in zip(sizes, run_ort(loaded, [(3, h, w) for h, w in sizes], tmp_path), strict=True):
        e = d.evaluate(H=h, W=w)
        assert e.valid is (expected is not None), (h, w, expected, e.violations[:2])
        if expected is not None:
            assert tuple(e.output_shape) == expected
            with torch.no_grad():
                assert tuple(model(torch.zeros(1, 3, h, w)).shape[1:]) == expected
        seen[e.valid] += 1
    assert seen[True]
    assert d.evaluate(H=64, W=64).params == initializer_count(loaded)
    names = [layer["name"] for layer in imported.spec["layers"]]
    assert any(n.endswith("conv1") or n.endswith("squeeze") or n == "enc" for n in names)  # torch's module names


def test_unsupported_op_names_node_op_and_what_is_supported() -> None:
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("TopK", ["r", "k"], ["y", "idx"], axis=3, name="pick")]
    model = _model(nodes, [_ints("k", [2])], [_input("x", ("N", 3, 8, 8))],
                   [_output(rank=4), _output("idx", 4, TensorProto.INT64)])
    with pytest.raises(UnsupportedOpError) as info:
        from_onnx(model)
    text = str(info.value)
    assert "node 'pick'" in text and "op TopK" in text and "node #1" in text
    assert "Supported:" in text and "Conv" in text and "--allow-opaque" in text
    imported = from_onnx(model, allow_opaque=True)
    assert imported.opaque == ["pick"]
    e = imported.derive().evaluate()
    assert e.valid and tuple(e.layers[-1].output_shapes[0]) == (3, 8, 2)


def test_not_an_onnx_file(tmp_path) -> None:
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(symshape.SpecError, match="not an ONNX model"):
        from_onnx(bad)


def test_torch_dynamo_exported_file(tmp_path) -> None:
    """torch.onnx.export's torch.export-based exporter (onnxscript): module names from its name scopes, shapes
    from the file, the initializers' count (it folds each BatchNorm into the convolution before it)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    from tests.test_import_torch import TinyResNet

    model = TinyResNet().eval()
    path = tmp_path / "tiny.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, 48, 40),), str(path), dynamo=True, verbose=False)
    loaded = onnx.load(str(path))
    imported = from_onnx(path)
    names = [layer["name"] for layer in imported.spec["layers"]]
    assert names[:3] == ["stem", "relu", "pool"] and "layer1.0.add" in names and names[-1] == "fc"
    e = imported.derive().evaluate()
    assert tuple(e.output_shape) == run_ort(loaded, [(3, 48, 40)], tmp_path)[0] == (10,)
    assert e.params + e.buffers - sum(ly.kind.startswith("BatchNorm") for ly in e.layers) == \
        initializer_count(loaded)


def test_opset_9_upsample(tmp_path) -> None:
    nodes = [helper.make_node("Upsample", ["x", "scales"], ["u"], mode="nearest"),
             helper.make_node("AveragePool", ["u"], ["y"], kernel_shape=[3, 3], strides=[2, 2])]
    model = _model(nodes, [_floats("scales", [1, 1, 2, 3])], [_input()], [_output(rank=4)], opset=9)
    d = symshape.derive(from_onnx(model).spec)
    # sizes where the window fits: below that (a 2-row input to a 3-row window) onnxruntime truncates toward zero
    # and answers 1 row where ONNX's formula floor((2 - 3) / 2) + 1 gives 0 (symshape: invalid, as torch)
    sizes = [(h, w) for h in (2, 3, 5, 8) for w in (1, 4, 7)]
    for (h, w), expected in zip(sizes, run_ort(model, [(3, h, w) for h, w in sizes], tmp_path), strict=True):
        e = d.evaluate(H=h, W=w)
        assert e.valid and tuple(e.output_shape) == expected, (h, w)
    assert not d.evaluate(H=1, W=1).valid
