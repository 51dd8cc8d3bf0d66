"""FLOPs per layer, forward and backward, as formulas in the batch size and every symbol of the spec.

Forward: what the convention (:mod:`.conventions`) counts, per layer. Backward, as the frameworks compute
it (torch autograd; ``FlopCounterMode`` counts exactly this): for each multiply-add op (convolution,
linear, attention matmul) the gradient of the weights (same work as the forward) and the gradient of the
input (same again) — the input gradient only where the input needs one: a layer whose inputs come from
the network's inputs through parameter-free layers only (the first convolution) computes none. Bias
gradients, normalization, activations and pooling count in the backward as the convention counts them
forward (one pass over the elements), where their input needs a gradient; the tools other than
``flop_counter`` report no backward, so for them this is the convention's rule, not a measurement.
"""

from __future__ import annotations

from dataclasses import dataclass

from sympy import Expr, Integer

from ..algebra import FloorDiv
from ..errors import BindingError
from ..layers.base import prod
from .conventions import PRESETS, FlopConvention
from .facts import Facts

__all__ = ["LayerFlops", "layer_flops"]

ZERO = Integer(0)
ONE = Integer(1)


@dataclass(frozen=True)
class LayerFlops:
    forward: Expr
    backward: Expr


def _spatial(f: Facts, shape: tuple[Expr, ...]) -> tuple[Expr, ...]:
    return shape[1:] if f.framework == "torch" else shape[:-1]


def _channels(f: Facts, shape: tuple[Expr, ...]) -> Expr:
    return shape[0] if f.framework == "torch" else shape[-1]


def _bias_elems(f: Facts) -> Expr:
    if not f.bias:
        return ZERO
    if f.family == "attention":
        return _attention(f)["bias"]
    return f.out_elems


def _conv_output_macs(f: Facts) -> Expr:
    """A transposed convolution counted at every output position with the whole weight (torchinfo, thop)."""
    a = f.args
    if f.framework == "torch":
        g = a.groups
        c_in = f.in_shape[0]
        kk = prod(a.kernel_size)
        return f.out_elems * FloorDiv(c_in, g) * kk
    weight = f.trainable - (_channels(f, f.out_shape) if f.bias else 0)
    return prod(_spatial(f, f.out_shape)) * weight


def _torchinfo_conv(f: Facts) -> Expr:
    weight = f.trainable - (_channels(f, f.out_shape) if f.bias else 0)
    return prod(_spatial(f, f.out_shape)) * weight + (f.out_elems if f.bias else 0)


def _attention(f: Facts) -> dict[str, Expr]:
    """torch MultiheadAttention's parts (per sample): projections, attention matmuls, softmax, bias."""
    a = f.args
    if f.framework == "torch":
        shapes = _attention_inputs(f)
        (lq, eq), (sk, ek), (sv, ev) = shapes
        e, h = a.embed_dim, a.num_heads
        s = sk + (1 if a.add_bias_kv else 0) + (1 if a.add_zero_attn else 0)
        proj_in = lq * e * e + sk * ek * e + sv * ev * e
        proj_out = lq * e * e
        attn = 2 * lq * s * e
        bias = (lq + sk + sv) * e + lq * e
        # ptflops: its module hook counts the heads' matmuls and softmax once; with need_weights its patched
        # bmm and softmax see them again (the fused scaled_dot_product_attention is not patched)
        heads = 2 if need_weights(f) else 1
        ptflops = (lq * eq + lq * eq * eq + sk * ek * ek + sv * ev * ev
                   + ((lq + sk + sv) * eq if a.bias else 0)
                   + heads * h * (lq * sk * FloorDiv(eq, h) + lq * sk + lq * sk * FloorDiv(ev, h))
                   + lq * ev * (ev + 1))
        return {"proj_in": proj_in, "proj_out": proj_out, "attn": attn, "softmax": h * lq * s, "bias": bias,
                "ptflops": ptflops}
    # keras MultiHeadAttention: the derivation's MACs, split as projections and attention
    return {"proj_in": f.macs, "proj_out": ZERO, "attn": ZERO, "softmax": ZERO, "bias": ZERO, "ptflops": f.macs}


def need_weights(f: Facts) -> bool:
    """torch MultiheadAttention called with need_weights=True (its default): the explicit bmm/softmax path."""
    return f.framework != "torch" or bool(getattr(f.args, "need_weights", True))


def sdpa_math(f: Facts, mode: str) -> bool:
    """need_weights=False runs scaled_dot_product_attention; on CPU its fused kernel unless dropout applies
    (training with dropout > 0), where it runs the math path (matmuls, softmax, dropout: seen as ops)."""
    return not need_weights(f) and mode == "train" and bool(getattr(f.args, "dropout", 0))


