"""Seeded random configurations of torch layers, valid and invalid, in torch's own vocabulary.

Each generator returns (kind, args, input_shapes): `args` is both our spec's argument mapping
and torch's constructor keywords (lists become tuples), so a disagreement can only come from
the rule, never from a translation.
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
        args: dict = {"output_size": size}
        if kind == "Max" and r.random() < 0.3:
            args["return_indices"] = True
        return f"Adaptive{kind}Pool{rank}d", args, [[r.randint(1, 4), *_spatial(r, rank, 16)]]

    return gen


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
    return "Embedding", {"num_embeddings": r.randint(1, 50), "embedding_dim": r.randint(1, 16)}, [shape]


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
    if r.random() < 0.5:
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


def upsample(r: random.Random) -> Case:
    rank = r.randint(1, 3)
    shape = [r.randint(1, 3), *_spatial(r, rank, 12)]
    if r.random() < 0.4:
        return "Upsample", {"size": r.randint(1, 20)}, [shape]
    return "Upsample", {"scale_factor": r.choice([0.5, 1.5, 2, 3, 2.5, 0.25, 1.25])}, [shape]


def pad(rank: int, mode: str) -> Callable[[random.Random], Case]:
    def gen(r: random.Random) -> Case:
        lo = -2 if mode in ("Zero", "Constant") else 0
        p: object = r.randint(lo, 5) if r.random() < 0.4 else [r.randint(lo, 5) for _ in range(2 * rank)]
        args: dict = {"padding": p}
        if mode == "Constant":
            args["value"] = 1.5
        return f"{mode}Pad{rank}d", args, [[r.randint(1, 3), *_spatial(r, rank, 8)]]

    return gen


def pixel(down: bool) -> Callable[[random.Random], Case]:
    def gen(r: random.Random) -> Case:
        f = r.randint(1, 3)
        if down:
            return "PixelUnshuffle", {"downscale_factor": f}, [[r.randint(1, 3), r.randint(1, 9), r.randint(1, 9)]]
        return "PixelShuffle", {"upscale_factor": f}, [[r.randint(1, 20), r.randint(1, 5), r.randint(1, 5)]]

    return gen


def same_shape(kind: str, args: dict | None = None) -> Callable[[random.Random], Case]:
    def gen(r: random.Random) -> Case:
        return kind, dict(args or {}), [[r.randint(1, 6) for _ in range(r.randint(1, 3))]]

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
    "Dropout": same_shape("Dropout", {"p": 0.3}), "ReLU": same_shape("ReLU"), "GELU": same_shape("GELU"),
    "Softmax": same_shape("Softmax", {"dim": -1}), "Identity": same_shape("Identity"),
})
