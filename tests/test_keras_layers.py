"""Every keras layer rule against real keras 3 (torch backend) on seeded random configurations.

Each layer is called eagerly on real arrays (batch of 1), so keras' own construction checks and
the backend's runtime checks both count; error-or-not must agree (a spec symshape refuses with one
of its errors counts as invalid), and when both accept, every output shape and the trainable and
non-trainable weight counts must be equal.

The comparison is two-sided only if the generators make cases keras refuses (a wrong input rank,
zero sizes, axes out of range, rates out of [0, 1]...): every kind outside NEVER_INVALID must get
both valid and invalid cases (the guard), and every keras kind symshape knows has a generator.
"""

from __future__ import annotations

import os
import random
import warnings

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import symshape  # noqa: E402
from symshape.errors import SymshapeError  # noqa: E402
from symshape.layers import rules  # noqa: E402
from tests.import_cases import IMPORT_ONLY, KERAS_GENERATORS, KERAS_NEVER_INVALID  # noqa: E402

CASES = int(os.environ.get("SYMSHAPE_KERAS_CASES", "60"))
GUARD_MIN_CASES = 40  # below this many cases per kind, a kind may miss its invalid cases by chance


def _ints(r: random.Random, n: int, lo: int, hi: int):  # noqa: ANN202
    if n == 1 or r.random() < 0.5:
        return r.randint(lo, hi)
    return [r.randint(lo, hi) for _ in range(n)]