def _attention_counted(f: Facts, c: FlopConvention, mode: str) -> bool:
    """Whether the convention counts the attention matmuls: always by the knobs (the real work); a tool only
    where it sees them: the bmm path (need_weights=True), or FlopCounterMode on the math SDPA path. fvcore
    has no handle for aten::scaled_dot_product_attention; ptflops' aten backend does not count it either."""
    if c.tool is None or need_weights(f):
        return True
    return c.tool == "flop_counter" and sdpa_math(f, mode)


def _attention_inputs(f: Facts) -> list[tuple[Expr, Expr]]:
    """(query, key, value) as (length, features): key defaults to the query, value to the key."""
    q = f.in_shapes[0]
    k = f.in_shapes[1] if len(f.in_shapes) > 1 else q
    v = f.in_shapes[2] if len(f.in_shapes) > 2 else k
    return [(q[0], q[1]), (k[0], k[1]), (v[0], v[1])]


def layer_flops(f: Facts, conv: FlopConvention, n: Expr, mode: str, needs_input_grad: bool) -> LayerFlops:
    """Forward and backward FLOPs of one layer for a batch of `n` (1 for a per-sample convention); no
    backward in eval mode."""
    if conv.per_sample:
        n = Integer(1)
    if conv.tool == "ptflops" and f.framework == "torch" and f.family != "recurrent":
        # its module hooks' counts are divided by the batch (one sample), its patched functionals' are not
        module, functional, upsample = _ptflops_parts(f, mode)
        fwd = module + n * functional + (FloorDiv(upsample, n) if upsample != 0 else ZERO)
        bwd = _backward(f, conv, needs_input_grad) if mode == "train" else ZERO
        return LayerFlops(fwd, n * bwd if bwd != 0 else ZERO)
    if conv.tool == "ptflops_aten" and f.kind == "GRU" and f.framework == "torch":
        whole = _recurrent_rule(f, conv, backward=False)  # its bias additions are counted once, whatever the batch
        bwd = _backward(f, conv, needs_input_grad) if mode == "train" else ZERO
        return LayerFlops(n * f.macs + (whole - f.macs), n * bwd if bwd != 0 else ZERO)
    if conv.tool == "ptflops_aten" and f.family == "attention" and f.framework == "torch":
        bwd = _backward(f, conv, needs_input_grad) if mode == "train" else ZERO
        return LayerFlops(n * _ptflops_aten(f, mode, n), n * bwd if bwd != 0 else ZERO)
    fwd = _forward(f, conv, mode)
    bwd = _backward(f, conv, needs_input_grad) if mode == "train" else ZERO
    return LayerFlops(n * fwd if fwd != 0 else ZERO, n * bwd if bwd != 0 else ZERO)


def _mac_ops(f: Facts, conv: FlopConvention, mode: str = "eval") -> Expr:
    """Multiply-adds the convention sees in this layer's matmuls and convolutions (per sample)."""
    if f.family == "conv" and f.transposed and conv.transposed == "output":
        return _conv_output_macs(f)
    if f.family == "attention":
        p = _attention(f)
        return p["proj_in"] + p["proj_out"] + (p["attn"] if _attention_counted(f, conv, mode) else 0)
    return f.macs


def _recurrent_rule(f: Facts, c: FlopConvention, backward: bool) -> Expr:
    """What a tool counts for a recurrent layer, where it is known (tested); otherwise a clear refusal."""
    if c.tool == "fvcore" and not backward:
        return ZERO  # no handle for aten::lstm / gru / rnn
    if c.tool == "flop_counter":
        if f.kind == "LSTM":
            return ZERO  # CPU's fused aten::lstm is not counted, forward or backward
        if f.kind == "GRU" and not backward:
            return 2 * f.macs  # CPU runs GRU as matmuls: all counted
    if c.tool == "ptflops_aten" and not backward:
        if f.kind == "LSTM":
            return ZERO
        if f.kind == "GRU":  # its matmuls and their bias additions (input and hidden: 3 gates each)
            steps = f.in_shape[0]
            return f.macs + (6 * f.args.hidden_size * steps if getattr(f.args, "bias", True) else 0)
    what = "backward" if backward else "forward"
    raise BindingError(f"the {c.name} preset does not reproduce {c.tool}'s {what} count of {f.kind} layers "
                       f"(layer {f.index} '{f.name}'); use flops='symshape' (MACs) or a FlopConvention")


def _forward(f: Facts, c: FlopConvention, mode: str) -> Expr:
    if c.tool is not None and f.framework == "torch":
        if f.family == "recurrent":
            return _recurrent_rule(f, c, backward=False)
        return _TOOLS[c.tool](f, mode)
    fam = f.family
    total = c.multiply_add * _mac_ops(f, c)
    if c.bias:
        total += c.bias * _bias_elems(f)
    if fam == "norm":
        total += c.norm * f.in_elems
    elif fam == "activation":
        total += c.activations * f.in_elems
    elif fam == "pool":
        total += c.pooling * f.in_elems
    elif fam == "softmax":
        total += c.softmax * f.in_elems
    elif fam == "attention":
        total += c.softmax * _attention(f)["softmax"]
    elif fam == "merge":
        total += c.elementwise * f.out_elems * (f.n_inputs - 1)
    return total


