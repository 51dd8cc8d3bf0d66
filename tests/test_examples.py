"""Every example derives and evaluates; the Transformer and LSTM examples match the frameworks' own modules."""

from __future__ import annotations

from pathlib import Path

import pytest

import symshape

EXAMPLES = Path(__file__).parent.parent / "examples"
BINDINGS = {
    "alexnet.yaml": {"H": 224, "W": 224}, "vgg16.yaml": {"H": 224, "W": 224},
    "resnet18.yaml": {"H": 224, "W": 224}, "resnet50.yaml": {"H": 224, "W": 224},
    "classic.yaml": {}, "classic_symbolic.yaml": {"I": 32, "F": 3, "S": 1, "P": 0, "D": 5}, "lenet5.yaml": {},
    "unet.yaml": {"C": 3, "H": 256, "W": 128, "K": 2},
    "lstm_classifier.yaml": {"T": 100, "V": 20000, "E": 128, "U": 64},
    "transformer_block.yaml": {"L": 50, "E": 512, "Hh": 8},
    "transformer_block_keras.yaml": {"L": 50, "E": 512, "Hh": 8},
    "automl_space.yaml": {"I": 224, "F1": 7, "S1": 2, "D1": 64, "F2": 3, "S2": 1, "D2": 128, "F3": 3, "S3": 2,
                          "D3": 256, "U": 512},
}


def test_every_example_is_covered() -> None:
    assert {p.name for p in EXAMPLES.glob("*.yaml")} == set(BINDINGS)


@pytest.mark.parametrize("name", sorted(BINDINGS))
def test_example_derives_and_evaluates(name: str) -> None:
    d = symshape.derive(EXAMPLES / name)
    e = d.evaluate(BINDINGS[name])
    assert e.valid, e.violations
    assert all(s >= 1 for s in e.output_shape)
    assert d.to_dict()["closed_form"]


def test_transformer_block_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    d = symshape.derive(EXAMPLES / "transformer_block.yaml")
    for e, heads in ((64, 8), (512, 8), (96, 3)):
        layer = torch.nn.TransformerEncoderLayer(d_model=e, nhead=heads, dim_feedforward=4 * e)
        got = d.evaluate(L=10, E=e, Hh=heads)
        assert got.params == sum(p.numel() for p in layer.parameters())
        out = layer(torch.zeros(10, 1, e))
        assert got.output_shape == (out.shape[0], out.shape[2])
    assert not d.evaluate(L=10, E=10, Hh=3).valid  # embed_dim % num_heads


def test_lstm_classifier_matches_keras() -> None:
    keras = pytest.importorskip("keras")
    d = symshape.derive(EXAMPLES / "lstm_classifier.yaml")
    t, v, e, u = 20, 500, 16, 8
    model = keras.Sequential([
        keras.Input((t,)), keras.layers.Embedding(v, e),
        keras.layers.Bidirectional(keras.layers.LSTM(u, return_sequences=True)), keras.layers.LSTM(u),
        keras.layers.Dropout(0.3), keras.layers.Dense(1, activation="sigmoid")])
    got = d.evaluate(T=t, V=v, E=e, U=u)
    assert got.params == model.count_params()
    assert got.output_shape == tuple(model.output_shape[1:])
