"""Seeded random configurations of the rules the importers added (symshape/layers/imported.py), for the layer
suites: torch's tensor methods reshape/permute/transpose/mean (tests/test_torch_layers.py compares them with
real torch through TORCH_FUNCTIONAL) and keras' Rescaling/Normalization (tests/test_keras_layers.py).

What symshape leaves out by design is not generated: a reshape, permute, transpose or mean that moves or reduces
the batch axis (symshape's shapes exclude it; such specs are refused). `Opaque` is no framework layer (its
shapes are the recorded ones; tests/test_import_*.py check it), so the suites skip it: IMPORT_ONLY.
"""

from __future__ import annotations

import random
from collections.abc import Callable

Case = tuple[str, dict, list[list[int]]]
IMPORT_ONLY = {"Opaque"}


def reshape(r: random.Random) -> Case:
    shape = [r.randint(1, 4) for _ in range(r.randint(1, 3))]
    total = 1
    for s in shape:
        total *= s
    parts = [r.randint(1, 4) for _ in range(r.randint(1, 3))]
    roll = r.random()
    if roll < 0.4:  # a valid factorisation of the elements, maybe with one -1
        parts = list(shape[::-1]) if r.random() < 0.5 else [total]
        if r.random() < 0.5:
            parts[r.randrange(len(parts))] = -1
    elif roll < 0.5:
        parts[r.randrange(len(parts))] = r.choice([0, -2])  # "invalid shape dimension"
    elif roll < 0.6:
        parts = [-1, -1]  # "only one dimension can be inferred"
    return "reshape", {"shape": parts}, [shape]


def permute(r: random.Random) -> Case:
    shape = [r.randint(1, 5) for _ in range(r.randint(1, 3))]
    rest = list(range(1, len(shape) + 1))
    r.shuffle(rest)
    dims = [0, *rest]
    roll = r.random()
    if roll < 0.1:
        dims = dims[:-1]  # "number of dims don't match"
    elif roll < 0.2 and len(dims) > 2:
        dims[-1] = dims[1]  # "repeated dim"
    elif roll < 0.3:
        dims[-1] = len(dims) + 1  # "Dimension out of range"
    elif roll < 0.5:
        dims = [d - len(dims) if d and r.random() < 0.5 else d for d in dims]  # negative dims
    return "permute", {"dims": dims}, [shape]


def transpose(r: random.Random) -> Case:
    shape = [r.randint(1, 5) for _ in range(r.randint(1, 3))]
    full = len(shape) + 1
    choices = [d for d in range(-full + 1, full) if d != 0]
    dim0, dim1 = r.choice(choices), r.choice(choices)
    if r.random() < 0.15:
        dim1 = r.choice([full, -full - 1])  # "Dimension out of range"
    return "transpose", {"dim0": dim0, "dim1": dim1}, [shape]


def mean(r: random.Random) -> Case:
    shape = [r.randint(1, 5) for _ in range(r.randint(1, 3))]
    full = len(shape) + 1
    axes = [d for d in range(1, full)]
    keepdim = r.random() < 0.5
    count = r.randint(1, len(axes)) if keepdim else r.randint(1, max(1, len(axes) - 1))
    if not keepdim and len(axes) == 1:
        keepdim = True  # a mean over every axis but the batch would leave (N,): outside symshape's shapes
    dims: list[int] = r.sample(axes, count)
    dims = [d - full if r.random() < 0.3 else d for d in dims]
    roll = r.random()
    if roll < 0.1:
        dims.append(full + r.randint(0, 1))  # "Dimension out of range"
    elif roll < 0.2:
        dims.append(dims[0])  # "dim appears multiple times"
    value: object = dims[0] if len(dims) == 1 and r.random() < 0.5 else dims
    return "mean", {"dim": value, "keepdim": keepdim}, [shape]


TORCH_GENERATORS: dict[str, Callable[[random.Random], Case]] = {
    "reshape": reshape, "permute": permute, "transpose": transpose, "mean": mean}


def _mean(x, a):  # noqa: ANN001, ANN202
    dim = a["dim"]
    return x.mean(dim=tuple(dim) if isinstance(dim, list) else dim, keepdim=a.get("keepdim", False))


TORCH_FUNCTIONAL = {  # kind -> f(inputs, args): what the rule stands for, in torch
    "reshape": lambda xs, a: xs[0].reshape(xs[0].shape[0], *a["shape"]),
    "permute": lambda xs, a: xs[0].permute(*a["dims"]),
    "transpose": lambda xs, a: xs[0].transpose(a["dim0"], a["dim1"]),
    "mean": lambda xs, a: _mean(xs[0], a),
}


def rescaling(r: random.Random) -> Case:
    shape = [r.randint(1, 5) for _ in range(r.randint(1, 3))]
    return "Rescaling", {"scale": r.choice([1 / 255, 0.5, 2.0]), "offset": r.choice([0.0, -1.0])}, [shape]


def normalization(r: random.Random) -> Case:
    shape = [r.randint(1, 5) for _ in range(r.randint(1, 3))]
    full = len(shape) + 1
    roll = r.random()
    if roll < 0.15:
        axis: object = r.choice([full, -full - 1])  # out of range
    elif roll < 0.6:  # (axis 0, the batch: keras accepts it on a concrete batch only; symshape refuses it)
        axis = r.choice([d for d in range(-full + 1, full) if d != 0])
    else:
        axis = sorted(r.sample(range(1, full), r.randint(1, full - 1)))
    args: dict = {"axis": axis}
    if r.random() < 0.2:
        args.update(mean=0.5, variance=2.0)  # given: no weights
    return "Normalization", args, [shape]


KERAS_GENERATORS: dict[str, Callable[[random.Random], Case]] = {
    "Rescaling": rescaling, "Normalization": normalization}
KERAS_NEVER_INVALID = {"Rescaling": "any scale and offset, any rank"}
