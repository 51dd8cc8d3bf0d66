"""Memory to train, in bytes, as formulas: parameters, gradients, optimizer state, buffers, and the
activations each layer saves for the backward pass.

What a torch layer keeps for backward (training mode; checked against ``saved_tensors_hooks`` in
``tests/test_cost_memory.py``, counting each storage once):

==================  ============================================================================
Conv, ConvTranspose  its input (the weight is a parameter, not counted here)
Linear               its input; Embedding its int64 indices
BatchNorm (train)    its input, and the batch mean and inverse std per channel (2·C, fp32)
LayerNorm/GroupNorm  its input, and mean and rstd per normalized group (fp32)
ReLU, Sigmoid, Tanh  its output (ELU too); other activations (ReLU6, GELU, ...) their input
MaxPool              its input and the int64 indices (one per output element)
Reflection/ReplicationPad  its input; other pads, Upsample, PixelShuffle nothing
AvgPool              its input; AdaptiveAvgPool to size 1 (1-d, 2-d) nothing (torch takes the mean),
                     to other sizes its input
Dropout (train)      the mask, one per element, in the activation dtype (torch on CPU); Dropout1d/2d/3d
                     one per channel
MultiheadAttention   its input, the q/k/v projection (3·L·E), the heads' output (L·E), and: with
                     need_weights (torch's default) q scaled (L·E), the attention weights (heads·L·S) and,
                     with dropout, the mask and the dropped weights; with need_weights=False (as
                     TransformerEncoderLayer) the fused kernel's logsumexp (heads·L, fp32), or in training
                     with dropout the math path: q and k scaled, weights, mask and dropped weights (in fp32
                     under half precision, with an fp32 copy of v instead of the q/k/v projection)
add, cat, Flatten    nothing
==================  ============================================================================

keras layers: what they keep is *estimated* by their torch counterpart's rule (attention: torch's fused
kernel's); keras 3 on the torch backend keeps other tensors (measured with saved_tensors_hooks at batch 3:
Dense 204 bytes vs 144 here, Conv2D 4,584 vs 3,072, BatchNormalization 4,632 vs 3,088,
GlobalAveragePooling2D 1,536 vs 3,072; MultiHeadAttention at batch 2, L=16, E=32, 4 heads: 25,088 vs
20,992), so keras activation bytes are not exact; their parameters, gradients and optimizer variables are.

Parameter-free layers save nothing when their input needs no gradient (before the first layer with
parameters). A tensor saved by several layers (a ReLU's output that the next convolution also keeps)
is counted once, at the first layer that keeps it. In eval mode nothing is saved.

Precision (``dtype``): ``fp32``; ``bf16``/``fp16`` (everything in half precision); ``bf16-mixed`` /
``fp16-mixed`` (torch autocast: fp32 master weights, gradients and optimizer state; activations in half
precision, normalization statistics in fp32; layer and group norm run in fp32 and keep an fp32 copy of
their input; each convolution keeps the half copy of its weight, a linear layer (attention's
projections) where its input needs a gradient -- checked against ``torch.autocast("cpu", torch.bfloat16)``).
Optimizer state per trainable parameter: SGD none, SGD with
momentum one buffer, Adam/AdamW two moments; torch adds one ``step`` scalar (4 bytes) per parameter tensor
for Adam/AdamW, keras an ``iteration`` and a ``learning_rate`` (8 bytes) for every optimizer (its summary's
"Optimizer params": 2·trainable + 2 for Adam).
Buffers: running statistics in the parameter dtype, ``num_batches_tracked`` int64 (8 bytes).

What is counted is tensor bytes, as torch's CPU allocator holds them (exact: the tests count storages). Not
modelled: CUDA's caching allocator rounding each block up (to 512 bytes, and 2 MiB segments), cuDNN/cuBLAS
workspaces, the optimizer's temporaries during its step (MemTracker's peak, not its steady state), and the
gradient buffers alive during the backward pass.

Activation checkpointing (``checkpoint=True``): the network is cut into segments at its top-level name
prefixes (``layer1.0.*``: one segment); only each segment's input is kept, and during the backward one
segment at a time is recomputed: saved = Σ segment inputs + max over segments of what a segment keeps.
"""

from __future__ import annotations

from dataclasses import dataclass

from sympy import Expr, Integer

from ..errors import BindingError, did_you_mean
from ..layers.base import prod
from .facts import Facts

__all__ = ["DTYPES", "OPTIMIZERS", "Precision", "precision", "saved_tensors"]

ZERO = Integer(0)


@dataclass(frozen=True)
class Precision:
    name: str
    param: int  # bytes per parameter (and master weight)
    grad: int
    optimizer: int
    activation: int
    stats: int  # normalization statistics saved for backward


DTYPES = {
    "fp32": Precision("fp32", 4, 4, 4, 4, 4),
    "bf16": Precision("bf16", 2, 2, 2, 2, 2),
    "fp16": Precision("fp16", 2, 2, 2, 2, 2),
    "bf16-mixed": Precision("bf16-mixed", 4, 4, 4, 2, 4),
    "fp16-mixed": Precision("fp16-mixed", 4, 4, 4, 2, 4),
}
OPTIMIZERS = {"none": 0, "sgd": 0, "sgd-momentum": 1, "adam": 2, "adamw": 2}


