"""Layers that move sizes around: padding, cropping, upsampling, flatten, reshape, permute, pixel shuffle."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

from sympy import Expr, Integer

from ..algebra import FloorDiv, smin
from ..errors import SpecError
from .base import (
    ANY,
    INT,
    INTS,
    NUMBER,
    Arg,
    ChoiceKind,
    Condition,
    Ctx,
    Kind,
    LayerOut,
    LayerRule,
    OptionalKind,
    PairsKind,
    RatioKind,
    Shape,
    ShapeKind,
    channels_last,
    divides,
    equal,
    join_channels,
    nonnegative,
    positive,
    prod,
    register,
    spatial_names,
    split_channels,
)
from .conv import DATA_FORMAT, keras_ignored
from .formulas import upsample_size

KERAS_META = ("name", "dtype")

# ---------------------------------------------------------------- keras


def _keras_pad_crop(rank: int, field: str, sign: int):  # noqa: ANN202
    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        last = channels_last("keras", getattr(a, "data_format", None))
        c, spatial = split_channels(inputs[0], rank, last, ctx, ctx.kind)
        names = spatial_names(rank)
        pairs = getattr(a, field)
        conds = []
        sizes = []
        for x, (lo, hi), n in zip(spatial, pairs, names, strict=True):
            conds += [nonnegative(f"{field} {n} (before)", lo), nonnegative(f"{field} {n} (after)", hi)]
            y = x + sign * (lo + hi)
            if sign < 0:
                conds.append(positive(f"output {n}", y))
            sizes.append(y)
        return LayerOut([join_channels(c, sizes, last)], conditions=conds)

    return apply


def _keras_upsampling(rank: int):  # noqa: ANN202
    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        last = channels_last("keras", getattr(a, "data_format", None))
        c, spatial = split_channels(inputs[0], rank, last, ctx, ctx.kind)
        conds = [positive(f"size {n}", s) for s, n in zip(a.size, spatial_names(rank), strict=True)]
        return LayerOut([join_channels(c, [x * s for x, s in zip(spatial, a.size, strict=True)], last)],
                        conditions=conds)

    return apply


def _flatten(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    return LayerOut([(prod(inputs[0]),)])


def _reshape(target: tuple, shape: Shape, what: str) -> tuple[Shape, list[Condition]]:
    """A target shape with at most one -1, checked against the input's element count."""
    total = prod(shape)
    unknown = [i for i, t in enumerate(target) if t == -1 and not isinstance(t, Expr)]
    if len(unknown) > 1:
        raise SpecError(f"{what} may contain at most one -1")
    known = prod([t for t in target if not (t == -1 and not isinstance(t, Expr))])
    conds = [positive(f"{what} entry {i}", t) for i, t in enumerate(target) if isinstance(t, Expr)]
    if not unknown:
        return tuple(target), [*conds, equal(f"product of {what}", known, total, "elements must be kept")]
    inferred = FloorDiv(total, known)
    out = tuple(inferred if i == unknown[0] else t for i, t in enumerate(target))
    return out, [*conds, divides(f"elements % product of {what}", total, known), positive("inferred size", inferred)]


