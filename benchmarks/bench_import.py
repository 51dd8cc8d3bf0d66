"""Import + derive of ResNet-50, beside the tools people run on the same model in the same run.

    python benchmarks/bench_import.py [--repeat 3]

Rows (seconds, the best of --repeat runs; the machine is noisy, so compare the ratios):
- torch: ResNet-50 from tests/zoo.py (torchvision's architecture): symshape.from_torch (torch.fx trace and one
  pass on the meta device to record shapes at 224x224), derive of the imported spec, derive with H and W lifted
  to symbols (closed form included); torchinfo.summary of the same module at 1x3x224x224.
- keras: keras.applications.ResNet50(weights=None): symshape.from_keras (get_config graph), derive, derive with
  symbolic H and W; keras' own model.summary() (printed to a string) and torchinfo is not applicable.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def best(fn, repeat: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return min(times), value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import torch
    import torchinfo

    import symshape
    from symshape.importers import from_keras, from_torch
    from symshape.lift import symbolize
    from tests import zoo

    rows: list[tuple[str, str, float, str]] = []
    torch.set_num_threads(1)
    model = zoo.resnet50().eval()
    x = torch.zeros(1, 3, 224, 224)
    t_import, imported = best(lambda: from_torch(model, x), args.repeat)
    t_derive, d = best(lambda: symshape.derive(imported.spec, cache=False), args.repeat)
    lifted = symbolize(imported.spec, inputs={"input": ["H", "W"]}).spec

    def symbolic():
        dd = symshape.derive(lifted, cache=False)
        return dd, dd.closed_form

    t_sym, (ds, _) = best(symbolic, args.repeat)
    t_info, info = best(lambda: torchinfo.summary(model, input_data=x, verbose=0), args.repeat)
    e = d.evaluate()
    assert e.params == info.total_params == 25_557_032, (e.params, info.total_params)
    rows += [("torch ResNet-50 (zoo)", "symshape.from_torch (fx trace, shapes on meta)", t_import, ""),
             ("", "symshape derive (concrete 224x224)", t_derive, ""),
             ("", "symshape derive, H and W symbols, closed form", t_sym, f"{len(ds.layers)} layers"),
             ("", "import + derive (symbolic)", t_import + t_sym, ""),
             ("", "torchinfo.summary (1x3x224x224)", t_info, f"params {info.total_params:,} = symshape's")]

    import keras

    t_build, kmodel = best(lambda: keras.applications.ResNet50(weights=None), 1)
    t_kimport, kimported = best(lambda: from_keras(kmodel), args.repeat)
    t_kderive, kd = best(lambda: symshape.derive(kimported.spec, cache=False), args.repeat)
    klifted = symbolize(kimported.spec, inputs={"input": ["H", "W"]}).spec

    def ksymbolic():
        dd = symshape.derive(klifted, cache=False)
        return dd, dd.closed_form

    t_ksym, _ = best(ksymbolic, args.repeat)

    def summary():
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            kmodel.summary()
        return buf.getvalue()

    t_ksummary, _ = best(summary, args.repeat)
    ke = kd.evaluate()
    assert ke.params == kmodel.count_params(), (ke.params, kmodel.count_params())
    rows += [("keras ResNet50", "keras.applications.ResNet50(weights=None) (build, once)", t_build, ""),
             ("", "symshape.from_keras (get_config graph)", t_kimport, ""),
             ("", "symshape derive (concrete 224x224)", t_kderive, ""),
             ("", "symshape derive, H and W symbols, closed form", t_ksym, ""),
             ("", "import + derive (symbolic)", t_kimport + t_ksym, ""),
             ("", "keras model.summary()", t_ksummary, f"params {kmodel.count_params():,} = symshape's")]

    print(f"best of {args.repeat}; torch threads 1; python {sys.version.split()[0]}")
    print(f"{'model':<22} {'what':<50} {'seconds':>9}  note")
    for model_name, what, seconds, note in rows:
        print(f"{model_name:<22} {what:<50} {seconds:9.3f}  {note}")
    print(f"ratio torch (import + symbolic derive) / torchinfo.summary: {(t_import + t_sym) / t_info:.2f}")
    print(f"ratio keras (import + symbolic derive) / keras summary():   {(t_kimport + t_ksym) / t_ksummary:.2f}")


if __name__ == "__main__":
    main()