def _backward(f: Facts, c: FlopConvention, needs_input_grad: bool) -> Expr:
    """Gradient work: weights (if trainable) and input (if it needs a gradient), see the module text."""
    fam = f.family
    has_weights = f.trainable != 0
    ma = c.multiply_add
    if fam == "attention" and f.framework == "torch":
        p = _attention(f)
        # the weights of both projections; both operands of both attention matmuls; the output
        # projection's input; the input projection's input only when the layer's input needs it
        attn = 2 * p["attn"] if _attention_counted(f, c, "train") else 0
        work = p["proj_in"] + p["proj_out"] + attn + p["proj_out"] + (p["proj_in"] if needs_input_grad else 0)
        return ma * work
    if fam == "recurrent" and c.tool is not None and f.framework == "torch":
        return c.multiply_add * _recurrent_rule(f, c, backward=True) if c.tool == "flop_counter" else \
            ma * ((f.macs if has_weights else 0) + (f.macs if needs_input_grad else 0))
    if fam in ("conv", "linear", "recurrent", "attention"):
        macs = _mac_ops(f, c) if c.tool is None else f.macs
        work = (macs if has_weights else 0) + (macs if needs_input_grad else 0)
        return ma * work + (c.bias * _bias_elems(f) if c.tool is None and has_weights else 0)
    if c.tool is not None or not needs_input_grad:
        return ZERO
    if fam == "norm":
        return c.norm * f.in_elems
    if fam == "activation":
        return c.activations * f.in_elems
    if fam == "pool":
        return c.pooling * f.in_elems
    if fam == "softmax":
        return c.softmax * f.in_elems
    return ZERO


# ---------------------------------------------------------------- the tools' own rules (torch layers)


def _fvcore(f: Facts, mode: str) -> Expr:
    fam = f.family
    if fam == "attention":
        return _mac_ops(f, PRESETS["fvcore"], mode)
    if fam in ("conv", "linear", "recurrent"):
        return f.macs if fam != "recurrent" else ZERO  # fvcore has no handle for aten::lstm & co.
    if fam == "norm":
        if f.kind.startswith("BatchNorm"):
            if mode == "train":
                return f.in_elems * (5 if f.affine else 4)
            return f.in_elems * (2 if f.affine else 1)
        if f.kind in ("LayerNorm", "GroupNorm") or f.kind.startswith("InstanceNorm"):
            return f.in_elems * (5 if f.affine else 4)
        return ZERO
    if f.kind == "AdaptiveAvgPool2d":
        return f.in_elems
    if f.kind in UPSAMPLE and len(f.out_shape) == 3:  # aten::upsample_nearest2d 1, upsample_bilinear2d 4
        return f.out_elems * (4 if _upsample_mode(f) == "bilinear" else 1 if _upsample_mode(f) == "nearest" else 0)
    return ZERO


UPSAMPLE = ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d")


def _upsample_mode(f: Facts) -> str:
    if f.kind == "UpsamplingBilinear2d":
        return "bilinear"
    if f.kind == "UpsamplingNearest2d":
        return "nearest"
    return str(getattr(f.args, "mode", None) or "nearest")


def _flop_counter(f: Facts, mode: str) -> Expr:
    if f.family == "attention":
        return 2 * _mac_ops(f, PRESETS["flop_counter"], mode)
    if f.family in ("conv", "linear"):
        return 2 * _mac_ops(f, _EXACT)
    return ZERO


def _thop(f: Facts, mode: str) -> Expr:
    fam, kind = f.family, f.kind
    if fam == "conv":
        return _conv_output_macs(f) if f.transposed else f.macs
    if kind == "Linear":
        return f.macs
    if fam == "norm" and kind.startswith(("BatchNorm", "InstanceNorm", "LayerNorm")):  # no GroupNorm hook
        return f.in_elems * (4 if f.affine else 2)
    if kind == "PReLU":
        return f.in_elems
    if kind == "Softmax":  # exp, add and divide along dim: (3·n - 1) per row of n
        axis = _dim_axis(f)
        return 3 * f.in_elems - prod([s for i, s in enumerate(f.in_shape) if i != axis])
    if kind in UPSAMPLE:
        return f.out_elems * _THOP_UPSAMPLE.get(_upsample_mode(f), 0)
    if kind.startswith("AvgPool"):
        return f.out_elems
    if kind.startswith("AdaptiveAvgPool"):
        c = f.out_shape[0]
        return c * (prod(f.in_shape[1:]) + prod(f.out_shape[1:]))
    return ZERO