def precision(name: str | Precision) -> Precision:
    if isinstance(name, Precision):
        return name
    if name in DTYPES:
        return DTYPES[name]
    raise BindingError(f"unknown dtype '{name}'{did_you_mean(str(name), DTYPES)}; one of {', '.join(DTYPES)}")


def optimizer_slots(name: str) -> int:
    key = name.lower().replace("_", "-").replace("+", "-")
    if key in OPTIMIZERS:
        return OPTIMIZERS[key]
    raise BindingError(f"unknown optimizer '{name}'{did_you_mean(str(name), OPTIMIZERS)}; "
                       f"one of {', '.join(OPTIMIZERS)}")


def param_tensors(f: Facts) -> int:
    """How many parameter tensors a layer holds (Adam keeps one `step` per tensor)."""
    if f.trainable == 0:
        return 0
    a = f.args
    if f.family == "attention" and f.framework == "torch":
        separate = (a.kdim is not None and a.kdim != a.embed_dim) or (a.vdim is not None and a.vdim != a.embed_dim)
        return (3 if separate else 1) + 1 + (2 if a.bias else 0) + (2 if a.add_bias_kv else 0)
    if f.family in ("conv", "linear"):
        return 1 + (1 if f.bias else 0)
    if f.family == "norm":
        if f.kind == "RMSNorm":
            return 1
        if f.kind == "LayerNorm":
            return 1 + (1 if getattr(a, "bias", True) else 0)
        return 2
    return 1


def buffer_bytes(f: Facts, p: Precision) -> Expr:
    if f.buffers == 0:
        return ZERO
    if f.framework == "torch" and (f.kind.startswith("BatchNorm") or f.kind.startswith("InstanceNorm")):
        return (f.buffers - 1) * p.param + 8  # running mean and var, and num_batches_tracked (int64)
    return f.buffers * p.param


_OUTPUT_SAVERS = {"ReLU", "Sigmoid", "Tanh", "ELU"}


def saved_tensors(f: Facts, p: Precision, needs_input_grad: bool, mode: str, n: Expr) -> list[tuple[str, Expr]]:
    """(tensor key, bytes) a layer keeps for backward at batch `n`. Keys name shared tensors: 'out:<layer>'
    for a layer's output (or a network input), 'own:<layer>:k' for the layer's private ones."""
    out = [(k, b if k.endswith(":stats") and f.kind.startswith(("BatchNorm", "BatchNormalization")) else n * b)
           for k, b in _per_sample(f, p, needs_input_grad, mode)]
    if p.activation < p.param and mode == "train" and f.framework == "torch":
        out += _half_weights(f, p, needs_input_grad)
    return out


def _half_weights(f: Facts, p: Precision, needs_input_grad: bool) -> list[tuple[str, Expr]]:
    """Under autocast, a convolution keeps the half-precision copy of its weight (always), a linear layer
    (and attention's projections) only where its input needs a gradient: whatever the batch."""
    if f.family == "conv":
        return [(f"own:{f.name}:weight", (f.trainable - (f.out_shape[0] if f.bias else 0)) * p.activation)]
    if f.family == "linear" and needs_input_grad:
        return [(f"own:{f.name}:weight", (f.trainable - (f.out_shape[-1] if f.bias else 0)) * p.activation)]
    if f.family == "attention":
        e = f.args.embed_dim
        k = f.in_shapes[1][1] if len(f.in_shapes) > 1 else f.in_shape[1]
        v = f.in_shapes[2][1] if len(f.in_shapes) > 2 else k
        proj_in = (e * e + e * k + e * v) if needs_input_grad else 0
        return [(f"own:{f.name}:weight", (proj_in + e * e) * p.activation)]
    return []


