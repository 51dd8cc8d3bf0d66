"""The cost section of the derivation document, as format-neutral blocks (symshape.docs.blocks).

`cost_blocks(d, example)` returns a heading, the convention in words, a per-layer table of formulas
(FLOPs forward and backward, activation bytes kept for backward), the totals as formulas, and the numbers
at the worked example's values (and the batch given). The document builder adds them where it wants
(``doc.add(*cost_blocks(d, ex.values))``); every renderer (HTML, Markdown, LaTeX) reads the same blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..printing import to_latex
from .table import human, human_bytes

if TYPE_CHECKING:
    from ..derive import Derivation

__all__ = ["cost_blocks"]


def cost_blocks(d: Derivation, example: Mapping[str, int] | None = None, *, batch: int = 32,
                tex: Callable[[Any], str] | None = None, **options: Any) -> list[Any]:
    """Blocks of the 'Cost of training' section; `options` as `symshape.cost.cost` takes them. `tex`: how a
    formula is written (default: closed forms; the document passes its named sizes, linear in depth)."""
    from ..docs.blocks import Bullets, Code, Heading, Math, Para, Table, line

    c = d.cost(**options)
    dc = c.derivation  # the derivation at the cost's batch and mode
    layer_tex = tex or (lambda e: to_latex(dc.collapse(e)))
    total_tex = tex or (lambda e: to_latex(dc.normal_form(e)))
    blocks: list[Any] = [Heading(2, "Cost of training", "cost")]
    b = to_latex(c.batch)
    blocks.append(Para(line(f"FLOPs as {c.convention.name} counts them ({c.convention.describe()}); memory in bytes "
                            f"at batch ", Math(b), f", {c.dtype.name}, optimizer {c.optimizer}, {c.mode} mode.")))
    rows = []
    for ly in c.layers:
        rows.append((line(str(ly.index)), line(Code(ly.name)), line(ly.kind),
                     line(Math(layer_tex(ly.forward_flops))), line(Math(layer_tex(ly.backward_flops))),
                     line(Math(layer_tex(ly.saved_bytes)))))
    blocks.append(Table(("#", "Layer", "Type", "FLOPs", "Backward FLOPs", "Saved for backward (bytes)"),
                        tuple(rows), numeric=(0,)))
    names = {"forward_flops": "Forward FLOPs", "backward_flops": "Backward FLOPs",
             "params_bytes": "Parameters (bytes)", "grads_bytes": "Gradients (bytes)",
             "optimizer_bytes": "Optimizer state (bytes)", "buffers_bytes": "Buffers (bytes)",
             "activations_bytes": "Activations kept for backward (bytes)", "total_bytes": "Memory to train (bytes)"}
    blocks.append(Bullets(tuple(line(f"{label}: ", Math(total_tex(c.totals[key])))
                                for key, label in names.items())))
    if example is not None:
        values = {k: v for k, v in example.items() if k in c.symbols}
        for s in c.batch.free_symbols:
            values.setdefault(s.name, batch)
        if all(s in values for s in c.symbols):
            v = c.evaluate(values)
            at = ", ".join(f"{k} = {x}" for k, x in values.items())
            blocks.append(Para(line(f"At {at}: forward {human(v.forward_flops)}FLOPs, backward "
                                    f"{human(v.backward_flops)}FLOPs; memory to train {human_bytes(v.total_bytes)} "
                                    f"({v.total_bytes:,} bytes), of which activations "
                                    f"{human_bytes(v.activations_bytes)}.")))
    return blocks
