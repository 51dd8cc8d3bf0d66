"""Plots and drawings of a document, made on demand as SVG (HTML, Markdown) or PDF (LaTeX).

- `staircase`: one size against an input symbol, invalid inputs shaded;
- `counts`: parameters and MACs against one symbol (the others as in the worked example);
- `graph`: a graph spec's layers and edges, laid out by Graphviz's `dot` (Debian's graphviz).

matplotlib runs on its Agg backend (no display) with reproducible ids and no date; nothing is fetched.
The numbers are computed when the figure is built (exact integers from the compiled program); only the
drawing is deferred to the format a renderer asks for.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping

import numpy as np

from ..derive import Derivation
from ..errors import SymshapeError
from .blocks import Figure

DOT_TIMEOUT = 60  # seconds for Graphviz to lay out a graph (a few hundred nodes take well under one)


class NoPlotting(SymshapeError):
    """matplotlib (or Graphviz, for the graph) is not installed: documents are written without that figure."""


def _pyplot():  # type: ignore[no-untyped-def]
    try:
        import matplotlib
    except ImportError:
        raise NoPlotting("plots need matplotlib: pip install 'symshape[docs]'") from None
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "symshape"
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: small, and selectable
    matplotlib.rcParams["pdf.fonttype"] = 42  # TrueType in PDFs: embedded once, selectable
    import matplotlib.pyplot as plt

    return plt


def _save(fig, fmt: str) -> bytes:  # type: ignore[no-untyped-def]  # noqa: ANN001 - a matplotlib Figure
    if fmt == "pdf":
        buf = io.BytesIO()
        fig.savefig(buf, format="pdf", metadata={"CreationDate": None, "ModDate": None, "Creator": None,
                                                 "Producer": None})
        return buf.getvalue()
    text = io.StringIO()
    fig.savefig(text, format="svg", metadata={"Date": None, "Creator": None})
    return _inline_svg(text.getvalue()).encode()


def _inline_svg(svg: str) -> str:
    """An SVG document as an element for inlining: no XML prolog, doctype, comments or RDF metadata."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    return re.sub(r"<!--.*?-->\s*", "", svg, flags=re.S)


def _drawing(make: Callable) -> Callable[[str], bytes]:  # type: ignore[type-arg]
    """fmt -> bytes, from `make(plt) -> matplotlib Figure` (closed after saving)."""

    def draw(fmt: str) -> bytes:
        plt = _pyplot()
        fig = make(plt)
        try:
            return _save(fig, fmt)
        finally:
            plt.close(fig)

    return draw


