"""Bad specs: one clear SpecError naming the file, the line, the layer, the argument; never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

import symshape
from symshape import LimitError, SpecError
from symshape.spec import load_spec

HEAD = "framework: keras\ninput: [32, 32, 3]\nlayers:\n"

CASES = [  # spec text (written to bad.yaml), fragments the message must contain
    (HEAD + "  - Conv2D: {filters: 8, kernel_size: 3}\n  - MaxPoolin2D: {pool_size: 2}\n",
     ["bad.yaml:5", "layer 1", "unknown keras layer 'MaxPoolin2D'", "did you mean 'MaxPooling2D'"]),
    (HEAD + "  - Conv2D: {filters: 8, kernal_size: 3}\n",
     ["bad.yaml:4", "layer 0 'conv2d' (Conv2D)", "argument 'kernal_size'", "did you mean 'kernel_size'"]),
    (HEAD + "  - Conv2D: {filters: 8}\n", ["layer 0", "missing required argument 'kernel_size'"]),
    (HEAD + "  - Conv2D:\n      filters: 8\n      kernel_size: 3\n      strides: [1, two, 3]\n",
     ["bad.yaml:7", "argument 'strides'", "expected 2 values"]),
    (HEAD + "  - Conv2D: {filters: 8, kernel_size: 3, padding: sane}\n",
     ["argument 'padding'", "unknown padding 'sane'", "did you mean 'same'"]),
    (HEAD + "  - Conv2D: {filters: 8.5, kernel_size: 3}\n",
     ["argument 'filters'", "an integer size"]),
    (HEAD + "  - Conv2D: {filters: 'D +', kernel_size: 3}\n",
     ["argument 'filters'", "ended too early"]),
    (HEAD + "  - Conv2D: {filters: true, kernel_size: 3}\n",
     ["argument 'filters'", "expected an integer, a symbol or an expression, got True"]),
    (HEAD + "  - Conv2D: {filters: 8, kernel_size: [3, 3, 3]}\n",
     ["argument 'kernel_size'", "expected 2 values"]),
    (HEAD + "  - Conv2d: {out_channels: 8, kernel_size: 3}\n",
     ["'Conv2d' is a torch layer, but this spec is framework: keras", "did you mean 'Conv2D'"]),
    (HEAD + "  - Conv2D: {filters: 8, kernel_size: 3}\n    inputs: [imput]\n",
     ["bad.yaml:5", "unknown input 'imput'", "did you mean 'input'"]),
    (HEAD + "  - Conv2D: {filters: 8, kernel_size: 3}\n  - Add: {}\n",
     ["layer 1", "Add takes 2 or more input(s), got 1"]),
    (HEAD + "  - Dense: {units: 8}\n    name: d\n  - Dense: {units: 8}\n    name: d\n",
     ["the name 'd' is used twice"]),
    ("framework: keras\ninput: [32, 32, 3]\nlayers:\n  - Conv2D: {filters: 8, kernel_size: 3\n",
     ["bad.yaml:5", "not valid YAML/JSON"]),
    ("framework: kras\ninput: [3]\nlayers: [Flatten]\n", ["bad.yaml:1", "did you mean 'keras'"]),
    ("framework: keras\ninputt: [3]\nlayers: [Flatten]\n", ["unknown top-level key 'inputt'", "did you mean 'input'"]),
    ("framework: keras\ninput: [3.5]\nlayers: [Flatten]\n", ["bad.yaml:2", "a size must be an integer"]),
    ("framework: keras\ninput: [3]\nlayers: []\n", ["'layers' must be a non-empty list"]),
    # (an undeclared symbol near a declared one is a warning now, not an error: tests/test_domains.py)
    ("framework: keras\ninput: [I]\nsymbols: {I: {minimum: 1}}\nlayers: [Flatten]\n",
     ["unknown symbol property 'minimum'", "did you mean 'min'"]),
    (HEAD + "  - Conv2D: {filters: 8, kernel_size: 3}\n  - Reshape: {target_shape: [-1, -1]}\n",
     ["layer 1", "at most one -1"]),
    (HEAD + "  - Conv1D: {filters: 8, kernel_size: 3}\n",
     ["Conv1D expects a 2-d input (length, channels)", "got 3-d"]),
    ("framework: keras\ninput: [3]\nlayers:\n  - !!python/object/apply:os.system ['echo hi']\n",
     ["bad.yaml:4", "unsupported YAML tag"]),
    ("[1, 2]\n", ["a spec is a mapping"]),
]


@pytest.mark.parametrize(("text", "fragments"), CASES)
def test_bad_spec_message(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        symshape.derive(path)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "Traceback" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file"):
        symshape.derive(tmp_path / "nope.yaml")


def test_yaml_alias_bomb_is_bounded() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        bomb += f"{chr(97 + i)}: &{chr(97 + i)} [*{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}, " \
                f"*{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}]\n"
    with pytest.raises(LimitError):
        symshape.derive(bomb)


def test_too_many_layers() -> None:
    spec = {"framework": "keras", "input": [3], "layers": ["Flatten"] * 6000}
    with pytest.raises(LimitError, match="limit"):
        symshape.derive(spec)


def test_errors_from_dicts_name_the_spec() -> None:
    with pytest.raises(SpecError, match="spec: layer 0 'dense' \\(Dense\\): argument 'units'"):
        symshape.derive({"framework": "keras", "input": [3], "layers": [{"Dense": {"units": "1 +"}}]})


def test_a_str_is_text_never_a_path(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text("framework: keras\ninput: [4]\nlayers: [Flatten]\n")
    assert symshape.derive(spec).to_dict()["output_shape"] == ["4"]  # a Path is a file
    with pytest.raises(SpecError) as info:
        symshape.derive(str(spec))  # a str is YAML text: here a plain string, not a mapping
    assert f"to read a file, pass pathlib.Path('{spec}')" in str(info.value)
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "missing.json")
    with pytest.raises(SpecError, match="not bytes"):
        load_spec(b"framework: keras")  # type: ignore[arg-type]


def test_the_c_loader_keeps_line_numbers() -> None:
    from symshape import spec as spec_module

    text = "framework: keras\ninput: [3]\nlayers:\n  - Dense: {units: 4}\n  - Dense:\n      units: 'x +'\n"
    with pytest.raises(SpecError, match="<string>:6: layer 1"):
        symshape.derive(text, cache=False)
    loaded = spec_module.load_spec(text)
    assert loaded.line(("layers", 1, "Dense", "units")) == 6
    if hasattr(spec_module.yaml, "CSafeLoader"):
        assert spec_module._LOADER is spec_module.yaml.CSafeLoader


@pytest.mark.parametrize(("text", "fragment"), [
    ("a: &x [1, 2]\nb: *x\nc: *y\n", "unknown or recursive YAML alias '*y'"),
    ("a: 1\n---\nb: 2\n", "one YAML document"),
    ("? [1, 2]\n: 3\n", "mapping keys must be plain names"),
    ("a: !!binary aGk=\n", "unsupported YAML tag"),
    ("a: [" + "[" * 70 + "]" * 71 + "\n", "nested deeper than 64"),
])
def test_yaml_oddities(text: str, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(text)
    assert fragment in str(info.value)


def test_implicit_yaml_types_stay_text() -> None:
    from symshape.spec import _compose

    doc, _ = _compose("a: 2001-12-14\n3: on\nb: 0o17\nc: 0x1F\nd: 1_000\n", "<s>")
    assert doc == {"a": "2001-12-14", "3": True, "b": "0o17", "c": 31, "d": 1000}
