"""Answers that are honest: a spec no value can make valid says so (and is never shown with
meaningless sizes as requirements), and torch's parameter counts follow the declared constructor."""

from __future__ import annotations

import pytest

import symshape

TORCH_CHAIN = [{"Conv2d": {"in_channels": 3, "out_channels": 16, "kernel_size": 3}},
               {"Conv2d": {"in_channels": 16, "out_channels": 16, "kernel_size": 3}}]

# spec -> the start of never_valid_reason() (None: some value is valid)
NEVER_CASES = [
    ({"framework": "torch", "input": [3, 32, 32],
      "layers": [*TORCH_CHAIN, {"Conv2d": {"in_channels": 32, "out_channels": 8, "kernel_size": 3}}]},
     "never valid: layer 2 'conv2d_2' (Conv2d): in_channels 32 != 16 incoming channels"),
    ({"framework": "torch", "input": [512, 7, 7],
      "layers": [{"Flatten": {}}, {"Linear": {"in_features": 100, "out_features": 10}}]},
     "never valid: layer 1 'linear' (Linear): in_features 100 != 25,088 incoming features"),
    ({"framework": "keras", "input": [0, 32, 3], "layers": [{"Conv2D": {"filters": 5, "kernel_size": 3}}]},
     "never valid: input 'input': input axis 0: 0 < 1 (and 1 more condition)"),
    ({"framework": "torch", "input": [3, 32, 32],
      "layers": [{"Conv2d": {"in_channels": 3, "out_channels": 8, "kernel_size": -1}}]},
     "never valid: layer 0 'conv2d' (Conv2d): kernel height: -1 < 1"),
    ({"framework": "torch", "input": [3, "H", "W"],
      "layers": [{"Conv2d": {"out_channels": 8, "kernel_size": 3, "padding": "same", "stride": 2}}]},
     "never valid: layer 0 'conv2d' (Conv2d): max(stride): 2 > 1"),
    # symbolic, but impossible within the declared domain
    ({"framework": "torch", "input": [3, "H", "H"], "symbols": {"H": {"max": 50}},
      "layers": [{"Conv2d": {"out_channels": 8, "kernel_size": 100}}]},
     "never valid: layer 0 'conv2d' (Conv2d): output height: H >= 100 holds for no value of H in [1, 50]"),
    # impossible by interval reasoning on a closed form: F - 1 - 2*F <= -F - 1 < 0 for every F >= 1
    ({"framework": "keras", "input": ["F", 8, 3],
      "layers": [{"Conv2D": {"filters": 4, "kernel_size": ["2*F", 1]}}]},
     "never valid: layer 0 'conv2d' (Conv2D): output height"),
    # an equality on one symbol outside its domain, or with no integer solution
    ({"framework": "torch", "input": ["C", 8, 8], "symbols": {"C": {"max": 8}},
      "layers": [{"Conv2d": {"in_channels": 16, "out_channels": 4, "kernel_size": 3}}]},
     "never valid: layer 0 'conv2d' (Conv2d): in_channels vs incoming channels: C == 16 holds for no value of C in "
     "[1, 8]"),
    ({"framework": "torch", "input": ["2*C", 8, 8],
      "layers": [{"Conv2d": {"in_channels": 7, "out_channels": 4, "kernel_size": 3}}]},
     "never valid: layer 0 'conv2d' (Conv2d): in_channels vs incoming channels: C == 7/2"),
    # a later condition that contradicts an equality on the same symbol
    ({"framework": "torch", "input": ["C", 8, 8],
      "layers": [{"Conv2d": {"in_channels": 16, "out_channels": 4, "kernel_size": 3}},
                 {"MaxPool2d": {"kernel_size": "C"}}]},
     "never valid: layer 1 'max_pool2d' (MaxPool2d): output height"),
    # a channel count that only some values match: valid for C = 16
    ({"framework": "torch", "input": ["C", 8, 8], "layers": [{"Conv2d": {"in_channels": 16, "out_channels": 4,
                                                                         "kernel_size": 3}}]}, None),
    # sizes valid for large enough inputs only: valid
    ({"framework": "torch", "input": [3, "H", "H"], "layers": [*TORCH_CHAIN, {"MaxPool2d": {"kernel_size": 64}}]},
     None),
    # one valid value at the edge of a declared domain
    ({"framework": "torch", "input": [3, "H", "H"], "symbols": {"H": {"max": 100}},
      "layers": [{"Conv2d": {"out_channels": 8, "kernel_size": 100}}]}, None),
]


