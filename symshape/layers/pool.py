"""Pooling: keras Max/Average/Global pooling, torch Max/Avg/Adaptive pooling (ceil_mode included)."""

from __future__ import annotations

from types import SimpleNamespace

from sympy import Expr, Integer

from .base import (
    ANY,
    BOOL,
    INTS,
    Arg,
    Condition,
    Ctx,
    LayerOut,
    OptionalKind,
    Shape,
    ShapeKind,
    channels_last,
    join_channels,
    nonnegative,
    positive,
    register,
    spatial_names,
    split_channels,
)
from .conv import DATA_FORMAT, PaddingKind, keras_ignored
from .formulas import dropped_rows, effective_kernel, same_size, torch_pool_size, window_count


def _keras_pool(rank: int):  # noqa: ANN202
    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        last = channels_last("keras", a.data_format)
        c, spatial = split_channels(inputs[0], rank, last, ctx, ctx.kind)
        names = spatial_names(rank)
        ks = a.pool_size
        ss = a.strides if a.strides is not None else ks
        conds = []
        for k, s, n in zip(ks, ss, names, strict=True):
            conds += [positive(f"pool_size {n}", k), positive(f"strides {n}", s)]
        if a.padding == "same":
            sizes = [same_size(x, s) for x, s in zip(spatial, ss, strict=True)]
        else:
            sizes = [window_count(x, k, s) for x, k, s in zip(spatial, ks, ss, strict=True)]
            conds += [positive(f"output {n}", y) for y, n in zip(sizes, names, strict=True)]
        dropped = [(n, dropped_rows(x, y, s, k)) for x, y, k, s, n in zip(spatial, sizes, ks, ss, names, strict=True)]
        return LayerOut([join_channels(c, sizes, last)], conditions=conds, dropped=dropped)

    return apply


def _keras_global(rank: int):  # noqa: ANN202
    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        last = channels_last("keras", a.data_format)
        c, _ = split_channels(inputs[0], rank, last, ctx, ctx.kind)
        shape = join_channels(c, [Integer(1)] * rank, last) if a.keepdims else (c,)
        return LayerOut([shape])

    return apply


def _torch_pool(rank: int, kind: str):  # noqa: ANN202
    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        c, spatial = split_channels(inputs[0], rank, False, ctx, ctx.kind)
        names = spatial_names(rank)
        ks, ps = a.kernel_size, a.padding
        ss = a.stride if a.stride is not None else ks
        ds = a.dilation if kind == "max" else (Integer(1),) * rank
        conds: list[Condition] = []
        sizes = []
        dropped: list[tuple[str, Expr]] = []
        for x, k, s, p, d, n in zip(spatial, ks, ss, ps, ds, names, strict=True):
            conds += [positive(f"kernel {n}", k), positive(f"stride {n}", s), positive(f"dilation {n}", d),
                      nonnegative(f"padding {n}", p),
                      Condition(f"kernel - 2*padding {n}", k - 2 * p, ">=", 0,
                                "torch: padding at most half the kernel size")]
            if kind == "avg" and rank == 3:
                conds.append(Condition(f"input {n} - kernel {n}", x - k, ">=", 0,
                                       "torch's avg_pool3d needs the unpadded input at least as large as the kernel"))
            y = torch_pool_size(x, k, s, p, d, a.ceil_mode)
            conds.append(positive(f"output {n}", y))
            sizes.append(y)
            dropped.append((n, dropped_rows(x, y, s, effective_kernel(k, d), p)))
        shape = (c, *sizes)
        outputs = [shape, shape] if kind == "max" and a.return_indices else [shape]
        return LayerOut(outputs, conditions=conds, dropped=dropped)

    return apply


def _torch_adaptive(rank: int, kind: str):  # noqa: ANN202
    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        c, spatial = split_channels(inputs[0], rank, False, ctx, ctx.kind)
        sizes = list(a.output_size)
        if len(sizes) == 1 and rank > 1:
            sizes = sizes * rank
        if len(sizes) != rank:
            raise ctx.error(f"expected 1 or {rank} output sizes, got {len(sizes)}", "output_size")
        sizes = [x if y is None else y for x, y in zip(spatial, sizes, strict=True)]
        conds = [positive(f"output {n}", y) for y, n in zip(sizes, spatial_names(rank), strict=True)]
        shape = (c, *sizes)
        outputs = [shape, shape] if kind == "max" and a.return_indices else [shape]
        return LayerOut(outputs, conditions=conds)

    return apply


def _register() -> None:
    for rank in (1, 2, 3):
        default = 2 if rank == 1 else (2,) * rank
        for keras_name, kind in (("MaxPooling", "max"), ("AveragePooling", "average")):
            register("keras", f"{keras_name}{rank}D",
                     [Arg("pool_size", INTS, default), Arg("strides", OptionalKind(INTS), None),
                      Arg("padding", PaddingKind("valid", "same", numbers=False), "valid"),
                      Arg("data_format", OptionalKind(DATA_FORMAT), None), *keras_ignored("name", "dtype")],
                     _keras_pool(rank), f"{rank}-D {kind} pooling",
                     rank=rank)
            register("keras", f"Global{keras_name}{rank}D",
                     [Arg("data_format", OptionalKind(DATA_FORMAT), None), Arg("keepdims", BOOL, False),
                      *keras_ignored("name", "dtype")],
                     _keras_global(rank), f"{rank}-D global {kind} pooling", rank=rank)
        common = [Arg("kernel_size", INTS), Arg("stride", OptionalKind(INTS), None), Arg("padding", INTS, 0)]
        register("torch", f"MaxPool{rank}d",
                 [*common, Arg("dilation", INTS, 1), Arg("return_indices", BOOL, False), Arg("ceil_mode", BOOL, False)],
                 _torch_pool(rank, "max"), f"{rank}-D max pooling (ceil_mode: last window starts inside)",
                 rank=rank)
        avg_extra = [Arg("divisor_override", ANY, None)] if rank > 1 else []
        register("torch", f"AvgPool{rank}d",
                 [*common, Arg("ceil_mode", BOOL, False), Arg("count_include_pad", BOOL, True), *avg_extra],
                 _torch_pool(rank, "avg"), f"{rank}-D average pooling", rank=rank)
        sizes = ShapeKind(allow_none=True)
        register("torch", f"AdaptiveAvgPool{rank}d", [Arg("output_size", sizes)],
                 _torch_adaptive(rank, "avg"), f"{rank}-D adaptive average pooling to output_size", rank=rank)
        register("torch", f"AdaptiveMaxPool{rank}d", [Arg("output_size", sizes), Arg("return_indices", BOOL, False)],
                 _torch_adaptive(rank, "max"), f"{rank}-D adaptive max pooling to output_size", rank=rank)


_register()
