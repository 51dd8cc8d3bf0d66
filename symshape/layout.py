"""Where the batch axis really is in each tensor of a network: one answer every view reads.

The derivation's shapes exclude the batch axis. Most layers take and return the batch first, but torch's
MultiheadAttention and RNN/LSTM/GRU with ``batch_first=False`` (their default) take and return (L, N, ...),
and the LSTM's h_n and c_n are (D*num_layers, N, H) whatever batch_first says. Each layer rule says where its
batch goes (``LayerRule.batch_axes``: batch first, FOLLOWS its input, or a function of its arguments giving
`BatchAxes`); this module resolves that over the network: a layer that FOLLOWS (Linear, LayerNorm, Dropout,
activations, add) joins its outputs to its input, so the Linear after a sequence-first attention is (L, N, E'),
and a network input takes the place its first layer with a layout of its own wants (x of shape (L, E) fed to a
sequence-first attention is (L, N, E)). A layer that APPENDS axes after its input's (torch Embedding: (*) ->
(*, D)) joins its outputs to its input in the same way, the batch at the same index: token ids (L,) embedded
for a sequence-first attention or LSTM are (L, N), the embeddings (L, N, D). A tensor whose group nobody places
keeps the batch first.

    layout = batch_layout(d)
    layout.output(3, 0)          # the batch axis of layer 3's first output: 0 or 1
    with_batch(shape, d.batch, layout.output(3, 0))

The products (activations, saved bytes, memory) do not change: only where the batch is printed.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .layers.base import APPENDS, FOLLOWS, BatchAxes

if TYPE_CHECKING:
    from .derive import Derivation

__all__ = ["BatchLayout", "batch_layout", "with_batch"]

Node = tuple[str, int]  # ("in:<name>", 0) for a network input, (layer name, output k) for a layer's output


def with_batch(shape: Sequence[Any], batch: Any, axis: int = 0) -> tuple[Any, ...]:
    """`shape` (batch excluded) with `batch` inserted at `axis` (first when the axis is out of its range)."""
    axis = axis if 0 <= axis <= len(shape) else 0
    return (*shape[:axis], batch, *shape[axis:])


@dataclass(frozen=True)
class BatchLayout:
    """The batch axis of every tensor of a network: its inputs, each layer's outputs, its outputs."""

    inputs: dict[str, int]  # network input -> axis
    layers: tuple[tuple[int, ...], ...]  # per layer (by position in d.layers), per output
    outputs: tuple[int, ...]  # per network output (spec `outputs:`, else the last layer's)

    def input(self, name: str) -> int:
        return self.inputs.get(name, 0)

    def output(self, layer: int, k: int = 0) -> int:
        """The batch axis of output `k` of the layer at position `layer` of `d.layers`."""
        axes = self.layers[layer]
        return axes[k] if k < len(axes) else 0

    @property
    def batch_first(self) -> bool:
        """True when every tensor has its batch first (the views then say so)."""
        return not any(self.inputs.values()) and not any(a for axes in self.layers for a in axes)


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def batch_layout(d: Derivation) -> BatchLayout:
    """Resolve the rules' batch axes over `d` (cached per derivation)."""
    try:
        hit = _CACHE.get(d)
    except TypeError:
        hit = None
    if hit is not None:
        return hit
    out = _resolve(d)
    try:
        _CACHE[d] = out
    except TypeError:
        pass
    return out


def _resolve(d: Derivation) -> BatchLayout:
    parent: dict[Node, Node] = {}
    fixed: dict[Node, int] = {}  # group root -> axis: the first layer to place it decides

    def find(x: Node) -> Node:
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(a: Node, b: Node) -> None:
        ra, rb = find(a), find(b)
        if ra == rb:
            return
        parent[rb] = ra
        if rb in fixed:
            fixed.setdefault(ra, fixed.pop(rb))

    def place(x: Node, axis: int) -> None:
        fixed.setdefault(find(x), axis)

    positions = {ly.name: i for i, ly in enumerate(d.layers)}

    def node(ref: str) -> Node:  # as the derivation resolves a reference: 'name' or 'name:k'
        name, _, index = ref.rpartition(":") if ":" in ref else (ref, "", "")
        if name in positions:
            return (name, int(index) if index.isdigit() else 0)
        return ("in:" + name, 0)

    for ly in d.layers:
        ins = [node(r) for r in ly.inputs]
        rule = getattr(ly, "rule", None)
        how = rule.batch_layout(ly.args) if rule is not None else BatchAxes()
        for k, shape in enumerate(ly.outputs):
            me = (ly.name, k)
            find(me)
            if how in (FOLLOWS, APPENDS):  # the input's batch index; APPENDS: also in an output with more axes
                same = [x for x, s in zip(ins, ly.input_shapes, strict=False)
                        if len(s) == len(shape) or (how == APPENDS and len(s) < len(shape))]
                for x in same:
                    union(me, x)
                if not same:
                    place(me, 0)
            else:
                place(me, how.output(k))
        if rule is not None and rule.batch_axes is not None and how not in (FOLLOWS, APPENDS):  # its own layout
            for x in ins:
                place(x, how.inputs)

    def axis(x: Node, rank: int) -> int:
        a = fixed.get(find(x), 0)
        return a if 0 <= a <= rank else 0

    layers = tuple(tuple(axis((ly.name, k), len(s)) for k, s in enumerate(ly.outputs)) for ly in d.layers)
    inputs = {name: axis(("in:" + name, 0), len(shape)) for name, shape in d.inputs.items()}
    outputs = tuple(axis(node(ref), len(shape)) for ref, shape in d.outputs)
    return BatchLayout(inputs, layers, outputs)