@pytest.mark.parametrize(("spec", "reason"), NEVER_CASES)
def test_never_valid(spec: dict, reason: str | None) -> None:
    d = symshape.derive(spec, cache=False)
    if reason is None:
        assert d.never_valid == () and d.never_valid_reason() is None
        return
    assert d.never_valid
    got = d.never_valid_reason()
    assert got is not None and got.startswith(reason), got
    assert len(d.never_valid_reasons()) == len(d.never_valid)
    # the always-false relations are never listed as requirements
    never = {id(nc) for nc in d.never_valid}
    for nc, rel in d.constraints():
        assert id(nc) not in never
        assert rel not in (False,) and str(rel) not in ("False",)
    # evaluation still checks every condition: no value is valid
    if not d.free_symbols:
        assert not d.evaluate().valid


NEVER_SPECS = [spec for spec, reason in NEVER_CASES if reason is not None]
VALID = {"framework": "torch", "input": [3, 8, 8], "layers": [{"Conv2d": {"out_channels": 4, "kernel_size": 3}}]}
RESULTS = ("output_shape", "closed_form", "closed_form_latex", "buffers", "macs", "activations")


def negatives(value: object, where: str = "") -> list[str]:
    """Every negative number in plain data: ints, and strings that are a whole integer ("-2")."""
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in negatives(v, f"{where}.{k}")]
    if isinstance(value, (list, tuple)):
        return [n for k, v in enumerate(value) for n in negatives(v, f"{where}[{k}]")]
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int) and value < 0:
        return [f"{where}={value}"]
    if isinstance(value, str) and value.strip().startswith("-") and value.strip()[1:].replace(",", "").isdigit():
        return [f"{where}={value!r}"]
    return []


def test_negatives_finds_what_it_should() -> None:
    assert negatives({"a": ["-2", "30"], "b": {"c": -8100}, "d": "Hin - 2", "e": None, "f": " -1,000"}) == [
        ".a[0]='-2'", ".b.c=-8100", ".f=' -1,000'"]


@pytest.mark.parametrize("spec", NEVER_SPECS)
def test_never_valid_dict_has_the_reasons_first_and_no_results(spec: dict) -> None:
    d = symshape.derive(spec, cache=False)
    out = d.to_dict()
    assert next(iter(out)) == "never_valid" and out["never_valid"] == list(d.never_valid_reasons())
    fine = symshape.derive(VALID, cache=False)
    assert not fine.never_valid
    valid = fine.to_dict()
    assert list(out) == list(valid)  # the same keys, in the same order: clients do not break
    assert all(out[k] is None for k in RESULTS), {k: out[k] for k in RESULTS}
    assert out["params"] == {"trainable": None, "non_trainable": None, "total": None}
    assert set(out["output_shapes"]) == {ref for ref, _ in d.outputs} and not any(out["output_shapes"].values())
    assert out["framework"] == spec["framework"]
    assert [ly["kind"] for ly in out["layers"]] == [ly.kind for ly in d.layers]
    for ly in out["layers"]:
        assert set(ly) == set(valid["layers"][0])
        assert ly["output_shape"] is ly["output_shapes"] is ly["macs"] is ly["buffers"] is ly["activations"] is None
        assert set(ly["params"].values()) == {None}
    assert negatives(out) == []  # the whole dict, the reasons included


