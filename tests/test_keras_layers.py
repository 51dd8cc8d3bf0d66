"""Every keras layer rule against real keras 3 (torch backend) on seeded random configurations.

Each layer is called eagerly on real arrays (batch of 1), so keras' own construction checks and
the backend's runtime checks both count; error-or-not must agree, and when both accept, every
output shape and the trainable and non-trainable weight counts must be equal.
"""

from __future__ import annotations

import os
import random
import warnings

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import symshape  # noqa: E402

CASES = int(os.environ.get("SYMSHAPE_KERAS_CASES", "60"))


def _ints(r: random.Random, n: int, lo: int, hi: int):  # noqa: ANN202
    if n == 1 or r.random() < 0.5:
        return r.randint(lo, hi)
    return [r.randint(lo, hi) for _ in range(n)]


def _spatial(r: random.Random, rank: int, hi: int) -> list[int]:
    return [r.randint(1, hi if rank < 3 else hi // 2) for _ in range(rank)]


def conv(rank: int):  # noqa: ANN201
    def gen(r: random.Random):  # noqa: ANN202
        g = r.choice([1, 1, 2, 3])
        c = g * r.randint(1, 3)
        args = {"filters": g * r.randint(1, 3), "kernel_size": _ints(r, rank, 1, 4),
                "padding": r.choice(["valid", "same"] + (["causal"] if rank == 1 else [])), "groups": g,
                "use_bias": r.random() < 0.7}
        if r.random() < 0.5:
            args["strides"] = _ints(r, rank, 1, 3)
        if r.random() < 0.4:
            args["dilation_rate"] = _ints(r, rank, 1, 3)
        return f"Conv{rank}D", args, [[*_spatial(r, rank, 16), c]]

    return gen


def conv_transpose(rank: int):  # noqa: ANN201
    def gen(r: random.Random):  # noqa: ANN202
        args = {"filters": r.randint(1, 4), "kernel_size": _ints(r, rank, 1, 4), "strides": _ints(r, rank, 1, 3),
                "padding": r.choice(["valid", "same"])}
        if r.random() < 0.5:
            args["output_padding"] = _ints(r, rank, 0, 2)
        if r.random() < 0.3:
            args["dilation_rate"] = _ints(r, rank, 1, 2)
        return f"Conv{rank}DTranspose", args, [[*_spatial(r, rank, 10), r.randint(1, 3)]]

    return gen


def depthwise(rank: int, separable: bool):  # noqa: ANN201
    def gen(r: random.Random):  # noqa: ANN202
        args = {"kernel_size": _ints(r, rank, 1, 4), "strides": _ints(r, rank, 1, 3),
                "padding": r.choice(["valid", "same"]), "depth_multiplier": r.randint(1, 3)}
        if r.random() < 0.3:
            args["dilation_rate"] = _ints(r, rank, 1, 2)
        if separable:
            args["filters"] = r.randint(1, 5)
        name = f"{'SeparableConv' if separable else 'DepthwiseConv'}{rank}D"
        return name, args, [[*_spatial(r, rank, 14), r.randint(1, 4)]]

    return gen


def pool(rank: int, kind: str):  # noqa: ANN201
    def gen(r: random.Random):  # noqa: ANN202
        args = {"pool_size": _ints(r, rank, 1, 4), "padding": r.choice(["valid", "same"])}
        if r.random() < 0.6:
            args["strides"] = _ints(r, rank, 1, 3)
        return f"{kind}Pooling{rank}D", args, [[*_spatial(r, rank, 16), r.randint(1, 3)]]

    return gen


def global_pool(rank: int, kind: str):  # noqa: ANN201
    def gen(r: random.Random):  # noqa: ANN202
        return f"Global{kind}Pooling{rank}D", {"keepdims": r.random() < 0.5}, [[*_spatial(r, rank, 8), r.randint(1, 5)]]

    return gen


def pad_crop(rank: int, name: str, field: str):  # noqa: ANN201
    def gen(r: random.Random):  # noqa: ANN202
        if r.random() < 0.3:
            value = r.randint(0, 3)
        elif rank == 1:
            value = [r.randint(0, 3), r.randint(0, 3)]
        else:
            value = [[r.randint(0, 3), r.randint(0, 3)] for _ in range(rank)]
        return f"{name}{rank}D", {field: value}, [[*_spatial(r, rank, 8), 2]]

    return gen


def upsampling(rank: int):  # noqa: ANN201
    def gen(r: random.Random):  # noqa: ANN202
        return f"UpSampling{rank}D", {"size": _ints(r, rank, 1, 3)}, [[*_spatial(r, rank, 6), 2]]

    return gen


def dense(r: random.Random):  # noqa: ANN201
    shape = [r.randint(1, 5) for _ in range(r.randint(0, 2))] + [r.randint(1, 20)]
    return "Dense", {"units": r.randint(1, 20), "use_bias": r.random() < 0.7}, [shape]


def batchnorm(r: random.Random):  # noqa: ANN201
    return "BatchNormalization", {"center": r.random() < 0.8, "scale": r.random() < 0.8}, \
        [[r.randint(1, 5), r.randint(1, 9)]]


def layernorm(r: random.Random):  # noqa: ANN201
    return "LayerNormalization", {"center": r.random() < 0.8, "scale": r.random() < 0.8,
                                  "rms_scaling": r.random() < 0.2}, [[r.randint(1, 5), r.randint(1, 9)]]


def groupnorm(r: random.Random):  # noqa: ANN201
    g = r.randint(1, 4)
    c = g * r.randint(1, 3) if r.random() < 0.8 else r.randint(1, 10)
    return "GroupNormalization", {"groups": g}, [[r.randint(1, 4), c]]


def embedding(r: random.Random):  # noqa: ANN201
    return "Embedding", {"input_dim": r.randint(1, 30), "output_dim": r.randint(1, 8)}, [[r.randint(1, 7)]]


def recurrent(kind: str):  # noqa: ANN201
    def gen(r: random.Random):  # noqa: ANN202
        args = {"units": r.randint(1, 8), "return_sequences": r.random() < 0.5, "return_state": r.random() < 0.4,
                "use_bias": r.random() < 0.8}
        if kind == "GRU":
            args["reset_after"] = r.random() < 0.5
        return kind, args, [[r.randint(1, 6), r.randint(1, 7)]]

    return gen


def bidirectional(r: random.Random):  # noqa: ANN201
    kind = r.choice(["SimpleRNN", "LSTM", "GRU"])
    inner = {"units": r.randint(1, 6), "return_sequences": r.random() < 0.5}
    if r.random() < 0.3:
        inner["return_state"] = True
    return "Bidirectional", {"layer": {kind: inner}, "merge_mode": r.choice(["concat", "sum", "mul", "ave"])}, \
        [[r.randint(1, 5), r.randint(1, 6)]]


def mha(r: random.Random):  # noqa: ANN201
    args = {"num_heads": r.randint(1, 3), "key_dim": r.randint(1, 5), "use_bias": r.random() < 0.7}
    if r.random() < 0.3:
        args["value_dim"] = r.randint(1, 5)
    if r.random() < 0.3:
        args["output_shape"] = r.randint(1, 6)
    tq, dq, tv, dv = r.randint(1, 5), r.randint(1, 6), r.randint(1, 5), r.randint(1, 6)
    shapes = [[tq, dq], [tv, dv]]
    if r.random() < 0.4:
        shapes.append([tv if r.random() < 0.85 else tv + 1, r.randint(1, 6)])
    return "MultiHeadAttention", args, shapes


def reshape(r: random.Random):  # noqa: ANN201
    a, b = r.randint(1, 4), r.randint(1, 4)
    target = r.choice([[a * b], [b, a], [-1, a], [a, -1], [a + 1, b]])
    return "Reshape", {"target_shape": target}, [[a, b]]


def permute(r: random.Random):  # noqa: ANN201
    shape = [r.randint(1, 5) for _ in range(3)]
    dims = [1, 2, 3]
    r.shuffle(dims)
    return "Permute", {"dims": dims}, [shape]


def merge(name: str):  # noqa: ANN201
    def gen(r: random.Random):  # noqa: ANN202
        shape = [r.randint(1, 4), r.randint(1, 4)]
        other = list(shape) if r.random() < 0.8 else [shape[0], shape[1] + 1]
        n = 2 if name == "Subtract" else r.randint(2, 3)
        return name, {}, [shape, other] + [shape] * (n - 2)

    return gen


def concatenate(r: random.Random):  # noqa: ANN201
    axis = r.choice([-1, 1, 2])
    a = [r.randint(1, 4), r.randint(1, 4)]
    b = list(a)
    b[axis - 1 if axis > 0 else -1] = r.randint(1, 4)
    if r.random() < 0.15:
        b[0 if (axis in (-1, 2)) else 1] += 1
    return "Concatenate", {"axis": axis}, [a, b]


GENERATORS = {
    "Dense": dense, "BatchNormalization": batchnorm, "LayerNormalization": layernorm,
    "GroupNormalization": groupnorm, "Embedding": embedding, "Bidirectional": bidirectional,
    "MultiHeadAttention": mha, "Reshape": reshape, "Permute": permute, "Concatenate": concatenate,
    "Flatten": lambda r: ("Flatten", {}, [[r.randint(1, 4) for _ in range(r.randint(1, 3))]]),
    "RepeatVector": lambda r: ("RepeatVector", {"n": r.randint(1, 5)}, [[r.randint(1, 6)]]),
    "Dropout": lambda r: ("Dropout", {"rate": 0.5}, [[r.randint(1, 4), 3]]),
    "PReLU": lambda r: ("PReLU", {"shared_axes": r.choice([None, [1]])}, [[r.randint(1, 4), r.randint(1, 4)]]),
}
for _rank in (1, 2, 3):
    GENERATORS[f"Conv{_rank}D"] = conv(_rank)
    GENERATORS[f"Conv{_rank}DTranspose"] = conv_transpose(_rank)
    for _kind in ("Max", "Average"):
        GENERATORS[f"{_kind}Pooling{_rank}D"] = pool(_rank, _kind)
        GENERATORS[f"Global{_kind}Pooling{_rank}D"] = global_pool(_rank, _kind)
    GENERATORS[f"ZeroPadding{_rank}D"] = pad_crop(_rank, "ZeroPadding", "padding")
    GENERATORS[f"Cropping{_rank}D"] = pad_crop(_rank, "Cropping", "cropping")
    GENERATORS[f"UpSampling{_rank}D"] = upsampling(_rank)
    if _rank < 3:
        GENERATORS[f"DepthwiseConv{_rank}D"] = depthwise(_rank, False)
        GENERATORS[f"SeparableConv{_rank}D"] = depthwise(_rank, True)
for _kind in ("SimpleRNN", "LSTM", "GRU"):
    GENERATORS[_kind] = recurrent(_kind)
for _name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
    GENERATORS[_name] = merge(_name)


def _takes_data_format(kind: str) -> bool:
    if kind in ("ZeroPadding1D", "Cropping1D", "UpSampling1D"):
        return False
    return any(kind.startswith(p) for p in ("Conv", "DepthwiseConv", "SeparableConv", "MaxPooling", "AveragePooling",
                                            "GlobalMaxPooling", "GlobalAveragePooling", "ZeroPadding", "Cropping",
                                            "UpSampling"))


def _keras_value(v: object) -> object:
    return tuple(_keras_value(x) for x in v) if isinstance(v, list) else v


def keras_result(kind: str, args: dict, shapes: list[list[int]]) -> tuple[bool, list, int, int]:
    kw = {k: _keras_value(v) for k, v in args.items()}
    if kind == "Bidirectional":
        (inner, inner_args), = args["layer"].items()
        kw["layer"] = getattr(keras.layers, inner)(**{k: _keras_value(v) for k, v in inner_args.items()})
    if kind == "Embedding":
        xs = [np.zeros((1, *s), dtype="int32") for s in shapes]
    else:
        xs = [np.zeros((1, *s), dtype="float32") for s in shapes]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            layer = getattr(keras.layers, kind)(**kw)
            if kind in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"):
                out = layer(xs)
            elif kind == "MultiHeadAttention":
                out = layer(xs[0], xs[1], *( [xs[2]] if len(xs) > 2 else []))
            else:
                out = layer(xs[0])
        except Exception:  # noqa: BLE001 - any refusal counts as "invalid"
            return False, [], 0, 0
    outs = out if isinstance(out, (list, tuple)) else [out]
    got = [tuple(int(d) for d in o.shape[1:]) for o in outs]
    trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights)
    return all(d >= 1 for s in got for d in s), got, trainable, non_trainable


def ours(kind: str, args: dict, shapes: list[list[int]]) -> tuple[bool, list, int, int]:
    if len(shapes) == 1:
        spec = {"framework": "keras", "input": shapes[0], "layers": [{kind: args}]}
    else:
        names = [f"x{i}" for i in range(len(shapes))]
        spec = {"framework": "keras", "inputs": dict(zip(names, shapes)), "layers": [{kind: args, "inputs": names}]}
    e = symshape.derive(spec, cache=False).evaluate()
    layer = e.layers[0]
    return e.valid, [tuple(s) for s in layer.output_shapes], layer.trainable, layer.non_trainable


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_layer_matches_keras(kind: str) -> None:
    rng = random.Random(f"keras-{kind}")
    seen = {True: 0, False: 0}
    for i in range(CASES):
        _, args, shapes = GENERATORS[kind](rng)
        if _takes_data_format(kind) and rng.random() < 0.3:  # the same layer channels-first
            args = {**args, "data_format": "channels_first"}
            shapes = [[s[-1], *s[:-1]] for s in shapes]
        spatial = shapes[0][1:] if args.get("data_format") == "channels_first" else shapes[0][:3]
        if kind == "AveragePooling3D" and args["padding"] == "same" and \
                any(x < p for x, p in zip(spatial, np.broadcast_to(args["pool_size"], 3))):
            # keras' torch backend hands symmetric 'same' padding to torch's avg_pool3d, which wants the
            # unpadded input at least as large as the pool; keras itself (TF, JAX backends) accepts it
            continue
        expected = keras_result(kind, args, shapes)
        got = ours(kind, args, shapes)
        where = f"case {i}: {kind}({args}) on {shapes}"
        assert got[0] == expected[0], f"{where}: symshape valid={got[0]}, keras ok={expected[0]}"
        seen[expected[0]] += 1
        if expected[0]:
            assert got[1] == expected[1], f"{where}: shapes {got[1]} != keras {expected[1]}"
            assert got[2:] == expected[2:], f"{where}: (trainable, non-trainable) {got[2:]} != keras {expected[2:]}"
    assert seen[True] > 0, f"{kind}: no valid configuration was generated"
