"""Normalization: keras Batch/Layer/Group normalization, torch BatchNorm/LayerNorm/GroupNorm/InstanceNorm/RMSNorm."""

from __future__ import annotations

from types import SimpleNamespace

from sympy import Expr, Integer

from ..errors import SpecError
from .base import (
    ANY,
    BOOL,
    FOLLOWS,
    INT,
    NUMBER,
    OPT_INT,
    Arg,
    Condition,
    Ctx,
    LayerOut,
    Shape,
    ShapeKind,
    divides,
    equal,
    positive,
    prod,
    register,
)
from .conv import keras_ignored

KERAS_NORM_IGNORED = ("beta_initializer", "gamma_initializer", "moving_mean_initializer",
                      "moving_variance_initializer", "beta_regularizer", "gamma_regularizer", "beta_constraint",
                      "gamma_constraint", "synchronized", "renorm", "name", "dtype")


def _axes(raw: tuple, rank: int) -> list[int]:
    out = []
    for a in raw:
        if not isinstance(a, Integer):
            raise SpecError(f"axis must be literal integers, got {a}")
        i = int(a)
        # keras axes count the batch axis as 0; -1 is the last axis
        j = i - 1 if i > 0 else rank + i
        if i == 0 or not 0 <= j < rank:
            raise SpecError(f"axis {i} is out of range for a {rank + 1}-d batched input (0 is the batch axis)")
        out.append(j)
    return out


