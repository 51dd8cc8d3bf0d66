"""Dense layers and embeddings: keras Dense/Embedding, torch Linear/Bilinear/Embedding."""

from __future__ import annotations

from types import SimpleNamespace

from ..errors import SpecError
from .base import (
    ANY,
    APPENDS,
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
    equal,
    positive,
    prod,
    register,
)
from .conv import KERAS_COMMON, keras_ignored


def _last_axis(shape: Shape, kind: str) -> Shape:
    if len(shape) < 1:
        raise SpecError(f"{kind} needs at least one axis")
    return shape


def _keras_dense(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = _last_axis(inputs[0], ctx.kind)
    n = shape[-1]
    params = n * a.units + (a.units if a.use_bias else 0)
    out = LayerOut([(*shape[:-1], a.units)], macs=prod(shape[:-1]) * n * a.units,
                   conditions=[positive("units", a.units)])
    if a.trainable:
        out.trainable = params
    else:
        out.non_trainable = params
    return out


def _torch_linear(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = _last_axis(inputs[0], ctx.kind)
    n = shape[-1]
    conds = [positive("out_features", a.out_features)]
    if a.in_features is not None:
        conds.append(equal("in_features vs incoming features", a.in_features, n))
    declared = n if a.in_features is None else a.in_features  # torch builds the module as declared
    return LayerOut([(*shape[:-1], a.out_features)],
                    trainable=declared * a.out_features + (a.out_features if a.bias else 0),
                    macs=prod(shape[:-1]) * declared * a.out_features, conditions=conds)


def _torch_bilinear(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    x1, x2 = inputs
    if len(x1) != len(x2):
        raise SpecError(f"Bilinear inputs must have the same rank, got {len(x1)} and {len(x2)}")
    n1 = x1[-1] if a.in1_features is None else a.in1_features  # omitted: the incoming features
    n2 = x2[-1] if a.in2_features is None else a.in2_features
    conds = [positive("out_features", a.out_features)]
    conds += [equal(f"{name} vs incoming features", given, x[-1]) for name, given, x in
              (("in1_features", a.in1_features, x1), ("in2_features", a.in2_features, x2)) if given is not None]
    conds += [equal(f"leading axis {i} of both inputs", p, q)
              for i, (p, q) in enumerate(zip(x1[:-1], x2[:-1], strict=True))]
    params = n1 * n2 * a.out_features + (a.out_features if a.bias else 0)
    return LayerOut([(*x1[:-1], a.out_features)], trainable=params,
                    macs=prod(x1[:-1]) * n1 * n2 * a.out_features, conditions=conds)


def _embedding(count: str, dim: str):  # noqa: ANN202
    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        n, d = getattr(a, count), getattr(a, dim)
        conds = [positive(count, n), positive(dim, d)]
        idx = getattr(a, "padding_idx", None)
        if idx is not None:  # torch: padding_idx must be within [-num_embeddings, num_embeddings)
            conds += [Condition("padding_idx + num_embeddings", idx + n, ">=", 0,
                                "padding_idx must be within num_embeddings"),
                      Condition("num_embeddings - padding_idx", n - idx, ">=", 1,
                                "padding_idx must be within num_embeddings")]
        out = LayerOut([(*inputs[0], d)], conditions=conds)
        if getattr(a, "trainable", True):
            out.trainable = n * d
        else:
            out.non_trainable = n * d
        return out

    return apply


register("keras", "Dense", [Arg("units", INT), Arg("use_bias", BOOL, True), Arg("trainable", BOOL, True),
                            *keras_ignored(*KERAS_COMMON)],
         _keras_dense, "last axis -> units", doc_args=(("units", "N_out"),))
register("keras", "Embedding", [Arg("input_dim", INT), Arg("output_dim", INT), Arg("trainable", BOOL, True),
                                *keras_ignored("embeddings_initializer", "embeddings_regularizer",
                                               "embeddings_constraint", "mask_zero", "weights", "lora_rank",
                                               "lora_alpha", "sparse", "input_length", "name", "dtype")],
         _embedding("input_dim", "output_dim"), "token ids -> vectors of output_dim", doc_input=("T",))
register("torch", "Linear", [Arg("in_features", OPT_INT, None), Arg("out_features", INT), Arg("bias", BOOL, True),
                             Arg("device", ANY, None), Arg("dtype", ANY, None)],
         _torch_linear, "last axis in_features -> out_features", batch_axes=FOLLOWS)
register("torch", "Bilinear", [Arg("in1_features", OPT_INT, None), Arg("in2_features", OPT_INT, None),
                               Arg("out_features", INT),
                               Arg("bias", BOOL, True), Arg("device", ANY, None), Arg("dtype", ANY, None)],
         _torch_bilinear, "x1^T A x2 + b over the last axes", n_inputs=(2, 2))
register("torch", "Embedding", [Arg("num_embeddings", INT), Arg("embedding_dim", INT),
                                Arg("padding_idx", OPT_INT, None), Arg("max_norm", ANY, None),
                                Arg("norm_type", NUMBER, 2.0),
                                Arg("scale_grad_by_freq", BOOL, False), Arg("sparse", BOOL, False),
                                Arg("device", ANY, None), Arg("dtype", ANY, None)],
         _embedding("num_embeddings", "embedding_dim"), "token ids -> vectors of embedding_dim", doc_input=("T",),
         batch_axes=APPENDS)  # (*) -> (*, embedding_dim): the batch where the ids have it