def _per_sample(f: Facts, p: Precision, needs_input_grad: bool, mode: str) -> list[tuple[str, Expr]]:
    """As `saved_tensors`, per sample (batch norm's statistics: per channel, whatever the batch)."""
    if mode != "train":
        return []
    fam, kind = f.family, f.kind
    act = p.activation
    x = f"out:{f.inputs[0]}" if f.inputs else None
    own = f"own:{f.name}"
    trainable = f.trainable != 0
    if not trainable and not needs_input_grad:
        return []
    if fam in ("conv", "linear", "recurrent"):
        return [(x, f.in_elems * act)]
    if kind == "Embedding":
        return [(x, f.in_elems * 8)]  # the int64 indices
    if fam == "norm":
        # under autocast (mixed precision) torch runs layer and group norm in fp32: their own fp32 copy
        fp32 = p.activation < p.param and kind in ("LayerNorm", "GroupNorm") and f.framework == "torch"
        out = [(f"{own}:input", f.in_elems * p.param) if fp32 else (x, f.in_elems * act)]
        if kind.startswith(("BatchNorm", "InstanceNorm")) or kind == "BatchNormalization":
            c = f.in_shape[0] if f.framework == "torch" else f.in_shape[-1]
            out.append((f"{own}:stats", 2 * c * p.stats))
            if kind.startswith("InstanceNorm") and f.affine:  # torch repeats the weight once per sample
                out.append((f"{own}:weight", c * p.param))
        elif kind in ("LayerNorm", "RMSNorm"):
            k = len(f.args.normalized_shape)
            rows = prod(f.in_shape[: len(f.in_shape) - k])
            out.append((f"{own}:stats", (1 if kind == "RMSNorm" else 2) * rows * p.stats))
        elif kind == "GroupNorm":
            out.append((f"{own}:stats", 2 * f.args.num_groups * p.stats))
        return out
    if fam == "activation":
        if kind in _OUTPUT_SAVERS:
            return [(f"out:{f.name}", f.out_elems * act)]
        return [(x, f.in_elems * act)]
    if fam == "softmax":
        return [(f"out:{f.name}", f.out_elems * act)]
    if fam == "pool":
        if kind in ("AdaptiveAvgPool1d", "AdaptiveAvgPool2d") and all(s == 1 for s in f.out_shape[1:]):
            return []  # torch takes the mean: only sizes are kept
        out = [(x, f.in_elems * act)]
        if "Max" in kind and f.framework == "torch":
            out.append((f"{own}:indices", f.out_elems * 8))
        return out
    if fam == "dropout":
        rate = getattr(f.args, "p", None) if f.framework == "torch" else getattr(f.args, "rate", None)
        if rate == 0:
            return []
        if kind in ("Dropout1d", "Dropout2d", "Dropout3d", "FeatureAlphaDropout"):
            return [(f"{own}:mask", f.in_shape[0] * act)]  # one draw per channel: an (N, C, 1, ...) mask
        return [(f"{own}:mask", f.in_elems * act)]
    if kind.startswith(("ReflectionPad", "ReplicationPad")) and f.framework == "torch":
        return [(x, f.in_elems * act)]
    if fam == "attention" and f.framework == "torch":
        return _torch_attention(f, p, x, own)
    if fam == "attention":
        return _keras_attention(f, p, x, own)
    return []


def _keras_attention(f: Facts, p: Precision, x: str | None, own: str) -> list[tuple[str, Expr]]:
    """keras MultiHeadAttention, an estimate (not checked exactly): as torch's fused attention keeps its
    tensors -- the query, the q/k/v projections, the heads' output and the logsumexp (fp32)."""
    a = f.args
    act = p.activation
    (tq, _), (tv, _) = f.in_shapes[0], f.in_shapes[1] if len(f.in_shapes) > 1 else f.in_shapes[0]
    tk = f.in_shapes[2][0] if len(f.in_shapes) > 2 else tv
    h, kd = a.num_heads, a.key_dim
    vd = a.value_dim if a.value_dim is not None else kd
    return [(x, f.in_elems * act), (f"{own}:qkv", h * (tq * kd + tk * kd + tv * vd) * act),
            (f"{own}:heads", h * tq * vd * act), (f"{own}:lse", h * tq * 4)]


def _torch_attention(f: Facts, p: Precision, x: str | None, own: str) -> list[tuple[str, Expr]]:
    """torch MultiheadAttention in training, as its three CPU paths keep tensors (saved_tensors_hooks)."""
    a = f.args
    act = p.activation
    lq, e = f.in_shape[0], a.embed_dim
    k = f.in_shapes[1] if len(f.in_shapes) > 1 else f.in_shape
    s = k[0] + (1 if a.add_bias_kv else 0) + (1 if a.add_zero_attn else 0)
    weights = a.num_heads * lq * s
    out = [(x, f.in_elems * act)]
    if getattr(a, "need_weights", True):  # bmm, softmax (, dropout), bmm
        out += [(f"{own}:qkv", 3 * lq * e * act), (f"{own}:q", lq * e * act), (f"{own}:weights", weights * act)]
        if a.dropout:  # the dropout mask and the dropped weights (the second bmm's operand)
            out += [(f"{own}:dropout", weights * act), (f"{own}:dropped", weights * act)]
    elif not a.dropout:  # the fused kernel: q, k, v, its output and the logsumexp per head and row (fp32)
        out += [(f"{own}:qkv", 3 * lq * e * act), (f"{own}:lse", a.num_heads * lq * 4)]
    else:  # the math path (training with dropout); in half precision torch runs it in fp32 (q, k, v copies)
        f32 = 4 if act < 4 else act
        out += [(f"{own}:qkv", 3 * lq * e * act) if act == f32 else (f"{own}:v", s * e * f32),
                (f"{own}:q", lq * e * f32), (f"{own}:k", s * e * f32), (f"{own}:weights", 3 * weights * f32)]
    return out + [(f"{own}:heads", lq * e * act)]


def simplify(e: Expr) -> Expr:
    """A sum as it is (multiplying out would spread floors: (floor(x) + 1)**2 into three terms)."""
    return e if e != 0 else ZERO
