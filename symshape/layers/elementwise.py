"""Layers that keep the shape: dropout, noise, activations, identity; PReLU and GLU are the exceptions
(PReLU learns slopes, GLU halves an axis)."""

from __future__ import annotations

from types import SimpleNamespace

from sympy import Integer

from ..algebra import FloorDiv
from ..errors import SpecError
from .base import ANY, INT, Arg, Ctx, LayerOut, Shape, ShapeKind, divides, equal, prod, register
from .conv import keras_ignored


def _same(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    return LayerOut([inputs[0]])


KERAS_SAME = {
    "Dropout": ("rate", "noise_shape", "seed"),
    "SpatialDropout1D": ("rate", "seed"), "SpatialDropout2D": ("rate", "data_format", "seed"),
    "SpatialDropout3D": ("rate", "data_format", "seed"),
    "GaussianNoise": ("stddev", "seed"), "GaussianDropout": ("rate", "seed"),
    "AlphaDropout": ("rate", "noise_shape", "seed"), "ActivityRegularization": ("l1", "l2"),
    "Activation": ("activation",), "ReLU": ("max_value", "negative_slope", "threshold"),
    "LeakyReLU": ("negative_slope", "alpha"), "ELU": ("alpha",), "Softmax": ("axis",),
    "Masking": ("mask_value",), "Identity": (),
}
TORCH_SAME = {
    "Dropout": ("p", "inplace"), "Dropout1d": ("p", "inplace"), "Dropout2d": ("p", "inplace"),
    "Dropout3d": ("p", "inplace"), "AlphaDropout": ("p", "inplace"), "FeatureAlphaDropout": ("p", "inplace"),
    "Identity": (), "ReLU": ("inplace",), "ReLU6": ("inplace",), "LeakyReLU": ("negative_slope", "inplace"),
    "ELU": ("alpha", "inplace"), "SELU": ("inplace",), "CELU": ("alpha", "inplace"), "GELU": ("approximate",),
    "SiLU": ("inplace",), "Mish": ("inplace",), "Sigmoid": (), "Tanh": (), "Softmax": ("dim",),
    "LogSoftmax": ("dim",), "Softmin": ("dim",), "Softplus": ("beta", "threshold"), "Softsign": (),
    "Hardtanh": ("min_val", "max_val", "inplace"), "Hardswish": ("inplace",), "Hardsigmoid": ("inplace",),
    "Hardshrink": ("lambd",), "Softshrink": ("lambd",), "Tanhshrink": (), "LogSigmoid": (),
    "Threshold": ("threshold", "value", "inplace"), "LocalResponseNorm": ("size", "alpha", "beta", "k"),
}

for _name, _args in KERAS_SAME.items():
    register("keras", _name, keras_ignored(*_args, "name", "dtype"), _same, "shape unchanged, no parameters")


def _torch_along_dim(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    """Softmax, LogSoftmax, Softmin: dim (counting the batch axis) within [-ndim, ndim), as torch checks."""
    full = len(inputs[0]) + 1
    if a.dim is not None and (isinstance(a.dim, bool) or not isinstance(a.dim, int) or not -full <= a.dim < full):
        raise SpecError(f"dim must be an integer in [{-full}, {full - 1}] for a {full}-d batched input, got {a.dim!r}")
    return LayerOut([inputs[0]])


def _torch_ranks(low: int, high: int | None = None):  # noqa: ANN202
    """A shape-keeping layer that takes low..high axes besides the batch (Dropout1d, LocalResponseNorm)."""

    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        n = len(inputs[0])
        if n < low or (high is not None and n > high):
            want = f"{low + 1}-d or {high + 1}-d" if high is not None else f"at least {low + 1}-d"
            raise SpecError(f"{ctx.kind} expects a {want} batched input, got {n + 1}-d")
        return LayerOut([inputs[0]])

    return apply


_TORCH_CHECKED = {"Softmax": _torch_along_dim, "LogSoftmax": _torch_along_dim, "Softmin": _torch_along_dim,
                  "Dropout1d": _torch_ranks(1, 2), "LocalResponseNorm": _torch_ranks(2)}
for _name, _args in TORCH_SAME.items():
    register("torch", _name, [Arg(a, ANY, None) for a in _args], _TORCH_CHECKED.get(_name, _same),
             "shape unchanged, no parameters")


def _keras_prelu(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = inputs[0]
    shared = set()
    for s in a.shared_axes or ():
        if not isinstance(s, Integer) or not 1 <= int(s) <= len(shape):
            raise SpecError(f"shared_axes entries count from 1 (batch excluded) up to {len(shape)}, got {s}")
        shared.add(int(s) - 1)
    return LayerOut([shape], trainable=prod([d for i, d in enumerate(shape) if i not in shared]))


def _torch_prelu(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = inputs[0]
    n = a.num_parameters
    conds = []
    if n != 1:
        if len(shape) < 1:
            raise SpecError("PReLU with num_parameters > 1 needs a channel axis")
        conds.append(equal("num_parameters vs incoming channels", n, shape[0]))
    return LayerOut([shape], trainable=n, conditions=conds)


def _torch_glu(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = inputs[0]
    if not isinstance(a.dim, Integer):
        raise SpecError(f"dim must be a literal integer, got {a.dim}")
    d = int(a.dim)
    full = len(shape) + 1
    axis = d + full if d < 0 else d
    if axis == 0 or not 0 < axis < full:
        raise SpecError(f"dim={d} is out of range or the batch axis")
    axis -= 1
    return LayerOut([tuple(FloorDiv(s, 2) if i == axis else s for i, s in enumerate(shape))],
                    conditions=[divides(f"axis {axis} % 2", shape[axis], 2, "GLU halves an even axis")])


register("keras", "PReLU", [Arg("shared_axes", ShapeKind(), None),
                            *keras_ignored("alpha_initializer", "alpha_regularizer", "alpha_constraint", "name",
                                           "dtype")],
         _keras_prelu, "one learned slope per element (shared_axes share them)")
register("torch", "PReLU", [Arg("num_parameters", INT, 1), Arg("init", ANY, 0.25), Arg("device", ANY, None),
                            Arg("dtype", ANY, None)],
         _torch_prelu, "num_parameters learned slopes (1 or the channels)")
register("torch", "GLU", [Arg("dim", INT, -1)], _torch_glu, "halves dim: a * sigmoid(b)")

