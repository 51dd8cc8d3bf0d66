"""The document's convention notes: each appears where a layer's arguments make it matter, and what each
states is checked against real torch and keras (sizes by forward passes or keras' own shape inference,
parameter counts by the frameworks' layers)."""

from __future__ import annotations

import itertools

import pytest

import symshape
from symshape.docs.conventions import notes

torch = pytest.importorskip("torch", reason="torch is not installed: the notes are checked against real torch")
keras = pytest.importorskip("keras", reason="keras is not installed: the notes are checked against real keras")

NOTE_CASES = [  # framework, input, layer, a fragment of the note it gets
    ("keras", ["H", "W", 3], {"Conv2D": {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}},
     "each output size is ceil(x/s)"),
    ("torch", [3, "H", "W"], {"Conv2d": {"out_channels": 4, "kernel_size": 3, "padding": "same"}},
     "torch accepts it only with stride 1"),
    ("torch", [3, "H", "W"], {"MaxPool2d": {"kernel_size": 3, "stride": 2, "ceil_mode": True}},
     "one fewer when (out − 1)·s ≥ x + p"),
    ("keras", ["H", "W", 3], {"MaxPooling2D": {"pool_size": 2}}, "strides default to pool_size"),
    ("keras", ["L", 3], {"Conv1D": {"filters": 4, "kernel_size": 3, "padding": "causal"}}, "zeros on the left only"),
    ("torch", [3, "H", "W"], {"Conv2d": {"out_channels": 4, "kernel_size": 3, "dilation": 2}}, "E = d·(k − 1) + 1"),
    ("keras", ["H", "W", 4], {"Conv2D": {"filters": 4, "kernel_size": 3, "dilation_rate": "D"}}, "E = d·(k − 1) + 1"),
    ("torch", [4, "H", "W"], {"Conv2d": {"out_channels": 8, "kernel_size": 3, "groups": 2}}, "C_out·(C_in/g)"),
    ("torch", [3, "H", "W"], {"ConvTranspose2d": {"out_channels": 4, "kernel_size": 3, "stride": 2}},
     "(x − 1)·s − 2p + d·(k − 1) + output_padding + 1"),
    ("keras", ["H", "W", 3], {"Conv2DTranspose": {"filters": 4, "kernel_size": 3, "strides": 2}},
     "x·s + max(E − s, 0)"),
    ("keras", ["H", "W", 3], {"BatchNormalization": {}}, "moving mean and variance (2·C) non-trainable"),
    ("torch", [3, "H", "W"], {"BatchNorm2d": {}}, "are buffers"),
    ("torch", ["T", 8], {"LSTM": {"hidden_size": 4}}, "torch has two per gate (b_ih and b_hh: 8·H), keras one"),
    ("keras", ["T", 8], {"GRU": {"units": 4, "reset_after": False}}, "one bias per gate (3·U)"),
    ("keras", ["T", 8], {"GRU": {"units": 4}}, "two per gate (6·U)"),
    ("keras", ["H", "W", 3], {"Flatten": {}}, "keras flattens channels-last (H, W, C)"),
]


@pytest.mark.parametrize(("framework", "shape", "layer", "fragment"), NOTE_CASES)
def test_note_where_it_matters(framework: str, shape: list, layer: dict, fragment: str) -> None:
    d = symshape.derive({"framework": framework, "input": shape, "layers": [layer]})
    assert any(fragment in n for n in notes(d.layers[0])), notes(d.layers[0])
    md = symshape.document({"framework": framework, "input": shape, "layers": [layer]}, format="markdown")
    assert "- Convention: " in md


PLAIN = [("torch", [3, "H", "W"], {"Conv2d": {"out_channels": 4, "kernel_size": 3}}),
         ("keras", ["H", "W", 3], {"Conv2D": {"filters": 4, "kernel_size": 3}}),
         ("torch", [3, "H", "W"], {"MaxPool2d": {"kernel_size": 2}}),
         ("torch", [8], {"Linear": {"out_features": 4}})]


@pytest.mark.parametrize(("framework", "shape", "layer"), PLAIN)
def test_no_note_where_nothing_differs(framework: str, shape: list, layer: dict) -> None:
    d = symshape.derive({"framework": framework, "input": shape, "layers": [layer]})
    assert notes(d.layers[0]) == []


# ---------------------------------------------------------------- what the notes say, against the frameworks


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def test_keras_same_is_ceil_x_over_s() -> None:
    for x, s, k in itertools.product(range(1, 14), range(1, 5), (1, 2, 3, 5)):
        out = keras.layers.Conv2D(2, k, strides=s, padding="same").compute_output_shape((1, x, x + 1, 3))
        assert out[1:3] == (ceil_div(x, s), ceil_div(x + 1, s)), (x, s, k)
        pooled = keras.layers.MaxPooling2D(k, strides=s, padding="same").compute_output_shape((1, x, x, 3))
        assert pooled[1] == ceil_div(x, s)