def _layer_sizes(d: Derivation, cols: Mapping[str, object], layer: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """One layer's size along `axis` and the network's validity, over columns of values (one chunk)."""
    from ..evaluate import _columns

    c = d.compiled
    values, length = _columns(c, cols)
    reg = c.layer_regs[layer]["outputs"][0][axis]
    overflow = np.zeros(length, dtype=bool)
    got = c.program.run_numpy(values, [c.valid, reg], length, c.program.plan([c.valid, reg]), overflow=overflow)
    return np.asarray(got[reg]), np.asarray(got[c.valid], dtype=bool) & ~overflow


def _sweepable(bindings: Mapping[str, int]) -> None:
    """Plots sweep in int64 (the compiled program's batches): an example value beyond it cannot be plotted."""
    big = [k for k, v in bindings.items() if abs(v) >= 1 << 62]
    if big:
        raise NoPlotting(f"the example's {', '.join(big)} does not fit in int64, which plots sweep in")


def _axis_range(d: Derivation, symbol: str, at: int, limit: int, span: int = 40) -> np.ndarray:
    info = d.symbols[symbol]
    lo = info.min if info.min is not None else 1
    hi = min(max(2 * at, lo + span), lo + limit)
    if info.max is not None:
        hi = min(hi, info.max)
    return np.arange(lo, max(hi, lo) + 1, dtype=np.int64)


def _shade_invalid(ax, xs: np.ndarray, valid: np.ndarray) -> None:  # type: ignore[no-untyped-def]  # noqa: ANN001
    edges = np.flatnonzero(np.diff(np.concatenate(([0], (~valid).astype(np.int8), [0]))))
    for k, (a, b) in enumerate(zip(edges[::2], edges[1::2], strict=True)):
        ax.axvspan(xs[a] - 0.5, xs[b - 1] + 0.5, color="#d33", alpha=0.18, linewidth=0,
                   label="invalid" if k == 0 else None)


def staircase(d: Derivation, symbol: str, axis: int, bindings: Mapping[str, int], name: str, limit: int,
              layer: int | None = None) -> Figure:
    """Output axis `axis` (of the network, or of layer `layer`) against `symbol` (others bound) as a
    staircase, invalid values shaded."""
    _pyplot()  # fails now, with its reason, when matplotlib is missing
    _sweepable(bindings)
    at = bindings.get(symbol, d.symbols[symbol].min or 1)
    xs = _axis_range(d, symbol, at, limit)
    cols = {**{k: v for k, v in bindings.items() if k != symbol}, symbol: xs}
    if layer is None:
        result = d.evaluate_batch(cols, outputs=("output_shape",))
        ys, valid = np.asarray(result.columns["output_shape"][axis]), np.asarray(result.valid, dtype=bool)
        what = f"output axis {axis}"
    else:
        ys, valid = _layer_sizes(d, cols, layer, axis)
        what = f"layer {layer} '{d.layers[layer].name}' axis {axis}"
    ys = ys.astype(float)

    def make(plt):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
        fig, ax = plt.subplots(figsize=(5.6, 3.4))
        shown = np.where(valid, ys, np.nan)
        ax.step(xs, shown, where="post", color="#1f5fbf", linewidth=1.6, label=what)
        if valid.sum() < len(xs) / 2:  # sparse valid values (multiples of 8...): a step would be a dash
            ax.plot(xs[valid], ys[valid], "o", color="#1f5fbf", markersize=3)
        _shade_invalid(ax, xs, valid)
        ax.axvline(at, color="#555", linestyle=":", linewidth=1, label=f"example {symbol} = {at}")
        ax.set_xlabel(symbol)
        ax.set_ylabel(what if len(what) < 30 else f"axis {axis}")
        ax.grid(True, linewidth=0.4, alpha=0.5)
        ax.yaxis.set_major_locator(plt.MaxNLocator(integer=True))  # sizes are integers: no 1.2, 1.4 ticks
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.legend(loc="upper left", fontsize="medium", framealpha=0.9)
        fig.subplots_adjust(left=0.12, right=0.97, bottom=0.15, top=0.96)  # fixed: tight_layout doubles the cost
        return fig

    return Figure(name, f"{what[0].upper()}{what[1:]} against {symbol}", "size", _drawing(make))


def counts(d: Derivation, symbol: str, bindings: Mapping[str, int], name: str, limit: int) -> Figure | None:
    """Parameters and MACs against `symbol` (the others bound), over the valid values near the example;
    None when neither count depends on it."""
    _pyplot()
    _sweepable(bindings)
    at = bindings.get(symbol, d.symbols[symbol].min or 1)
    xs = _axis_range(d, symbol, at, limit, span=16)
    cols = {**{k: v for k, v in bindings.items() if k != symbol}, symbol: xs}
    result = d.evaluate_batch(cols, outputs=("params", "macs"))
    valid = np.asarray(result.valid, dtype=bool)
    if valid.sum() < 2:
        return None
    series = {k: np.asarray(result.columns[k], dtype=np.int64) for k in ("params", "macs")}
    varying = [k for k, v in series.items() if len(np.unique(v[valid])) > 1]
    if not varying:
        return None
    labels = {"params": "parameters", "macs": "MACs"}

    def make(plt):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
        fig, axes = plt.subplots(1, len(varying), figsize=(5.6 if len(varying) == 1 else 7.2, 3.0), squeeze=False)
        for ax, k in zip(axes[0], varying, strict=True):
            # the valid values joined (the shading shows what lies between); markers while they stay apart
            style = "-o" if valid.sum() <= 60 else "-"
            ax.plot(xs[valid], series[k][valid].astype(float), style, color="#1f5fbf" if k == "params" else "#b35900",
                    markersize=2.5, linewidth=1.4)
            _shade_invalid(ax, xs, valid)
            ax.axvline(at, color="#555", linestyle=":", linewidth=1)
            ax.set_xlabel(symbol)
            ax.set_title(labels[k], fontsize="medium")
            ax.grid(True, linewidth=0.4, alpha=0.5)
            ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _pos: _human(v)))  # 1.8 G, not a 1e9 offset
            ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        if len(varying) == 1:
            fig.subplots_adjust(left=0.12, right=0.97, bottom=0.16, top=0.88)
        else:
            fig.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.88, wspace=0.28)
        return fig

    what = " and ".join(labels[k] for k in varying)
    return Figure(name, f"{what[0].upper()}{what[1:]} against {symbol}", f"counts-{_safe(symbol)}", _drawing(make))


