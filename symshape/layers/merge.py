"""Merges of several tensors: keras Add/Subtract/Multiply/Average/Maximum/Minimum/Concatenate,
torch's functional add/sub/mul/cat (written in specs as the layers `add`, `sub`, `mul`, `cat`)."""

from __future__ import annotations

from types import SimpleNamespace

from sympy import Add, Expr, Integer

from ..errors import SpecError
from .base import FOLLOWS, INT, Arg, Condition, Ctx, LayerOut, Shape, equal, register
from .conv import keras_ignored


def broadcast(inputs: list[Shape], ctx: Ctx, allow_ones: bool) -> tuple[Shape, list[Condition]]:
    """Elementwise merge: same rank; each axis equal (or a literal 1 that broadcasts, when allowed)."""
    ranks = {len(s) for s in inputs}
    if len(ranks) != 1:
        raise SpecError(f"{ctx.kind} needs inputs of the same rank, got ranks {[len(s) for s in inputs]}")
    out: list[Expr] = []
    conds: list[Condition] = []
    for axis, sizes in enumerate(zip(*inputs, strict=True)):
        wide = [s for s in sizes if not (allow_ones and s == 1)] or [Integer(1)]
        first = wide[0]
        conds += [equal(f"axis {axis} of the merged inputs", s, first, "merged shapes must agree")
                  for s in wide[1:]]
        out.append(first)
    return tuple(out), conds


def _elementwise(allow_ones: bool):  # noqa: ANN202
    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        shape, conds = broadcast(inputs, ctx, allow_ones)
        return LayerOut([shape], conditions=conds)

    return apply


def _concat(field: str, counts_batch: bool):  # noqa: ANN202
    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        ranks = {len(s) for s in inputs}
        if len(ranks) != 1:
            raise SpecError(f"{ctx.kind} needs inputs of the same rank, got ranks {[len(s) for s in inputs]}")
        rank = ranks.pop()
        raw = getattr(a, field)
        if not isinstance(raw, Integer):
            raise SpecError(f"{field} must be a literal integer, got {raw}")
        i = int(raw)
        axis = i + rank if i < 0 else i - 1 if counts_batch else i
        if i == 0 and counts_batch:
            raise SpecError(f"{field}=0 is the batch axis, which symshape leaves out of shapes")
        if not 0 <= axis < rank:
            raise SpecError(f"{field}={i} is out of range for {rank}-d inputs (batch axis excluded)")
        conds = []
        for k in range(rank):
            if k == axis:
                continue
            first = inputs[0][k]
            conds += [equal(f"axis {k} of the concatenated inputs", s[k], first,
                            "all axes but the concatenation axis must agree") for s in inputs[1:]]
        total = Add(*[s[axis] for s in inputs])  # one sum (adding one by one re-sorts: quadratic)
        out = tuple(total if k == axis else inputs[0][k] for k in range(rank))
        return LayerOut([out], conditions=conds)

    return apply


_KERAS_META = keras_ignored("name", "dtype")
for _name in ("Add", "Multiply", "Average", "Maximum", "Minimum"):
    register("keras", _name, list(_KERAS_META), _elementwise(True), f"elementwise {_name.lower()} of 2+ inputs",
             n_inputs=(2, -1))
register("keras", "Subtract", list(_KERAS_META), _elementwise(True), "first input minus the second", n_inputs=(2, 2))
# keras' axis counts the batch axis (axis=1 is the first non-batch axis; -1 the last)
register("keras", "Concatenate", [Arg("axis", INT, -1), *_KERAS_META], _concat("axis", True),
         "along axis; the other axes agree", n_inputs=(2, -1))
for _name in ("add", "sub", "mul"):
    register("torch", _name, [], _elementwise(True), f"torch.{_name} of the inputs (broadcasting ones)",
             n_inputs=(2, -1) if _name != "sub" else (2, 2), batch_axes=FOLLOWS)
# torch.cat's dim counts the batch axis like every torch dim; its default 0 is the batch axis, so 1 here
register("torch", "cat", [Arg("dim", INT, 1)], _concat("dim", True), "torch.cat along dim (counting the batch axis)",
         n_inputs=(2, -1))
