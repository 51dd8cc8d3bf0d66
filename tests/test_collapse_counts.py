"""Derivation.collapse takes a shortcut for the products of counts (c*M: M's closed form shared, c put first):
the closed form must be the very expression the collapser alone builds, on every example, on deep all-symbolic
chains and on fuzzed specs, for every size, count and total."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import sympy

import symshape
from symshape.algebra import _Collapser
from symshape.deep import run_deep

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
import fuzzgen  # noqa: E402
from test_named import chain  # noqa: E402

SPECS = {p.name: p.read_text() for p in sorted((ROOT / "examples").glob("*.yaml"))}
SPECS |= {"chain 12": chain(12), "batch": "framework: torch\nbatch: B\ninput: [3, H, W]\nlayers:\n"
          "  - Conv2d: {out_channels: C, kernel_size: K}\n  - BatchNorm2d: {num_features: C}\n"
          "  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2}\n  - Flatten: {}\n"
          "  - Linear: {out_features: 10}\n",
          "square": "framework: torch\ninput: [3, H, H]\nlayers:\n  - Conv2d: {out_channels: 16, kernel_size: 3, "
          "stride: 2}\n  - MaxPool2d: {kernel_size: 2}\n  - Conv2d: {out_channels: 32, kernel_size: 3}\n"}


def _quantities(d: symshape.Derivation) -> list[sympy.Basic]:
    out: list[sympy.Basic] = [d.trainable, d.non_trainable, d.buffers, d.macs, d.activations]
    for ly in d.layers:
        out += [*(s for shape in ly.outputs for s in shape), ly.trainable, ly.non_trainable, ly.buffers, ly.macs,
                ly.activations, ly.trainable + ly.non_trainable]
    return out


def _check(d: symshape.Derivation) -> int:
    """Every quantity's closed form equals the plain collapser's, argument for argument; the shortcut's uses."""
    plain = _Collapser(d.defs)
    used = 0
    for e in _quantities(d):
        got, want = d.collapse(e), plain(e)
        assert got == want and got.args == want.args and str(got) == str(want), (e, got, want)
        used += sum(isinstance(t, sympy.Mul) and len(t.args) > 2 and t.args[0].is_Integer
                    for t in sympy.Add.make_args(e))
    return used


@pytest.mark.parametrize("name", list(SPECS))
def test_count_closed_forms_are_the_collapser_s(name: str) -> None:
    d = symshape.derive(SPECS[name], cache=False)
    used = run_deep(_check, d)
    if name in ("resnet50.yaml", "vgg16.yaml", "batch"):
        assert used > 0  # products of counts were there to shortcut


def test_fuzzed_count_closed_forms_are_the_collapser_s() -> None:
    checked = 0
    for d in fuzzgen.derivations(1000, 120):
        run_deep(_check, d)
        checked += 1
    assert checked > 20
