"""What the cost model needs to know about each layer: its family and its element counts, per sample.

One small record per layer (`Facts`), read from the derivation's `LayerResult`: the family (conv, linear,
attention, norm, activation, pool, dropout, merge, other), the input and output element counts, whether
it has a bias or an affine scale, and which layers feed it. FLOPs (:mod:`.flops`) and memory
(:mod:`.memory`) are written on these records only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy
from sympy import Expr, Integer

from ..layers.base import prod

__all__ = ["Facts", "facts_of"]

ZERO = Integer(0)

_CONV = re.compile(r"^(Conv[123]d|Conv[123]D|ConvTranspose[123]d|Conv[123]DTranspose|DepthwiseConv[12]D|"
                   r"SeparableConv[12]D)$")
NORMS = {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d",
         "InstanceNorm3d", "RMSNorm", "BatchNormalization", "LayerNormalization", "GroupNormalization"}
ACTIVATIONS = {"ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Sigmoid", "Tanh",
               "Hardswish", "Hardsigmoid", "Hardtanh", "PReLU", "Softplus", "Softsign", "Tanhshrink", "Threshold",
               "Activation"}
SOFTMAX = {"Softmax", "LogSoftmax", "Softmin", "Softmax2d"}
DROPOUT = {"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
           "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout", "GaussianNoise"}
MERGE = {"add", "sub", "mul", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"}
ATTENTION = {"MultiheadAttention", "MultiHeadAttention"}
LINEAR = {"Linear", "Dense", "Bilinear", "EinsumDense"}


def family(kind: str) -> str:
    if _CONV.match(kind):
        return "conv"
    if kind in LINEAR:
        return "linear"
    if kind in ATTENTION:
        return "attention"
    if kind in NORMS:
        return "norm"
    if kind in ACTIVATIONS:
        return "activation"
    if kind in SOFTMAX:
        return "softmax"
    if "Pool" in kind:
        return "pool"
    if kind in DROPOUT:
        return "dropout"
    if kind in MERGE:
        return "merge"
    if kind in ("LSTM", "GRU", "RNN", "SimpleRNN", "Bidirectional", "ConvLSTM2D"):
        return "recurrent"
    return "other"


@dataclass(frozen=True)
class Facts:
    """One layer, per sample (batch axis excluded): what the cost rules read."""

    index: int
    name: str
    kind: str
    framework: str
    family: str
    inputs: tuple[str, ...]
    in_elems: Expr  # elements of the first input
    out_elems: Expr  # elements of the first output
    in_shape: tuple[Expr, ...]
    in_shapes: tuple[tuple[Expr, ...], ...]
    out_shape: tuple[Expr, ...]
    macs: Expr
    trainable: Expr
    params: Expr
    buffers: Expr
    bias: bool
    affine: bool
    transposed: bool
    n_inputs: int
    args: object  # the layer's parsed arguments (SimpleNamespace)


def _flag(args: object, *names: str, default: bool = False) -> bool:
    for n in names:
        v = getattr(args, n, None)
        if isinstance(v, bool):
            return v
    return default


def facts_of(ly: object, framework: str) -> Facts:
    kind = ly.kind
    fam = family(kind)
    a = ly.args
    bias = fam in ("conv", "linear", "attention") and _flag(a, "bias", "use_bias", default=True)
    affine = fam == "norm" and _flag(a, "affine", "elementwise_affine", "center", "scale",
                                     default=kind not in ("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"))
    return Facts(
        index=ly.index, name=ly.name, kind=kind, framework=framework, family=fam, inputs=tuple(ly.inputs),
        in_elems=prod(ly.input_shapes[0]) if ly.input_shapes else ZERO, out_elems=prod(ly.outputs[0]),
        in_shape=tuple(ly.input_shapes[0]) if ly.input_shapes else (),
        in_shapes=tuple(tuple(s) for s in ly.input_shapes), out_shape=tuple(ly.outputs[0]),
        macs=sympy.sympify(ly.macs), trainable=sympy.sympify(ly.trainable), params=sympy.sympify(ly.params),
        buffers=sympy.sympify(ly.buffers), bias=bias, affine=affine, transposed="Transpose" in kind,
        n_inputs=len(ly.input_shapes), args=a)
