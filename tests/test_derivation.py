"""The derivation and evaluation contract: published totals, the classic example, exact integers,
deep networks, batch evaluation, violation messages."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import sympy

import symshape
from symshape import BindingError

EXAMPLES = Path(__file__).parent.parent / "examples"

PUBLISHED = [  # example, total parameters (torch's parameters(); keras' count_params for LeNet-5), input size
    ("alexnet.yaml", 61_100_840, {"H": 224, "W": 224}),
    ("vgg16.yaml", 138_357_544, {"H": 224, "W": 224}),
    ("resnet18.yaml", 11_689_512, {"H": 224, "W": 224}),
    ("resnet50.yaml", 25_557_032, {"H": 224, "W": 224}),
    ("lenet5.yaml", 61_706, {}),
]


@pytest.mark.parametrize(("name", "total", "binding"), PUBLISHED)
def test_published_parameter_totals(name: str, total: int, binding: dict) -> None:
    d = symshape.derive(EXAMPLES / name)
    assert d.params == total  # symbolic input size: the total is a number all the same
    e = d.evaluate(binding)
    assert e.valid, e.violations
    assert e.params == total
    assert e.output_shape[-1] in (1000, 10)


def test_resnet_buffers_and_macs_at_224() -> None:
    e = symshape.derive(EXAMPLES / "resnet50.yaml").evaluate(H=224, W=224)
    # 53 BatchNorm2d layers, each 2C + 1 buffer elements (running mean, var, num_batches_tracked)
    assert e.buffers == 2 * 26_560 + 53
    assert e.macs == 4_089_184_256  # fvcore's ResNet-50 figure (multiply-adds, bias excluded)


def test_resnet_valid_input_range_is_exact() -> None:
    d = symshape.derive(EXAMPLES / "resnet18.yaml")
    valid = [h for h in range(1, 80) if d.evaluate(H=h, W=h).valid]
    assert valid[0] == 1 and all(d.evaluate(H=h, W=h).output_shape == (1000,) for h in valid)


def test_classic_example_numeric() -> None:
    e = symshape.derive(EXAMPLES / "classic.yaml").evaluate()
    assert [ly.output_shape for ly in e.layers] == [(30, 30, 5), (15, 15, 5)]
    assert [ly.params for ly in e.layers] == [140, 0]
    assert e.to_dict()["output_shape"] == [15, 15, 5]


def test_classic_example_symbolic() -> None:
    d = symshape.derive(EXAMPLES / "classic_symbolic.yaml")
    conv = d.layers[0]
    assert str(d.collapse(conv.output_shape[0])) == "floor((-F + I + 2*P)/S) + 1"
    assert str(conv.params) == "3*D*F**2 + D"
    e = d.evaluate(I=32, F=3, S=1, P=0, D=5)
    assert e.layers[0].output_shape == (30, 30, 5) and e.layers[0].params == 140
    assert e.output_shape == (15, 15, 5)


def test_to_dict_contract() -> None:
    d = symshape.derive(EXAMPLES / "classic_symbolic.yaml")
    out = d.evaluate(I=32, F=3, S=1, P=0, D=5).to_dict()
    assert set(out) >= {"output_shape", "params", "buffers", "macs", "layers", "valid", "violations"}
    assert out["params"] == {"trainable": 140, "non_trainable": 0, "total": 140}
    assert out["layers"][0] == {**out["layers"][0], "index": 0, "name": "conv2d", "kind": "Conv2D",
                                "output_shape": [30, 30, 5], "macs": 30 * 30 * 5 * 27}
    sym = d.to_dict()
    assert sym["closed_form"] == ["floor((I + S - F + 2*P)/(2*S))"] * 2 + ["D"]
    assert sym["params"]["total"] == "D + 3*D*F**2"
    assert sym["layers"][0]["recurrence"] == ["floor((Hin - F + 2*P)/S) + 1", "floor((Win - F + 2*P)/S) + 1", "D"]
    # (layer 0's I - F + 2*P >= 0 is implied by layer 1's I - F - S + 2*P >= 0 with S >= 1: not shown)
    assert [c["relation"] for c in sym["constraints"]] == ["I >= 1", "F >= 1", "S >= 1", "P >= 0", "D >= 1",
                                                          "I - F - S + 2*P >= 0"]


def test_violation_message_names_layer_axis_values() -> None:
    spec = {"framework": "keras", "input": ["I", "I", 3],
            "layers": [{"Conv2D": {"filters": 4, "kernel_size": 3}, "name": "conv1"},
                       {"MaxPooling2D": {"pool_size": 2}, "name": "pool1"},
                       {"Conv2D": {"filters": 4, "kernel_size": 3}, "name": "conv2"},
                       {"MaxPooling2D": {"pool_size": 2}, "name": "pool2"}]}
    e = symshape.derive(spec).evaluate(I=8)
    assert not e.valid
    assert e.violations[0].message == "layer 3 'pool2' (MaxPooling2D): output height 0 < 1 at I=8"
    assert e.to_dict()["violations"][0]["layer"] == 3


def test_exact_beyond_float_precision() -> None:
    spec = {"framework": "torch", "input": [1, "I"], "layers": [{"Linear": {"out_features": "U"}},
                                                              {"Conv1d": {"out_channels": 3, "kernel_size": 3}}]}
    big = 2**70 + 1
    e = symshape.derive(spec).evaluate(I=7, U=big)
    assert e.output_shape == (3, big - 2)
    assert e.params == 7 * big + big + 3 * 3 + 3
    assert isinstance(e.params, int) and not isinstance(e.params, bool)


def test_deep_chain_of_300_layers_evaluates() -> None:
    layers = [{"Conv1d": {"out_channels": 2, "kernel_size": f"F{k}", "stride": f"S{k}", "padding": f"P{k}"}}
              for k in range(300)]
    d = symshape.derive({"framework": "torch", "input": [2, "I"], "layers": layers})
    values = {"I": 50}
    for k in range(300):  # every layer keeps the size: kernel 3, stride 1, padding 1
        values.update({f"F{k}": 3, f"S{k}": 1, f"P{k}": 1})
    e = d.evaluate(values)
    assert e.valid and e.output_shape == (2, 50)
    assert len(str(d.closed_form[1])) < 60 * 300


def test_batch_equals_single_evaluation() -> None:
    d = symshape.derive(EXAMPLES / "automl_space.yaml")
    r = random.Random(5)
    n = 2000
    cols = {s: np.array([r.randint(info.min, info.max) for _ in range(n)]) for s, info in d.symbols.items()}
    cols["I"] = np.array([r.choice([16, 33, 64, 300]) for _ in range(n)])  # some below the declared minimum
    batch = d.evaluate_batch(cols, outputs=("output_shape", "params", "macs"))
    for i in range(0, n, 37):
        one = d.evaluate({s: int(v[i]) for s, v in cols.items()})
        assert bool(batch.valid[i]) == one.valid
        assert [int(a[i]) for a in batch.columns["output_shape"]] == list(one.output_shape)
        assert int(batch.columns["params"][i]) == one.params
        assert int(batch.columns["macs"][i]) == one.macs
    assert 0 < batch.valid.sum() < n


def test_batch_scalars_broadcast_and_chunks() -> None:
    d = symshape.derive(EXAMPLES / "classic_symbolic.yaml")
    got = d.evaluate_batch({"I": np.arange(1, 100_001), "F": 3, "S": 2, "P": 1, "D": 8}, chunk=4096)
    assert got.length == 100_000
    i = np.arange(1, 100_001)
    conv = (i - 3 + 2) // 2 + 1
    assert np.array_equal(got.columns["output_shape"][0], (conv - 2) // 2 + 1)
    assert np.array_equal(got.valid, (conv - 2) // 2 + 1 >= 1)


@pytest.mark.parametrize(("bindings", "message"), [
    ({"I": 32}, "missing values for"),
    ({"I": 32, "F": 3, "S": 1, "P": 0, "D": 5, "Q": 1}, "unknown symbol 'Q'"),
    ({"I": 32, "F": 3, "S": 1, "P": 0, "d": 5}, "did you mean 'D'"),
    ({"I": 32.5, "F": 3, "S": 1, "P": 0, "D": 5}, "must be an integer"),
    ({"I": True, "F": 3, "S": 1, "P": 0, "D": 5}, "must be an integer"),
])
def test_binding_errors(bindings: dict, message: str) -> None:
    d = symshape.derive(EXAMPLES / "classic_symbolic.yaml")
    with pytest.raises(BindingError, match=message):
        d.evaluate(bindings)


def test_declared_domains_are_conditions() -> None:
    d = symshape.derive(EXAMPLES / "classic_symbolic.yaml")
    e = d.evaluate(I=32, F=3, S=1, P=-1, D=5)
    assert any("-1 < 0 at P=-1" in v.message for v in e.violations)  # P >= 0: declared, and a padding


def test_derivations_are_cached_by_canonical_form() -> None:
    a = symshape.derive(EXAMPLES / "resnet18.yaml")
    text = (EXAMPLES / "resnet18.yaml").read_text().replace("# ResNet", "#  ResNet")
    b = symshape.derive(text)
    assert a is b
    assert a.key == b.key


def test_symbolic_output_at_binding_equals_numeric_derivation() -> None:
    sym = symshape.derive(EXAMPLES / "classic_symbolic.yaml")
    r = random.Random(3)
    for _ in range(200):
        values = {"I": r.randint(1, 80), "F": r.randint(1, 7), "S": r.randint(1, 3), "P": r.randint(0, 3),
                  "D": r.randint(1, 9)}
        spec = {"framework": "keras", "input": [values["I"], values["I"], 3],
                "layers": [{"Conv2D": {"filters": values["D"], "kernel_size": values["F"], "strides": values["S"],
                                       "padding": values["P"]}}, {"MaxPooling2D": {"pool_size": [2, 2]}}]}
        numeric = symshape.derive(spec).evaluate()
        symbolic = sym.evaluate(values)
        assert numeric.valid == symbolic.valid
        if numeric.valid:
            assert numeric.output_shape == symbolic.output_shape
            sub = {sym.symbols[k].symbol: sympy.Integer(v) for k, v in values.items()}
            assert tuple(e.xreplace(sub) for e in sym.closed_form) == numeric.output_shape
            assert numeric.params == symbolic.params


def test_layer_shapes_by_index_and_name() -> None:
    d = symshape.derive(EXAMPLES / "classic_symbolic.yaml")
    assert str(d.layer_shape(0)[0]) == "floor((-F + I + 2*P)/S) + 1"
    assert d.layer_shape("max_pooling2d") == d.closed_form
    assert str(d.layer_shape(1, closed=False)[0]) == "floor((floor((-F + I + 2*P)/S) + 1)/2)"
    with pytest.raises(KeyError, match="did you mean 'conv2d'"):
        d.layer("conv2")


def test_huge_integer_literals_are_refused() -> None:
    with pytest.raises(symshape.LimitError):
        symshape.derive({"framework": "keras", "input": [3], "layers": [{"Dense": {"units": 10**100}}]})


def test_solve_matches_the_closed_form_inverse() -> None:
    # a chain with closed form floor((I + A)/B) + e: out = t exactly on one interval of I
    spec = {"framework": "torch", "input": [1, "I"],
            "layers": [{"Conv1d": {"out_channels": 1, "kernel_size": 7, "stride": 2, "padding": 3}},
                       {"MaxPool1d": {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}},
                       {"Conv1d": {"out_channels": 1, "kernel_size": 5, "stride": 3}}]}
    d = symshape.derive(spec)
    for t in (1, 2, 7, 40):
        got = d.solve("I", target={1: t})
        brute = [i for i in range(1, 5001) if d.evaluate(I=i).valid and d.evaluate(I=i).output_shape[1] == t]
        assert [(p.lo, p.hi) for p in got.pieces] == [(brute[0], brute[-1])]
        assert len(brute) == brute[-1] - brute[0] + 1
    valid = d.solve("I", lo=1, hi=5000)
    assert [(p.lo, p.hi) for p in valid.pieces] == [(min(b for b in range(1, 5001) if d.evaluate(I=b).valid), 5000)]


def test_solve_unet_sizes_are_multiples_of_8() -> None:
    d = symshape.derive(EXAMPLES / "unet.yaml")
    got = d.solve("H", {"C": 3, "W": 64, "K": 2})
    assert got.text() == "H ≥ 8 and H ≡ 0 (mod 8)"
    assert got.first(12) == list(range(8, 97, 8))
    with pytest.raises(symshape.BindingError, match="did you mean 'H'"):
        d.solve("h")


def test_compiled_program_pickles_after_use() -> None:
    import pickle

    d = symshape.derive(EXAMPLES / "resnet18.yaml")
    first = d.evaluate(H=224, W=224)  # caches the program's fast steps (closures, not picklable)
    copy = pickle.loads(pickle.dumps(d.compiled))
    from symshape.evaluate import evaluate

    assert evaluate(copy, {"H": 224, "W": 224}) == first