def _keras_reshape(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    out, conds = _reshape(a.target_shape, inputs[0], "target_shape")
    return LayerOut([out], conditions=conds)


def _permutation(dims: tuple, rank: int, base: int, what: str) -> list[int]:
    axes = []
    for d in dims:
        if not isinstance(d, Integer):
            raise SpecError(f"{what} must be literal integers, got {d}")
        axes.append(int(d) - base)
    if sorted(axes) != list(range(rank)):
        got = [int(d) for d in dims]
        raise SpecError(f"{what} must be a permutation of {list(range(base, rank + base))}, got {got}")
    return axes


def _keras_permute(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = inputs[0]
    axes = _permutation(a.dims, len(shape), 1, "dims")
    return LayerOut([tuple(shape[i] for i in axes)])


def _keras_repeat(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    if len(inputs[0]) != 1:
        raise SpecError(f"RepeatVector expects a 1-d input (features), got {len(inputs[0])}-d")
    return LayerOut([(a.n, inputs[0][0])], conditions=[positive("n", a.n)])


def _register_keras() -> None:
    for rank in (1, 2, 3):
        fmt = [] if rank == 1 else [Arg("data_format", OptionalKind(DATA_FORMAT), None)]
        register("keras", f"ZeroPadding{rank}D", [Arg("padding", PairsKind(), 1), *fmt, *keras_ignored(*KERAS_META)],
                 _keras_pad_crop(rank, "padding", +1), f"{rank}-D zero padding (before, after) per axis", rank=rank)
        register("keras", f"Cropping{rank}D", [Arg("cropping", PairsKind(), 1 if rank == 1 else 0), *fmt,
                                               *keras_ignored(*KERAS_META)],
                 _keras_pad_crop(rank, "cropping", -1), f"{rank}-D cropping (before, after) per axis", rank=rank)
        interp = [Arg("interpolation", ChoiceKind("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5"),
                      "nearest")] if rank == 2 else []
        register("keras", f"UpSampling{rank}D", [Arg("size", INTS, 2), *fmt, *interp, *keras_ignored(*KERAS_META)],
                 _keras_upsampling(rank), f"{rank}-D upsampling by repetition", rank=rank)
    register("keras", "Flatten", [Arg("data_format", OptionalKind(DATA_FORMAT), None), *keras_ignored(*KERAS_META)],
             _flatten, "all axes into one")
    register("keras", "Reshape", [Arg("target_shape", ShapeKind(allow_minus_one=True)), *keras_ignored(*KERAS_META)],
             _keras_reshape, "to target_shape (one -1 inferred)",
             doc_args=(("target_shape", ["t", -1]),))
    register("keras", "Permute", [Arg("dims", ShapeKind()), *keras_ignored(*KERAS_META)], _keras_permute,
             "axes reordered (dims count from 1, batch excluded)", doc_args=(("dims", [2, 1]),))
    register("keras", "RepeatVector", [Arg("n", INT), *keras_ignored(*KERAS_META)], _keras_repeat,
             "(N) -> (n, N): the vector n times", doc_input=("N",))


# ---------------------------------------------------------------- torch


class TorchPadKind(Kind):
    """torch padding: an int, or 2*rank ints (left, right, top, bottom, front, back): last axis first."""

    label = "an int or one (start, end) pair per padded axis, last axis first"

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> tuple[tuple[Expr, Expr], ...]:
        n = rule.rank
        if isinstance(raw, (list, tuple)):
            if len(raw) != 2 * n:
                raise SpecError(f"expected {2 * n} values (left, right{', top, bottom' if n > 1 else ''}"
                                f"{', front, back' if n > 2 else ''}), got {len(raw)}")
            vals = [INT.parse(v, ctx, rule) for v in raw]
        else:
            vals = [INT.parse(raw, ctx, rule)] * (2 * n)
        pairs = [(vals[2 * i], vals[2 * i + 1]) for i in range(n)]
        return tuple(reversed(pairs))  # first spatial axis first


def _torch_pad(rank: int, mode: str):  # noqa: ANN202
    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        shape = inputs[0]
        if len(shape) < rank + 1 - (mode == "constant"):
            raise SpecError(f"{ctx.kind} expects at least {rank + 1} axes (channels first), got {len(shape)}")
        if mode != "constant" and len(shape) > rank + 1:  # torch: "Padding size 2 is not supported for 4D input"
            raise SpecError(f"{ctx.kind} expects {rank + 1} axes (channels first), got {len(shape)}")
        lead, spatial = shape[: len(shape) - rank], shape[len(shape) - rank:]
        names = spatial_names(rank)
        conds: list[Condition] = []
        sizes = []
        for x, (lo, hi), n in zip(spatial, a.padding, names, strict=True):
            y = x + lo + hi
            sizes.append(y)
            if mode == "reflect":
                conds += [Condition(f"input {n} - padding {n}", x - p, ">=", 1,
                                    "reflection padding must be smaller than the input") for p in (lo, hi)]
            elif mode == "circular":
                conds += [Condition(f"input {n} - padding {n}", x - p, ">=", 0,
                                    "circular padding may wrap around at most once") for p in (lo, hi)]
            if not (lo.is_nonnegative and hi.is_nonnegative):  # negative amounts crop, in every mode
                conds.append(Condition(f"input {n} - cropping {n}", x + smin(lo, 0) + smin(hi, 0), ">=", 0,
                                       "negative padding crops at most the whole input"))
            conds.append(positive(f"output {n}", y))
        return LayerOut([(*lead, *sizes)], conditions=conds)

    return apply


class ScaleKind(Kind):
    """A scale factor: one positive number or one per spatial axis, kept as exact rationals."""

    label = "a positive number or one per spatial axis"

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> tuple[Fraction, ...]:
        ratio = RatioKind()
        if isinstance(raw, (list, tuple)):
            return tuple(ratio.parse(r, ctx, rule) for r in raw)
        return (ratio.parse(raw, ctx, rule),)


def _torch_upsample(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = inputs[0]
    if len(shape) < 2:
        raise SpecError(f"{ctx.kind} expects (C, spatial...), got {len(shape)}-d")
    c, spatial = shape[0], shape[1:]
    rank = len(spatial)
    mode = "bilinear" if ctx.kind == "UpsamplingBilinear2d" else getattr(a, "mode", "nearest")
    ranks = {"linear": (1,), "bilinear": (2,), "bicubic": (2,), "trilinear": (3,)}.get(mode, (1, 2, 3))
    if rank not in ranks:  # torch: "Got 3D input, but bilinear mode needs 4D input"
        raise SpecError(f"{ctx.kind} mode '{mode}' takes {' or '.join(map(str, ranks))} spatial axes, got {rank}")
    if (a.size is None) == (a.scale_factor is None):
        raise SpecError("give exactly one of size and scale_factor")
    if a.size is not None:
        sizes = list(a.size) if len(a.size) == rank else list(a.size) * rank if len(a.size) == 1 else None
        if sizes is None:
            raise SpecError(f"size has {len(a.size)} entries for {rank} spatial axes", )
    else:
        scales = list(a.scale_factor) * rank if len(a.scale_factor) == 1 else list(a.scale_factor)
        if len(scales) != rank:
            raise SpecError(f"scale_factor has {len(scales)} entries for {rank} spatial axes")
        sizes = [upsample_size(x, f.numerator, f.denominator) for x, f in zip(spatial, scales, strict=True)]
    names = spatial_names(rank)
    return LayerOut([(c, *sizes)], conditions=[positive(f"output {n}", y) for y, n in zip(sizes, names, strict=True)])


def _torch_axis(dim: Expr, rank: int, what: str) -> int:
    """A torch dim (counting the batch axis) -> our axis (batch excluded)."""
    if not isinstance(dim, Integer):
        raise SpecError(f"{what} must be a literal integer, got {dim}")
    d = int(dim)
    full = rank + 1
    if not -full <= d < full:
        raise SpecError(f"{what}={d} is out of range for a {full}-d batched input")
    d = d + full if d < 0 else d
    if d == 0:
        raise SpecError(f"{what}=0 is the batch axis, which symshape leaves out of shapes")
    return d - 1


def _torch_flatten(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = inputs[0]
    lo = _torch_axis(a.start_dim, len(shape), "start_dim")
    hi = _torch_axis(a.end_dim, len(shape), "end_dim")
    if hi < lo:
        raise SpecError(f"end_dim comes before start_dim ({int(a.end_dim)} < {int(a.start_dim)})")
    return LayerOut([(*shape[:lo], prod(shape[lo:hi + 1]), *shape[hi + 1:])])


def _torch_unflatten(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = inputs[0]
    axis = _torch_axis(a.dim, len(shape), "dim")
    part, conds = _reshape(a.unflattened_size, (shape[axis],), "unflattened_size")
    return LayerOut([(*shape[:axis], *part, *shape[axis + 1:])], conditions=conds)


def _pixel_shuffle(down: bool):  # noqa: ANN202
    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        shape = inputs[0]
        if len(shape) < 3:
            raise SpecError(f"{ctx.kind} expects (C, H, W), got {len(shape)}-d")
        *lead, c, h, w = shape
        r = a.downscale_factor if down else a.upscale_factor
        conds = [positive("factor", r)]
        if down:
            conds += [divides("height % downscale_factor", h, r), divides("width % downscale_factor", w, r)]
            out = (*lead, c * r * r, FloorDiv(h, r), FloorDiv(w, r))
        else:
            conds.append(divides("channels % upscale_factor**2", c, r * r))
            out = (*lead, FloorDiv(c, r * r), h * r, w * r)
        return LayerOut([out], conditions=conds)

    return apply


def _register_torch() -> None:
    for rank in (1, 2, 3):
        pad = Arg("padding", TorchPadKind())
        doc = dict(rank=rank)
        register("torch", f"ZeroPad{rank}d", [pad], _torch_pad(rank, "constant"),
                 f"{rank}-D zero padding (negative values crop)", **doc)
        register("torch", f"ConstantPad{rank}d", [pad, Arg("value", NUMBER)], _torch_pad(rank, "constant"),
                 f"{rank}-D constant padding", rank=rank, doc_args=(("value", 0),))
        register("torch", f"ReflectionPad{rank}d", [pad], _torch_pad(rank, "reflect"),
                 f"{rank}-D reflection padding (each pad < input size)", **doc)
        register("torch", f"ReplicationPad{rank}d", [pad], _torch_pad(rank, "replicate"),
                 f"{rank}-D replication padding", **doc)
        register("torch", f"CircularPad{rank}d", [pad], _torch_pad(rank, "circular"),
                 f"{rank}-D circular padding (each pad <= input size)", **doc)
    up = [Arg("size", OptionalKind(ShapeKind()), None), Arg("scale_factor", OptionalKind(ScaleKind()), None)]
    register("torch", "Upsample", [*up, Arg("mode", ChoiceKind("nearest", "linear", "bilinear", "bicubic", "trilinear",
                                                                 "area", "nearest-exact"), "nearest"),
                                   Arg("align_corners", ANY, None), Arg("recompute_scale_factor", ANY, None)],
             _torch_upsample, "to size, or floor(x * scale_factor)", doc_args=(("scale_factor", 2),),
             doc_input=("C", "H", "W"))
    register("torch", "UpsamplingNearest2d", up, _torch_upsample, "nearest upsampling (2-D)",
             doc_args=(("scale_factor", 2),), doc_input=("C", "H", "W"))
    register("torch", "UpsamplingBilinear2d", up, _torch_upsample, "bilinear upsampling (2-D)",
             doc_args=(("scale_factor", 2),), doc_input=("C", "H", "W"))
    register("torch", "Flatten", [Arg("start_dim", INT, 1), Arg("end_dim", INT, -1)], _torch_flatten,
             "axes start_dim..end_dim into one (dims count the batch axis, as in torch)")
    register("torch", "Unflatten", [Arg("dim", INT), Arg("unflattened_size", ShapeKind(allow_minus_one=True))],
             _torch_unflatten, "one axis into unflattened_size", doc_args=(("dim", 2), ("unflattened_size", ["t", -1])))
    register("torch", "PixelShuffle", [Arg("upscale_factor", INT)], _pixel_shuffle(False),
             "(C*r^2, H, W) -> (C, H*r, W*r)", doc_input=("C", "H", "W"))
    register("torch", "PixelUnshuffle", [Arg("downscale_factor", INT)], _pixel_shuffle(True),
             "(C, H*r, W*r) -> (C*r^2, H, W)", doc_input=("C", "H", "W"))


_register_keras()
_register_torch()
