"""`to_dict(closed_forms=True)` on a deep all-symbolic chain: every layer's closed form where it is of a size
to give, a clear 'too large' marker (and the named sizes) where it is not; never a failure of the whole call,
and bounded in time."""

from __future__ import annotations

import random
import time

import pytest
import sympy

import symshape
from symshape.named import MAX_CLOSED_FORM_SYMBOLS
from symshape.render import text

from .test_named import chain, values


@pytest.mark.parametrize("n", [40, 300])
def test_closed_forms_of_a_deep_chain(n: int) -> None:
    d = symshape.derive(chain(n))
    start = time.perf_counter()
    out = d.to_dict(closed_forms=True)
    seconds = time.perf_counter() - start
    assert seconds < 30, seconds  # was: LimitError after 10 s at 300 layers (about 3 s here)
    prefix = d.size_names.prefix + "_"
    marked = [ly for ly in out["layers"] if "closed_form" in ly]
    closed = [ly for ly in out["layers"] if "closed_form" not in ly]
    assert closed and closed == out["layers"][:len(closed)]  # the first layers closed, the deep ones marked
    for ly in closed:
        assert not any(prefix in s for s in ly["output_shape"]), ly["index"]  # in the network's symbols
    if n == 40:
        assert not marked and "sizes" not in out
        return
    assert marked and "sizes" in out  # the names the marked layers are written in
    for ly in marked:
        assert ly["closed_form"].startswith("too large") and str(MAX_CLOSED_FORM_SYMBOLS) in ly["closed_form"]
    # a closed layer's closed form is the derivation's own, and agrees with evaluation at a sample
    last = closed[-1]
    k = last["index"]
    assert last["output_shape"] == [text(d.collapse(s)) for s in d.layers[k].output_shape]
    v = values(n, random.Random(7))
    e = d.evaluate(v)
    subs = {sympy.Symbol(a, integer=True, positive=True): b for a, b in v.items()}
    for k in (1, 10, 30):  # a closed layer's closed form, evaluated at a sample, is what evaluation gives
        ly = out["layers"][k]
        assert "closed_form" not in ly
        if e.valid:
            exprs = [d.collapse(s) for s in d.layers[k].output_shape]
            got = [int(x.subs({s: subs.get(sympy.Symbol(s.name, integer=True, positive=True), 0)
                               for s in x.free_symbols})) for x in exprs]
            assert got == list(e.layers[k].output_shape), k