def test_torch_same_keeps_the_size_and_refuses_strides() -> None:
    for k, d in itertools.product((1, 2, 3, 4), (1, 2)):
        conv = torch.nn.Conv2d(1, 1, k, padding="same", dilation=d)
        assert conv(torch.zeros(1, 1, 9, 10)).shape[2:] == (9, 10)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        torch.nn.Conv2d(1, 1, 3, stride=2, padding="same")


def test_torch_ceil_mode_last_window_rule() -> None:
    """floor((x + 2p − E + s − 1)/s) + 1, one fewer when (out − 1)·s ≥ x + p: as torch computes it."""
    seen_rule = False
    for x, k, s, d in itertools.product(range(1, 16), (1, 2, 3), (1, 2, 3), (1, 2)):
        for p in range(0, k // 2 + 1):
            e = d * (k - 1) + 1
            if x + 2 * p < e:
                continue
            out = (x + 2 * p - e + s - 1) // s + 1
            if (out - 1) * s >= x + p:
                out -= 1
                seen_rule = True
            pool = torch.nn.MaxPool2d(k, stride=s, padding=p, dilation=d, ceil_mode=True)
            assert pool(torch.zeros(1, 1, x, x)).shape[-1] == out, (x, k, s, p, d)
    assert seen_rule  # the grid reaches the last-window case


def test_transposed_convolution_formulas() -> None:
    for x, k, s, d, p, op in itertools.product((1, 4, 7), (1, 3, 4), (1, 2, 3), (1, 2), (0, 1), (0, 1)):
        if op >= max(s, d) or p > d * (k - 1):
            continue  # torch requires output_padding < stride or dilation
        conv = torch.nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=op, dilation=d)
        assert conv(torch.zeros(1, 1, x, x)).shape[-1] == (x - 1) * s - 2 * p + d * (k - 1) + op + 1
    for x, k, s in itertools.product((1, 4, 7), (1, 2, 3, 5), (1, 2, 3)):
        e = k
        valid = keras.layers.Conv2DTranspose(1, k, strides=s).compute_output_shape((1, x, x, 1))
        same = keras.layers.Conv2DTranspose(1, k, strides=s, padding="same").compute_output_shape((1, x, x, 1))
        assert valid[1] == x * s + max(e - s, 0) and same[1] == x * s
        for op in range(s):
            for padding, q in (("valid", 0), ("same", e // 2)):
                layer = keras.layers.Conv2DTranspose(1, k, strides=s, padding=padding, output_padding=op)
                assert layer.compute_output_shape((1, x, x, 1))[1] == (x - 1) * s + e - 2 * q + op


def test_groups_and_dilation() -> None:
    for cin, cout, g, k in ((4, 8, 2, 3), (6, 6, 3, 1), (8, 4, 4, 5)):
        conv = torch.nn.Conv2d(cin, cout, k, groups=g)
        assert conv.weight.numel() == cout * (cin // g) * k * k
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        torch.nn.Conv2d(5, 8, 3, groups=2)
    for x, k, d in itertools.product((9, 12), (2, 3), (1, 2, 3)):
        out = torch.nn.Conv2d(1, 1, k, dilation=d)(torch.zeros(1, 1, x, x)).shape[-1]
        assert out == x - (d * (k - 1) + 1) + 1


def _keras_counts(layer, shape: tuple) -> tuple[int, int]:  # noqa: ANN001 - a keras layer
    layer.build(shape)
    trainable = sum(int(w.numpy().size) for w in layer.trainable_weights)
    return trainable, sum(int(w.numpy().size) for w in layer.non_trainable_weights)


def test_recurrent_biases_and_batch_norm_statistics() -> None:
    i, h = 8, 4
    lstm = torch.nn.LSTM(i, h)
    assert sum(p.numel() for p in lstm.parameters()) == 4 * h * (i + h) + 8 * h
    assert _keras_counts(keras.layers.LSTM(h), (None, 5, i)) == (4 * h * (i + h) + 4 * h, 0)
    gru = torch.nn.GRU(i, h)
    assert sum(p.numel() for p in gru.parameters()) == 3 * h * (i + h) + 6 * h
    assert _keras_counts(keras.layers.GRU(h), (None, 5, i)) == (3 * h * (i + h) + 6 * h, 0)
    assert _keras_counts(keras.layers.GRU(h, reset_after=False), (None, 5, i)) == (3 * h * (i + h) + 3 * h, 0)
    c = 6
    assert _keras_counts(keras.layers.BatchNormalization(), (None, 5, 5, c)) == (2 * c, 2 * c)
    bn = torch.nn.BatchNorm2d(c)
    assert sum(p.numel() for p in bn.parameters()) == 2 * c
    assert sorted(n for n, _ in bn.named_buffers()) == ["num_batches_tracked", "running_mean", "running_var"]
