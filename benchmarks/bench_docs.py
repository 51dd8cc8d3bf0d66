"""The derivation document (symshape.document): size and time against depth, and two examples.

    python benchmarks/bench_docs.py

2. An all-symbolic Conv2d chain (fresh symbols per depth) at 100, 200, 300 layers: the HTML and
   Markdown documents' bytes and seconds (derivation included: derive, the derivation's reduction of
   its conditions, which has its own time limit, then the document), and the share of the analysis.
1. ResNet-50 (--example H=224,W=224), HTML with its plot: cold (derivation included, fresh process
   state for this spec) and the classic example after import.
The machine is shared and noisy: read the ratios.
"""

from __future__ import annotations

import time
from pathlib import Path

import symshape
from symshape.docs import render_document
from symshape.docs.model import Analysis

EXAMPLES = Path(__file__).parent.parent / "examples"


def chain_spec(n: int, tag: str) -> dict:
    layers = [{"Conv2d": {"out_channels": f"D{k}{tag}", "kernel_size": f"F{k}{tag}", "stride": f"S{k}{tag}",
                          "padding": f"P{k}{tag}"}} for k in range(n)]
    return {"framework": "torch", "input": [f"C{tag}", f"H{tag}", f"W{tag}"], "layers": layers}


def depth() -> None:
    print("\n2. all-symbolic Conv2d chain")
    print(f"{'layers':>6} {'html bytes':>12} {'md bytes':>10} {'derive s':>9} {'analysis s':>10} "
          f"{'html s':>7} {'md s':>6}  conditions")
    base = None
    for n in (100, 200, 300):
        t0 = time.perf_counter()
        d = symshape.derive(chain_spec(n, f"_b{n}"), cache=False)
        t1 = time.perf_counter()
        analysis = Analysis.of(d)
        t2 = time.perf_counter()
        html = render_document(d, "html").text.encode()
        t3 = time.perf_counter()
        md = render_document(d, "markdown").text.encode()
        t4 = time.perf_counter()
        note = "reduced" if analysis.shown is not None else f"not reduced ({analysis.why})"
        print(f"{n:>6} {len(html):>12,} {len(md):>10,} {t1 - t0:>9.2f} {t2 - t1:>10.2f} {t3 - t2:>7.2f} "
              f"{t4 - t3:>6.2f}  {note}")
        base = base or len(html)
    print(f"(html bytes per 100 layers stay ~{base:,}: linear in depth)")


def examples() -> None:
    print("1. examples")
    t0 = time.perf_counter()
    html = render_document(EXAMPLES / "resnet50.yaml", "html", example={"H": 224, "W": 224}).text
    t1 = time.perf_counter()
    print(f"ResNet-50 HTML with plot, cold (derive included): {t1 - t0:.2f} s, {len(html.encode()):,} bytes")
    t0 = time.perf_counter()
    html = render_document(EXAMPLES / "resnet50.yaml", "html", example={"H": 224, "W": 224}).text
    t1 = time.perf_counter()
    print(f"ResNet-50 HTML again (derivation cached): {t1 - t0:.2f} s")
    for fmt in ("html", "markdown"):
        symshape.clear_cache()
        t0 = time.perf_counter()
        text = render_document(EXAMPLES / "classic_symbolic.yaml", fmt).text
        t1 = time.perf_counter()
        print(f"classic_symbolic {fmt} (after import, derive included): {t1 - t0:.2f} s, {len(text.encode()):,} bytes")


if __name__ == "__main__":
    t0 = time.perf_counter()
    import matplotlib.pyplot  # noqa: F401 - import cost reported apart

    print(f"(import matplotlib.pyplot: {time.perf_counter() - t0:.2f} s)")
    examples()
    depth()