def _spatial(r: random.Random, rank: int, hi: int) -> list[int]:
    return [r.randint(1, hi if rank < 3 else hi // 2) for _ in range(rank)]


def _wrong_rank(r: random.Random, shape: list[int], p: float) -> list[int]:
    """With probability p, one axis too many or too few: keras layers declare the input rank they take."""
    if r.random() >= p:
        return shape
    if len(shape) >= 2 and r.random() < 0.5:
        return shape[:-1]
    return [*shape, r.randint(1, 4)]


def _rate(r: random.Random) -> float:
    """A dropout rate, now and then outside keras' [0, 1]."""
    return r.choice([0.0, 0.2, 0.5, 1.0]) if r.random() < 0.9 else r.choice([-0.1, 1.5])


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
        shape = _wrong_rank(r, [*_spatial(r, rank, 8), r.randint(1, 5)], 0.15)
        return f"Global{kind}Pooling{rank}D", {"keepdims": r.random() < 0.5}, [shape]

    return gen


def pad_crop(rank: int, name: str, field: str):  # noqa: ANN201
    def gen(r: random.Random):  # noqa: ANN202
        lo = -1 if r.random() < 0.1 else 0  # keras refuses negative amounts
        if r.random() < 0.3:
            value = r.randint(lo, 3)
        elif rank == 1:
            value = [r.randint(lo, 3), r.randint(lo, 3)]
        else:
            value = [[r.randint(lo, 3), r.randint(lo, 3)] for _ in range(rank)]
        return f"{name}{rank}D", {field: value}, [_wrong_rank(r, [*_spatial(r, rank, 8), 2], 0.1)]

    return gen


def upsampling(rank: int):  # noqa: ANN201
    def gen(r: random.Random):  # noqa: ANN202
        size = _ints(r, rank, 0 if r.random() < 0.1 else 1, 3)  # "size should be a positive integer"
        return f"UpSampling{rank}D", {"size": size}, [_wrong_rank(r, [*_spatial(r, rank, 6), 2], 0.1)]

    return gen


def dense(r: random.Random):  # noqa: ANN201
    shape = [r.randint(1, 5) for _ in range(r.randint(0, 2))] + [r.randint(1, 20)]
    args = {"units": r.randint(1, 20) if r.random() < 0.93 else 0, "use_bias": r.random() < 0.7}
    if r.random() < 0.2:
        args["trainable"] = False
    return "Dense", args, [shape]


def _axis(r: random.Random, rank: int, many: bool) -> object:
    """A keras axis for a batched input of rank + 1 axes: counted from 1 or from -1 (never the batch axis),
    now and then out of range; with `many`, sometimes a list of axes."""
    if r.random() < 0.15:
        return r.choice([rank + 1, -rank - 2])  # out of range
    if many and rank > 1 and r.random() < 0.3:
        return sorted(r.sample(range(1, rank + 1), r.randint(1, rank)))
    a = r.randint(1, rank)
    return a if r.random() < 0.5 else a - rank - 1


def batchnorm(r: random.Random):  # noqa: ANN201
    shape = [r.randint(1, 5) for _ in range(r.randint(1, 3))]
    args = {"center": r.random() < 0.8, "scale": r.random() < 0.8}
    if r.random() < 0.4:
        args["trainable"] = False  # gamma and beta join the moving statistics as non-trainable
    if r.random() < 0.6:
        # keras 3 takes one integer axis (a list fails in int(axis)): the list cases must be refused
        args["axis"] = _axis(r, len(shape), many=r.random() < 0.3)
    return "BatchNormalization", args, [shape]


def layernorm(r: random.Random):  # noqa: ANN201
    shape = [r.randint(1, 5) for _ in range(r.randint(1, 3))]
    args = {"center": r.random() < 0.8, "scale": r.random() < 0.8, "rms_scaling": r.random() < 0.2}
    if r.random() < 0.3:
        args["trainable"] = False
    if r.random() < 0.6:
        args["axis"] = _axis(r, len(shape), many=True)
    if r.random() < 0.1:  # one of several axes out of range
        args["axis"] = [1, len(shape) + 1]
    return "LayerNormalization", args, [shape]


def groupnorm(r: random.Random):  # noqa: ANN201
    g = r.randint(1, 4)
    c = g * r.randint(1, 3) if r.random() < 0.8 else r.randint(1, 10)
    return "GroupNormalization", {"groups": g}, [[r.randint(1, 4), c]]


def embedding(r: random.Random):  # noqa: ANN201
    args = {"input_dim": r.randint(1, 30) if r.random() < 0.93 else 0,
            "output_dim": r.randint(1, 8) if r.random() < 0.93 else 0}
    if r.random() < 0.2:
        args["trainable"] = False
    return "Embedding", args, [[r.randint(1, 7) for _ in range(r.randint(1, 2))]]


def recurrent(kind: str):  # noqa: ANN201
    def gen(r: random.Random):  # noqa: ANN202
        args = {"units": r.randint(1, 8) if r.random() < 0.95 else 0, "return_sequences": r.random() < 0.5,
                "return_state": r.random() < 0.4, "use_bias": r.random() < 0.8}
        if kind == "GRU":
            args["reset_after"] = r.random() < 0.5
        return kind, args, [_wrong_rank(r, [r.randint(1, 6), r.randint(1, 7)], 0.1)]

    return gen


def bidirectional(r: random.Random):  # noqa: ANN201
    kind = r.choice(["SimpleRNN", "LSTM", "GRU"])
    inner = {"units": r.randint(1, 6), "return_sequences": r.random() < 0.5}
    if r.random() < 0.3:
        inner["return_state"] = True
    return "Bidirectional", {"layer": {kind: inner}, "merge_mode": r.choice(["concat", "sum", "mul", "ave"])}, \
        [_wrong_rank(r, [r.randint(1, 5), r.randint(1, 6)], 0.1)]


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
    if r.random() < 0.1:  # not a permutation of 1..3
        dims[r.randrange(3)] = r.choice([0, 4, dims[0] if dims[0] != dims[1] else dims[2]])
    return "Permute", {"dims": dims}, [shape]


def repeat_vector(r: random.Random):  # noqa: ANN201
    n = r.randint(1, 5) if r.random() < 0.93 else 0  # "n should be a positive integer"
    return "RepeatVector", {"n": n}, [_wrong_rank(r, [r.randint(1, 6)], 0.1)]


def prelu(r: random.Random):  # noqa: ANN201
    shape = [r.randint(1, 4) for _ in range(r.randint(1, 3))]
    shared = r.choice([None, [1], [len(shape)], list(range(1, len(shape) + 1)), [len(shape) + 1]])
    return "PReLU", {"shared_axes": shared}, [shape]


def spatial_dropout(rank: int):  # noqa: ANN201
    """SpatialDropout{rank}D takes exactly (spatial..., channels): one axis more or less is refused."""

    def gen(r: random.Random):  # noqa: ANN202
        return f"SpatialDropout{rank}D", {"rate": _rate(r)}, [_wrong_rank(r, [*_spatial(r, rank, 6), 3], 0.2)]

    return gen


def rate_layer(kind: str, field: str = "rate"):  # noqa: ANN201
    """Dropout, AlphaDropout, GaussianDropout, GaussianNoise: any input; only a rate (GaussianNoise: its
    stddev) outside [0, 1] is refused."""

    def gen(r: random.Random):  # noqa: ANN202
        return kind, {field: _rate(r)}, [[r.randint(1, 5) for _ in range(r.randint(1, 3))]]

    return gen


def softmax(r: random.Random):  # noqa: ANN201
    """keras Softmax: axis counts the batch axis; out of range is refused by the backend."""
    shape = [r.randint(1, 5) for _ in range(r.randint(1, 3))]
    full = len(shape) + 1
    axis = r.randint(-full, full - 1) if r.random() < 0.85 else r.choice([full, -full - 1])
    return "Softmax", {"axis": axis}, [shape]


def activation(r: random.Random):  # noqa: ANN201
    """keras Activation by name: an unknown name is refused ("Could not interpret activation function")."""
    name = r.choice(["relu", "tanh", "sigmoid", "softmax", "gelu", "silu", "linear", "elu", "selu", "relu6"]) \
        if r.random() < 0.9 else r.choice(["nonsense", "causal", "Relu"])
    return "Activation", {"activation": name}, [[r.randint(1, 5) for _ in range(r.randint(1, 3))]]


def scalars(kind: str, good: dict, bad: list[dict]):  # noqa: ANN201
    def gen(r: random.Random):  # noqa: ANN202
        args = dict(r.choice(bad)) if r.random() < 0.2 else dict(good)
        return kind, args, [[r.randint(1, 5) for _ in range(r.randint(1, 3))]]

    return gen


def shape_free(kind: str, args: dict | None = None):  # noqa: ANN201
    def gen(r: random.Random):  # noqa: ANN202
        return kind, dict(args or {}), [[r.randint(1, 5) for _ in range(r.randint(1, 3))]]

    return gen


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
    "RepeatVector": repeat_vector, "PReLU": prelu, "Softmax": softmax, "Activation": activation,
    "Dropout": rate_layer("Dropout"), "AlphaDropout": rate_layer("AlphaDropout"),
    "GaussianDropout": rate_layer("GaussianDropout"), "GaussianNoise": rate_layer("GaussianNoise", "stddev"),
}
# Kinds keras accepts on every input symshape models (a batch axis, then any axes of size >= 1), with
# the reason; their scalar arguments stay in range here (symshape does not check those, see the report).
NEVER_INVALID = {
    "Flatten": "any rank flattens (a 1-d input stays as it is)", "Identity": "no arguments, any rank",
    "Masking": "any mask_value, any rank", "ELU": "any alpha (negative too), any rank",
}
SHAPE_FREE_ARGS = {"Flatten": {}, "Identity": {}, "Masking": {"mask_value": 0.0}, "ELU": {"alpha": -0.5}}
for _kind, _args in SHAPE_FREE_ARGS.items():
    GENERATORS[_kind] = shape_free(_kind, _args)
REFUSED_SCALARS = {  # any rank, but these argument values are refused ("cannot be a negative value")
    "ReLU": ({"max_value": 6.0, "threshold": 0.5}, [{"max_value": -1.0}, {"negative_slope": -0.1},
                                                     {"threshold": -0.1}]),
    "LeakyReLU": ({"negative_slope": 0.2}, [{"negative_slope": -0.1}]),
    "ActivityRegularization": ({"l1": 0.01}, [{"l1": -0.1}, {"l2": -0.1}]),
}
for _kind, (_good, _bad) in REFUSED_SCALARS.items():
    GENERATORS[_kind] = scalars(_kind, _good, _bad)
for _rank in (1, 2, 3):
    GENERATORS[f"Conv{_rank}D"] = conv(_rank)
    GENERATORS[f"Conv{_rank}DTranspose"] = conv_transpose(_rank)
    for _kind in ("Max", "Average"):
        GENERATORS[f"{_kind}Pooling{_rank}D"] = pool(_rank, _kind)
        GENERATORS[f"Global{_kind}Pooling{_rank}D"] = global_pool(_rank, _kind)
    GENERATORS[f"ZeroPadding{_rank}D"] = pad_crop(_rank, "ZeroPadding", "padding")
    GENERATORS[f"Cropping{_rank}D"] = pad_crop(_rank, "Cropping", "cropping")
    GENERATORS[f"UpSampling{_rank}D"] = upsampling(_rank)
    GENERATORS[f"SpatialDropout{_rank}D"] = spatial_dropout(_rank)
    if _rank < 3:
        GENERATORS[f"DepthwiseConv{_rank}D"] = depthwise(_rank, False)
        GENERATORS[f"SeparableConv{_rank}D"] = depthwise(_rank, True)
for _kind in ("SimpleRNN", "LSTM", "GRU"):
    GENERATORS[_kind] = recurrent(_kind)
for _name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
    GENERATORS[_name] = merge(_name)
GENERATORS.update(KERAS_GENERATORS)  # Rescaling, Normalization (tests/import_cases.py)
NEVER_INVALID.update(KERAS_NEVER_INVALID)


def _takes_data_format(kind: str) -> bool:
    if kind in ("ZeroPadding1D", "Cropping1D", "UpSampling1D", "SpatialDropout1D"):
        return False
    return any(kind.startswith(p) for p in ("Conv", "DepthwiseConv", "SeparableConv", "MaxPooling", "AveragePooling",
                                            "GlobalMaxPooling", "GlobalAveragePooling", "ZeroPadding", "Cropping",
                                            "UpSampling", "SpatialDropout"))


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
    try:
        e = symshape.derive(spec, cache=False).evaluate()
    except SymshapeError as error:  # refused outright (a wrong input rank, an axis out of range...)
        if "unknown argument" in str(error):  # the test's vocabulary, not a verdict on the layer
            raise
        return False, [], 0, 0
    layer = e.layers[0]
    return e.valid, [tuple(s) for s in layer.output_shapes], layer.trainable, layer.non_trainable


def _torch_backend_layer_norm_fails(args: dict, shape: list[int]) -> bool:
    """keras' torch backend hands contiguous axes to torch's layer_norm, which normalizes trailing axes only:
    contiguous axes that stop before the last one fail there (TF and JAX accept them); rms_scaling takes
    another path."""
    raw = args.get("axis", -1)
    axes = sorted(a if a > 0 else a + len(shape) + 1 for a in (raw if isinstance(raw, list) else [raw]))
    if args.get("rms_scaling") or not all(1 <= a <= len(shape) for a in axes):
        return False
    return axes == list(range(axes[0], axes[-1] + 1)) and axes[-1] != len(shape)


def test_every_keras_kind_has_a_generator() -> None:
    assert sorted(r.name for r in rules("keras") if r.name not in GENERATORS and r.name not in IMPORT_ONLY) == []
    assert set(NEVER_INVALID) <= set(GENERATORS)
    assert all(reason.strip() for reason in NEVER_INVALID.values())  # each exemption says why


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
        if kind == "AveragePooling3D" and args["padding"] == "same" and len(spatial) == 3 and \
                any(x < p for x, p in zip(spatial, np.broadcast_to(args["pool_size"], 3))):
            # keras' torch backend hands symmetric 'same' padding to torch's avg_pool3d, which wants the
            # unpadded input at least as large as the pool; keras itself (TF, JAX backends) accepts it
            continue
        if kind == "LayerNormalization" and _torch_backend_layer_norm_fails(args, shapes[0]):
            continue
        expected = keras_result(kind, args, shapes)
        got = ours(kind, args, shapes)
        where = f"case {i}: {kind}({args}) on {shapes}"
        assert got[0] == expected[0], f"{where}: symshape valid={got[0]}, keras ok={expected[0]}"
        seen[expected[0]] += 1
        if expected[0]:
            assert got[1] == expected[1], f"{where}: shapes {got[1]} != keras {expected[1]}"
            assert got[2:] == expected[2:], f"{where}: (trainable, non-trainable) {got[2:]} != keras {expected[2:]}"
    print(f"{kind}: {seen[True]} valid, {seen[False]} invalid")  # shown with -rP
    assert seen[True] > 0, f"{kind}: no valid configuration was generated"
    if kind not in NEVER_INVALID and CASES >= GUARD_MIN_CASES:
        # the guard: a rule that accepts too much passes a sample without invalid cases
        assert seen[False] > 0, f"{kind}: no invalid configuration was generated (one-sided comparison)"
    if kind in NEVER_INVALID:  # the list stays honest: the framework refused none of its cases
        assert seen[False] == 0, f"{kind} is listed as never invalid ({NEVER_INVALID[kind]}), yet was refused"


BATCHNORM_TABLE = [  # (arguments, input): frozen counts and other axes, each compared with keras itself
    ({"trainable": False}, [3, 4]),
    ({"trainable": False, "center": False}, [5]),
    ({"trainable": False, "scale": False, "axis": 1}, [3, 4, 5]),
    ({"axis": 1}, [3, 4, 5]),
    ({"axis": 2}, [3, 4, 5]),
    ({"axis": -2}, [3, 4, 5]),
    ({"axis": -1, "trainable": False}, [3, 4, 5]),
    ({"axis": 3}, [3, 4]),  # out of range
    ({"axis": [1]}, [3, 4]),  # keras 3 takes one integer
    ({"axis": [1, 2]}, [3, 4, 5]),
]


@pytest.mark.parametrize(("args", "shape"), BATCHNORM_TABLE)
def test_batchnorm_frozen_and_axes_match_keras(args: dict, shape: list[int]) -> None:
    expected = keras_result("BatchNormalization", args, [shape])
    got = ours("BatchNormalization", args, [shape])
    assert got[0] == expected[0]
    assert got[1:] == expected[1:]
