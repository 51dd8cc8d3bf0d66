"""The one-symbol closed-form sweep (symshape.fastpath) equals the per-layer program, row for row,
on every example network and on random chains and graphs, negative and huge values included."""

import random
from pathlib import Path

import numpy as np
import pytest

import symshape
from symshape import fastpath
from symshape.evaluate import BATCH_OUTPUTS
from symshape.fastpath import one_symbol
from tests.test_solve import random_keras_graph, random_torch_graph

EXAMPLES = Path(__file__).parent.parent / "examples"

EXAMPLE_SWEEPS = [
    ("classic_symbolic.yaml", "I", {"F": 5, "S": 2, "P": 1, "D": 4}),
    ("unet.yaml", "H", {"C": 3, "W": 64, "K": 2}),
    ("resnet18.yaml", "H", {"W": 224}),
    ("resnet50.yaml", "H", {"W": 224}),
    ("alexnet.yaml", "H", {"W": 227}),
    ("vgg16.yaml", "W", {"H": 224}),
    ("transformer_block.yaml", "L", {"E": 64, "Hh": 8}),
]


def same_as_program(d, symbol, fixed, values):
    fast = one_symbol(d.compiled, symbol, fixed)
    assert fast is not None
    inside = fast.covers(values)
    values = values[inside]
    valid, cols = fast(values)
    sizes = [cols[r] for r in d.compiled.output[0]]
    with fastpath.disabled():  # the reference: the per-layer program
        res = d.evaluate_batch({**fixed, symbol: values}, outputs=("output_shape",))
    assert np.array_equal(valid, res.valid)
    for got, want in zip(sizes, res.columns["output_shape"], strict=True):
        assert np.array_equal(got, want)
    return fast


@pytest.mark.parametrize(("name", "symbol", "fixed"), EXAMPLE_SWEEPS, ids=[c[0] for c in EXAMPLE_SWEEPS])
def test_examples_equal_the_program(name, symbol, fixed):
    d = symshape.derive(EXAMPLES / name)
    if symbol not in d.compiled.program.symbols:
        pytest.fail(f"{name} has no symbol {symbol}")
    values = np.concatenate([np.arange(-300, 5000), np.array([10**6 + 7, 2**40 + 3, 2**50])]).astype(np.int64)
    same_as_program(d, symbol, fixed, values)


@pytest.mark.parametrize("make", [random_torch_graph, random_keras_graph], ids=["torch", "keras"])
def test_random_graphs_equal_the_program(make):
    rng = random.Random(99)
    built = 0
    for _ in range(120):
        d = symshape.derive(make(rng))
        fast = one_symbol(d.compiled, "H", {})
        if fast is None:
            continue
        built += 1
        values = np.concatenate([np.arange(-40, 600), rng.sample(range(600, 10**9), 50)]).astype(np.int64)
        same_as_program(d, "H", {}, values)
    assert built > 100  # the fast path applies to nearly every chain and graph


def test_refuses_what_it_cannot_do():
    # a divisor in the swept symbol: no closed form, the caller keeps the program
    spec = {"framework": "torch", "input": [3, "H"], "symbols": {"S": {"min": 1}},
            "layers": [{"MaxPool1d": {"kernel_size": 1, "stride": "S"}}]}
    d = symshape.derive(spec)
    assert one_symbol(d.compiled, "S", {"H": 100}) is None
    assert one_symbol(d.compiled, "H", {"S": 3}) is not None


@pytest.mark.parametrize(("name", "symbol", "fixed"), EXAMPLE_SWEEPS, ids=[c[0] for c in EXAMPLE_SWEEPS])
def test_evaluate_batch_takes_the_fast_path_and_agrees(name, symbol, fixed):
    """Every batch output (sizes, params, MACs, activations, ...) equals the per-layer program."""
    d = symshape.derive(EXAMPLES / name)
    values = np.concatenate([np.arange(-100, 20_000), np.array([10**6 + 3, 2**20 + 1])]).astype(np.int64)
    fast = d.evaluate_batch({**fixed, symbol: values}, outputs=BATCH_OUTPUTS)
    with fastpath.disabled():
        slow = d.evaluate_batch({**fixed, symbol: values}, outputs=BATCH_OUTPUTS)
    assert np.array_equal(fast.valid, slow.valid) and np.array_equal(fast.overflow, slow.overflow)
    for out in BATCH_OUTPUTS:
        a, b = fast.columns[out], slow.columns[out]
        for x, y in zip(a if out == "output_shape" else [a], b if out == "output_shape" else [b], strict=True):
            assert np.array_equal(x, y), out
    assert any(v is not None for v in fastpath._CACHE[d.compiled].values())  # it did take the fast path


def test_sweep_rows_are_the_same_on_the_fast_path():
    """A sweep whose last axis is long runs run by run through the closed form: same rows, same text."""
    import io

    from symshape.sweep import Sweep, parse_axis

    d = symshape.derive(EXAMPLES / "unet.yaml")
    axes = [parse_axis("C", "3"), parse_axis("W", "56,64"), parse_axis("K", "2"), parse_axis("H", "-5:20000")]
    fast, slow = io.StringIO(), io.StringIO()
    kept = Sweep(d, axes).write(fast)
    with fastpath.disabled():
        assert Sweep(d, axes).write(slow) == kept
    assert fast.getvalue() == slow.getvalue() and kept == 2 * 2499  # H = 8, 16, ..., 19992 for each W
    assert any(v is not None for v in fastpath._CACHE[d.compiled].values())