def test_never_valid_is_never_claimed_for_a_valid_spec() -> None:
    """Brute force: specs with one symbol in a small box; never_valid only when no value is valid."""
    import itertools

    seen_never = seen_valid = 0
    for k, s, p, lo, hi in itertools.product((1, 3, 7, 12), (1, 2, 3), (0, 1, 3), (1, 5), (4, 9, 30)):
        if lo > hi:
            continue
        spec = {"framework": "torch", "input": [2, "H", 8], "symbols": {"H": {"min": lo, "max": hi}},
                "layers": [{"Conv2d": {"out_channels": 3, "kernel_size": k, "stride": s, "padding": p}},
                           {"MaxPool2d": {"kernel_size": 2}}]}
        d = symshape.derive(spec, cache=False)
        any_valid = any(d.evaluate(H=h).valid for h in range(lo, hi + 1))
        if d.never_valid:
            assert not any_valid, spec
            seen_never += 1
        seen_valid += any_valid
    assert seen_never >= 10 and seen_valid >= 10  # both sides exercised


# ---------------------------------------------------------------- torch parameters follow the constructor

LENET5_TORCH = {
    "framework": "torch",
    "input": [1, "H", "H"],
    "layers": [
        {"Conv2d": {"in_channels": 1, "out_channels": 6, "kernel_size": 5}}, {"AvgPool2d": {"kernel_size": 2}},
        {"Conv2d": {"in_channels": 6, "out_channels": 16, "kernel_size": 5}}, {"AvgPool2d": {"kernel_size": 2}},
        {"Flatten": {}},
        {"Linear": {"in_features": 400, "out_features": 120}}, {"Linear": {"in_features": 120, "out_features": 84}},
        {"Linear": {"in_features": 84, "out_features": 10}},
    ],
}

DECLARED_CASES = [  # a layer whose declared input size is not what comes in, and that incoming shape
    ({"Conv2d": {"in_channels": 8, "out_channels": 4, "kernel_size": 3}}, [3, 10, 10]),
    ({"Conv2d": {"in_channels": 8, "out_channels": 4, "kernel_size": 3, "groups": 2, "bias": False}}, [6, 10, 10]),
    ({"ConvTranspose2d": {"in_channels": 8, "out_channels": 4, "kernel_size": 3}}, [3, 10, 10]),
    ({"Conv1d": {"in_channels": 5, "out_channels": 2, "kernel_size": 2}}, [7, 10]),
    ({"Linear": {"in_features": 100, "out_features": 10}}, [4, 25]),
    ({"LSTM": {"input_size": 12, "hidden_size": 7}}, [5, 9]),
    ({"GRU": {"input_size": 12, "hidden_size": 7, "num_layers": 2, "bidirectional": True}}, [5, 9]),
    ({"BatchNorm2d": {"num_features": 8}}, [3, 4, 4]),
    ({"GroupNorm": {"num_groups": 2, "num_channels": 8}}, [4, 4, 4]),
]


def _torch_params(layers: list[dict]) -> int:
    nn = pytest.importorskip("torch.nn")
    modules = []
    for layer in layers:
        (kind, args), = layer.items()
        modules.append(getattr(nn, kind)(**args))
    return sum(p.numel() for m in modules for p in m.parameters())


def test_lenet5_fed_28x28_counts_torch_parameters() -> None:
    d = symshape.derive(LENET5_TORCH, cache=False)
    e = d.evaluate(H=28)
    assert e.params == _torch_params(LENET5_TORCH["layers"]) == 61_706
    assert not e.valid
    assert any("in_features" in v.message and "400 != 256" in v.message for v in e.violations), e.violations
    assert d.evaluate(H=32).valid and d.evaluate(H=32).params == 61_706
    assert d.params == 61_706  # the symbolic count is the number, whatever H


@pytest.mark.parametrize(("layer", "shape"), DECLARED_CASES)
def test_parameters_follow_the_declared_constructor(layer: dict, shape: list) -> None:
    d = symshape.derive({"framework": "torch", "input": shape, "layers": [layer]}, cache=False)
    assert d.evaluate().params == _torch_params([layer])
    assert d.never_valid, "a declared size that disagrees with the input is never valid"


# ---------------------------------------------------------------- small framework rules

PADDING_IDX = [(-10, True), (-11, False), (0, True), (9, True), (10, False), (None, True)]