def _human(v: float) -> str:
    """A tick label in human units: 950, 12.5 k, 1.81 G."""
    for scale, unit in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{unit}"
    return f"{v:.3g}"


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", s)


# ---------------------------------------------------------------- the graph, by Graphviz


def dot_program() -> str:
    path = shutil.which("dot")
    if path is None:
        raise NoPlotting("drawing the graph needs Graphviz's dot: apt-get install graphviz")
    return path


def _dot_string(s: str) -> str:
    """A DOT quoted string (spec text: quotes and backslashes escaped, no line breaks)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _dot_label(*lines: str) -> str:
    """Lines of a node's label, each escaped, joined by DOT's centred line break."""
    return _dot_string("\x00".join(x for x in lines if x)).replace("\x00", "\\n")


def graph_source(d: Derivation, shapes: Mapping[int, str]) -> str:
    """The layers as DOT: one box per layer (name, type, output shape), one node per network input,
    an edge per input reference ('name:k' outputs labelled k)."""
    lines = ["digraph network {", '  graph [rankdir=TB, nodesep=0.25, ranksep=0.3, fontname="Helvetica"];',
             '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", color="#1f5fbf", fontname="Helvetica",'
             ' fontsize=10, margin="0.08,0.03"];', '  edge [color="#555555", arrowsize=0.6];']
    ids: dict[str, str] = {}
    for k, (name, shape) in enumerate(d.inputs.items()):
        ids[name] = f"i{k}"
        label = _dot_label(name, "(" + ", ".join(str(s) for s in shape) + ")")
        lines.append(f'  i{k} [label={label}, shape=ellipse, fillcolor="#f4f4f4", color="#777777"];')
    for ly in d.layers:
        ids[ly.name] = f"l{ly.index}"
        label = _dot_label(f"{ly.index}. {ly.name}", ly.kind, shapes.get(ly.index, ""))
        lines.append(f"  l{ly.index} [label={label}];")
    for ly in d.layers:
        for ref in ly.inputs:
            base, _, port = ref.partition(":")
            src = ids.get(base, ids.get(ref))
            if src is None:
                continue
            attr = f" [label={_dot_string(port)}, fontsize=8]" if port else ""
            lines.append(f"  {src} -> l{ly.index}{attr};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def is_graph(d: Derivation) -> bool:
    """True when some layer does not simply read the one before it (skips, concatenations, several inputs)."""
    previous = next(iter(d.inputs), "input")
    for ly in d.layers:
        if len(d.inputs) > 1 or tuple(ly.inputs) != (previous,):
            return True
        previous = ly.name
    return False


def graph(d: Derivation, shapes: Mapping[int, str], name: str) -> Figure:
    """The layer graph drawn by Graphviz (SVG for HTML and Markdown, PDF for LaTeX)."""
    exe = dot_program()
    source = graph_source(d, shapes)

    def draw(fmt: str) -> bytes:
        try:
            done = subprocess.run([exe, f"-T{fmt}"], input=source.encode(), capture_output=True,
                                  timeout=DOT_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise NoPlotting(f"Graphviz's dot took more than {DOT_TIMEOUT} s to lay out the graph") from None
        if done.returncode != 0:
            raise NoPlotting(f"Graphviz's dot failed: {done.stderr.decode(errors='replace').strip()[:200]}")
        if fmt == "svg":
            return _inline_svg(done.stdout.decode()).encode()
        return done.stdout

    n = len(d.layers)
    return Figure(name, f"The graph of the network: {n} layer{'s' if n != 1 else ''}, each with its output shape",
                  "graph", draw)
