"""Seeded random configurations of torch layers, valid and invalid, in torch's own vocabulary.

Each generator returns (kind, args, input_shapes): `args` is both our spec's argument mapping
and torch's constructor keywords (lists become tuples), so a disagreement can only come from
the rule, never from a translation. Input shapes exclude the batch axis (the test adds one).

Every kind that torch can refuse gets refused cases too (a wrong input rank, an empty input axis
where torch raises, an empty output, an index out of range...): a rule that accepts too much must
fail the comparison. NEVER_INVALID lists, with the reason, the kinds torch accepts on any input of
a rank symshape models with all sizes >= 1; the comparison checks that every other kind got
invalid cases.
"""

from __future__ import annotations

import random
from collections.abc import Callable

Case = tuple[str, dict, list[list[int]]]


def _ints(r: random.Random, n: int, lo: int, hi: int) -> int | list[int]:
    if n == 1 or r.random() < 0.5:
        return r.randint(lo, hi)
    return [r.randint(lo, hi) for _ in range(n)]


def _spatial(r: random.Random, rank: int, hi: int) -> list[int]:
    hi = {1: hi, 2: hi, 3: max(4, hi // 2)}[rank]
    return [r.randint(1, hi) for _ in range(rank)]


def conv(rank: int) -> Callable[[random.Random], Case]:
    def gen(r: random.Random) -> Case:
        groups = r.choice([1, 1, 2, 3, 4])
        c = groups * r.randint(1, 3) if r.random() < 0.85 else r.randint(1, 8)
        out = groups * r.randint(1, 3) if r.random() < 0.85 else r.randint(1, 8)
        args: dict = {"in_channels": c, "out_channels": out, "kernel_size": _ints(r, rank, 1, 5)}
        same = r.random() < 0.15
        if same:
            args["padding"] = "same"
            if r.random() < 0.5:
                args["stride"] = r.choice([1, 2])
        else:
            if r.random() < 0.7:
                args["stride"] = _ints(r, rank, 1, 3)
            args["padding"] = r.choice(["valid", _ints(r, rank, 0, 3)])
        if r.random() < 0.5:
            args["dilation"] = _ints(r, rank, 1, 3)
        args["groups"] = groups
        args["bias"] = r.random() < 0.7
        args["padding_mode"] = r.choice(["zeros", "zeros", "reflect", "replicate", "circular"])
        if r.random() < 0.1:  # a wrong in_channels
            args["in_channels"] = c + 1
        return f"Conv{rank}d", args, [[c, *_spatial(r, rank, 20)]]

    return gen


def conv_transpose(rank: int) -> Callable[[random.Random], Case]:
    def gen(r: random.Random) -> Case:
        groups = r.choice([1, 1, 2, 3])
        c = groups * r.randint(1, 3) if r.random() < 0.9 else r.randint(1, 6)
        out = groups * r.randint(1, 3) if r.random() < 0.9 else r.randint(1, 6)
        args: dict = {"in_channels": c, "out_channels": out, "kernel_size": _ints(r, rank, 1, 4),
                      "stride": _ints(r, rank, 1, 3), "padding": _ints(r, rank, 0, 3),
                      "output_padding": _ints(r, rank, 0, 2), "groups": groups, "bias": r.random() < 0.7,
                      "dilation": _ints(r, rank, 1, 3)}
        return f"ConvTranspose{rank}d", args, [[c, *_spatial(r, rank, 12)]]

    return gen


def pool(rank: int, kind: str) -> Callable[[random.Random], Case]:
    def gen(r: random.Random) -> Case:
        args: dict = {"kernel_size": _ints(r, rank, 1, 5)}
        if r.random() < 0.7:
            args["stride"] = _ints(r, rank, 1, 4)
        args["padding"] = _ints(r, rank, 0, 2)
        if kind == "Max" and r.random() < 0.5:
            args["dilation"] = _ints(r, rank, 1, 3)
        args["ceil_mode"] = r.random() < 0.5
        if kind == "Max" and r.random() < 0.2:
            args["return_indices"] = True
        return f"{kind}Pool{rank}d", args, [[r.randint(1, 4), *_spatial(r, rank, 24)]]

    return gen


def adaptive(rank: int, kind: str) -> Callable[[random.Random], Case]:
    def gen(r: random.Random) -> Case:
        if rank > 1 and r.random() < 0.5:
            size: object = [r.choice([None, r.randint(1, 9)]) for _ in range(rank)]
        else:
            size = r.randint(1, 9)
        if r.random() < 0.06:  # an empty output axis
            size = 0 if not isinstance(size, list) else [0 if i == 0 else v for i, v in enumerate(size)]
        args: dict = {"output_size": size}
        if kind == "Max" and r.random() < 0.3:
            args["return_indices"] = True
        shape = [r.randint(1, 4), *_spatial(r, rank, 16)]
        if kind == "Max" and r.random() < 0.06:  # "Expected input to have non-zero size for non-batch dimensions"
            # (adaptive average pooling to size 1 takes a mean instead and returns NaN on an empty axis)
            shape[r.randrange(1, len(shape))] = 0
        if kind == "Avg" and rank > 1 and set(size if isinstance(size, list) else [size]) == {1}:
            # torch's shortcut for an all-ones output is a mean over the last axes: it takes any rank
            return f"Adaptive{kind}Pool{rank}d", args, [shape]
        return f"Adaptive{kind}Pool{rank}d", args, [_wrong_rank(r, shape, 0.08)]

    return gen


def _wrong_rank(r: random.Random, shape: list[int], p: float) -> list[int]:
    """With probability p, one axis too many, or (rank >= 3) one too few: ranks torch refuses.

    (One axis fewer than the rank symshape expects is torch's unbatched form: it would take the batch
    axis for the channels and accept; symshape always has a batch axis, so that rank is left out.)
    """
    if r.random() >= p:
        return shape
    if len(shape) >= 3 and r.random() < 0.5:
        return shape[:-2]
    return [*shape, r.randint(1, 4)]


def batchnorm(rank: int, instance: bool = False) -> Callable[[random.Random], Case]:
    def gen(r: random.Random) -> Case:
        c = r.randint(1, 16)
        n = c if r.random() < 0.8 else r.randint(1, 16)
        args = {"num_features": n, "affine": r.random() < (0.5 if instance else 0.8),
                "track_running_stats": r.random() < (0.5 if instance else 0.8)}
        spatial = _spatial(r, rank, 8)
        if rank == 1 and not instance and r.random() < 0.4:
            spatial = []
        name = f"{'InstanceNorm' if instance else 'BatchNorm'}{rank}d"
        return name, args, [[c, *spatial]]

    return gen


def layernorm(r: random.Random) -> Case:
    shape = [r.randint(1, 8) for _ in range(r.randint(1, 3))]
    k = r.randint(1, len(shape))
    norm = list(shape[-k:]) if r.random() < 0.85 else [r.randint(1, 8) for _ in range(k)]
    return "LayerNorm", {"normalized_shape": norm, "elementwise_affine": r.random() < 0.8,
                         "bias": r.random() < 0.7}, [shape]


def groupnorm(r: random.Random) -> Case:
    g = r.randint(1, 4)
    c = g * r.randint(1, 4) if r.random() < 0.8 else r.randint(1, 12)
    n = c if r.random() < 0.9 else c + 1
    return "GroupNorm", {"num_groups": g, "num_channels": n, "affine": r.random() < 0.7}, [[c, r.randint(1, 6)]]


def linear(r: random.Random) -> Case:
    shape = [r.randint(1, 6) for _ in range(r.randint(0, 2))] + [r.randint(1, 32)]
    n = shape[-1] if r.random() < 0.9 else shape[-1] + 1
    return "Linear", {"in_features": n, "out_features": r.randint(1, 32), "bias": r.random() < 0.7}, [shape]


def bilinear(r: random.Random) -> Case:
    lead = [r.randint(1, 5)]
    a, b = r.randint(1, 8), r.randint(1, 8)
    args = {"in1_features": a if r.random() < 0.9 else a + 1, "in2_features": b, "out_features": r.randint(1, 8),
            "bias": r.random() < 0.7}
    return "Bilinear", args, [[*lead, a], [*lead, b]]


def embedding(r: random.Random) -> Case:
    shape = [r.randint(1, 10) for _ in range(r.randint(1, 2))]
    n = r.randint(1, 50) if r.random() < 0.95 else 0  # 0: index 0 (the test's input) is out of range
    args: dict = {"num_embeddings": n, "embedding_dim": r.randint(1, 16) if r.random() < 0.95 else 0}
    if r.random() < 0.4:  # torch: "Padding_idx must be within num_embeddings", i.e. in [-n, n)
        args["padding_idx"] = r.choice([r.randint(-n, n - 1) if n else 0, n, -n - 1, n + r.randint(1, 3)])
    if r.random() < 0.2:
        args["max_norm"] = 1.0
    return "Embedding", args, [shape]


def rnn(kind: str) -> Callable[[random.Random], Case]:
    def gen(r: random.Random) -> Case:
        f = r.randint(1, 12)
        args: dict = {"input_size": f if r.random() < 0.9 else f + 1, "hidden_size": r.randint(1, 12),
                      "num_layers": r.randint(1, 3), "bias": r.random() < 0.7, "bidirectional": r.random() < 0.5}
        if kind == "LSTM" and r.random() < 0.4:
            args["proj_size"] = r.randint(1, 13)
        if kind == "RNN" and r.random() < 0.3:
            args["nonlinearity"] = "relu"
        return kind, args, [[r.randint(1, 9), f]]

    return gen


def mha(r: random.Random) -> Case:
    h = r.randint(1, 4)
    e = h * r.randint(1, 4) if r.random() < 0.85 else r.randint(1, 12)
    args: dict = {"embed_dim": e, "num_heads": h, "bias": r.random() < 0.7, "add_bias_kv": r.random() < 0.3,
                  "add_zero_attn": r.random() < 0.3, "batch_first": True}
    lq, s = r.randint(1, 8), r.randint(1, 8)
    if r.random() < 0.5:
        return "MultiheadAttention", args, [[lq, e]]
    kdim, vdim = r.randint(1, 10), r.randint(1, 10)
    if r.random() < 0.5:
        args["kdim"], args["vdim"] = kdim, vdim
    else:
        kdim = vdim = e
    return "MultiheadAttention", args, [[lq, e], [s, kdim], [s if r.random() < 0.9 else s + 1, vdim]]


def flatten(r: random.Random) -> Case:
    shape = [r.randint(1, 6) for _ in range(r.randint(1, 4))]
    full = len(shape) + 1
    start = r.randint(1, full - 1)
    end = r.randint(start, full - 1)
    roll = r.random()
    if roll < 0.08 and start > 1:  # "start_dim cannot come after end_dim"
        start, end = end, start - 1
    elif roll < 0.14:  # "Dimension out of range"
        end = r.choice([full, full + 1, -full - 1])
    elif roll < 0.55:
        end -= full
    return "Flatten", {"start_dim": start, "end_dim": end}, [shape]


def unflatten(r: random.Random) -> Case:
    parts = [r.randint(1, 5) for _ in range(r.randint(1, 3))]
    n = 1
    for p in parts:
        n *= p
    if r.random() < 0.2:
        n += 1
    sizes: list = list(parts)
    if r.random() < 0.3:
        sizes[r.randrange(len(sizes))] = -1
    return "Unflatten", {"dim": 1, "unflattened_size": sizes}, [[n, r.randint(1, 4)]]


MODE_RANK = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}  # the spatial rank each mode needs


def upsample(r: random.Random) -> Case:
    rank = r.randint(1, 3)
    shape = [r.randint(1, 3), *_spatial(r, rank, 12)]
    args: dict = {"size": r.randint(1, 20)} if r.random() < 0.4 else \
        {"scale_factor": r.choice([0.5, 1.5, 2, 3, 2.5, 0.25, 1.25])}
    if r.random() < 0.4:  # a mode for another rank: "Got 3D input, but bilinear mode needs 4D input"
        args["mode"] = r.choice([*MODE_RANK, "nearest-exact", "area"])
    return "Upsample", args, [shape]


def upsampling2d(kind: str) -> Callable[[random.Random], Case]:
    """UpsamplingNearest2d takes 1 to 3 spatial axes like Upsample; UpsamplingBilinear2d exactly 2."""

    def gen(r: random.Random) -> Case:
        rank = r.choice([1, 2, 2, 2, 3])
        shape = [r.randint(1, 3), *_spatial(r, rank, 10)]
        if r.random() < 0.4:
            size: object = r.randint(1, 12) if rank != 2 or r.random() < 0.5 else [r.randint(1, 12) for _ in range(2)]
            return kind, {"size": size}, [shape]
        return kind, {"scale_factor": r.choice([0.25, 0.5, 1.5, 2, 3])}, [shape]

    return gen


def pad(rank: int, mode: str) -> Callable[[random.Random], Case]:
    def gen(r: random.Random) -> Case:
        lo = -2 if mode in ("Zero", "Constant") else 0
        p: object = r.randint(lo, 5) if r.random() < 0.4 else [r.randint(lo, 5) for _ in range(2 * rank)]
        args: dict = {"padding": p}
        if mode == "Constant":
            args["value"] = 1.5
        shape = [r.randint(1, 3), *_spatial(r, rank, 8)]
        if mode in ("Zero", "Constant"):  # any number of leading axes is fine
            return f"{mode}Pad{rank}d", args, [[r.randint(1, 3), *shape] if r.random() < 0.1 else shape]
        if r.random() < 0.06:  # "Expected 2D or 3D (batch mode) tensor with ... non-zero dimensions"
            shape[r.randrange(len(shape))] = 0
        # torch: "Padding size 2 is not supported for 4D input tensor"
        return f"{mode}Pad{rank}d", args, [_wrong_rank(r, shape, 0.1)]

    return gen


def pixel(down: bool) -> Callable[[random.Random], Case]:
    def gen(r: random.Random) -> Case:
        f = r.randint(1, 3)
        if down:
            return "PixelUnshuffle", {"downscale_factor": f}, [[r.randint(1, 3), r.randint(1, 9), r.randint(1, 9)]]
        return "PixelShuffle", {"upscale_factor": f}, [[r.randint(1, 20), r.randint(1, 5), r.randint(1, 5)]]

    return gen


def same_shape(kind: str, args: dict | None = None, ranks: tuple[int, int] = (1, 3)) -> Callable[[random.Random], Case]:
    """A shape-keeping layer on inputs of ranks[0]..ranks[1] axes (beyond the batch)."""

    def gen(r: random.Random) -> Case:
        return kind, dict(args or {}), [[r.randint(1, 6) for _ in range(r.randint(*ranks))]]

    return gen


def scalars(kind: str, good: dict, bad: list[dict]) -> Callable[[random.Random], Case]:
    """An elementwise layer whose arguments are sometimes values torch refuses."""

    def gen(r: random.Random) -> Case:
        args = dict(r.choice(bad)) if r.random() < 0.12 else dict(good)
        return kind, args, [[r.randint(1, 6) for _ in range(r.randint(1, 4))]]

    return gen


def along_dim(kind: str) -> Callable[[random.Random], Case]:
    """Softmax, LogSoftmax, Softmin: dim counts the batch axis and must lie in [-ndim, ndim)."""

    def gen(r: random.Random) -> Case:
        shape = [r.randint(1, 6) for _ in range(r.randint(1, 3))]
        full = len(shape) + 1
        dim = r.randint(-full, full - 1) if r.random() < 0.85 else r.choice([full, full + 1, -full - 1])
        return kind, {"dim": dim}, [shape]

    return gen


def dropout(kind: str, ranks: tuple[int, int]) -> Callable[[random.Random], Case]:
    """torch: "dropout probability has to be between 0 and 1"."""

    def gen(r: random.Random) -> Case:
        p = r.choice([0.0, 0.3, 1.0]) if r.random() < 0.9 else r.choice([-0.1, 1.5])
        return kind, {"p": p}, [[r.randint(1, 6) for _ in range(r.randint(*ranks))]]

    return gen


def local_response_norm(r: random.Random) -> Case:
    """torch: "Expected 3D or higher dimensionality input" (batch included)."""
    return "LocalResponseNorm", {"size": r.randint(1, 5)}, [[r.randint(1, 6) for _ in range(r.randint(1, 4))]]


def rmsnorm(r: random.Random) -> Case:
    shape = [r.randint(1, 8) for _ in range(r.randint(1, 3))]
    k = r.randint(1, len(shape))
    norm = list(shape[-k:]) if r.random() < 0.85 else [r.randint(1, 8) for _ in range(k)]
    return "RMSNorm", {"normalized_shape": norm, "elementwise_affine": r.random() < 0.8}, [shape]


def merge(kind: str) -> Callable[[random.Random], Case]:
    """torch.add/sub/mul (same rank, each axis equal or a literal 1) and torch.cat along dim."""

    def gen(r: random.Random) -> Case:
        shape = [r.randint(1, 4) for _ in range(r.randint(1, 3))]
        n = 2 if kind == "sub" else r.randint(2, 3)
        shapes = [list(shape) for _ in range(n)]
        if kind == "cat":
            full = len(shape) + 1
            dim = r.choice([d for d in range(-full, full) if d not in (0, -full)])
            axis = dim - 1 if dim > 0 else len(shape) + dim
            for s in shapes[1:]:
                s[axis] = r.randint(1, 4)
            if r.random() < 0.15:  # an axis that disagrees
                other = r.randrange(len(shape))
                if other != axis:
                    shapes[1][other] += 1
            return kind, {"dim": dim}, shapes
        for s in shapes[1:]:
            axis = r.randrange(len(shape))
            roll = r.random()
            if roll < 0.2:
                s[axis] = 1  # broadcasts
            elif roll < 0.3 and shape[axis] != 1:
                s[axis] = shape[axis] + 1  # does not
        return kind, {}, shapes

    return gen


def prelu(r: random.Random) -> Case:
    c = r.randint(1, 6)
    n = r.choice([1, c, c + 1])
    return "PReLU", {"num_parameters": n}, [[c, r.randint(1, 5)]]


def glu(r: random.Random) -> Case:
    shape = [r.randint(1, 8) for _ in range(r.randint(1, 3))]
    dim = r.choice([-1, 1, len(shape)])
    return "GLU", {"dim": dim}, [shape]


GENERATORS: dict[str, Callable[[random.Random], Case]] = {}
for _rank in (1, 2, 3):
    GENERATORS[f"Conv{_rank}d"] = conv(_rank)
    GENERATORS[f"ConvTranspose{_rank}d"] = conv_transpose(_rank)
    GENERATORS[f"MaxPool{_rank}d"] = pool(_rank, "Max")
    GENERATORS[f"AvgPool{_rank}d"] = pool(_rank, "Avg")
    GENERATORS[f"AdaptiveAvgPool{_rank}d"] = adaptive(_rank, "Avg")
    GENERATORS[f"AdaptiveMaxPool{_rank}d"] = adaptive(_rank, "Max")
    GENERATORS[f"BatchNorm{_rank}d"] = batchnorm(_rank)
    GENERATORS[f"InstanceNorm{_rank}d"] = batchnorm(_rank, instance=True)
    for _mode in ("Zero", "Constant", "Reflection", "Replication", "Circular"):
        GENERATORS[f"{_mode}Pad{_rank}d"] = pad(_rank, _mode)
for _kind in ("RNN", "LSTM", "GRU"):
    GENERATORS[_kind] = rnn(_kind)
GENERATORS.update({
    "LayerNorm": layernorm, "GroupNorm": groupnorm, "Linear": linear, "Bilinear": bilinear, "Embedding": embedding,
    "MultiheadAttention": mha, "Flatten": flatten, "Unflatten": unflatten, "Upsample": upsample,
    "PixelShuffle": pixel(False), "PixelUnshuffle": pixel(True), "PReLU": prelu, "GLU": glu,
    "RMSNorm": rmsnorm, "LocalResponseNorm": local_response_norm,
    "Dropout1d": dropout("Dropout1d", (1, 3)),  # "dropout1d: Expected 2D or 3D input" (batch included)
    "UpsamplingNearest2d": upsampling2d("UpsamplingNearest2d"),
    "UpsamplingBilinear2d": upsampling2d("UpsamplingBilinear2d"),
})
for _kind in ("Softmax", "LogSoftmax", "Softmin"):
    GENERATORS[_kind] = along_dim(_kind)
for _kind in ("add", "sub", "mul", "cat"):
    GENERATORS[_kind] = merge(_kind)

# Kinds torch accepts on every input symshape models (a batch axis, then any axes of size >= 1):
# elementwise maps whose arguments are scalars that change no shape.
ELEMENTWISE = {
    "Identity": {}, "ReLU": {}, "ReLU6": {}, "LeakyReLU": {"negative_slope": 0.2}, "ELU": {"alpha": 0.5},
    "SELU": {}, "CELU": {"alpha": 2.0}, "GELU": {"approximate": "tanh"}, "SiLU": {}, "Mish": {}, "Sigmoid": {},
    "Tanh": {}, "Softplus": {"beta": 2.0, "threshold": 10.0}, "Softsign": {}, "Hardtanh": {"min_val": -2.0},
    "Hardswish": {}, "Hardsigmoid": {}, "Hardshrink": {"lambd": 0.3}, "Softshrink": {"lambd": 0.3},
    "Tanhshrink": {}, "LogSigmoid": {}, "Threshold": {"threshold": 0.1, "value": 20.0},
}
for _kind, _args in ELEMENTWISE.items():
    GENERATORS[_kind] = same_shape(_kind, _args, (1, 4))
NEVER_INVALID = {kind: "elementwise on any rank; no value of its arguments is refused" for kind in ELEMENTWISE}
REFUSED_SCALARS = {  # elementwise too, but these argument values are refused
    "Hardtanh": [{"min_val": 1.0, "max_val": 1.0}, {"min_val": 2.0}],  # "max_val must be greater than min_val"
    "CELU": [{"alpha": 0.0}],  # "alpha cannot be 0 for CELU"
    "Softshrink": [{"lambd": -0.1}],  # "lambda must be in range [0, ...]"
    "GELU": [{"approximate": "erf"}],  # "approximate argument must be either none or tanh"
}
for _kind, _bad in REFUSED_SCALARS.items():
    GENERATORS[_kind] = scalars(_kind, ELEMENTWISE[_kind], _bad)
    del NEVER_INVALID[_kind]
# Dropout2d/3d only warn (and drop whole rows) on an input of another rank; the dropouts refuse a p outside [0, 1]
for _kind in ("Dropout", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"):
    GENERATORS[_kind] = dropout(_kind, (1, 4))

# the rules the importers added (tests/import_cases.py)
from tests.import_cases import TORCH_GENERATORS  # noqa: E402

GENERATORS.update(TORCH_GENERATORS)
