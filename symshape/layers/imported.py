"""Layers the importers need (symshape.importers): torch's tensor methods `reshape`/`view`, `permute`,
`transpose` and `mean`; keras' `Rescaling` and `Normalization`; and `Opaque`, an op symshape does not model,
kept with the shapes the framework reported at one input size (``symshape import --allow-opaque``).

An `Opaque` layer is honest about what it knows: its outputs are the recorded shapes, its counts the recorded
counts, and it is valid only when its inputs have exactly the recorded shapes (a condition per axis), so a
spec holding one never claims validity at sizes nobody measured.
"""

from __future__ import annotations

from types import SimpleNamespace

from sympy import Expr, Integer

from ..algebra import FloorDiv
from ..errors import SpecError
from .base import (
    ANY,
    BOOL,
    INT,
    NUMBER,
    STR,
    Arg,
    Condition,
    Ctx,
    Kind,
    LayerOut,
    LayerRule,
    OptionalKind,
    Shape,
    ShapeKind,
    divides,
    equal,
    positive,
    prod,
    register,
)
from .conv import keras_ignored

__all__ = ["OPAQUE"]

OPAQUE = "Opaque"


def _axis(dim: object, rank: int, what: str) -> int:
    """A torch dim (counting the batch axis) -> an axis of the shape without the batch axis."""
    if not isinstance(dim, Integer):
        raise SpecError(f"{what} must be a literal integer, got {dim}")
    d, full = int(dim), rank + 1
    if not -full <= d < full:
        raise SpecError(f"{what}={d} is out of range for a {full}-d batched input")
    d = d + full if d < 0 else d
    if d == 0:
        raise SpecError(f"{what}=0 is the batch axis, which symshape leaves out of shapes")
    return d - 1


