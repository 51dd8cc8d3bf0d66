"""Plots as SVG text (matplotlib's Agg backend, no display; reproducible ids, no date)."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping

import numpy as np

from ..derive import Derivation
from ..errors import SymshapeError
from .blocks import Figure


class NoPlotting(SymshapeError):
    """matplotlib is not installed: documents are written without their plots."""


def _pyplot():  # type: ignore[no-untyped-def]
    try:
        import matplotlib
    except ImportError:
        raise NoPlotting("plots need matplotlib: pip install 'symshape[docs]'") from None
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "symshape"
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: small, and selectable
    import matplotlib.pyplot as plt

    return plt


def _layer_sizes(d: Derivation, cols: Mapping[str, object], layer: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """One layer's size along `axis` and the network's validity, over columns of values (one chunk)."""
    from ..evaluate import _columns

    c = d.compiled
    values, length = _columns(c, cols)
    reg = c.layer_regs[layer]["outputs"][0][axis]
    overflow = np.zeros(length, dtype=bool)
    got = c.program.run_numpy(values, [c.valid, reg], length, c.program.plan([c.valid, reg]), overflow=overflow)
    return np.asarray(got[reg]), np.asarray(got[c.valid], dtype=bool) & ~overflow


def staircase(d: Derivation, symbol: str, axis: int, bindings: Mapping[str, int], name: str, limit: int,
              layer: int | None = None) -> Figure:
    """Output axis `axis` (of the network, or of layer `layer`) against `symbol` (others bound) as a
    staircase, invalid values shaded."""
    lo = d.symbols[symbol].min if d.symbols[symbol].min is not None else 1
    at = bindings.get(symbol, lo)
    hi = min(max(2 * at, lo + 40), lo + limit)
    xs = np.arange(lo, hi + 1, dtype=np.int64)
    cols = {**{k: v for k, v in bindings.items() if k != symbol}, symbol: xs}
    if layer is None:
        result = d.evaluate_batch(cols, outputs=("output_shape",))
        ys, valid = np.asarray(result.columns["output_shape"][axis]), np.asarray(result.valid, dtype=bool)
        what = f"output axis {axis}"
    else:
        ys, valid = _layer_sizes(d, cols, layer, axis)
        what = f"layer {layer} '{d.layers[layer].name}' axis {axis}"
    ys = ys.astype(float)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    try:
        shown = np.where(valid, ys, np.nan)
        ax.step(xs, shown, where="post", color="#1f5fbf", linewidth=1.6, label=what)
        if valid.sum() < len(xs) / 2:  # sparse valid values (multiples of 8...): a step would be a dash
            ax.plot(xs[valid], ys[valid], "o", color="#1f5fbf", markersize=3)
        edges = np.flatnonzero(np.diff(np.concatenate(([0], (~valid).astype(np.int8), [0]))))
        for k, (a, b) in enumerate(zip(edges[::2], edges[1::2], strict=True)):
            ax.axvspan(xs[a] - 0.5, xs[b - 1] + 0.5, color="#d33", alpha=0.18, linewidth=0,
                       label="invalid" if k == 0 else None)
        ax.axvline(at, color="#555", linestyle=":", linewidth=1, label=f"example {symbol} = {at}")
        ax.set_xlabel(symbol)
        ax.set_ylabel(what if len(what) < 30 else f"axis {axis}")
        ax.grid(True, linewidth=0.4, alpha=0.5)
        ax.legend(loc="upper left", fontsize="medium", framealpha=0.9)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    finally:
        plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # no XML prolog or doctype: it is inlined in HTML
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)  # RDF naming outside URLs: not needed
    return Figure(name, svg, f"{what[0].upper()}{what[1:]} against {symbol}")
