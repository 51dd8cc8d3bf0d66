"""Attention: keras MultiHeadAttention, torch MultiheadAttention.

Inputs: one tensor (self-attention), or query and value (keras: [query, value, key]; torch:
[query, key, value]), each (sequence, features) with the batch axis excluded.
"""

from __future__ import annotations

from types import SimpleNamespace

from sympy import Expr

from ..errors import SpecError
from .base import (
    ANY,
    BOOL,
    INT,
    NUMBER,
    OPT_INT,
    Arg,
    BatchAxes,
    Condition,
    Ctx,
    LayerOut,
    Shape,
    divides,
    equal,
    positive,
    register,
)
from .conv import keras_ignored


def _seq(shape: Shape, what: str) -> tuple[Expr, Expr]:
    if len(shape) != 2:
        raise SpecError(f"the {what} must be 2-d (sequence, features), batch axis excluded; got {len(shape)}-d")
    return shape[0], shape[1]


def _keras_mha(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    query = inputs[0]
    value = inputs[1] if len(inputs) > 1 else query
    key = inputs[2] if len(inputs) > 2 else value
    (tq, dq), (tv, dv), (tk, dk) = _seq(query, "query"), _seq(value, "value"), _seq(key, "key")
    h, kd = a.num_heads, a.key_dim
    vd = a.value_dim if a.value_dim is not None else kd
    out_dim = a.output_shape if a.output_shape is not None else dq
    b = 1 if a.use_bias else 0
    params = (dq * h * kd + b * h * kd) + (dk * h * kd + b * h * kd) + (dv * h * vd + b * h * vd) \
        + (h * vd * out_dim + b * out_dim)
    macs = tq * dq * h * kd + tk * dk * h * kd + tv * dv * h * vd + h * tq * tk * kd + h * tq * tk * vd \
        + tq * h * vd * out_dim
    conds: list[Condition] = [positive("num_heads", h), positive("key_dim", kd),
                              equal("key length vs value length", tk, tv, "key and value sequences agree")]
    return LayerOut([(tq, out_dim)], trainable=params, macs=macs, conditions=conds)


def _torch_mha(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    query = inputs[0]
    key = inputs[1] if len(inputs) > 1 else query
    value = inputs[2] if len(inputs) > 2 else key
    (lq, eq), (sk, ek), (sv, ev) = _seq(query, "query"), _seq(key, "key"), _seq(value, "value")
    e, h = a.embed_dim, a.num_heads
    kdim = a.kdim if a.kdim is not None else e
    vdim = a.vdim if a.vdim is not None else e
    b = 1 if a.bias else 0
    params = e * e + e * kdim + e * vdim + 3 * e * b + e * e + e * b + (2 * e if a.add_bias_kv else 0)
    s = sk + (1 if a.add_bias_kv else 0) + (1 if a.add_zero_attn else 0)
    macs = lq * e * e + sk * kdim * e + sv * vdim * e + 2 * lq * s * e + lq * e * e
    conds: list[Condition] = [
        positive("num_heads", h), divides("embed_dim % num_heads", e, h),
        equal("embed_dim vs query features", e, eq), equal("kdim vs key features", kdim, ek),
        equal("vdim vs value features", vdim, ev),
        equal("key length vs value length", sk, sv, "key and value sequences agree")]
    # need_weights (a forward argument, True as torch's default): False returns no weights (None) and runs
    # the fused scaled_dot_product_attention (the same work; the tools count it differently, see symshape.cost)
    outputs = [(lq, e), (lq, s)] if a.need_weights else [(lq, e)]
    return LayerOut(outputs, trainable=params, macs=macs, conditions=conds)


def _torch_mha_batch(a: SimpleNamespace) -> BatchAxes:
    """query, key, value and attn_output (L, N, E) unless batch_first; attn_weights (N, L, S) either way."""
    return BatchAxes(0, (0, 0)) if a.batch_first else BatchAxes(1, (1, 0))


register("keras", "MultiHeadAttention",
         [Arg("num_heads", INT), Arg("key_dim", INT), Arg("value_dim", OPT_INT, None), Arg("dropout", NUMBER, 0.0),
          Arg("use_bias", BOOL, True), Arg("output_shape", OPT_INT, None), Arg("attention_axes", ANY, None),
          *keras_ignored("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                         "activity_regularizer", "kernel_constraint", "bias_constraint", "flash_attention", "seed",
                         "name", "dtype")],
         _keras_mha, "inputs [query, value(, key)]: (Tq, Dq) -> (Tq, output_shape or Dq)", n_inputs=(1, 3),
         doc_input=("T", "N"))
register("torch", "MultiheadAttention",
         [Arg("embed_dim", INT), Arg("num_heads", INT), Arg("dropout", NUMBER, 0.0), Arg("bias", BOOL, True),
          Arg("add_bias_kv", BOOL, False), Arg("add_zero_attn", BOOL, False), Arg("kdim", OPT_INT, None),
          Arg("vdim", OPT_INT, None), Arg("batch_first", BOOL, False), Arg("device", ANY, None),
          Arg("dtype", ANY, None),
          Arg("need_weights", BOOL, True, "forward(..., need_weights=): False (as nn.TransformerEncoderLayer "
              "calls it) returns no attention weights and runs the fused scaled_dot_product_attention")],
         _torch_mha, "inputs [query, key, value]: (L, E) -> attn_output (L, E), attn_weights (L, S) "
         "(need_weights: false: attn_output only)",
         n_inputs=(1, 3), n_outputs=2, doc_input=("T", "N"), doc_args=(("embed_dim", "N"),),
         batch_axes=_torch_mha_batch)
