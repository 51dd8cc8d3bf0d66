"""Convolutions: keras Conv/Depthwise/Separable/Transpose, torch Conv/ConvTranspose."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

from sympy import Expr, Integer

from ..algebra import FloorDiv, smax, smin
from ..errors import LimitError, SpecError, did_you_mean
from .base import (
    ACTIVATION,
    ANY,
    BOOL,
    INT,
    INTS,
    OPT_INT,
    Arg,
    ChoiceKind,
    Condition,
    Ctx,
    IntsKind,
    Kind,
    LayerOut,
    LayerRule,
    OptionalKind,
    Shape,
    _show,
    channels_last,
    divides,
    equal,
    is_mode_word,
    join_channels,
    mode_error,
    nonnegative,
    positive,
    prod,
    register,
    spatial_names,
    split_channels,
)
from .formulas import conv_size, dropped_rows, effective_kernel, keras_transpose_size, same_size, torch_transpose_size

KERAS_COMMON = ("activation", "kernel_initializer", "bias_initializer", "kernel_regularizer",
                "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint",
                "lora_rank", "lora_alpha", "name", "dtype", "input_shape", "autocast")
DATA_FORMAT = ChoiceKind("channels_last", "channels_first")


def keras_ignored(*names: str) -> list[Arg]:
    """Arguments that change neither shapes nor counts; activations are checked by name, as keras does."""
    return [Arg(n, ACTIVATION if n in ("activation", "recurrent_activation") else ANY, None) for n in names]


class PaddingKind(Kind):
    """A padding mode by name, or (symshape's extension for keras convolutions) explicit zeros per side;
    `numbers=False`: a mode only (keras pooling)."""

    def __init__(self, *modes: str, numbers: bool = True) -> None:
        self.modes = modes
        self.numbers = numbers
        self.label = " or ".join(repr(m) for m in modes) + (", an int, or one int per spatial axis" if numbers else "")

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> str | tuple[Expr, ...]:
        if isinstance(raw, str) and raw in self.modes:
            return raw
        if isinstance(raw, str) and raw.lower() in self.modes:
            return raw.lower()
        if not self.numbers:
            word = raw.strip() if isinstance(raw, str) else ""
            if word.isidentifier() and is_mode_word(word):
                raise mode_error(word, rule, self.label, self.modes)
            hint = did_you_mean(raw, self.modes) if isinstance(raw, str) else ""
            raise SpecError(f"expected {self.label}, got {raw!r}{hint}")
        if isinstance(raw, str) and raw.strip().isidentifier() and is_mode_word(raw.strip()):
            raise mode_error(raw.strip(), rule, self.label, self.modes)
        if isinstance(raw, str) and raw.isidentifier() and did_you_mean(raw, self.modes):
            raise SpecError(f"unknown padding {raw!r}{did_you_mean(raw, self.modes)}; expected {self.label}")
        try:
            return IntsKind().parse(raw, ctx, rule)
        except LimitError:
            raise
        except SpecError as err:
            raise SpecError(f"expected {self.label}, got {_show(raw)}: {err.message}") from err


def _conv_checks(ks: Sequence[Expr], ss: Sequence[Expr], ds: Sequence[Expr], names: Sequence[str]) -> list[Condition]:
    out: list[Condition] = []
    for k, s, d, n in zip(ks, ss, ds, names, strict=True):
        out += [positive(f"kernel {n}", k), positive(f"stride {n}", s), positive(f"dilation {n}", d)]
    return out


def _out_positive(sizes: Sequence[Expr], names: Sequence[str]) -> list[Condition]:
    return [positive(f"output {n}", s) for s, n in zip(sizes, names, strict=True)]


def _keras_stride_dilation(ss: Sequence[Expr], ds: Sequence[Expr]) -> list[Condition]:
    if all(s == 1 for s in ss) or all(d == 1 for d in ds):
        return []
    return [Condition("min(max(strides), max(dilation_rate))", smin(smax(*ss), smax(*ds)), "<=", 1,
                      "keras refuses strides > 1 together with dilation_rate > 1")]


def _keras_spatial(a: SimpleNamespace, spatial: Shape, names: Sequence[str],
                   refuse_strided_dilation: bool) -> tuple[list[Expr], list[Condition]]:
    """keras conv output sizes for 'valid', 'same', 'causal' or explicit symmetric padding P."""
    ks, ss, ds = a.kernel_size, a.strides, a.dilation_rate
    conds = _conv_checks(ks, ss, ds, names)
    if refuse_strided_dilation:  # keras' Conv*D refuse it; Depthwise and Separable accept it
        conds += _keras_stride_dilation(ss, ds)
    if a.padding in ("same", "causal"):
        return [same_size(x, s) for x, s in zip(spatial, ss, strict=True)], conds
    pads = (Integer(0),) * len(ks) if a.padding == "valid" else a.padding
    if a.padding != "valid":
        conds += [nonnegative(f"padding {n}", p) for p, n in zip(pads, names, strict=True)]
    sizes = [conv_size(x, k, s, 2 * p, d) for x, k, s, p, d in zip(spatial, ks, ss, pads, ds, strict=True)]
    return sizes, conds + _out_positive(sizes, names)


def _keras_dropped(a: SimpleNamespace, spatial: Shape, sizes: Sequence[Expr], names: Sequence[str]
                   ) -> list[tuple[str, Expr]]:
    """Input rows no window reads, per axis ('same' pads instead, except with kernels below the stride)."""
    out = []
    for i, (x, y, k, s, d, n) in enumerate(zip(spatial, sizes, a.kernel_size, a.strides, a.dilation_rate, names,
                                               strict=True)):
        e = effective_kernel(k, d)
        pad_lo = e - 1 if a.padding == "causal" else a.padding[i] if isinstance(a.padding, tuple) else Integer(0)
        out.append((n, dropped_rows(x, y, s, e, pad_lo)))
    return out


def _trainable_split(a: SimpleNamespace, total: Expr) -> dict[str, Expr]:
    return {"trainable": total} if getattr(a, "trainable", True) else {"non_trainable": total}


def _keras_conv(rank: int, kind: str):  # noqa: ANN202 - returns the rule's apply function
    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        last = channels_last("keras", a.data_format)
        c, spatial = split_channels(inputs[0], rank, last, ctx, ctx.kind)
        names = spatial_names(rank)
        sizes, conds = _keras_spatial(a, spatial, names, refuse_strided_dilation=kind == "conv")
        kk = prod(a.kernel_size)
        bias = Integer(1) if a.use_bias else Integer(0)
        if kind == "conv":
            g = a.groups
            conds += [positive("filters", a.filters), positive("groups", g),
                      divides("filters % groups", a.filters, g), divides("input channels % groups", c, g)]
            out_c = a.filters
            params = prod([*a.kernel_size, FloorDiv(c, g), a.filters]) + bias * a.filters
            macs = prod([*sizes, a.filters, *a.kernel_size, FloorDiv(c, g)])
        elif kind == "depthwise":
            m = a.depth_multiplier
            conds.append(positive("depth_multiplier", m))
            out_c = c * m
            params = kk * c * m + bias * c * m
            macs = prod([*sizes, c, m, *a.kernel_size])
        else:  # separable
            m = a.depth_multiplier
            conds += [positive("depth_multiplier", m), positive("filters", a.filters)]
            out_c = a.filters
            params = kk * c * m + c * m * a.filters + bias * a.filters
            macs = prod(sizes) * (c * m * kk + c * m * a.filters)
        return LayerOut([join_channels(out_c, sizes, last)], macs=macs, conditions=conds,
                        dropped=_keras_dropped(a, spatial, sizes, names), **_trainable_split(a, params))

    return apply


def _keras_conv_transpose(rank: int):  # noqa: ANN202
    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        last = channels_last("keras", a.data_format)
        c, spatial = split_channels(inputs[0], rank, last, ctx, ctx.kind)
        names = spatial_names(rank)
        ks, ss, ds = a.kernel_size, a.strides, a.dilation_rate
        conds = _conv_checks(ks, ss, ds, names) + [positive("filters", a.filters)] + _keras_stride_dilation(ss, ds)
        ops = a.output_padding
        if ops is not None:
            for op, s, n in zip(ops, ss, names, strict=True):
                conds += [nonnegative(f"output_padding {n}", op),
                          Condition(f"stride - output_padding {n}", s - op, ">=", 1,
                                    "keras requires output_padding < strides")]
        sizes = [keras_transpose_size(x, k, s, a.padding, d, None if ops is None else ops[i])
                 for i, (x, k, s, d) in enumerate(zip(spatial, ks, ss, ds, strict=True))]
        conds += _out_positive(sizes, names)
        kk = prod(ks)
        params = kk * c * a.filters + (a.filters if a.use_bias else 0)
        macs = prod(spatial) * c * a.filters * kk
        return LayerOut([join_channels(a.filters, sizes, last)], macs=macs, conditions=conds,
                        **_trainable_split(a, params))

    return apply


def _register_keras() -> None:
    for rank in (1, 2, 3):
        modes = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
        spatial = [Arg("kernel_size", INTS), Arg("strides", INTS, 1), Arg("padding", PaddingKind(*modes), "valid"),
                   Arg("data_format", OptionalKind(DATA_FORMAT), None), Arg("dilation_rate", INTS, 1)]
        common = [Arg("use_bias", BOOL, True), Arg("trainable", BOOL, True), *keras_ignored(*KERAS_COMMON)]
        # keras 3: only Conv1D takes 'causal'; the transposes take 'valid' or 'same' and nothing else
        no_causal = [*spatial[:2], Arg("padding", PaddingKind("valid", "same"), "valid"), *spatial[3:]]
        transpose = [*spatial[:2], Arg("padding", PaddingKind("valid", "same", numbers=False), "valid"), *spatial[3:]]
        doc = dict(rank=rank)
        register("keras", f"Conv{rank}D", [Arg("filters", INT), *spatial, Arg("groups", INT, 1), *common],
                 _keras_conv(rank, "conv"), f"{rank}-D convolution", **doc)
        register("keras", f"Conv{rank}DTranspose",
                 [Arg("filters", INT), *transpose[:3], Arg("output_padding", OptionalKind(INTS), None),
                  *transpose[3:], *common],
                 _keras_conv_transpose(rank), f"{rank}-D transposed convolution",
                 rank=rank)
        if rank < 3:
            dw_ignored = keras_ignored("depthwise_initializer", "depthwise_regularizer", "depthwise_constraint",
                                       "pointwise_initializer", "pointwise_regularizer", "pointwise_constraint")
            register("keras", f"DepthwiseConv{rank}D",
                     [*no_causal, Arg("depth_multiplier", INT, 1), *common, *dw_ignored],
                     _keras_conv(rank, "depthwise"),
                     f"{rank}-D depthwise convolution (depth_multiplier filters per channel)",
                     rank=rank)
            register("keras", f"SeparableConv{rank}D",
                     [Arg("filters", INT), *no_causal, Arg("depth_multiplier", INT, 1), *common, *dw_ignored],
                     _keras_conv(rank, "separable"), f"{rank}-D depthwise then pointwise convolution",
                     rank=rank)


# ---------------------------------------------------------------- torch

TORCH_IGNORED = ("device", "dtype")


def _torch_channels(a: SimpleNamespace, c: Expr, field: str, conds: list[Condition]) -> None:
    given = getattr(a, field)
    if given is not None:
        conds.append(equal(f"{field} vs incoming channels", given, c, f"{field} must match the input"))


def _torch_pad_mode(a: SimpleNamespace, spatial: Shape, pads: Sequence[Expr], names: Sequence[str]) -> list[Condition]:
    if a.padding_mode == "reflect":
        return [Condition(f"input {n} - padding", x - p, ">=", 1, "reflect padding must be smaller than the input")
                for x, p, n in zip(spatial, pads, names, strict=True)]
    if a.padding_mode == "circular":
        return [Condition(f"input {n} - padding", x - p, ">=", 0, "circular padding may wrap around at most once")
                for x, p, n in zip(spatial, pads, names, strict=True)]
    return []


def _torch_conv(rank: int):  # noqa: ANN202
    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        c, spatial = split_channels(inputs[0], rank, False, ctx, ctx.kind)
        names = spatial_names(rank)
        ks, ss, ds, g = a.kernel_size, a.stride, a.dilation, a.groups
        conds = _conv_checks(ks, ss, ds, names)
        _torch_channels(a, c, "in_channels", conds)
        conds += [positive("out_channels", a.out_channels), positive("groups", g),
                  divides("in_channels % groups", c, g), divides("out_channels % groups", a.out_channels, g)]
        if a.padding == "same":
            conds.append(Condition("max(stride)", smax(*ss), "<=", 1,
                                   "torch refuses padding='same' for strided convolutions"))
            sizes = list(spatial)
            pads = [FloorDiv(d * (k - 1), 2) for k, d in zip(ks, ds, strict=True)]
            pads_hi = [d * (k - 1) - lo for k, d, lo in zip(ks, ds, pads, strict=True)]
            conds += _torch_pad_mode(a, spatial, [smax(lo, hi) for lo, hi in zip(pads, pads_hi, strict=True)], names)
        else:
            pads = [Integer(0)] * rank if a.padding == "valid" else list(a.padding)
            conds += [nonnegative(f"padding {n}", p) for p, n in zip(pads, names, strict=True)]
            conds += _torch_pad_mode(a, spatial, pads, names)
            sizes = [conv_size(x, k, s, 2 * p, d) for x, k, s, p, d in zip(spatial, ks, ss, pads, ds, strict=True)]
            conds += _out_positive(sizes, names)
        declared = c if a.in_channels is None else a.in_channels  # torch builds the module as declared
        per_filter = FloorDiv(declared, g)
        params = prod([a.out_channels, per_filter, *ks]) + (a.out_channels if a.bias else 0)
        macs = prod([*sizes, a.out_channels, per_filter, *ks])
        dropped = [(n, dropped_rows(x, y, st, effective_kernel(k, d), p))
                   for x, y, st, k, d, p, n in zip(spatial, sizes, ss, ks, ds, pads, names, strict=True)]
        return LayerOut([(a.out_channels, *sizes)], trainable=params, macs=macs, conditions=conds, dropped=dropped)

    return apply


def _torch_conv_transpose(rank: int):  # noqa: ANN202
    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        c, spatial = split_channels(inputs[0], rank, False, ctx, ctx.kind)
        names = spatial_names(rank)
        ks, ss, ds, g, ops = a.kernel_size, a.stride, a.dilation, a.groups, a.output_padding
        conds = _conv_checks(ks, ss, ds, names)
        _torch_channels(a, c, "in_channels", conds)
        conds += [positive("out_channels", a.out_channels), positive("groups", g),
                  divides("in_channels % groups", c, g), divides("out_channels % groups", a.out_channels, g)]
        for p, op, s, d, n in zip(a.padding, ops, ss, ds, names, strict=True):
            conds += [nonnegative(f"padding {n}", p), nonnegative(f"output_padding {n}", op),
                      Condition(f"max(stride, dilation) - output_padding {n}", smax(s, d) - op, ">=", 1,
                                "torch requires output_padding smaller than either stride or dilation")]
        sizes = [torch_transpose_size(x, k, s, p, d, op)
                 for x, k, s, p, d, op in zip(spatial, ks, ss, a.padding, ds, ops, strict=True)]
        conds += _out_positive(sizes, names)
        kk = prod(ks)
        declared = c if a.in_channels is None else a.in_channels  # torch builds the module as declared
        params = declared * FloorDiv(a.out_channels, g) * kk + (a.out_channels if a.bias else 0)
        macs = prod(spatial) * declared * FloorDiv(a.out_channels, g) * kk
        return LayerOut([(a.out_channels, *sizes)], trainable=params, macs=macs, conditions=conds)

    return apply


def _register_torch() -> None:
    for rank in (1, 2, 3):
        head = [Arg("in_channels", OPT_INT, None), Arg("out_channels", INT), Arg("kernel_size", INTS),
                Arg("stride", INTS, 1)]
        tail = [Arg("device", ANY, None), Arg("dtype", ANY, None)]
        register("torch", f"Conv{rank}d",
                 [*head, Arg("padding", PaddingKind("same", "valid"), 0), Arg("dilation", INTS, 1),
                  Arg("groups", INT, 1), Arg("bias", BOOL, True),
                  Arg("padding_mode", ChoiceKind("zeros", "reflect", "replicate", "circular"), "zeros"), *tail],
                 _torch_conv(rank), f"{rank}-D convolution", rank=rank)
        register("torch", f"ConvTranspose{rank}d",
                 [*head, Arg("padding", INTS, 0), Arg("output_padding", INTS, 0), Arg("groups", INT, 1),
                  Arg("bias", BOOL, True), Arg("dilation", INTS, 1),
                  Arg("padding_mode", ChoiceKind("zeros"), "zeros"), *tail],
                 _torch_conv_transpose(rank), f"{rank}-D transposed convolution", rank=rank)


_register_keras()
_register_torch()
