"""The closed form against step-by-step integer arithmetic (a sampled-assertion property test).

A random chain of size-changing layers, each hyperparameter its own symbol, is derived once;
then for random integer bindings the collapsed closed form, the nested form and the compiled
program must all equal a plain-Python recurrence written from the frameworks' own formulas
(torch's ceil_mode decrement included), wherever the chain is valid; and symshape's validity
must equal the recurrence's (every intermediate size >= 1, torch's pooling padding limit).
"""

from __future__ import annotations

import random

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symshape
from symshape.algebra import FloorDiv, collapse

KINDS = ("conv", "same", "pool_ceil", "pool", "transpose", "upsample", "pad")


def reference(kinds: list[str], values: dict[str, int], x: int) -> int | None:
    """The output size step by step, None when some step is invalid (as torch/keras would refuse)."""
    for k, kind in enumerate(kinds):
        f, s, p, d = (values.get(f"{n}{k}", 1) for n in "FSPd")
        e = d * (f - 1) + 1
        if kind == "conv":
            x = (x + 2 * p - e) // s + 1
        elif kind == "same":
            x = -(-x // s)
        elif kind in ("pool", "pool_ceil"):
            if 2 * p > f:
                return None
            if kind == "pool":
                x = (x + 2 * p - e) // s + 1
            else:
                out = (x + 2 * p - e + s - 1) // s + 1
                if (out - 1) * s >= x + p:
                    out -= 1
                x = out
        elif kind == "transpose":
            x = (x - 1) * s - 2 * p + e + values.get(f"O{k}", 0)
        elif kind == "upsample":
            x = x * s
        elif kind == "pad":
            x = x + p + values.get(f"Q{k}", 0)
        if x < 1:
            return None
    return x


def layer(kind: str, k: int) -> dict:
    """Layer k of a torch-vocabulary chain, every hyperparameter its own symbol."""
    f, s, p, d = f"F{k}", f"S{k}", f"P{k}", f"d{k}"
    if kind == "conv":
        return {"Conv1d": {"out_channels": 1, "kernel_size": f, "stride": s, "padding": p, "dilation": d}}
    if kind == "same":  # TF 'same' = ceil(x/s): a kernel-1 pool in ceil mode computes exactly that
        return {"MaxPool1d": {"kernel_size": 1, "stride": s, "ceil_mode": True}}
    if kind in ("pool", "pool_ceil"):
        return {"MaxPool1d": {"kernel_size": f, "stride": s, "padding": p, "dilation": d,
                              "ceil_mode": kind == "pool_ceil"}}
    if kind == "transpose":
        return {"ConvTranspose1d": {"out_channels": 1, "kernel_size": f, "stride": s, "padding": p,
                                    "dilation": d, "output_padding": f"O{k}"}}
    if kind == "upsample":  # x*S: a transposed conv with kernel = stride
        return {"ConvTranspose1d": {"out_channels": 1, "kernel_size": s, "stride": s}}
    return {"ConstantPad1d": {"padding": [p, f"Q{k}"], "value": 0}}


def torch_chain(kinds: list[str]) -> dict:
    symbols: dict = {"I": {"min": 1}}
    for k in range(len(kinds)):
        symbols.update({f"F{k}": {"min": 1}, f"S{k}": {"min": 1}, f"P{k}": {"min": 0}, f"d{k}": {"min": 1},
                        f"O{k}": {"min": 0}, f"Q{k}": {"min": 0}})
    return {"framework": "torch", "input": [1, "I"], "symbols": symbols,
            "layers": [layer(kind, k) for k, kind in enumerate(kinds)]}


def bindings_for(kinds: list[str], r: random.Random) -> dict[str, int]:
    values = {"I": r.randint(1, 400)}
    for k, kind in enumerate(kinds):
        f = r.randint(1, 6)
        values.update({f"F{k}": f, f"S{k}": r.randint(1, 4), f"d{k}": r.randint(1, 3),
                       f"P{k}": r.randint(0, (f // 2) if kind.startswith("pool") and r.random() < 0.9 else 3),
                       f"O{k}": 0, f"Q{k}": r.randint(0, 3)})
        if kind == "transpose":
            values[f"O{k}"] = r.randint(0, max(values[f"S{k}"], values[f"d{k}"]) - 1)
        if kind == "upsample":
            values[f"F{k}"] = values[f"S{k}"]
            values[f"d{k}"] = 1
            values[f"P{k}"] = 0
    return values


def ref_torch(kinds: list[str], values: dict[str, int]) -> int | None:
    """The reference for torch_chain: 'upsample' is a transposed conv with kernel = stride (x*S)."""
    vals = dict(values)
    for k, kind in enumerate(kinds):
        if kind == "same":
            vals[f"F{k}"], vals[f"P{k}"], vals[f"d{k}"] = 1, 0, 1
    return reference(kinds, vals, values["I"])


chains = st.lists(st.sampled_from(KINDS), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kinds=chains, seed=st.integers(0, 2**32 - 1))
def test_closed_form_equals_recurrence(kinds: list[str], seed: int) -> None:
    spec = torch_chain(kinds)
    d = symshape.derive(spec, cache=False)
    nested = d.output_shape[1]
    closed = d.closed_form[1]
    r = random.Random(seed)
    for _ in range(40):
        values = bindings_for(kinds, r)
        values = {k: v for k, v in values.items() if k in d.symbols}
        want = ref_torch(kinds, values)
        got = d.evaluate(values)
        assert got.valid == (want is not None), (kinds, values, got.violations)
        if want is None:
            continue
        assert got.output_shape[1] == want
        sub = {d.symbols[k].symbol: sympy.Integer(v) for k, v in values.items()}
        assert closed.xreplace(sub) == want, (kinds, values, closed)
        assert nested.xreplace(sub) == want


def test_closed_form_is_one_floor_and_linear_for_conv_chains() -> None:
    for depth in (5, 20, 80):
        spec = torch_chain(["conv"] * depth)
        d = symshape.derive(spec, cache=False)
        closed = d.closed_form[1]
        floors = [a for a in sympy.preorder_traversal(closed) if isinstance(a, FloorDiv)]
        assert len(floors) == 1
        assert sympy.count_ops(closed) <= 12 * depth


def test_numeric_chain_collapses_to_the_known_form() -> None:
    # three 'valid' 3x3 convs with stride 2: floor((floor((floor((I-3)/2)+1-3)/2)+1-3)/2)+1 as one floor
    spec = {"framework": "keras", "input": ["I", "I", 3],
            "layers": [{"Conv2D": {"filters": 4, "kernel_size": 3, "strides": 2}}] * 3}
    d = symshape.derive(spec, cache=False)
    assert str(d.closed_form[0]) == "floor((I - 15)/8) + 1"
    i = d.symbols["I"].symbol
    for v in range(15, 300):
        assert d.closed_form[0].xreplace({i: v}) == (((v - 3) // 2 + 1 - 3) // 2 + 1 - 3) // 2 + 1


def test_floordiv_identities_sampled() -> None:
    x, c = sympy.symbols("x c", integer=True)
    a, b = sympy.symbols("a b", integer=True, positive=True)
    nested = FloorDiv(FloorDiv(x, a) + c, b)
    merged = collapse(nested)
    assert merged == FloorDiv(x + a * c, a * b)
    r = random.Random(7)
    for _ in range(5000):
        vals = {x: r.randint(-10**6, 10**6), c: r.randint(-1000, 1000), a: r.randint(1, 50), b: r.randint(1, 50)}
        assert nested.xreplace(vals) == merged.xreplace(vals)
    # exact multiples leave the floor; integer gcds cancel; nothing else does
    assert FloorDiv(4 * x + 6, 2) == 2 * x + 3
    kept = FloorDiv(2 * x + 1, 4)
    assert isinstance(kept, FloorDiv) and kept.args == (2 * x + 1, 4), kept
    assert FloorDiv(6 * x + 3, 9) == FloorDiv(2 * x + 1, 3)
    assert FloorDiv(a * x + c, a) == x + FloorDiv(c, a)
    # and each built form has the value of Python's floor division at every integer of a window
    for v in range(-60, 61):
        assert FloorDiv(4 * x + 6, 2).xreplace({x: v}) == (4 * v + 6) // 2
        assert kept.xreplace({x: v}) == (2 * v + 1) // 4
        assert FloorDiv(6 * x + 3, 9).xreplace({x: v}) == (6 * v + 3) // 9
        for av, cv in ((1, -7), (3, -5), (4, 0), (5, 9), (7, -13)):
            assert FloorDiv(a * x + c, a).xreplace({x: v, a: av, c: cv}) == (av * v + cv) // av


def torch_module(kind: str, k: int, values: dict[str, int]):  # noqa: ANN201
    """Layer k of torch_chain as a real torch module with the bound values."""
    import torch

    f, s, p, d = (values[f"{n}{k}"] for n in "FSPd")
    if kind == "conv":
        return torch.nn.Conv1d(1, 1, f, stride=s, padding=p, dilation=d)
    if kind == "same":
        return torch.nn.MaxPool1d(1, stride=s, ceil_mode=True)
    if kind in ("pool", "pool_ceil"):
        return torch.nn.MaxPool1d(f, stride=s, padding=p, dilation=d, ceil_mode=kind == "pool_ceil")
    if kind == "transpose":
        return torch.nn.ConvTranspose1d(1, 1, f, stride=s, padding=p, dilation=d, output_padding=values.get(f"O{k}", 0))
    if kind == "upsample":
        return torch.nn.ConvTranspose1d(1, 1, s, stride=s)
    return torch.nn.ConstantPad1d((p, values.get(f"Q{k}", 0)), 0.0)


def test_closed_form_matches_torch() -> None:
    """The closed form and the recurrence against real torch modules built with the same values."""
    torch = pytest.importorskip("torch")
    r = random.Random(31)
    agree = {True: 0, False: 0}
    for _ in range(25):
        kinds = [r.choice(KINDS) for _ in range(r.randint(1, 6))]
        d = symshape.derive(torch_chain(kinds), cache=False)
        closed = d.closed_form[1]
        for _ in range(12):
            values = bindings_for(kinds, r)
            values["I"] = r.randint(1, 120)
            ok = True
            y = torch.zeros(1, 1, values["I"])
            try:
                with torch.no_grad():
                    for k, kind in enumerate(kinds):
                        y = torch_module(kind, k, values)(y)
                        ok = ok and y.shape[-1] >= 1
            except (RuntimeError, ValueError):
                ok = False
            used = {k: v for k, v in values.items() if k in d.symbols}
            want = ref_torch(kinds, used)
            assert (want is not None) == ok, (kinds, values, want)
            assert d.evaluate(used).valid == ok, (kinds, values)
            agree[ok] += 1
            if ok:
                sub = {d.symbols[k].symbol: sympy.Integer(v) for k, v in used.items()}
                assert closed.xreplace(sub) == want == y.shape[-1], (kinds, values, closed)
    assert agree[True] > 50 and agree[False] > 20, agree
