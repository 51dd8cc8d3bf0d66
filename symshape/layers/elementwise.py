"""Layers that keep the shape: dropout, noise, activations, identity; PReLU and GLU are the exceptions
(PReLU learns slopes, GLU halves an axis)."""

from __future__ import annotations

from types import SimpleNamespace

from sympy import Integer

from ..algebra import FloorDiv
from ..errors import SpecError
from .base import ANY, FOLLOWS, INT, Arg, Ctx, LayerOut, Shape, ShapeKind, divides, equal, prod, register
from .conv import keras_ignored

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

# What the frameworks check on these layers (all else is shape-free): the input's rank (axes besides the
# batch, (low, high), high None for no bound), an axis argument counting the batch axis, dropout rates
# (keras' GaussianNoise stddev too) from 0 to 1, and the scalar arguments below.
RANKS = {("torch", "Dropout1d"): (1, 2), ("torch", "LocalResponseNorm"): (2, None),
         ("keras", "SpatialDropout1D"): (2, 2), ("keras", "SpatialDropout2D"): (3, 3),
         ("keras", "SpatialDropout3D"): (4, 4)}
AXIS = {("torch", "Softmax"): "dim", ("torch", "LogSoftmax"): "dim", ("torch", "Softmin"): "dim",
        ("keras", "Softmax"): "axis"}
PROBABILITIES = ("p", "rate", "stddev")
# scalar arguments the frameworks refuse: below 0 (keras ReLU, LeakyReLU, ActivityRegularization; torch
# Softshrink), or a rule of their own: (arguments with their defaults, test, what it says)
NONNEGATIVE = {("keras", "ReLU"): ("max_value", "negative_slope", "threshold"),
               ("keras", "LeakyReLU"): ("negative_slope", "alpha"), ("keras", "ActivityRegularization"): ("l1", "l2"),
               ("torch", "Softshrink"): ("lambd",)}
SCALAR_RULES = {
    ("torch", "Hardtanh"): ((("min_val", -1.0), ("max_val", 1.0)), lambda lo, hi: lo < hi,
                            "max_val must be greater than min_val"),
    ("torch", "CELU"): ((("alpha", 1.0),), lambda alpha: alpha != 0, "alpha cannot be 0"),
}


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_scalars(a: SimpleNamespace, key: tuple[str, str]) -> None:
    for field in PROBABILITIES:  # torch: "dropout probability has to be between 0 and 1"
        v = getattr(a, field, None)
        if v is not None and (not _is_number(v) or not 0 <= v <= 1):
            raise SpecError(f"{field} must be a number from 0 to 1, got {v!r}")
    for field in NONNEGATIVE.get(key, ()):
        v = getattr(a, field, None)
        if v is not None and (not _is_number(v) or v < 0):
            raise SpecError(f"{field} must be a number >= 0, got {v!r}")
    if key in SCALAR_RULES:
        fields, test, says = SCALAR_RULES[key]
        values = [default if getattr(a, f) is None else getattr(a, f) for f, default in fields]
        if not all(_is_number(v) for v in values) or not test(*values):
            raise SpecError(f"{says}, got {', '.join(f'{f}={v!r}' for (f, _), v in zip(fields, values))}")
    if key == ("torch", "GELU") and a.approximate not in (None, "none", "tanh"):
        raise SpecError(f"approximate must be 'none' or 'tanh', got {a.approximate!r}")


def _checked(framework: str, kind: str):  # noqa: ANN202
    ranks, axis = RANKS.get((framework, kind)), AXIS.get((framework, kind))

    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        n = len(inputs[0])
        _check_scalars(a, (framework, kind))
        if ranks is not None and (n < ranks[0] or (ranks[1] is not None and n > ranks[1])):
            low, high = ranks
            want = f"at least {low + 1}-d" if high is None else " or ".join(f"{k + 1}-d" for k in range(low, high + 1))
            raise SpecError(f"{ctx.kind} expects a {want} batched input, got {n + 1}-d")
        value = getattr(a, axis) if axis is not None else None
        for d in value if isinstance(value, (list, tuple)) else [value]:  # "Dimension out of range"
            if d is not None and (isinstance(d, bool) or not isinstance(d, int) or not -n - 1 <= d <= n):
                raise SpecError(f"{axis} must be an integer from {-n - 1} to {n} for a {n + 1}-d batched input "
                                f"(the batch axis counts), got {d!r}")
        return LayerOut([inputs[0]])

    return apply


DOC_INPUT = {"SpatialDropout2D": ("H", "W", "C"), "SpatialDropout3D": ("D", "H", "W", "C")}  # the rank they need
DOC_ARGS = {  # the reference's documented call: arguments the framework requires (no effect on shapes)
    ("keras", "Activation"): (("activation", "relu"),), ("keras", "GaussianNoise"): (("stddev", 0.1),),
    **{("keras", k): (("rate", 0.5),) for k in ("Dropout", "AlphaDropout", "GaussianDropout", "SpatialDropout1D",
                                                "SpatialDropout2D", "SpatialDropout3D")},
    ("torch", "LocalResponseNorm"): (("size", 2),), ("torch", "Threshold"): (("threshold", 0.1), ("value", 0.0)),
}

for _name, _args in KERAS_SAME.items():
    register("keras", _name, keras_ignored(*_args, "name", "dtype"), _checked("keras", _name),
             "shape unchanged, no parameters", doc_input=DOC_INPUT.get(_name, ()),
             doc_args=DOC_ARGS.get(("keras", _name), ()))
for _name, _args in TORCH_SAME.items():
    register("torch", _name, [Arg(a, ANY, None) for a in _args], _checked("torch", _name),
             "shape unchanged, no parameters", doc_args=DOC_ARGS.get(("torch", _name), ()), batch_axes=FOLLOWS)


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
         _torch_prelu, "num_parameters learned slopes (1 or the channels)", batch_axes=FOLLOWS)
register("torch", "GLU", [Arg("dim", INT, -1)], _torch_glu, "halves dim: a * sigmoid(b)")