def _keras_batchnorm(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = inputs[0]
    c = prod([shape[j] for j in _axes((a.axis,), len(shape))])  # one integer: keras 3 takes int(axis)
    learned = (Integer(1) if a.center else 0) + (Integer(1) if a.scale else 0)
    if a.trainable:
        return LayerOut([shape], trainable=learned * c, non_trainable=2 * c)
    return LayerOut([shape], non_trainable=(learned + 2) * c)


def _keras_layernorm(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = inputs[0]
    c = prod([shape[j] for j in _axes(a.axis, len(shape))])
    gamma = 1 if (a.scale or a.rms_scaling) else 0
    beta = 1 if (a.center and not a.rms_scaling) else 0
    params = (gamma + beta) * c
    return LayerOut([shape], **({"trainable": params} if a.trainable else {"non_trainable": params}))


def _keras_groupnorm(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = inputs[0]
    axes = _axes(a.axis, len(shape))
    if len(axes) != 1:  # keras: GroupNormalization normalizes over one axis
        raise SpecError(f"axis is one integer for {ctx.kind}, got {len(axes)}")
    (j,) = axes
    c = shape[j]
    conds = [positive("groups", a.groups), Condition(f"channels {c} - groups", c - a.groups, ">=", 0,
                                                     "keras: groups cannot exceed the channels"),
             divides("channels % groups", c, a.groups)]
    params = ((1 if a.center else 0) + (1 if a.scale else 0)) * c
    return LayerOut([shape], conditions=conds, **({"trainable": params} if a.trainable else {"non_trainable": params}))


def _torch_batchnorm(ranks: tuple[int, ...], instance: bool = False):  # noqa: ANN202
    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        shape = inputs[0]
        if len(shape) not in ranks:
            want = " or ".join(f"{r}-d" for r in ranks)
            raise SpecError(f"{ctx.kind} expects a {want} input (channels first, batch axis excluded), "
                            f"got {len(shape)}-d")
        c = shape[0]
        n = c if a.num_features is None else a.num_features  # omitted: the incoming channels
        conds = [positive("num_features", n)]
        if a.num_features is not None and (a.affine or a.track_running_stats):
            # (without either, torch holds nothing per channel that could disagree with the input)
            conds.append(equal("num_features vs incoming channels", a.num_features, c))
        if instance:
            conds.append(Condition("spatial elements", prod(shape[1:]), ">=", 2,
                                   "instance statistics need more than one spatial element in training"))
        return LayerOut([shape], trainable=2 * n if a.affine else Integer(0),
                        buffers=2 * n + 1 if a.track_running_stats else Integer(0), conditions=conds)

    return apply


def torch_batchnorm_training(shape: Shape, batch: Expr) -> list[Condition]:
    """torch BatchNorm in training needs more than one value per channel: N * prod(spatial) > 1."""
    return [Condition("values per channel (batch x spatial)", batch * prod(shape[1:]), ">=", 2,
                      "torch in training: 'Expected more than 1 value per channel when training'")]


# Conditions that depend on the batch size and the mode, by (framework, layer): used when a spec names its
# batch (`batch:`) in training mode. Only torch's BatchNorm refuses a batch (keras' BatchNormalization,
# GroupNorm, LayerNorm and InstanceNorm, whose own condition is spatial only, accept any batch).
TRAINING_BATCH_CHECKS = {("torch", f"BatchNorm{r}d"): torch_batchnorm_training for r in (1, 2, 3)}


def _trailing(shape: Shape, normalized: tuple, kind: str) -> list[Condition]:
    if len(normalized) > len(shape):
        raise SpecError(f"normalized_shape has {len(normalized)} axes, the input only {len(shape)}")
    tail = shape[len(shape) - len(normalized):]
    return [equal(f"normalized_shape[{i}] vs incoming axis", n, t) for i, (n, t) in enumerate(zip(normalized, tail,
                                                                                                strict=True))]


def _torch_layernorm(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = inputs[0]
    n = prod(a.normalized_shape)
    params = (n + (n if a.bias else 0)) if a.elementwise_affine else Integer(0)
    return LayerOut([shape], trainable=params, conditions=_trailing(shape, a.normalized_shape, ctx.kind))


def _torch_rmsnorm(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = inputs[0]
    return LayerOut([shape], trainable=prod(a.normalized_shape) if a.elementwise_affine else Integer(0),
                    conditions=_trailing(shape, a.normalized_shape, ctx.kind))


def _torch_groupnorm(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = inputs[0]
    if len(shape) < 1:
        raise SpecError("GroupNorm expects (C, ...)")
    c = shape[0]
    n = c if a.num_channels is None else a.num_channels  # omitted: the incoming channels
    conds = [positive("num_groups", a.num_groups), divides("num_channels % num_groups", n, a.num_groups),
             divides("input channels % num_groups", c, a.num_groups)]
    if a.affine and a.num_channels is not None:
        conds.append(equal("num_channels vs incoming channels", a.num_channels, c))
    return LayerOut([shape], trainable=2 * n if a.affine else Integer(0), conditions=conds)


register("keras", "BatchNormalization",
         [Arg("axis", INT, -1), Arg("momentum", NUMBER, 0.99), Arg("epsilon", NUMBER, 1e-3),
          Arg("center", BOOL, True), Arg("scale", BOOL, True), Arg("trainable", BOOL, True),
          *keras_ignored(*KERAS_NORM_IGNORED)],
         _keras_batchnorm, "gamma, beta trainable; moving mean and variance non-trainable")
register("keras", "LayerNormalization",
         [Arg("axis", ShapeKind(), -1), Arg("epsilon", NUMBER, 1e-3), Arg("center", BOOL, True),
          Arg("scale", BOOL, True), Arg("rms_scaling", BOOL, False), Arg("trainable", BOOL, True),
          *keras_ignored(*KERAS_NORM_IGNORED)],
         _keras_layernorm, "gamma and beta over the normalized axes")
register("keras", "GroupNormalization",
         [Arg("groups", INT, 32), Arg("axis", ShapeKind(), -1), Arg("epsilon", NUMBER, 1e-3),
          Arg("center", BOOL, True), Arg("scale", BOOL, True), Arg("trainable", BOOL, True),
          *keras_ignored(*KERAS_NORM_IGNORED)],
         _keras_groupnorm, "channels in groups; gamma and beta per channel")

TORCH_TAIL = [Arg("device", ANY, None), Arg("dtype", ANY, None)]
for _rank, _dims in ((1, (1, 2)), (2, (3,)), (3, (4,))):
    register("torch", f"BatchNorm{_rank}d",
             [Arg("num_features", OPT_INT, None), Arg("eps", NUMBER, 1e-5), Arg("momentum", ANY, 0.1),
              Arg("affine", BOOL, True), Arg("track_running_stats", BOOL, True), *TORCH_TAIL],
             _torch_batchnorm(_dims), "weight, bias per channel; running mean, variance and count as buffers",
             doc_input=("C", "L") if _rank == 1 else
             ("C", "H", "W") if _rank == 2 else ("C", "D", "H", "W"))
    register("torch", f"InstanceNorm{_rank}d",
             [Arg("num_features", OPT_INT, None), Arg("eps", NUMBER, 1e-5), Arg("momentum", ANY, 0.1),
              Arg("affine", BOOL, False), Arg("track_running_stats", BOOL, False), *TORCH_TAIL],
             _torch_batchnorm((_rank + 1,), instance=True), "per-sample, per-channel normalization",
             doc_input=("C", "L") if _rank == 1 else
             ("C", "H", "W") if _rank == 2 else ("C", "D", "H", "W"))
register("torch", "LayerNorm",
         [Arg("normalized_shape", ShapeKind()), Arg("eps", NUMBER, 1e-5), Arg("elementwise_affine", BOOL, True),
          Arg("bias", BOOL, True), *TORCH_TAIL],
         _torch_layernorm, "weight and bias over normalized_shape (the trailing axes)",
         doc_args=(("normalized_shape", ["N"]),), batch_axes=FOLLOWS)
register("torch", "RMSNorm",
         [Arg("normalized_shape", ShapeKind()), Arg("eps", ANY, None), Arg("elementwise_affine", BOOL, True),
          *TORCH_TAIL],
         _torch_rmsnorm, "weight over normalized_shape (the trailing axes)",
         doc_args=(("normalized_shape", ["N"]),), batch_axes=FOLLOWS)
register("torch", "GroupNorm",
         [Arg("num_groups", INT), Arg("num_channels", OPT_INT, None), Arg("eps", NUMBER, 1e-5),
          Arg("affine", BOOL, True),
          *TORCH_TAIL],
         _torch_groupnorm, "channels in num_groups groups; weight, bias per channel",
         doc_input=("C", "L"))