@pytest.mark.parametrize(("idx", "valid"), PADDING_IDX)
def test_torch_embedding_padding_idx_range(idx: int | None, valid: bool) -> None:
    nn = pytest.importorskip("torch.nn")
    args = {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": idx}
    try:
        nn.Embedding(**args)
        torch_ok = True
    except (AssertionError, ValueError):
        torch_ok = False
    assert torch_ok is valid
    d = symshape.derive({"framework": "torch", "input": [5], "layers": [{"Embedding": args}]}, cache=False)
    assert d.evaluate().valid is valid
    assert bool(d.never_valid) is not valid


def test_keras_aliases_are_keras_own() -> None:
    keras = pytest.importorskip("keras")
    from symshape.layers.base import ALIASES, REGISTRY

    supported = {name for fw, name in REGISTRY if fw == "keras"}
    for (fw, alias), name in ALIASES.items():
        assert fw == "keras" and name in supported
        assert getattr(keras.layers, alias) is getattr(keras.layers, name), alias
        d = symshape.derive({"framework": "keras", "input": [8, 8, 8, 3] if "3D" in name else
                             [8, 8, 3] if "2D" in name else [8, 3],
                             "layers": [{alias: _alias_args(name)}]}, cache=False)
        assert d.layers[0].kind == name
    # and none is missing: every name keras exports for a class symshape supports
    for attr in dir(keras.layers):
        cls = getattr(keras.layers, attr)
        if isinstance(cls, type) and cls.__name__ in supported and attr != cls.__name__:
            assert ALIASES.get(("keras", attr)) == cls.__name__, attr


def _alias_args(name: str) -> dict:
    if name.startswith(("Conv", "SeparableConv")):
        return {"filters": 2, "kernel_size": 1}
    if name.startswith(("MaxPooling", "AveragePooling")):
        return {"pool_size": 2}
    return {}


def test_keras_activation_names() -> None:
    keras = pytest.importorskip("keras")
    from keras.src import activations

    from symshape.layers.base import KERAS_ACTIVATIONS

    assert set(KERAS_ACTIVATIONS) == set(activations.ALL_OBJECTS_DICT)
    for name, ok in [("relu", True), ("softmax", True), (None, True), ("nonsense", False), ("ReLU", False),
                     ("elu ", False), (3, False)]:
        try:
            keras.layers.Activation(name)
            keras_ok = True
        except ValueError:
            keras_ok = False
        assert keras_ok is ok, name
        for layer in ({"Activation": {"activation": name}}, {"Dense": {"units": 2, "activation": name}}):
            spec = {"framework": "keras", "input": [4], "layers": [layer]}
            if ok:
                symshape.derive(spec, cache=False)
            else:
                with pytest.raises(symshape.SpecError, match="activation"):
                    symshape.derive(spec, cache=False)


def test_fuzzed_specs_never_valid_and_shown_list_agree_with_evaluation() -> None:
    """On generated specs (tests/fuzzgen.py): a never-valid spec has no valid binding, and otherwise the
    shown conditions accept exactly the bindings evaluation accepts."""
    import random
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import fuzzgen

    checked = never = 0
    for c in fuzzgen.cases(1000, 600):
        try:
            d = symshape.derive(c.spec, cache=False)
            rels = [rel for _, rel in d.constraints()]
        except symshape.SymshapeError:
            continue
        never += bool(d.never_valid)
        r = random.Random(c.seed)
        for _ in range(10):
            b = {n: r.choice([0, 1, 2, 3, 4, 7, 8, 16, 32, 64, 100, 224]) for n in d.free_symbols}
            try:
                e = d.evaluate(b)
            except symshape.SymshapeError:
                continue
            checked += 1
            assert not (e.valid and d.never_valid), (c.seed, b, d.never_valid_reasons())
            if not d.never_valid:
                sub = {d.symbols[k].symbol: v for k, v in b.items()}
                assert all(bool(rel.xreplace(sub)) for rel in rels) == e.valid, (c.seed, b)
    assert checked > 500 and never > 5
