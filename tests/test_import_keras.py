"""Importing keras models (symshape.from_keras) against keras itself (KERAS_BACKEND=torch).

keras.applications (ResNet50, MobileNetV2, VGG16, EfficientNetB0, weights=None) at two input sizes: every layer's
output shape and trainable / non-trainable counts equal keras' own; Sequential, functional and nested models;
.keras and .json files; with symbolic inputs, keras runs ⇔ symshape says valid at many sizes.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
np = pytest.importorskip("numpy")
from keras import layers  # noqa: E402

import symshape  # noqa: E402
from symshape.importers import UnsupportedOpError, from_keras  # noqa: E402
from symshape.lift import symbolize  # noqa: E402


def _count(weights) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


def keras_layers(model, prefix: str = "") -> dict[str, tuple[list[tuple], int, int]]:
    """name -> (output shapes without batch, trainable, non-trainable), nested models opened."""
    out = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.update(keras_layers(layer, f"{prefix}{layer.name}."))
            continue
        if type(layer).__name__ == "InputLayer":
            continue
        outputs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        out[prefix + layer.name] = ([tuple(int(d) for d in t.shape[1:]) for t in outputs],
                                    _count(layer.trainable_weights), _count(layer.non_trainable_weights))
    return out


def check_against_keras(model, spec: dict | None = None) -> None:
    imported = from_keras(model)
    e = symshape.derive(spec or imported.spec).evaluate()
    assert e.valid, e.violations[:3]
    theirs = keras_layers(model)
    assert len(theirs) == len(e.layers)  # in the same order (auto-generated names differ between builds)
    for ly, (name, (shapes, trainable, frozen)) in zip(e.layers, theirs.items(), strict=True):
        assert ly.name.rsplit("_", 1)[0] == name.rsplit("_", 1)[0] or spec is not None, (ly.name, name)
        assert [tuple(s) for s in ly.output_shapes][:len(shapes)] == shapes, name
        assert (ly.trainable, ly.non_trainable) == (trainable, frozen), name
    assert e.trainable == _count(model.trainable_weights)
    assert e.non_trainable == _count(model.non_trainable_weights)
    assert tuple(e.output_shape) == tuple(int(d) for d in model.outputs[0].shape[1:])


APPLICATIONS = [
    pytest.param("ResNet50", id="ResNet50"),
    pytest.param("MobileNetV2", id="MobileNetV2"),
    pytest.param("VGG16", id="VGG16"),
    pytest.param("EfficientNetB0", id="EfficientNetB0"),
]


@pytest.mark.parametrize("name", APPLICATIONS)
def test_applications_round_trip_at_two_sizes(name) -> None:
    factory = getattr(keras.applications, name)
    model = factory(weights=None)
    check_against_keras(model)
    other = factory(weights=None, input_shape=(160, 192, 3))  # keras' own model at the second size
    spec = from_keras(model).spec
    spec["input"] = [160, 192, 3]  # the spec imported at 224 x 224, its input changed
    check_against_keras(other, spec)


def small_functional():
    inputs = keras.Input(shape=(None, None, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, activation="relu", name="c1")(inputs)
    y = layers.Conv2D(8, 3, padding="same", name="c2")(x)
    y = layers.BatchNormalization(name="bn")(y)
    x = layers.Add(name="add")([x, y])
    x = layers.MaxPooling2D(2, name="pool")(x)
    z = layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = layers.Concatenate(name="cat")([x, z])
    x = layers.UpSampling2D(2, name="up")(x)
    x = layers.Cropping2D(((1, 0), (0, 1)), name="crop")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(4, name="head")(x), name="small")


def agrees_at(model, d: symshape.Derivation, h: int, w: int) -> bool:
    """Run the keras model on an h x w image: symshape is valid exactly where keras runs, with its output shape.
    Returns the validity."""
    try:
        out = model(np.zeros((1, h, w, 3), np.float32))
        expected = tuple(out.shape[1:]) if 0 not in out.shape else None
    except Exception:  # noqa: BLE001 - keras' refusal, in whatever type the backend raises
        expected = None
    e = d.evaluate(N0=h, N1=w)
    assert e.valid is (expected is not None), (h, w, expected, e.violations[:2])
    if expected is not None:
        assert tuple(e.output_shape) == expected
    return e.valid


def test_symbolic_input_agrees_with_keras_at_many_sizes() -> None:
    model = small_functional()
    imported = from_keras(model)
    assert imported.spec["input"] == ["N0", "N1", 3]  # keras' None sizes are symbols already
    d = symshape.derive(imported.spec)
    seen = {True: 0, False: 0}
    for h in range(1, 30, 2):
        for w in (h, 11, 24):
            seen[agrees_at(model, d, h, w)] += 1
    assert seen[True] and seen[False]


def test_sequential_and_nested_models() -> None:
    inner = keras.Sequential([keras.Input(shape=(16, 16, 8)), layers.Conv2D(8, 3, padding="same", name="conv"),
                              layers.ReLU(name="relu")], name="block")
    inputs = keras.Input(shape=(32, 32, 3))
    x = layers.Conv2D(8, 3, strides=2, padding="same", name="stem")(inputs)
    x = layers.Add(name="res")([x, inner(x)])
    x = layers.Flatten(name="flat")(x)
    model = keras.Model(inputs, layers.Dense(10, activation="softmax", name="out")(x))
    imported = from_keras(model)
    names = [entry["name"] for entry in imported.spec["layers"]]
    assert names == ["stem", "block.conv", "block.relu", "res", "flat", "out"]
    check_against_keras(model)
    seq = keras.Sequential([keras.Input(shape=(20,)), layers.Dense(7, name="d1"), layers.Dropout(0.1),
                            layers.Dense(3, name="d2")])
    check_against_keras(seq)


def test_files(tmp_path) -> None:
    model = small_functional()
    path = tmp_path / "m.keras"
    model.save(path)
    spec = from_keras(path).spec
    assert spec == from_keras(model).spec
    json_path = tmp_path / "m.json"
    json_path.write_text(model.to_json())
    assert from_keras(json_path).spec == spec


class Odd(layers.Layer):
    def call(self, x):
        return x[:, ::2]


def test_unsupported_layer_is_a_clear_error() -> None:
    inputs = keras.Input(shape=(8, 4))
    model = keras.Model(inputs, Odd(name="odd")(layers.Dense(4, name="d")(inputs)))
    with pytest.raises(UnsupportedOpError) as info:
        from_keras(model)
    text = str(info.value)
    assert "node 'odd'" in text and "Odd" in text and "test_import_keras" in text
    assert "Supported:" in text and "Conv2D" in text
    imported = from_keras(model, allow_opaque=True)
    assert imported.opaque == ["odd"]
    e = imported.derive().evaluate()
    assert e.valid and tuple(e.output_shape) == (4, 4)


def test_export_keras_runs() -> None:
    from symshape.export import to_keras

    model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.35)
    lifted = symbolize(from_keras(model).spec, inputs={"input": ["H", "W"]}, tie={"filters": "width"})
    assert "width" in lifted.defaults
    binding = {"H": 64, "W": 80, "width": 8}
    code = to_keras(lifted.spec, binding)
    namespace: dict = {}
    exec(compile(code, "exported_keras.py", "exec"), namespace)  # the file symshape wrote, run as code
    built = namespace["build_model"]()
    out = built(np.zeros((2, 64, 80, 3), np.float32))
    e = symshape.derive(lifted.spec).evaluate({**lifted.defaults, **binding})
    assert tuple(out.shape[1:]) == tuple(e.output_shape)
    assert built.count_params() == e.params


class Subclassed(keras.Model):
    def __init__(self) -> None:
        super().__init__()
        self.dense = layers.Dense(3)

    def call(self, x):
        return self.dense(x)


def test_subclassed_model_is_refused_clearly() -> None:
    model = Subclassed()
    model(np.zeros((1, 4), np.float32))
    with pytest.raises(symshape.SpecError) as info:
        from_keras(model)
    assert "is a subclassed keras Model (class Subclassed)" in str(info.value)


@pytest.mark.parametrize("name", ["MobileNetV2", "EfficientNetB0"])
def test_application_with_free_sizes_agrees_with_keras(name) -> None:
    """An application built for any input size (input_shape=(None, None, 3)): its keras sizes are symbols of the
    imported spec, and symshape is valid exactly where keras runs, with the same output shape."""
    kwargs = {"alpha": 0.35} if name == "MobileNetV2" else {}
    model = getattr(keras.applications, name)(weights=None, include_top=False, input_shape=(None, None, 3),
                                              **kwargs)
    d = symshape.derive(from_keras(model).spec)
    assert d.free_symbols == ("N0", "N1")
    seen = {True: 0, False: 0}
    for h, w in [(1, 1), (2, 5), (7, 9), (16, 16), (31, 17), (33, 64), (40, 3), (64, 48)]:
        seen[agrees_at(model, d, h, w)] += 1
    assert seen[True]


def test_export_keras_spec_with_numeric_padding() -> None:
    """symshape's `padding: P` for keras convolutions is written as keras' ZeroPadding2D, then 'valid'."""
    from pathlib import Path

    from symshape.export import to_keras

    spec = Path(__file__).resolve().parent.parent / "examples" / "classic_symbolic.yaml"
    binding = {"I": 33, "F": 5, "S": 2, "P": 2, "D": 6}
    namespace: dict = {}
    exec(compile(to_keras(spec, binding), "classic.py", "exec"), namespace)  # the code symshape wrote
    built = namespace["build_model"]()
    e = symshape.derive(spec).evaluate(binding)
    assert tuple(built(np.zeros((1, 33, 33, 3), np.float32)).shape[1:]) == tuple(e.output_shape)
    assert built.count_params() == e.params