def _torchinfo(f: Facts, mode: str) -> Expr:
    fam = f.family
    if fam == "conv":
        return _torchinfo_conv(f)
    if fam in ("attention", "recurrent"):
        return ZERO  # attention: its parameters are not named weight/bias and its out_proj never runs as a module
    return f.trainable  # weight + bias of any other module, once per sample (a sequence's length is missed)


_THOP_UPSAMPLE = {"nearest": 1, "linear": 5, "bilinear": 11, "bicubic": 259, "trilinear": 31}
# ptflops: modules it hooks and functionals it patches both count (nn.ReLU calls the patched F.relu: twice)
_PTFLOPS_ACT = {"ReLU": 2, "ELU": 2, "PReLU": 2, "GELU": 2, "ReLU6": 1, "LeakyReLU": 1, "SiLU": 1, "Softmax": 1}
_PTFLOPS_MODULE = {"ReLU", "ELU", "PReLU", "GELU", "ReLU6", "LeakyReLU"}  # hooked modules (the rest: functionals)


def _dim_axis(f: Facts) -> int:
    """A torch `dim` (counting the batch axis) as an axis of the shape without it."""
    dim = int(getattr(f.args, "dim", -1) if getattr(f.args, "dim", None) is not None else -1)
    return dim - 1 if dim > 0 else len(f.in_shape) + dim


def _ptflops(f: Facts, mode: str) -> Expr:
    """ptflops (pytorch backend) at a batch of one: see `_ptflops_parts`."""
    return sum(_ptflops_parts(f, mode), ZERO)


def _ptflops_parts(f: Facts, mode: str) -> tuple[Expr, Expr, Expr]:
    """ptflops' pytorch backend, per sample: (its module hook, divided by the batch: one sample; its patched
    functionals and tensor ops, which count the whole batch; its Upsample hook, which counts the first
    sample's output and is then divided by the batch too)."""
    fam, kind = f.family, f.kind
    if fam == "conv":
        return f.macs + (f.out_elems if f.bias else 0), ZERO, ZERO
    if kind == "Linear":
        return f.macs + (f.out_elems if f.bias else 0), ZERO, ZERO
    if fam == "attention":
        p = _attention(f)
        if not need_weights(f):
            return p["ptflops"], ZERO, ZERO
        (lq, eq), (sk, _), (_, ev) = _attention_inputs(f)
        h = f.args.num_heads  # the patched torch.bmm (both products) and F.softmax
        heads = h * (lq * sk * FloorDiv(eq, h) + lq * sk + lq * sk * FloorDiv(ev, h))
        return p["ptflops"] - heads, heads, ZERO
    if fam == "norm" and kind != "RMSNorm":
        doubled = f.affine and kind != "LayerNorm"  # its hook reads `module.affine` (LayerNorm has none)
        return f.in_elems * (2 if doubled else 1), ZERO, ZERO
    if fam in ("activation", "softmax"):
        module = 1 if kind in _PTFLOPS_MODULE else 0
        return module * f.in_elems, (_PTFLOPS_ACT.get(kind, 0) - module) * f.in_elems, ZERO
    if kind in UPSAMPLE:
        return ZERO, f.out_elems, f.out_elems  # the patched F.interpolate; its Upsample hook
    if kind.startswith(("MaxPool", "AvgPool", "AdaptiveAvgPool", "AdaptiveMaxPool")):
        return f.in_elems, f.in_elems, ZERO  # the module hook and the patched functional both count the input
    return ZERO, ZERO, ZERO


_EXACT = FlopConvention("exact")
def _ptflops_aten(f: Facts, mode: str, n: Expr = ONE) -> Expr:
    """ptflops' aten backend: convolutions and matmuls (with their bias additions), nothing else. Attention's
    input projection runs as addmm (bias counted) only on a contiguous input: batch_first=False, or a batch
    of one; a batch-first batch is transposed and runs as matmul + add (bias not counted)."""
    if f.family == "attention":
        bias = _bias_elems(f)
        if f.framework == "torch" and f.bias and getattr(f.args, "batch_first", False):
            (lq, _), (sk, _), (sv, _) = _attention_inputs(f)
            bias -= (lq + sk + sv) * f.args.embed_dim * (1 - FloorDiv(1, n))  # FloorDiv(1, n): 1 at n = 1, else 0
        return _mac_ops(f, PRESETS["ptflops_aten"], mode) + bias
    if f.family in ("conv", "linear"):
        return _mac_ops(f, _EXACT) + _bias_elems(f)
    return ZERO


_TOOLS = {"fvcore": _fvcore, "flop_counter": _flop_counter, "thop": _thop, "torchinfo": _torchinfo,
          "ptflops": _ptflops, "ptflops_aten": _ptflops_aten}
