"""What a name in a spec means: a symbol's domain comes from the arguments it fills (or its
declaration), and a mode word is never a symbol."""

from __future__ import annotations

import pytest

import symshape
from symshape import SpecError


def keras(layers: list, input_: list | None = None, symbols: dict | None = None) -> dict:
    spec: dict = {"framework": "keras", "input": input_ or ["I", "I", 3], "layers": layers}
    if symbols is not None:
        spec["symbols"] = symbols
    return spec


def torch(layers: list, input_: list | None = None, symbols: dict | None = None) -> dict:
    spec: dict = {"framework": "torch", "input": input_ or [3, "H", "W"], "layers": layers}
    if symbols is not None:
        spec["symbols"] = symbols
    return spec


CONV_P = [{"Conv2D": {"filters": "D", "kernel_size": "F", "strides": "S", "padding": "P"}},
          {"MaxPooling2D": {"pool_size": [2, 2]}}]

# spec, symbol -> its expected minimum
ROLE_CASES = [
    (keras(CONV_P), {"I": 1, "F": 1, "S": 1, "P": 0, "D": 1}),
    (torch([{"Conv2d": {"out_channels": 8, "kernel_size": 3, "padding": "P"}}]), {"P": 0, "H": 1}),
    (torch([{"ConvTranspose2d": {"out_channels": 8, "kernel_size": 3, "stride": 2, "output_padding": "Q",
                                 "padding": "P"}}]), {"P": 0, "Q": 0}),
    (keras([{"ZeroPadding2D": {"padding": [["A", "B"], ["A", 1]]}}]), {"A": 0, "B": 0}),
    (keras([{"Cropping2D": {"cropping": "C"}}]), {"C": 0}),
    # a symbol in two roles: the stricter minimum (padding allows 0, a kernel size does not)
    (torch([{"Conv2d": {"out_channels": 8, "kernel_size": "K", "padding": "K"}}]), {"K": 1}),
    (torch([{"Conv2d": {"out_channels": 8, "kernel_size": 3, "padding": "K"}},
            {"Conv2d": {"out_channels": "K", "kernel_size": 1}}]), {"K": 1}),
    # a declared minimum overrides the roles; a declaration without one keeps the role's
    (keras(CONV_P, symbols={"P": {"min": 2}}), {"P": 2}),
    (keras(CONV_P, symbols={"P": {"max": 3}}), {"P": 0}),
    (keras(CONV_P, symbols={"F": {"min": 0}}), {"F": 0, "P": 0}),
    # a name only inside an expression takes no role from it: at least 1
    (torch([{"Conv2d": {"out_channels": 8, "kernel_size": 3, "padding": "2*R"}}]), {"R": 1}),
]


@pytest.mark.parametrize(("spec", "mins"), ROLE_CASES)
def test_symbol_domain_from_its_roles(spec: dict, mins: dict) -> None:
    d = symshape.derive(spec, cache=False)
    for name, lo in mins.items():
        info = d.symbols[name]
        assert info.min == lo, (name, info)
        # the SymPy assumptions match the domain (the closed form relies on them)
        assert info.symbol.is_positive is (True if lo >= 1 else None)
        assert info.symbol.is_nonnegative is (True if lo >= 0 else None)


def test_padding_symbol_may_be_zero() -> None:
    d = symshape.derive(keras(CONV_P), cache=False)
    e = d.evaluate(I=32, F=3, S=1, P=0, D=8)
    assert e.valid, e.violations
    assert e.output_shape == (15, 15, 8)
    shown = [(str(rel), nc.condition.label) for nc, rel in d.constraints()]
    p_bounds = [s for s in shown if s[0].startswith("P ")]
    assert p_bounds == [("P >= 0", "padding height")], shown
    assert not any("=]" in label or label.endswith("=") for _, label in shown)
    assert not d.evaluate(I=32, F=3, S=1, P=-1, D=8).valid


def test_symbol_domain_labels_are_clean() -> None:
    d = symshape.derive(keras(CONV_P, symbols={"D": {"min": 4, "max": 64}}), cache=False)
    labels = {(nc.origin, nc.condition.label) for nc in d.conditions if nc.layer is None}
    assert ("symbol 'D'", "declared minimum") in labels
    assert ("symbol 'D'", "declared maximum") in labels
    v = d.evaluate(I=32, F=3, S=1, P=0, D=2).violations
    assert [x.message.split(" (")[0] for x in v] == ["symbol 'D': declared minimum 2 < 4"], v


def test_some_symbols_declared_others_not() -> None:
    d = symshape.derive(keras(CONV_P, symbols={"I": {"min": 8, "max": 512}}), cache=False)
    assert set(d.symbols) == {"I", "D", "F", "S", "P"}
    assert d.symbols["I"].max == 512 and d.symbols["P"].min == 0
    assert d.warnings == ()


WARN_CASES = [  # declared, used -> the warning's suggestion (None: no warning)
    ({"Pad": {"min": 0}}, "Pda", "Pad"),  # a swap
    ({"Pad": {"min": 0}}, "Pa", "Pad"),  # a deletion
    ({"Pad": {"min": 0}}, "Padd", "Pad"),  # an insertion
    ({"Pad": {"min": 0}}, "Pud", "Pad"),  # a substitution
    ({"Pad": {"min": 0}}, "Q", None),
    ({"Pad": {"min": 0}}, "Pxyz", None),
    ({"P": {"min": 0}}, "p", "P"),  # case
    ({"P": {"min": 0}}, "Q", None),  # one-letter names are apart
    ({"Hh": {"min": 1}}, "Hw", None),
    ({"D1": {"min": 1}}, "D2", None),  # a numbered family
    ({"D10": {"min": 1}}, "D11", None),
]


