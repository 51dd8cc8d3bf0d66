"""The derivation document (symshape.document): two examples' times, and size and time against depth.

    python benchmarks/bench_docs.py            # SYMSHAPE_BENCH_PDF=0 leaves out the pdflatex runs

1. ResNet-50 (--example H=224,W=224), HTML with its plots and graph: cold (a fresh derivation, derive
   included; figures drawn) and again; the classic example (classic_symbolic.yaml) in every format after
   import (derive included). The issue's budgets: ResNet-50 cold under 3 s, the classic example under 0.5 s.
2. An all-symbolic Conv2d chain (fresh symbols per depth) at 100, 200, 300 layers: the HTML, Markdown and
   LaTeX documents' bytes and seconds (the derivation and its reduction of the conditions timed apart),
   and bytes and seconds per layer, which stay flat when the document is linear in depth.
The machine is shared and noisy: read the ratios.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import symshape
from symshape.docs import render_document
from symshape.docs.model import Analysis

EXAMPLES = Path(__file__).parent.parent / "examples"
PDF = os.environ.get("SYMSHAPE_BENCH_PDF", "1") != "0" and shutil.which("pdflatex") is not None


def chain_spec(n: int, tag: str) -> dict:
    layers = [{"Conv2d": {"out_channels": f"D{k}{tag}", "kernel_size": f"F{k}{tag}", "stride": f"S{k}{tag}",
                          "padding": f"P{k}{tag}"}} for k in range(n)]
    return {"framework": "torch", "input": [f"C{tag}", f"H{tag}", f"W{tag}"], "layers": layers}


def cpu() -> float:
    """CPU seconds of this process (all threads) and of its finished children (pdflatex, dot)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(fn, *args, **kw):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN002, ANN003, ANN201
    """(result, wall seconds, CPU seconds): on a shared, loaded machine the CPU time is the steadier figure."""
    t0, c0 = time.perf_counter(), cpu()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0, cpu() - c0


def examples() -> None:
    print("1. examples")
    spec = EXAMPLES / "resnet50.yaml"
    symshape.clear_cache()
    r, t, c = timed(render_document, spec, "html", example={"H": 224, "W": 224})
    budget = "ok" if t < 3 else "OVER"
    print(f"ResNet-50 HTML with plots and graph, cold (derive included): {t:.2f} s wall ({budget}: < 3 s), "
          f"{c:.2f} s CPU, {len(r.data):,} bytes")
    r, t, c = timed(render_document, spec, "html", example={"H": 224, "W": 224})
    print(f"ResNet-50 HTML again (derivation cached): {t:.2f} s wall, {c:.2f} s CPU")
    if PDF:
        r, t, c = timed(render_document, spec, "pdf", example={"H": 224, "W": 224})
        print(f"ResNet-50 PDF (pdflatex included): {t:.2f} s wall, {c:.2f} s CPU, {len(r.data):,} bytes")
    for fmt in ("html", "markdown", "latex") + (("pdf",) if PDF else ()):
        symshape.clear_cache()
        r, t, c = timed(render_document, EXAMPLES / "classic_symbolic.yaml", fmt)
        budget = "" if fmt != "html" else f" ({'ok' if t < 0.5 else 'OVER'}: < 0.5 s)"
        print(f"classic_symbolic {fmt:<8} (after import, derive included): {t:.2f} s wall{budget}, {c:.2f} s CPU, "
              f"{len(r.data):,} bytes")


def depth() -> None:
    print("\n2. all-symbolic Conv2d chain")
    print("(seconds: wall / CPU)")
    print(f"{'layers':>6} {'derive s':>11} {'analysis s':>11} {'html bytes':>11} {'html s':>11} {'md bytes':>9} "
          f"{'md s':>11} {'tex bytes':>10} {'tex s':>11}  {'html B/layer':>12} {'html CPU ms/layer':>17}")
    for n in (100, 200, 300):
        d, *t_derive = timed(symshape.derive, chain_spec(n, f"_b{n}"), cache=False)
        analysis, *t_analysis = timed(Analysis.of, d)
        html, *t_html = timed(render_document, d, "html")
        md, *t_md = timed(render_document, d, "markdown")
        tex, *t_tex = timed(render_document, d, "latex")
        note = "" if analysis.shown is not None else f"  conditions not reduced ({analysis.why})"

        def pair(t: list[float]) -> str:
            return f"{t[0]:.2f}/{t[1]:.2f}"

        print(f"{n:>6} {pair(t_derive):>11} {pair(t_analysis):>11} {len(html.data):>11,} {pair(t_html):>11} "
              f"{len(md.data):>9,} {pair(t_md):>11} {len(tex.data):>10,} {pair(t_tex):>11}  "
              f"{len(html.data) / n:>12,.0f} {1000 * t_html[1] / n:>17.1f}{note}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    import matplotlib.pyplot  # noqa: F401 - import cost reported apart

    print(f"(import matplotlib.pyplot: {time.perf_counter() - t0:.2f} s; pdflatex: {'yes' if PDF else 'no'})")
    examples()
    depth()
