"""The cost of training, side by side with the tools; two tables.

    python benchmarks/bench_cost.py [--quick]

1. ResNet-50: symshape's cost table at a symbolic batch and input size (derive, cost formulas, compile, the
   table of formulas; then numbers at one size, which need no new derivation), beside torchinfo's summary and
   fvcore's FlopCountAnalysis on the same network (torchvision's architecture, tests/zoo.py) at one size —
   the tools run the model; each new size costs them a new run.
2. Batch evaluation of ResNet-50 with the memory column (total_bytes) and without it (output shape,
   params): bindings per second, in the library (evaluate_batch) and over gRPC (EvaluateBatch, a real
   server on a local port).
The machine is shared and noisy: read the ratios. Each time is the best of a few runs; "cold" times clear
symshape's caches first.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import symshape
from symshape.derive import clear_cache

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(ROOT))


def best(fn, repeat: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def symshape_cold() -> str:
    clear_cache()
    d = symshape.derive(EXAMPLES / "resnet50.yaml")
    c = d.cost(flops="fvcore", optimizer="adamw")
    return c.table()


def symshape_at_size(size: int, batch: int) -> str:
    d = symshape.derive(EXAMPLES / "resnet50.yaml")
    c = d.cost(flops="fvcore", optimizer="adamw")
    return c.table(c.evaluate(H=size, W=size, B=batch))


def tools(size: int, batch: int) -> dict[str, float]:
    import torch
    import torchinfo
    from fvcore.nn import FlopCountAnalysis

    from tests import zoo

    torch.manual_seed(0)
    model = zoo.resnet50().eval()
    x = torch.randn(batch, 3, size, size)
    out = {}

    def run_torchinfo() -> None:
        torchinfo.summary(model, input_data=x, verbose=0)

    def run_fvcore() -> None:
        with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fa = FlopCountAnalysis(model, x)
            fa.unsupported_ops_warnings(False)
            fa.total()

    out["torchinfo summary"] = best(run_torchinfo, 2)
    out["fvcore FlopCountAnalysis"] = best(run_fvcore, 2)
    return out


def table1(quick: bool) -> None:
    size, batch = 224, 1
    cold = best(symshape_cold, 1 if quick else 3)
    symshape_cold()
    warm = best(lambda: symshape_at_size(size, batch), 3 if quick else 10)
    other = best(lambda: symshape_at_size(160, 64), 3 if quick else 10)
    peers = tools(size, batch)
    rows = [("symshape: derive + cost formulas + table (symbolic B, H, W)", cold),
            (f"symshape: numbers at {size}x{size}, batch {batch} (formulas cached)", warm),
            ("symshape: numbers at 160x160, batch 64 (no new run)", other)]
    rows += [(f"{k} at {size}x{size}, batch {batch}", v) for k, v in peers.items()]
    print(f"\nResNet-50 cost table ({'quick' if quick else 'best of runs'}; seconds; ratio to symshape's cold)")
    print(f"{'what':<70} {'seconds':>9} {'ratio':>8}")
    for what, t in rows:
        print(f"{what:<70} {t:9.3f} {t / cold:8.2f}")


def table2(quick: bool) -> None:
    from symshape.client import Client
    from symshape_server.service import ServerConfig, create_server, shutdown

    n = 200_000 if quick else 1_000_000
    r = np.random.default_rng(0)
    cols = {"H": r.integers(32, 512, n), "W": r.integers(32, 512, n), "B": r.integers(1, 1024, n)}
    d = symshape.derive(EXAMPLES / "resnet50.yaml")
    opts = {"optimizer": "adamw", "dtype": "bf16-mixed"}
    d.evaluate_batch({k: v[:10] for k, v in cols.items()}, ("total_bytes",), cost=opts)  # cost program built
    spec_cols = {"H": cols["H"], "W": cols["W"]}
    rows = []
    plain = best(lambda: d.evaluate_batch(spec_cols, ("output_shape", "params")), 3)
    mem = best(lambda: d.evaluate_batch(cols, ("output_shape", "params", "total_bytes"), cost=opts), 3)
    rows += [("library evaluate_batch: output_shape, params", plain),
             ("library evaluate_batch: + total_bytes (bf16-mixed, adamw)", mem)]
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1))
    running.server.start()
    try:
        spec = (EXAMPLES / "resnet50.yaml").read_text()
        with Client(f"127.0.0.1:{running.port}") as client:
            m = n // 4
            small = {k: v[:m] for k, v in cols.items()}
            client.evaluate_batch(spec, {k: v[:10] for k, v in small.items()}, ("total_bytes",), cost=opts)
            g_plain = best(lambda: client.evaluate_batch(spec, {"H": small["H"], "W": small["W"]},
                                                         ("output_shape", "params")), 2) * n / m
            g_mem = best(lambda: client.evaluate_batch(spec, small, ("output_shape", "params", "total_bytes"),
                                                       cost=opts), 2) * n / m
        rows += [("gRPC EvaluateBatch: output_shape, params", g_plain),
                 ("gRPC EvaluateBatch: + total_bytes", g_mem)]
    finally:
        shutdown(running, 1)
    print(f"\nResNet-50 batch evaluation, {n:,} bindings (H, W, B random; per-second rates)")
    print(f"{'what':<62} {'seconds':>9} {'bindings/s':>14} {'vs first':>9}")
    for what, t in rows:
        print(f"{what:<62} {t:9.3f} {n / t:14,.0f} {rows[0][1] / t:9.2f}")


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    table1(quick)
    table2(quick)
