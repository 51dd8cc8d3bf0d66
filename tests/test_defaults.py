"""A symbol's `default:` (its example value): checked like the other declaration keys, on the derivation's
symbol table, in the canonical spec and over gRPC; written by lifting, read by `eval --defaults` (the imported
model's own numbers, checked against torch) and by the document's worked example."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import symshape
from symshape.cli import main
from symshape.errors import LimitError, SpecError
from symshape.lift import defaults_of, symbolize
from symshape.spec import load_spec

CONV = """framework: torch
input: [3, H, W]
symbols: {SYMBOLS}
layers:
  - Conv2d: {in_channels: 3, out_channels: C, kernel_size: K, padding: P}
"""


def spec(symbols: str) -> str:
    return CONV.replace("{SYMBOLS}", symbols)


# (symbols: declaration, the defaults it declares) -- every one loads and derives
VALID = [
    ("{H: {default: 224}}", {"H": 224}),
    ("{H: {min: 8, max: 512, default: 224}, W: {default: 200}}", {"H": 224, "W": 200}),
    ("{H: {min: 224, max: 224, default: 224}}", {"H": 224}),  # at both bounds
    ("{P: {default: 0}}", {"P": 0}),  # a padding may be 0 (its role's domain)
    ("{P: {min: 0, max: 3, default: 3, step: 1}, K: {default: 3, description: the kernel}}", {"P": 3, "K": 3}),
    ("{C: {min: 8, max: 256, log: true, default: 64}}", {"C": 64}),
    ("{U: {min: -5, default: -2}}", {"U": -2}),  # a declared symbol no layer uses: its declared domain only
    ("{H: {min: 1}}", {}),
    ("{}", {}),
]


@pytest.mark.parametrize(("symbols", "defaults"), VALID)
def test_valid_defaults(symbols: str, defaults: dict[str, int]) -> None:
    d = symshape.derive(spec(symbols))
    assert d.defaults() == defaults
    assert {n: i.default for n, i in d.symbols.items() if i.default is not None} == defaults
    assert defaults_of(load_spec(spec(symbols))) == defaults
    facts = d.to_dict()["symbols"]
    assert {n: f["default"] for n, f in facts.items() if "default" in f} == defaults


# (symbols: declaration, fragments of the one error) -- the symbol and the key named, "did you mean" when misspelt
INVALID = [
    ("{H: {min: 8, default: 4}}", ["<string>:3", "symbol 'H'", "default 4 is below its min 8"]),
    ("{H: {max: 64, default: 224}}", ["symbol 'H'", "default 224 is above its max 64"]),
    ("{H: {default: 0}}", ["symbol 'H'", "default 0 is below its minimum 1", "as input size"]),
    ("{K: {default: 0}}", ["symbol 'K'", "default 0 is below its minimum 1", "as kernel_size"]),
    ("{P: {default: -1}}", ["symbol 'P'", "default -1 is below its minimum 0", "as padding"]),
    ("{Q: {default: 0}}", ["symbol 'Q'", "below its minimum 1", "at least 1 unless declared"]),
    ("{H: {default: '224'}}", ["symbol 'H'", "'default' must be an integer, got '224'"]),
    ("{H: {default: 22.5}}", ["symbol 'H'", "'default' must be an integer, got 22.5"]),
    ("{H: {default: true}}", ["symbol 'H'", "'default' must be an integer, got True"]),
    ("{H: {default: [224]}}", ["symbol 'H'", "'default' must be an integer"]),
    ("{H: {defualt: 224}}", ["symbol 'H'", "unknown symbol property 'defualt'", "did you mean 'default'"]),
    ("{H: {Default: 224}}", ["symbol 'H'", "unknown symbol property 'Default'", "did you mean 'default'"]),
    ("{H: {defaults: 224}}", ["unknown symbol property 'defaults'", "did you mean 'default'"]),
]


@pytest.mark.parametrize(("symbols", "fragments"), INVALID)
def test_invalid_defaults(symbols: str, fragments: list[str]) -> None:
    with pytest.raises(SpecError) as info:
        symshape.derive(spec(symbols))
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "Traceback" not in message


def test_a_huge_default_is_bounded() -> None:
    doc = {"framework": "torch", "input": [3, "H", "H"], "symbols": {"H": {"default": 10 ** 5000}},
           "layers": [{"Flatten": {}}]}
    with pytest.raises(LimitError, match="60 digits"):  # a dict's integers are bounded as the text's are
        symshape.derive(doc)


def test_the_default_is_part_of_the_canonical_spec() -> None:
    plain, with_default = symshape.derive(spec("{H: {min: 1}}")), symshape.derive(spec("{H: {min: 1, default: 9}}"))
    assert with_default.spec.canonical()["symbols"]["H"] == {"min": 1, "default": 9}
    assert plain.key != with_default.key  # a different document (its worked example, eval --defaults)
    assert symshape.derive(spec("{H: {default: 9, min: 1}}")).key == with_default.key  # the order of keys: no matter


def test_grpc_structured_spec_carries_the_default() -> None:
    pytest.importorskip("grpc")
    from symshape.client import Client
    from symshape_server.gen import shape_algebra_pb2 as pb
    from symshape_server.service import ServerConfig, create_server, shutdown

    text = spec("{H: {min: 1, default: 32}, W: {default: 24}}")
    structured = pb.StructuredSpec(framework="torch", inputs=[pb.Input(name="input", shape=[
        pb.Value(int=3), pb.Value(text="H"), pb.Value(text="W")])], symbols=[
        pb.SymbolDeclaration(name="H", min=1, default_value=32), pb.SymbolDeclaration(name="W", default_value=24)])
    structured.layers.add(kind="Conv2d", args={"in_channels": pb.Value(int=3), "out_channels": pb.Value(text="C"),
                                               "kernel_size": pb.Value(text="K"), "padding": pb.Value(text="P")})
    running = create_server("127.0.0.1:0", ServerConfig())
    running.server.start()
    try:
        with Client(f"127.0.0.1:{running.port}") as client:
            by_text = client.derive(text)
            by_structure = client.stub.Derive(pb.DeriveRequest(spec=pb.Spec(structured=structured)))
            assert by_structure.derivation_id == by_text.derivation_id  # the same canonical spec, default included
            shown = {s.name: s.default_value for s in by_text.symbols if s.HasField("default_value")}
            assert shown == {"H": 32, "W": 24}
            assert not next(s for s in by_text.symbols if s.name == "C").HasField("default_value")
            values = {"H": 32, "W": 24, "C": 4, "K": 3, "P": 1}
            assert client.evaluate(by_text.derivation_id, values) == client.evaluate(text, values)  # id round trip
    finally:
        shutdown(running, 1)


# ---------------------------------------------------------------- lifting writes them, eval --defaults reads them


def _cli(args: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    return main(args, out), out.getvalue()


def test_lift_round_trip_reproduces_torch(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from symshape.importers import from_torch
    from tests.test_import_torch import TinyResNet

    model = TinyResNet().eval()
    imported = from_torch(model, torch.zeros(2, 3, 40, 48))
    lifted = symbolize(imported.spec, inputs={"input": ["H", "W"]}, hyper=["kernel_size"],
                       tie={"out_channels": "width"})
    assert lifted.defaults["H"] == 40 and lifted.defaults["W"] == 48 and lifted.defaults["width"] == 8
    assert all(decl["default"] == lifted.defaults[n] for n, decl in lifted.spec["symbols"].items())
    assert not any("default" in decl.get("description", "") for decl in lifted.spec["symbols"].values())
    path = tmp_path / "tiny.yaml"
    path.write_text(lifted.to_yaml())
    text = path.read_text()
    assert "  H: {default: 40, description: input 'input' axis 1}" in text.splitlines()
    assert "  width: {default: 8, description: 'out_channels (tied" in text
    assert defaults_of(load_spec(path)) == lifted.defaults == symshape.derive(path).defaults()

    def torch_numbers(h: int, w: int, m: torch.nn.Module = model) -> tuple[list[int], int, int]:
        with torch.no_grad():
            y = m(torch.zeros(1, 3, h, w))
        return list(y.shape[1:]), sum(p.numel() for p in m.parameters()), sum(b.numel() for b in m.buffers())

    code, out = _cli(["eval", str(path), "--defaults", "--format", "json"])
    got = json.loads(out)
    assert code == 0 and got["bindings"] == {**lifted.defaults, **got["bindings"]}
    assert (got["output_shape"], got["params"]["total"], got["buffers"]) == torch_numbers(40, 48)
    code, out = _cli(["eval", str(path), "--defaults", "--set", "H=57", "--format", "json"])  # --set wins
    got = json.loads(out)
    assert code == 0 and got["bindings"]["H"] == 57 and got["bindings"]["W"] == 48
    assert (got["output_shape"], got["params"]["total"], got["buffers"]) == torch_numbers(57, 48)
    code, out = _cli(["eval", str(path), "--format", "json"])  # no defaults asked for: the symbols are missing
    assert code != 0


def test_eval_defaults_without_declared_defaults_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text(spec("{H: {min: 1}}"))
    args = ["eval", str(path), "--set", "H=9", "--set", "W=9", "--set", "C=2", "--set", "K=3", "--set", "P=0"]
    assert _cli([*args, "--defaults"]) == _cli(args)


# ---------------------------------------------------------------- the document's worked example


EXAMPLE = spec("{H: {default: 32}, C: {default: 8}, P: {min: 0}}")


@pytest.mark.parametrize(("given", "bindings", "why"), [
    (None, {"H": 32, "W": 1, "C": 8, "K": 1, "P": 0},
     "The symbols H, C at their declared defaults; P, K at their minimums; W at the smallest valid value"),
    ({"H": 40, "W": 20}, {"H": 40, "W": 20, "C": 8, "K": 1, "P": 0},
     "The symbols H, W at the given values; C at its declared default; P, K at their minimums"),
    ({"C": 2, "K": 3}, {"H": 32, "W": 3, "C": 2, "K": 3, "P": 0},
     "The symbols C, K at the given values; H at its declared default; P at its minimum; W at the smallest valid "
     "value"),
])
def test_worked_example_takes_the_declared_defaults(given, bindings, why) -> None:
    from symshape.docs.example import choose_example
    from symshape.docs.model import input_symbols

    d = symshape.derive(EXAMPLE)
    ex = choose_example(d, given, input_symbols(d), False)
    assert ex.bindings == bindings and ex.why == why
    assert ex.evaluation.valid


def test_document_shows_the_defaults() -> None:
    md = symshape.document(EXAMPLE, format="markdown")
    assert "The symbols H, C at their declared defaults" in md and "`H=32, C=8," in md
    md = symshape.document(EXAMPLE, format="markdown", example={"H": 10})
    assert "The symbols H at the given value; C at its declared default" in md
