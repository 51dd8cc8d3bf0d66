"""The inverse questions in closed form (symshape.solve): valid sets and target sizes of one symbol,
checked against brute-force evaluation on random chains and graphs, and on the examples."""

import os
import random
from pathlib import Path

import numpy as np
import pytest

import symshape
from symshape import fastpath
from symshape.errors import BindingError
from symshape.solve import Piece, solve

EXAMPLES = Path(__file__).parent.parent / "examples"
CASES = int(os.environ.get("SYMSHAPE_SOLVE_CASES", "150"))


def brute(d, symbol, fixed, lo, hi, target=None):
    values = np.arange(lo, hi + 1, dtype=np.int64)
    with fastpath.disabled():  # the per-layer program, not the closed form (which shares solve's analysis)
        res = d.evaluate_batch({**fixed, symbol: values}, outputs=("output_shape",))
    keep = res.valid.copy()
    for axis, want in (target or {}).items():
        keep &= res.columns["output_shape"][axis] == want
    return {int(v) for v in values[keep]}


def check_against_brute(d, symbol, fixed, target=None):
    answer = solve(d, symbol, fixed, target=target)
    last = max((p.hi for p in answer.pieces if p.hi is not None), default=answer.lo)
    window_end = max(answer.start or answer.lo, last) + 6 * answer.period + 64
    got = {v for v in range(answer.lo, window_end + 1) if answer.contains(v)}
    want = brute(d, symbol, fixed, answer.lo, window_end, target)
    assert got == want, (answer.text(), sorted(got ^ want)[:10])
    # the first values and nearest() agree with membership
    firsts = [v for v in answer.first(10) if v <= window_end]
    assert firsts == sorted(want)[:len(firsts)]
    for v in (answer.lo, window_end // 2, window_end):
        below, above = answer.nearest(v)
        members = sorted(want)
        assert below == max((m for m in members if m <= v), default=None)
        if above is not None and above <= window_end:
            assert above == min(m for m in members if m >= v)
    return answer


# ---------------------------------------------------------------- random chains and graphs


def torch_layer(rng):
    kind = rng.choice(["conv", "conv", "pool", "avg", "tconv", "up", "same"])
    if kind == "conv":
        return {"Conv1d": {"out_channels": 4, "kernel_size": rng.randint(1, 5), "stride": rng.randint(1, 3),
                           "padding": rng.randint(0, 2), "dilation": rng.randint(1, 2)}}
    if kind in ("pool", "avg"):
        k = rng.randint(1, 4)
        args = {"kernel_size": k, "stride": rng.randint(1, 3), "padding": rng.randint(0, k // 2),
                "ceil_mode": rng.random() < 0.5}
        return {"MaxPool1d" if kind == "pool" else "AvgPool1d": args}
    if kind == "tconv":
        s = rng.randint(1, 3)
        return {"ConvTranspose1d": {"out_channels": 4, "kernel_size": rng.randint(1, 4), "stride": s,
                                    "padding": rng.randint(0, 1), "output_padding": rng.randint(0, s - 1)}}
    if kind == "up":
        return {"Upsample": {"scale_factor": rng.randint(2, 3), "mode": "nearest"}}
    return {"Conv1d": {"out_channels": 4, "kernel_size": rng.choice([1, 3, 5]), "padding": "same"}}


def down_up(rng, i):
    """A U-Net level: pool by s, up by s, concatenated with what came in (agrees only on multiples)."""
    s = rng.randint(2, 3)
    pool = {"MaxPool1d": {"kernel_size": s, "ceil_mode": rng.random() < 0.3}, "name": f"d{i}"}
    up = {"Upsample": {"scale_factor": s}} if rng.random() < 0.5 else \
        {"ConvTranspose1d": {"out_channels": 4, "kernel_size": s, "stride": s}}
    return [pool, {**up, "name": f"u{i}"}, {"cat": {"dim": 1}, "name": f"l{i}", "inputs": [f"u{i}", f"l{i - 1}"]},
            {"Conv1d": {"out_channels": 4, "kernel_size": 1}, "name": f"p{i}"}]


def random_torch_graph(rng):
    layers = []
    for i in range(rng.randint(1, 7)):
        if i >= 1 and rng.random() < 0.3:
            block = down_up(rng, i)
            block[-1]["name"] = f"l{i}"
            block[-2]["name"] = f"c{i}"
            layers += block
            continue
        entry = torch_layer(rng)
        entry["name"] = f"l{i}"
        layers.append(entry)
        if i >= 1 and rng.random() < 0.3:  # a skip: concatenate or add with an earlier layer
            other = f"l{rng.randint(0, i - 1)}"
            merge = {"cat": {"dim": 1}} if rng.random() < 0.5 else {"add": {}}
            layers.append({**merge, "name": f"m{i}", "inputs": [f"l{i}", other]})
    return {"framework": "torch", "input": [4, "H"], "layers": layers}


def keras_layer(rng):
    kind = rng.choice(["conv", "pool", "up"])
    pad = rng.choice(["valid", "same"])
    if kind == "conv":
        s = rng.randint(1, 3)
        return {"Conv1D": {"filters": 4, "kernel_size": rng.randint(1, 5), "strides": s, "padding": pad}}
    if kind == "pool":
        return {"MaxPooling1D": {"pool_size": rng.randint(1, 3), "strides": rng.randint(1, 3), "padding": pad}}
    return {"UpSampling1D": {"size": rng.randint(2, 3)}}


def random_keras_graph(rng):
    layers = []
    for i in range(rng.randint(1, 7)):
        if i >= 1 and rng.random() < 0.3:  # a U-Net level
            s = rng.randint(2, 3)
            layers += [{"MaxPooling1D": {"pool_size": s, "padding": rng.choice(["valid", "same"])}, "name": f"d{i}"},
                       {"UpSampling1D": {"size": s}, "name": f"u{i}"},
                       {"Concatenate": {}, "name": f"l{i}", "inputs": [f"u{i}", f"l{i - 1}"]}]
            continue
        entry = keras_layer(rng)
        entry["name"] = f"l{i}"
        layers.append(entry)
        if i >= 1 and rng.random() < 0.3:
            layers.append({"Concatenate": {}, "name": f"m{i}", "inputs": [f"l{i}", f"l{rng.randint(0, i - 1)}"]})
    return {"framework": "keras", "input": ["H", 4], "layers": layers}


@pytest.mark.parametrize("make", [random_torch_graph, random_keras_graph], ids=["torch", "keras"])
def test_valid_set_equals_brute_force(make):
    rng = random.Random(20261201)
    infinite = periodic = 0
    for _ in range(CASES):
        spec = make(rng)
        d = symshape.derive(spec)
        answer = check_against_brute(d, "H", {})
        infinite += not answer.finite
        periodic += answer.period > 1 and not answer.finite
    assert infinite > CASES // 3 and periodic > 5, (infinite, periodic)  # the generator reaches the interesting cases


@pytest.mark.parametrize("make", [random_torch_graph, random_keras_graph], ids=["torch", "keras"])
def test_target_sets_equal_brute_force(make):
    rng = random.Random(7)
    hit = 0
    for _ in range(CASES // 2):
        d = symshape.derive(make(rng))
        valid = solve(d, "H", {})
        if valid.finite:
            continue
        probe = valid.first(rng.randint(1, 30))[-1]
        size = d.evaluate(H=probe).output_shape[-1 if d.framework == "torch" else 0]
        axis = len(d.output_shape) - 1 if d.framework == "torch" else 0
        answer = check_against_brute(d, "H", {}, {axis: size})
        assert answer.contains(probe)
        hit += 1
    assert hit > CASES // 6


# ---------------------------------------------------------------- the examples


def test_unet_valid_iff_multiple_of_8():
    d = symshape.derive(EXAMPLES / "unet.yaml")
    answer = check_against_brute(d, "H", {"C": 3, "W": 64, "K": 2})
    assert answer.text() == "H ≥ 8 and H ≡ 0 (mod 8)"
    assert answer.pieces == (Piece(8, None, 8, 0),)
    assert answer.nearest(570) == (568, 576)
    assert any("skip" in line for line in answer.explanation)


@pytest.mark.parametrize(("name", "bindings", "text"), [
    ("resnet50.yaml", {"W": 224}, "H ≥ 1"),
    ("alexnet.yaml", {"W": 224}, "H ≥ 63"),
    ("classic_symbolic.yaml", {"F": 5, "S": 2, "P": 0, "D": 3}, "I ≥ 7"),
])
def test_examples(name, bindings, text):
    d = symshape.derive(EXAMPLES / name)
    symbol = "I" if "I" in d.symbols else "H"
    answer = check_against_brute(d, symbol, bindings)
    assert answer.text() == text


def test_classic_target_formula():
    """floor((I + A)/B) = t exactly when B*t - A <= I <= B*(t + 1) - A - 1."""
    d = symshape.derive(EXAMPLES / "classic_symbolic.yaml")
    for f, s, p in [(5, 2, 0), (3, 1, 1), (7, 3, 2)]:
        for t in (1, 2, 7):
            answer = solve(d, "I", {"F": f, "S": s, "P": p, "D": 3}, target={0: t})
            # conv: x = floor((I - F + 2P)/S) + 1, pool 2/2: floor(x/2) = floor((I - F + 2P + S)/(2S))
            a, b = 2 * p - f + s, 2 * s
            assert answer.pieces == (Piece(b * t - a, b * (t + 1) - a - 1),), (f, s, p, t, answer.text())


def test_errors():
    d = symshape.derive(EXAMPLES / "unet.yaml")
    with pytest.raises(BindingError, match="bind C, W, K"):
        solve(d, "H", {})
    with pytest.raises(BindingError, match="did you mean 'H'"):
        solve(d, "h", {"C": 3})


def test_declared_range_and_finite_sets():
    spec = {"framework": "torch", "input": [3, "H"], "symbols": {"H": {"min": 10, "max": 40}},
            "layers": [{"MaxPool1d": {"kernel_size": 2}}]}
    d = symshape.derive(spec)
    answer = check_against_brute(d, "H", {})
    assert answer.pieces == (Piece(10, 40),) and answer.count() == 31


# ---------------------------------------------------------------- lossless sizes


def reference_lossless(d, h):
    """Valid, and at every conv/pool layer the last window ends on the input's last row (padding
    before it counted): computed from the layers' arguments and sizes, not from symshape's rules."""
    ev = d.evaluate(H=h)
    if not ev.valid:
        return False
    sizes = {"input": h}
    for ly, vals in zip(d.layers, ev.layers, strict=True):
        y = vals.output_shape[-1] if d.framework == "torch" else vals.output_shape[0]
        x = sizes[ly.inputs[0]]
        sizes[ly.name] = y
        a = ly.args
        if ly.kind in ("Conv1d", "MaxPool1d", "AvgPool1d"):
            k = int(a.kernel_size[0])
            s = int(a.stride[0]) if a.stride is not None else k
            d_ = int(a.dilation[0]) if hasattr(a, "dilation") and a.dilation is not None else 1
            p = 0 if a.padding == "same" else int(a.padding[0])
            last_end = (y - 1) * s - p + d_ * (k - 1)
        elif ly.kind in ("Conv1D", "MaxPooling1D"):
            k = int((a.kernel_size if ly.kind == "Conv1D" else a.pool_size)[0])
            s = int(a.strides[0]) if a.strides is not None else k
            pad_total = max((y - 1) * s + k - x, 0) if a.padding == "same" else 0
            last_end = (y - 1) * s - pad_total // 2 + k - 1
        else:
            continue
        if x - 1 > last_end:
            return False
    return True


@pytest.mark.parametrize("make", [random_torch_graph, random_keras_graph], ids=["torch", "keras"])
def test_lossless_sets_equal_a_reference(make):
    from symshape.solve import lossless

    rng = random.Random(5)
    infinite = 0
    for _ in range(CASES // 3):
        d = symshape.derive(make(rng))
        answer = lossless(d, "H", {})
        last = max((p.hi for p in answer.pieces if p.hi is not None), default=answer.lo)
        window = max(answer.start or answer.lo, last) + 3 * answer.period + 16
        wrong = [h for h in range(1, window) if answer.contains(h) != reference_lossless(d, h)]
        assert not wrong, (answer.text(), wrong[:8])
        infinite += not answer.finite
    assert infinite > CASES // 20


def test_unet_trunk_loses_no_row_iff_12_mod_16():
    """The classic valid-convolution U-Net contracting path (two 3x3 convolutions per level, 2x2 pools)."""
    from symshape.solve import lossless

    layers = []
    for _ in range(4):
        layers += [{"Conv2d": {"out_channels": 8, "kernel_size": 3}}, {"Conv2d": {"out_channels": 8, "kernel_size": 3}},
                   {"MaxPool2d": {"kernel_size": 2}}]
    layers += [{"Conv2d": {"out_channels": 8, "kernel_size": 3}}, {"Conv2d": {"out_channels": 8, "kernel_size": 3}}]
    d = symshape.derive({"framework": "torch", "input": [1, "H", 572], "layers": layers})
    valid = solve(d, "H", {})
    kept = lossless(d, "H", {})
    assert valid.text() == "H ≥ 140"
    assert kept.text() == "H ≥ 140 and H ≡ 12 (mod 16)"
    assert kept.contains(572) and not kept.contains(570)
    assert any("drops height rows" in line for line in kept.explanation)


def test_dropped_at():
    """The seed's reader: I = 11, F = 2, S = 2 -- the pooling gives 5 and ignores the last row."""
    from symshape.solve import dropped_at

    d = symshape.derive({"framework": "keras", "input": ["I", "I", 3], "symbols": {"F": {}, "S": {}},
                         "layers": [{"MaxPooling2D": {"pool_size": "F", "strides": "S"}}]})
    assert d.evaluate(I=11, F=2, S=2).output_shape == (5, 5, 3)
    got = dropped_at(d, {"I": 11, "F": 2, "S": 2})
    assert [(x.axis, x.rows) for x in got] == [("height", 1), ("width", 1)]
    assert got[0].text() == "layer 0 'max_pooling2d' (MaxPooling2D): 1 height row(s) never read"
    assert dropped_at(d, {"I": 12, "F": 2, "S": 2}) == []


def test_sizes_past_int64_are_exact():
    """Upsampling by 4 then pooling by 4: the middle size passes int64 near H = 2**62, the answer stays exact."""
    d = symshape.derive({"framework": "torch", "input": [1, "H"],
                         "layers": [{"Upsample": {"scale_factor": 4}}, {"MaxPool1d": {"kernel_size": 4}}]})
    near = 2**62
    answer = solve(d, "H", {}, lo=near - 50, hi=near + 50)
    assert answer.pieces == (Piece(near - 50, near + 50),)
    assert answer.finite and answer.count() == 101
    with pytest.raises(BindingError, match="target axis 5"):
        solve(d, "H", {}, target={5: 1})
    # the unbounded question: every H is valid (the analysis needs no evaluation up there)
    assert solve(d, "H", {}).text() == "H ≥ 1"


# ---------------------------------------------------------------- hyperparameters


def test_which_padding_keeps_the_size():
    """'Which padding keeps the size for kernel 5': P = 2 at stride 1 (the padding symbol solved)."""
    d = symshape.derive(EXAMPLES / "classic_symbolic.yaml")
    answer = solve(d, "P", {"I": 32, "F": 5, "S": 1, "D": 4}, target={0: 32 // 2})  # the pool halves it
    assert answer.pieces == (Piece(2, 2),) and answer.explanation == ()


def test_kernel_stride_pairs_mapping_224_to_7_are_verified():
    from symshape.solve import search

    d = symshape.derive({"framework": "keras", "input": [224, 224, 3], "symbols": {"F": {"max": 32}, "S": {"max": 64}},
                         "layers": [{"Conv2D": {"filters": 8, "kernel_size": "F", "strides": "S"}}]})
    found = search(d, {"F": None, "S": None}, target={0: 7})
    assert found.space == 32 * 64 and found.count == len(found.matches) == 160
    hits = set(found.matches)
    for f, s in hits:  # every reported pair, evaluated
        e = d.evaluate(F=f, S=s)
        assert e.valid and e.output_shape[0] == 7
    rng = random.Random(3)
    for _ in range(300):  # and a sample of the others
        f, s = rng.randint(1, 32), rng.randint(1, 64)
        if (f, s) not in hits:
            e = d.evaluate(F=f, S=s)
            assert not (e.valid and e.output_shape[0] == 7)
    assert (1, 32) in hits and (32, 32) in hits  # floor((224 - F)/32) + 1 = 7 for every F <= 32