def _torch_reshape(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = inputs[0]
    target = list(a.shape)
    minus = [i for i, t in enumerate(target) if not isinstance(t, Expr) and t == -1]
    if len(minus) > 1:
        raise SpecError("shape may contain at most one -1")
    total = prod(shape)
    known = prod([t for i, t in enumerate(target) if i not in minus])
    conds: list[Condition] = [positive(f"shape entry {i}", t) for i, t in enumerate(target) if i not in minus]
    if not minus:
        conds.append(equal("product of shape", known, total, "a reshape keeps the number of elements"))
        return LayerOut([tuple(target)], conditions=conds)
    inferred = FloorDiv(total, known)
    conds += [divides("elements % product of shape", total, known), positive("inferred size", inferred)]
    return LayerOut([tuple(inferred if i == minus[0] else t for i, t in enumerate(target))], conditions=conds)


def _torch_permute(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = inputs[0]
    dims = list(a.dims)
    if len(dims) != len(shape) + 1:
        raise SpecError(f"dims has {len(dims)} entries for a {len(shape) + 1}-d batched input")
    full = len(shape) + 1
    axes = []
    for d in dims:
        if not isinstance(d, Integer) or not -full <= int(d) < full:
            raise SpecError(f"dims must be literal integers from {-full} to {full - 1}, got {d}")
        axes.append(int(d) % full)
    if sorted(axes) != list(range(full)):
        raise SpecError(f"dims must be a permutation of 0..{full - 1}, got {[int(d) for d in dims]}")
    if axes[0] != 0:
        raise SpecError("dims must keep the batch axis first (dims[0] == 0)")
    return LayerOut([tuple(shape[i - 1] for i in axes[1:])])


def _torch_transpose(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = list(inputs[0])
    i, j = _axis(a.dim0, len(shape), "dim0"), _axis(a.dim1, len(shape), "dim1")
    shape[i], shape[j] = shape[j], shape[i]
    return LayerOut([tuple(shape)])


def _torch_mean(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = inputs[0]
    dims = a.dim if isinstance(a.dim, tuple) else (a.dim,)
    axes = {_axis(d, len(shape), "dim") for d in dims}
    if len(axes) != len(dims):  # torch: "dim 2 appears multiple times in the list of dims"
        raise SpecError(f"dim names an axis twice: {[int(d) for d in dims]}")
    if a.keepdim:
        return LayerOut([tuple(Integer(1) if i in axes else s for i, s in enumerate(shape))])
    kept = tuple(s for i, s in enumerate(shape) if i not in axes)
    if not kept:
        raise SpecError("mean over every axis but the batch gives a 1-d tensor; symshape needs an axis besides "
                        "the batch axis (use keepdim: true)")
    return LayerOut([kept])


class DimsKind(Kind):
    """One torch dim or a list of them (literal integers)."""

    label = "an integer or a list of integers"

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> object:
        if isinstance(raw, (list, tuple)):
            if not raw:
                raise self.fail(raw)
            return tuple(INT.parse(v, ctx, rule) for v in raw)
        return INT.parse(raw, ctx, rule)


class ShapesKind(Kind):
    """A list of shapes (each a list of integers): an opaque layer's recorded inputs or outputs."""

    label = "a list of shapes such as [[64, 56, 56]]"

    def parse(self, raw: object, ctx: Ctx, rule: LayerRule) -> tuple[tuple[Expr, ...], ...]:
        if not isinstance(raw, (list, tuple)) or not raw or not all(isinstance(s, (list, tuple)) for s in raw):
            raise self.fail(raw)
        return tuple(ShapeKind().parse(s, ctx, rule) if s else () for s in raw)


def _opaque(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    conds: list[Condition] = []
    if a.input_shapes is not None:
        if len(a.input_shapes) != len(inputs):
            raise SpecError(f"input_shapes records {len(a.input_shapes)} input(s), the layer has {len(inputs)}")
        for k, (seen, got) in enumerate(zip(a.input_shapes, inputs, strict=True)):
            if len(seen) != len(got):
                raise SpecError(f"input {k} is {len(got)}-d, recorded as {len(seen)}-d")
            conds += [equal(f"input {k} axis {i} vs the recorded size (opaque {a.op})", g, s,
                            "an opaque layer's shapes were measured at one input size only")
                      for i, (s, g) in enumerate(zip(seen, got, strict=True))]
    for shape in a.output_shapes:
        conds += [positive(f"recorded output axis {i}", s) for i, s in enumerate(shape)]
    counts = {}
    for field in ("trainable", "non_trainable", "buffers"):
        v = getattr(a, field)
        if not isinstance(v, Integer) or int(v) < 0:
            raise SpecError(f"{field} must be a literal integer >= 0, got {v}")
        counts[field] = v
    return LayerOut([tuple(s) for s in a.output_shapes], conditions=conds, **counts)


def _opaque_args() -> list[Arg]:
    return [Arg("op", STR, doc="the framework's op or class that symshape does not model"),
            Arg("output_shapes", ShapesKind(), doc="the output shapes the framework reported (batch excluded)"),
            Arg("input_shapes", OptionalKind(ShapesKind()), None, doc="the input shapes they were measured at"),
            Arg("trainable", INT, 0), Arg("non_trainable", INT, 0), Arg("buffers", INT, 0),
            Arg("source", OptionalKind(STR), None, doc="where the op was found (file:line)")]


# ---------------------------------------------------------------- keras


def _keras_rescaling(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    return LayerOut([inputs[0]])


def _keras_normalization(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    shape = inputs[0]
    raw = a.axis if a.axis is not None else -1
    axes = raw if isinstance(raw, tuple) else (raw,)
    sizes = []
    for d in axes:
        if not isinstance(d, Integer):
            raise SpecError(f"axis must be literal integers, got {d}")
        i = int(d)
        full = len(shape) + 1
        if not -full <= i < full or i % full == 0:
            raise SpecError(f"axis={i} is out of range or the batch axis for a {full}-d batched input")
        sizes.append(shape[i % full - 1])
    # keras keeps mean and variance (one per position of the axes) and a count, unless both are given
    stats = Integer(0) if a.mean is not None and a.variance is not None else 2 * prod(sizes) + 1
    return LayerOut([shape], non_trainable=stats)


register("torch", "reshape", [Arg("shape", ShapeKind(allow_minus_one=True))], _torch_reshape,
         "Tensor.reshape / view to shape (after the batch axis; one -1 inferred)",
         doc_args=(("shape", ["C", -1]),), doc_input=("C", "H", "W"))
register("torch", "permute", [Arg("dims", ShapeKind())], _torch_permute,
         "Tensor.permute (dims count the batch axis, which stays first)",
         doc_args=(("dims", [0, 2, 3, 1]),), doc_input=("C", "H", "W"))
register("torch", "transpose", [Arg("dim0", INT), Arg("dim1", INT)], _torch_transpose,
         "Tensor.transpose of two axes (counting the batch axis)", doc_args=(("dim0", 1), ("dim1", 2)),
         doc_input=("C", "H", "W"))
register("torch", "mean", [Arg("dim", DimsKind()), Arg("keepdim", BOOL, False)], _torch_mean,
         "Tensor.mean over dims (counting the batch axis)", doc_args=(("dim", [2, 3]),),
         doc_input=("C", "H", "W"))
register("keras", "Rescaling", [Arg("scale", NUMBER), Arg("offset", NUMBER, 0.0),
                                *keras_ignored("name", "dtype", "trainable")],
         _keras_rescaling, "x * scale + offset: shape unchanged, no parameters", doc_args=(("scale", 0.5),))
register("keras", "Normalization", [Arg("axis", OptionalKind(DimsKind()), -1), Arg("mean", ANY, None),
                                    Arg("variance", ANY, None), Arg("invert", BOOL, False),
                                    *keras_ignored("name", "dtype", "trainable")],
         _keras_normalization, "(x - mean) / sqrt(variance): mean and variance per axis entry and a count")
for _fw in ("torch", "keras"):
    register(_fw, OPAQUE, _opaque_args(), _opaque,
             "an op symshape does not model, kept with the shapes recorded at one size (valid there only)",
             n_inputs=(1, -1), doc_args=(("op", "custom"), ("output_shapes", [["C", "H", "W"]])),
             doc_input=("C", "H", "W"))
