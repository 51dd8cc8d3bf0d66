"""Signed margins: <= 0 exactly where a condition holds, exact, the same one by one and in batches,
and the validity they give agrees with real PyTorch."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

import symshape
from symshape.evaluate import CheckInfo, evaluate
from symshape.margins import _abs, _plus_one, _sub, condition_names, margin_int, margins

from .readme_sample import run_readme_sample

ROOT = Path(__file__).resolve().parent.parent
I64 = 2**63 - 1

# op, lhs, rhs, margin
OPS = [
    (">=", 5, 3, -2), (">=", 3, 3, 0), (">=", 2, 3, 1),
    (">", 5, 3, -1), (">", 3, 3, 1), (">", 2, 3, 2),
    ("<=", 3, 5, -2), ("<=", 5, 5, 0), ("<=", 7, 5, 2),
    ("<", 3, 5, -1), ("<", 5, 5, 1),
    ("==", 4, 4, 0), ("==", 4, 7, 3), ("==", 9, 7, 2),
    ("!=", 4, 4, 1), ("!=", 4, 5, 0), ("!=", 4, 9, -4),
    (">=", None, 1, 1),  # undefined (a quotient by zero): not satisfied
    (">=", 2**70, 1, 1 - 2**70),  # exact beyond int64 one by one
]


@pytest.mark.parametrize(("op", "lhs", "rhs", "expected"), OPS)
def test_margin_table(op: str, lhs: int | None, rhs: int, expected: int) -> None:
    ck = CheckInfo(None, None, None, "test", "x", op, "", 0, 1, 2)
    truth = None if lhs is None else {">=": lhs >= rhs, ">": lhs > rhs, "<=": lhs <= rhs, "<": lhs < rhs,
                                      "==": lhs == rhs, "!=": lhs != rhs}[op]
    got = margin_int(ck, [lhs, rhs, truth])
    assert got == expected
    assert (got <= 0) == bool(truth)


def test_holds_margin() -> None:
    ck = CheckInfo(None, None, None, "test", "x", "holds", "", 0, 0, 0)
    assert margin_int(ck, [True]) == 0
    assert margin_int(ck, [False]) == 1
    assert margin_int(ck, [None]) == 1


SATURATION = [  # a, b, a - b saturated
    (I64, -1, I64), (-I64 - 1, 1, -I64 - 1), (I64, -I64 - 1, I64), (-I64 - 1, I64, -I64 - 1), (5, 7, -2),
    (I64, I64, 0),
]


@pytest.mark.parametrize(("a", "b", "expected"), SATURATION)
def test_int64_margins_saturate_with_their_sign(a: int, b: int, expected: int) -> None:
    got = _sub(np.array([a], dtype=np.int64), np.array([b], dtype=np.int64))
    assert int(got[0]) == expected
    assert int(_plus_one(np.array([I64], dtype=np.int64))[0]) == I64
    assert int(_abs(np.array([-I64 - 1], dtype=np.int64))[0]) == I64


SPECS = ["classic_symbolic.yaml", "automl_space.yaml", "unet.yaml", "resnet18.yaml", "transformer_block.yaml"]


def _random_binding(d: symshape.Derivation, rng: random.Random) -> dict[str, int]:
    out = {}
    for name in d.free_symbols:
        info = d.symbols[name] if isinstance(d.symbols, dict) else None
        lo = getattr(info, "min", None)
        hi = getattr(info, "max", None)
        lo = 0 if lo is None else lo
        hi = lo + 40 if hi is None else min(hi, lo + 300)
        out[name] = rng.randint(lo - 1, hi)  # one below the domain now and then
    return out


@pytest.mark.parametrize("name", SPECS)
def test_margins_one_by_one_and_in_batches_agree(name: str) -> None:
    """Sampled: margin > 0 exactly for the listed violations, the first one is first_violation, and the
    int64 columns of evaluate_batch equal the exact margins row by row."""
    d = symshape.derive(ROOT / "examples" / name)
    rng = random.Random(name)
    rows = [_random_binding(d, rng) for _ in range(300)]
    names = condition_names(d.compiled)
    for b in rows[:60]:
        e = evaluate(d, b, margins=True)
        assert e.margins.names == tuple(names)
        failing = [k for k, v in enumerate(e.margins.values) if v > 0]
        assert len(failing) == len(e.violations)
        for k, v in zip(failing, e.violations, strict=True):
            assert v.message.startswith(names[k].split(" vs ")[0]), (v.message, names[k])
        assert e.margins.valid == e.valid
        assert e.margins.first_violation == (failing[0] if failing else -1)
        assert e.to_dict()["margins"]["values"] == list(e.margins.values)
    cols = {s: np.array([b[s] for b in rows], dtype=np.int64) for s in d.free_symbols}
    res = d.evaluate_batch(cols, outputs=("output_shape", "params", "margins", "first_violation"))
    assert res.condition_names == tuple(names)
    assert len(res.columns["margins"]) == len(names)
    plain = d.evaluate_batch(cols, outputs=("output_shape", "params"))
    assert (plain.valid == res.valid).all()  # asking for margins changes no other column
    assert (plain.columns["params"] == res.columns["params"]).all()
    for i, b in enumerate(rows):
        m = margins(d, b)
        assert [int(col[i]) for col in res.columns["margins"]] == list(m.values), b
        assert int(res.columns["first_violation"][i]) == m.first_violation, b
        assert bool(res.valid[i]) == m.valid


def test_first_violation_alone_evaluates_only_invalid_rows() -> None:
    d = symshape.derive(ROOT / "examples" / "classic_symbolic.yaml")
    n = 50_000
    rng = np.random.default_rng(0)
    cols = {"I": rng.integers(1, 64, n), "F": rng.integers(1, 8, n), "S": rng.integers(0, 4, n), "P": 1, "D": 8}
    first = d.evaluate_batch(cols, outputs=("first_violation",)).columns["first_violation"]
    full = d.evaluate_batch(cols, outputs=("margins", "first_violation"))
    assert (first == full.columns["first_violation"]).all()
    stacked = np.vstack(full.columns["margins"])
    expect = np.where((stacked > 0).any(axis=0), np.argmax(stacked > 0, axis=0), -1)
    assert (expect == first).all()
    assert ((first == -1) == full.valid).all()


def test_zero_stride_is_undefined_with_margin_one() -> None:
    d = symshape.derive(ROOT / "examples" / "classic_symbolic.yaml")
    e = evaluate(d, {"I": 32, "F": 3, "S": 0, "P": 0, "D": 4}, margins=True)
    names = e.margins.names
    stride = names.index("layer 0 'conv2d' (Conv2D): stride height")
    out = names.index("layer 0 'conv2d' (Conv2D): output height")
    assert e.margins.values[stride] == 1 and e.margins.values[out] == 1
    res = d.evaluate_batch({"I": np.array([32, 32]), "F": 3, "S": np.array([0, 1]), "P": 0, "D": 4},
                           outputs=("margins",))
    assert int(res.columns["margins"][out][0]) == 1


def _saturated(v: int) -> int:
    return max(-I64, min(I64, v))


def test_overflow_rows_have_exact_saturated_margins() -> None:
    d = symshape.derive({"framework": "torch", "input": ["C", "H"], "layers": [{"Linear": {"out_features": "U"}}]})
    res = d.evaluate_batch({"C": 3, "H": np.array([4, 2**62]), "U": np.array([5, 2**62])},
                           outputs=("params", "macs", "margins", "first_violation"))
    assert res.overflow.tolist() == [False, True]
    for row, b in enumerate(({"C": 3, "H": 4, "U": 5}, {"C": 3, "H": 2**62, "U": 2**62})):
        exact = margins(d, b)
        assert [int(col[row]) for col in res.columns["margins"]] == [_saturated(v) for v in exact.values]
        assert int(res.columns["first_violation"][row]) == exact.first_violation
    assert res.valid.tolist() == [True, False] and int(res.columns["params"][1]) == 0


# (review13 #1) an overflow row whose pooling output height is violated by 1: the batch said margins 0
OVERFLOW_ROWS = [
    {"I": 2**62, "F": 2**62, "S": 1, "P": 0, "D": 4},
    {"I": 2**62 + 5, "F": 3, "S": 1, "P": 0, "D": 2**62},
    {"I": 2**62, "F": 3, "S": 1, "P": 2**61, "D": 7},
]


@pytest.mark.parametrize("outputs", [("params", "margins", "first_violation"), ("first_violation",), ("margins",)])
def test_overflow_rows_margins_hold_exactly_when_the_condition_holds(outputs: tuple[str, ...]) -> None:
    d = symshape.derive((ROOT / "examples" / "classic_symbolic.yaml").read_text())
    cols = {k: np.array([r[k] for r in OVERFLOW_ROWS] + [32], dtype=np.int64) if k == "I" else
            np.array([r[k] for r in OVERFLOW_ROWS] + [3 if k == "F" else 1 if k == "S" else 0 if k == "P" else 4],
                     dtype=np.int64) for k in "IFSPD"}
    res = d.evaluate_batch(cols, outputs=outputs)
    assert res.overflow[:3].any()
    for row in range(4):
        exact = margins(d, {k: int(cols[k][row]) for k in "IFSPD"})
        if "margins" in outputs:
            got = [int(col[row]) for col in res.columns["margins"]]
            assert got == [_saturated(v) for v in exact.values]
            assert [g <= 0 for g in got] == [v <= 0 for v in exact.values]
        if "first_violation" in outputs:
            assert int(res.columns["first_violation"][row]) == exact.first_violation
    first = margins(d, OVERFLOW_ROWS[0])
    assert first.first_violation == len(first.values) - 1 and first.values[-1] == 1


def test_unknown_output_names_margins_in_did_you_mean() -> None:
    d = symshape.derive(ROOT / "examples" / "classic_symbolic.yaml")
    with pytest.raises(symshape.BindingError, match="did you mean 'margins'"):
        d.evaluate_batch({"I": 32, "F": 3, "S": 1, "P": 0, "D": 4}, outputs=("margin",))


# ---------------------------------------------------------------- against torch

TORCH_SPEC = {"framework": "torch", "input": [3, "H", "H"], "symbols": {"P": {"min": 0}},
              "layers": [{"Conv2d": {"out_channels": 4, "kernel_size": "K", "stride": "S", "padding": "P"}},
                         {"MaxPool2d": {"kernel_size": "M"}}]}


def test_margins_agree_with_torch() -> None:
    """Sampled configurations: all margins <= 0 exactly when torch builds and runs the network."""
    torch = pytest.importorskip("torch", reason="torch is needed to check margins against the framework")
    d = symshape.derive(TORCH_SPEC)
    rng = random.Random(13)
    seen = set()
    for _ in range(150):
        b = {"H": rng.randint(1, 24), "K": rng.randint(1, 7), "S": rng.randint(1, 3), "P": rng.randint(0, 4),
             "M": rng.randint(1, 5)}
        m = margins(d, b)
        try:
            net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, b["K"], b["S"], b["P"]), torch.nn.MaxPool2d(b["M"]))
            y = net(torch.zeros(1, 3, b["H"], b["H"], device="meta"))
            ok = all(s >= 1 for s in y.shape)
        except (RuntimeError, ValueError):
            ok = False
        assert m.valid == ok, (b, m.violated())
        seen.add(ok)
    assert seen == {True, False}


def test_readme_margins_sample_runs_and_says_what_it_returns() -> None:
    scope = run_readme_sample("## Past one machine", "margins")
    assert scope["m"].violated() == {"layer 1 'max_pooling2d' (MaxPooling2D): output height": 1}
    first = scope["b"].columns["first_violation"]
    assert first[:8].tolist() == [4, 4, 4, 4, 4, 4, 6, 6] and (first[8:] == -1).all()
    assert scope["b"].condition_names[4] == "layer 0 'conv2d' (Conv2D): output height"