@pytest.mark.parametrize(("declared", "used", "suggestion"), WARN_CASES)
def test_near_miss_of_a_declared_symbol_warns(declared: dict, used: str, suggestion: str | None) -> None:
    d = symshape.derive(torch([{"Conv2d": {"out_channels": 8, "kernel_size": 3, "padding": used}}],
                              symbols=declared), cache=False)
    if suggestion is None:
        assert d.warnings == ()
    else:
        assert len(d.warnings) == 1
        assert f"'{used}'" in d.warnings[0] and f"did you mean '{suggestion}'?" in d.warnings[0]
    assert used in d.symbols  # a warning, not an error: the name is a symbol of its own


# ---------------------------------------------------------------- mode words are never symbols

MODE_CASES = [  # framework, layer, argument, value -> None (accepted) or words the error must contain
    ("keras", {"Conv2D": {"filters": 4, "kernel_size": 3}}, "padding", "causal", ["is for keras Conv1D"]),
    ("keras", {"Conv2D": {"filters": 4, "kernel_size": 3}}, "padding", "full", ["mode word", "'valid' or 'same'"]),
    ("keras", {"Conv2D": {"filters": 4, "kernel_size": 3}}, "padding", "none", ["mode word"]),
    ("keras", {"Conv2D": {"filters": 4, "kernel_size": 3}}, "padding", "reflect", ["torch", "padding_mode"]),
    ("keras", {"Conv2D": {"filters": 4, "kernel_size": 3}}, "padding", "zeros", ["padding_mode"]),
    ("keras", {"Conv2D": {"filters": 4, "kernel_size": 3}}, "padding", "vaild", ["did you mean 'valid'"]),
    ("keras", {"Conv2D": {"filters": 4, "kernel_size": 3}}, "padding", "SAME", None),
    ("keras", {"Conv2D": {"filters": 4, "kernel_size": 3}}, "padding", "P", "symbol"),
    ("keras", {"Conv1D": {"filters": 4, "kernel_size": 3}}, "padding", "causal", None),
    ("keras", {"MaxPooling2D": {"pool_size": 2}}, "padding", "causal", ["Conv1D"]),
    ("keras", {"MaxPooling2D": {"pool_size": 2}}, "padding", "P", ["expected 'valid' or 'same'"]),  # no numbers
    ("keras", {"AveragePooling1D": {"pool_size": 2}}, "padding", "Same", None),
    ("keras", {"ZeroPadding2D": {}}, "padding", "same", ["not ZeroPadding2D"]),
    ("keras", {"Dense": {}}, "units", "same", ["not Dense"]),
    ("torch", {"Conv2d": {"out_channels": 4, "kernel_size": 3}}, "padding", "causal", ["keras Conv1D"]),
    ("torch", {"Conv2d": {"out_channels": 4, "kernel_size": 3}}, "padding", "reflect", ["padding_mode"]),
    ("torch", {"Conv2d": {"out_channels": 4, "kernel_size": 3}}, "padding", "same", None),
    ("torch", {"Conv2d": {"out_channels": 4, "kernel_size": 3}}, "padding", "P", "symbol"),
    ("torch", {"ConvTranspose2d": {"out_channels": 4, "kernel_size": 3}}, "padding", "same", ["not ConvTranspose2d"]),
    ("torch", {"MaxPool2d": {"kernel_size": 2}}, "padding", "valid", ["not MaxPool2d"]),
    ("torch", {"ZeroPad2d": {}}, "padding", "zeros", ["padding_mode"]),
    ("torch", {"Conv2d": {"out_channels": 4, "kernel_size": 3}}, "padding", "circular", ["padding_mode"]),
]


@pytest.mark.parametrize(("framework", "layer", "argument", "value", "expect"), MODE_CASES)
def test_mode_words_are_never_symbols(framework: str, layer: dict, argument: str, value: str,
                                      expect: list[str] | str | None) -> None:
    (kind, args), = layer.items()
    input_ = [8, 8, 3] if framework == "keras" else [3, 8, 8]
    if kind in ("Dense", "Conv1D", "AveragePooling1D"):
        input_ = [3] if kind == "Dense" else [8, 3]
    spec = {"framework": framework, "input": input_, "layers": [{kind: {**args, argument: value}}]}
    if expect in (None, "symbol"):  # a mode of this layer, or a padding symbol
        d = symshape.derive(spec, cache=False)
        assert (value in d.symbols) is (expect == "symbol")
        return
    with pytest.raises(SpecError) as err:
        symshape.derive(spec, cache=False)
    message = str(err.value)
    assert f"argument '{argument}'" in message
    for words in expect:
        assert words in message, message


@pytest.mark.parametrize("text", ["2*same", "causal + 1", "floor(reflect/2)"])
def test_mode_words_are_not_symbols_inside_expressions(text: str) -> None:
    spec = {"framework": "torch", "input": [3, 8, 8],
            "layers": [{"Conv2d": {"out_channels": 4, "kernel_size": 3, "padding": text}}]}
    with pytest.raises(SpecError, match="is a mode word"):
        symshape.derive(spec, cache=False)


def test_padding_keeps_the_limit_error() -> None:
    spec = {"framework": "torch", "input": [3, 8, 8],
            "layers": [{"Conv2d": {"out_channels": 4, "kernel_size": 3, "padding": "9" * 70}}]}
    with pytest.raises(symshape.LimitError):
        symshape.derive(spec, cache=False)
