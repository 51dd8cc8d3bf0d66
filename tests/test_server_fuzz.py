"""Nasty requests through every RPC of a real loopback server: each reply is OK or a clear refusal
(INVALID_ARGUMENT, RESOURCE_EXHAUSTED; OUT_OF_RANGE when an exact result does not fit the reply's
int64), never UNKNOWN, INTERNAL or a deadline, and the server is healthy after all of them.

The inputs are the classes found by fuzzing the library (issue 8): YAML integer literals with no
digits, integers beyond Python's digit limit, deep nesting, non-string keys, power towers, huge
fan-in, extreme bindings and batch columns, and a few oddities of the protocol itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from symshape_server.gen import shape_algebra_pb2 as pb
from symshape_server.gen import shape_algebra_pb2_grpc as pb_grpc
from symshape_server.ids import derivation_id
from symshape_server.service import ServerConfig, create_server, shutdown

ROOT = Path(__file__).parent.parent
CLASSIC = (ROOT / "examples" / "classic_symbolic.yaml").read_text()
RESNET = (ROOT / "examples" / "resnet50.yaml").read_text()
VALUES = {"I": 32, "F": 3, "S": 1, "P": 0, "D": 5}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}
CALL_TIMEOUT = 30.0  # the client's; the server's own limit (max_derive_seconds) is shorter


def keras(layers: str, input_: str = "[32, 32, 3]", extra: str = "") -> str:
    return f"framework: keras\ninput: {input_}\n{extra}layers:\n{layers}"


def torch(layers: str, input_: str = "[3, 32, 32]", extra: str = "") -> str:
    return f"framework: torch\ninput: {input_}\n{extra}layers:\n{layers}"


def tower(levels: int) -> str:
    expr = "I"
    for _ in range(levels):
        expr = f"({expr})**64"
    return expr


DEEP = "framework: keras\ninput: [8]\nlayers:\n  - Dense: {units: " + "[" * 500 + "]" * 500 + "}\n"
FAN_IN = json.dumps({"framework": "keras", "inputs": {"x": [8, 4]},
                     "layers": [{"Concatenate": {"axis": -1}, "inputs": ["x"] * 3000}]})
BOMB = "a: &a [" + ",".join(["x"] * 10) + "]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8))

TEXT_SPECS: dict[str, str] = {
    "yaml 0x": keras("  - Flatten: {}\n", "[0x]"),
    "yaml 0b": keras("  - Flatten: {}\n", "[0b]"),
    "yaml 0o": keras("  - Flatten: {}\n", "[0o]"),
    "yaml 0x as an argument": keras("  - Dense: {units: 0x}\n", "[8]"),
    "integer over the digit limit": keras("  - Dense: {units: " + "9" * 5000 + "}\n", "[8]"),
    "integer over the digit limit in symbols.min": keras("  - Dense: {units: U}\n", "[8]",
                                                         "symbols: {U: {min: " + "7" * 5000 + "}}\n"),
    "huge expression literal": keras("  - Dense: {units: 'U + " + "9" * 5000 + "'}\n", "[8]"),
    "500-deep nesting": DEEP,
    "8000-deep nesting": "x: " + "[" * 8000 + "]" * 8000 + "\n",
    "non-string argument key": keras("  - Dense: {3: 4}\n", "[8]"),
    "non-string layer key": keras("  - {3: {units: 4}}\n", "[8]"),
    "non-string top-level key": "3: 4\nframework: keras\ninput: [8]\nlayers: [Flatten]\n",
    "power tower units (4 levels)": keras(f"  - Dense: {{units: '{tower(4)}'}}\n", "[I]"),
    "power tower units (5 levels)": keras(f"  - Dense: {{units: '{tower(5)}'}}\n", "[I]"),
    "(J+K+L+M)**64 filters": keras("  - Conv2D: {filters: '(J+K+L+M)**64', kernel_size: 3}\n"),
    "Concatenate of 3000 inputs": FAN_IN,
    "Upsample scale 1e-99999999": torch("  - Upsample: {scale_factor: 1e-99999999}\n"),
    "Upsample scale 1e5000": torch("  - Upsample: {scale_factor: 1e5000}\n"),
    "Upsample scale 1e300": torch("  - Upsample: {scale_factor: 1e300}\n"),
    "stride symbol with min 0": keras("  - Conv2D: {filters: 4, kernel_size: 3, strides: S}\n",
                                      extra="symbols: {S: {min: 0}}\n"),
    "mod by a symbol with min 0": torch("  - Conv2d: {out_channels: 4, kernel_size: 3, groups: G}\n",
                                        extra="symbols: {G: {min: 0}}\n"),
    "negative input size": keras("  - Flatten: {}\n", "[-5, 3]"),
    "zero input size": torch("  - Conv1d: {out_channels: 2, kernel_size: 3}\n", "[0, 32]"),
    "kernel -1": torch("  - Conv2d: {out_channels: 4, kernel_size: -1}\n"),
    "python tag": "!!python/object/apply:os.system ['true']\n",
    "unknown tag": keras("  - Dense: {units: !foo 3}\n", "[8]"),
    "binary tag": keras("  - Dense: {units: !!binary aGVsbG8=}\n", "[8]"),
    "float infinity size": keras("  - Dense: {units: .inf}\n", "[8]"),
    "nan size": keras("  - Dense: {units: .nan}\n", "[8]"),
    "bool as size": keras("  - Dense: {units: true}\n", "[8]"),
    "duplicate keys": "framework: keras\nframework: torch\ninput: [8]\nlayers: [Flatten]\n",
    "empty": "",
    "null": "~\n",
    "a list": "[1, 2, 3]\n",
    "tabs": "framework:\tkeras\n\tinput: [8]\n",
    "BOM": "\ufeffframework: keras\ninput: [8]\nlayers: [Flatten]\n",
    "NUL character": "framework: keras\x00\ninput: [8]\nlayers: [Flatten]\n",
    "expression syntax soup": keras("  - Dense: {units: '((((I))+*/-%'}\n", "[I]"),
    "expression with attribute access": keras("  - Dense: {units: 'I.__class__'}\n", "[I]"),
    "expression with a call": keras("  - Dense: {units: '__import__(\"os\")'}\n", "[I]"),
    "rank 100 input": keras("  - Flatten: {}\n", "[" + ", ".join(["2"] * 100) + "]"),
    "2 MB of text": "# " + "x" * 2_000_000 + "\n",
    "a path": "/etc/passwd.json",
    "very long layer name": keras("  - Dense: {units: 4}\n    name: " + "n" * 100_000 + "\n", "[8]"),
}

KNOWN_CORE_BUGS: dict[str, str] = {}  # case -> a core bug that still makes it fail (xfail strict); none left


def _code(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    try:
        result = call()
        if hasattr(result, "__iter__") and not hasattr(result, "DESCRIPTOR"):
            list(result)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as err:
        return err.code(), err.details() or ""


@pytest.fixture(scope="module")
def stub():
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=2, max_derive_seconds=5.0))
    running.server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}", options=[
        ("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)])
    yield pb_grpc.ShapeAlgebraServiceStub(channel), channel, running
    channel.close()
    shutdown(running, 0.5)


def _check(name: str, code: grpc.StatusCode, details: str, extra: set | None = None) -> None:
    allowed = ALLOWED | (extra or set())
    assert code in allowed, f"{name}: {code.name}: {details[:300]}"
    assert "Traceback" not in details and "Exception calling application" not in details, details[:300]


def _mark(name: str) -> list:
    return [pytest.mark.xfail(strict=True, reason=KNOWN_CORE_BUGS[name])] if name in KNOWN_CORE_BUGS else []


@pytest.mark.parametrize("name", [pytest.param(n, marks=_mark(n)) for n in TEXT_SPECS])
def test_nasty_text_spec_through_every_rpc(stub, name: str) -> None:
    s, _, _ = stub
    spec = pb.Spec(text=TEXT_SPECS[name])
    start = time.monotonic()
    _check(name, *_code(lambda: s.Derive(pb.DeriveRequest(spec=spec), timeout=CALL_TIMEOUT)))
    code, details = _code(lambda: s.Evaluate(pb.EvaluateRequest(spec=spec, bindings={"I": 7}), timeout=CALL_TIMEOUT))
    _check(name, code, details, {grpc.StatusCode.OUT_OF_RANGE})
    batch = iter([pb.EvaluateBatchRequest(spec=spec, columns={"I": pb.Int64Column(values=[1, 7, INT64_MAX])})])
    _check(name, *_code(lambda: s.EvaluateBatch(batch, timeout=CALL_TIMEOUT)))
    assert time.monotonic() - start < 3 * CALL_TIMEOUT


def test_alias_bomb_is_refused(stub) -> None:
    """YAML aliases that expand to 10**9 values: refused at the library's node limit, and remembered."""
    s, _, _ = stub
    start = time.monotonic()
    code, details = _code(lambda: s.Derive(pb.DeriveRequest(spec=pb.Spec(text=BOMB)), timeout=CALL_TIMEOUT))
    print(f"\nalias bomb refused in {time.monotonic() - start:.2f} s")
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "expands to more than" in details, details
    start = time.monotonic()  # the same request again: the remembered error, no worker involved
    assert _code(lambda: s.Derive(pb.DeriveRequest(spec=pb.Spec(text=BOMB)), timeout=1.0)) == (code, details)
    assert time.monotonic() - start < 0.5


def _structured(**kw: object) -> pb.Spec:
    base = {"framework": "keras", "inputs": [pb.Input(name="input", shape=[pb.Value(int=8)])],
            "layers": [pb.Layer(kind="Dense", args={"units": pb.Value(int=4)})]}
    base.update(kw)
    return pb.Spec(structured=pb.StructuredSpec(**base))


def _nested(depth: int) -> pb.Value:
    v = pb.Value(int=1)
    for _ in range(depth):
        v = pb.Value(list=pb.ValueList(items=[v]))
    return v


STRUCTURED: dict[str, pb.Spec] = {
    "empty structured": pb.Spec(structured=pb.StructuredSpec()),
    "no source": pb.Spec(),
    "int64 min size": _structured(inputs=[pb.Input(name="input", shape=[pb.Value(int=INT64_MIN)])]),
    "int64 max units": _structured(layers=[pb.Layer(kind="Dense", args={"units": pb.Value(int=INT64_MAX)})]),
    "nan units": _structured(layers=[pb.Layer(kind="Dense", args={"units": pb.Value(number=float("nan"))})]),
    "inf units": _structured(layers=[pb.Layer(kind="Dense", args={"units": pb.Value(number=float("inf"))})]),
    "null units": _structured(layers=[pb.Layer(kind="Dense", args={"units": pb.Value(null=True)})]),
    "unset value": _structured(layers=[pb.Layer(kind="Dense", args={"units": pb.Value()})]),
    "nested list 45 deep": _structured(layers=[pb.Layer(kind="Dense", args={"units": _nested(45)})]),
    "nested layer in Dense": _structured(layers=[pb.Layer(kind="Dense", args={"units": pb.Value(
        layer=pb.Layer(kind="Dense", args={"units": pb.Value(int=3)}))})]),
    "empty kind": _structured(layers=[pb.Layer(kind="")]),
    "empty arg name": _structured(layers=[pb.Layer(kind="Dense", args={"": pb.Value(int=3)})]),
    "unknown framework": _structured(framework="jax"),
    "symbol min above max": _structured(
        inputs=[pb.Input(name="input", shape=[pb.Value(text="I")])],
        symbols=[pb.SymbolDeclaration(name="I", min=10, max=2)]),
    "symbol min int64 min": _structured(
        inputs=[pb.Input(name="input", shape=[pb.Value(text="I")])],
        symbols=[pb.SymbolDeclaration(name="I", min=INT64_MIN)]),
    "symbol with a bad name": _structured(symbols=[pb.SymbolDeclaration(name="1+1", min=1)]),
    "300 layers of Dense": _structured(layers=[pb.Layer(kind="Dense", args={"units": pb.Value(int=4)})] * 300),
    "input named by a missing layer": _structured(layers=[pb.Layer(kind="Dense", inputs=["nope"],
                                                                   args={"units": pb.Value(int=4)})]),
    "outputs naming nothing": _structured(outputs=["nope"]),
    "power tower in structured": _structured(
        inputs=[pb.Input(name="input", shape=[pb.Value(text="I")])],
        layers=[pb.Layer(kind="Dense", args={"units": pb.Value(text=tower(4))})]),
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=_mark(n)) for n in STRUCTURED])
def test_nasty_structured_spec(stub, name: str) -> None:
    s, _, _ = stub
    _check(name, *_code(lambda: s.Derive(pb.DeriveRequest(spec=STRUCTURED[name]), timeout=CALL_TIMEOUT)))
    code, details = _code(lambda: s.Evaluate(pb.EvaluateRequest(spec=STRUCTURED[name], bindings={"I": INT64_MAX}),
                                              timeout=CALL_TIMEOUT))
    _check(name, code, details, {grpc.StatusCode.OUT_OF_RANGE})


EDGES = [INT64_MIN, INT64_MIN + 1, -1, 0, 1, 2**31, 2**32 + 1, 2**62, INT64_MAX - 1, INT64_MAX]
SPECS_FOR_BINDINGS = {
    "classic": (CLASSIC, ("I", "F", "S", "P", "D")),
    "resnet50": (RESNET, ("H", "W")),
    "power tower": (keras(f"  - Dense: {{units: '{tower(4)}'}}\n", "[I]"), ("I",)),
    "wide flatten of I**64": (keras("  - Flatten: {}\n  - Dense: {units: 'J**64'}\n", "['I**64', 'I**64', 'I**64']"),
                              ("I", "J")),
    "mod and floor": (torch("  - Conv2d: {out_channels: D, kernel_size: F, stride: S, groups: G}\n", "[C, H, H]"),
                      ("C", "H", "D", "F", "S", "G")),
}


@pytest.mark.parametrize("name", list(SPECS_FOR_BINDINGS))
def test_extreme_bindings_evaluate(stub, name: str) -> None:
    s, _, _ = stub
    text, symbols = SPECS_FOR_BINDINGS[name]
    derived = _code(lambda: s.Derive(pb.DeriveRequest(spec=pb.Spec(text=text)), timeout=CALL_TIMEOUT))
    _check(name, *derived)
    for value in EDGES:
        for other in (1, value):
            bindings = {sym: (value if i == 0 else other) for i, sym in enumerate(symbols)}
            code, details = _code(lambda b=bindings: s.Evaluate(
                pb.EvaluateRequest(spec=pb.Spec(text=text), bindings=b), timeout=CALL_TIMEOUT))
            _check(f"{name} at {bindings}", code, details, {grpc.StatusCode.OUT_OF_RANGE})
    if derived[0] != grpc.StatusCode.OK:
        return  # the spec itself is refused: so is every Evaluate of it (checked above)
    for bad in ({}, {"Nope": 1}, {**{sym: 1 for sym in symbols}, "": 3}):
        code, details = _code(lambda b=bad: s.Evaluate(pb.EvaluateRequest(spec=pb.Spec(text=text), bindings=b),
                                                       timeout=CALL_TIMEOUT))
        _check(f"{name} with {bad}", code, details)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (bad, details)


@pytest.mark.parametrize("name", list(SPECS_FOR_BINDINGS))
def test_extreme_batch_columns(stub, name: str) -> None:
    s, _, _ = stub
    text, symbols = SPECS_FOR_BINDINGS[name]
    columns = {sym: pb.Int64Column(values=EDGES[i % len(EDGES):] + EDGES[:i % len(EDGES)])
               for i, sym in enumerate(symbols)}
    for outputs in ([], ["output_shape", "params", "trainable", "non_trainable", "buffers", "macs", "activations"],
                    ["nonsense"]):
        requests = iter([pb.EvaluateBatchRequest(spec=pb.Spec(text=text), outputs=outputs, columns=columns)])
        _check(name, *_code(lambda r=requests: s.EvaluateBatch(r, timeout=CALL_TIMEOUT)))
    ragged = {sym: pb.Int64Column(values=list(range(1, 3 + i))) for i, sym in enumerate(symbols)}
    odd_requests = [
        [pb.EvaluateBatchRequest(spec=pb.Spec(text=text), columns=ragged)],  # columns of different lengths
        [pb.EvaluateBatchRequest(spec=pb.Spec(text=text), columns={"Nope": pb.Int64Column(values=[1])})],
        [pb.EvaluateBatchRequest(spec=pb.Spec(text=text), columns={sym: pb.Int64Column() for sym in symbols})],
        [pb.EvaluateBatchRequest(spec=pb.Spec(text=text), columns=columns),
         pb.EvaluateBatchRequest(derivation_id="0" * 64, columns=columns)],  # a target on a later chunk
        [pb.EvaluateBatchRequest(columns=columns)],  # no target at all
        [],  # no chunk at all
    ]
    for chunks in odd_requests:
        code, details = _code(lambda c=chunks: s.EvaluateBatch(iter(c), timeout=CALL_TIMEOUT))
        _check(name, code, details)


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _too_deep(levels: int) -> bytes:
    """A DeriveRequest whose structured spec nests lists `levels` deep: more than protobuf decodes."""
    value = bytes([0x08, 0x01])  # Value{int: 1}
    for _ in range(levels):
        value = _field(5, _field(1, value))  # Value{list: ValueList{items: [value]}}
    layer = _field(1, b"Dense") + _field(4, _field(1, b"units") + _field(2, value))  # Layer{kind, args{units}}
    structured = _field(1, b"keras") + _field(4, layer)
    return _field(1, _field(2, structured))  # DeriveRequest{spec: Spec{structured}}


RAW = {"nested 300 deep": _too_deep(300), "not protobuf": b"\xff\xff\xff\xff", "truncated": b"\x0a\x10\x12"}


@pytest.mark.parametrize("name", list(RAW))
def test_undecodable_requests(stub, name: str) -> None:
    _, channel, _ = stub
    for method in ("Derive", "Evaluate", "ListLayers"):
        call = channel.unary_unary(f"/symshape.v1.ShapeAlgebraService/{method}")  # bytes in, bytes out
        code, details = _code(lambda c=call: c(RAW[name], timeout=CALL_TIMEOUT))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (method, code, details)
        assert details.startswith("the request is not a valid message: "), (method, details)
    batch = channel.stream_stream("/symshape.v1.ShapeAlgebraService/EvaluateBatch")
    code, details = _code(lambda: batch(iter([RAW[name]]), timeout=CALL_TIMEOUT))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, ("EvaluateBatch", code, details)
    assert details.startswith("the request is not a valid message: "), details


def test_bad_derivation_ids(stub) -> None:
    s, _, _ = stub
    for did in ("", "x" * 100_000, "\x00" * 64, "é" * 64, "0" * 64):
        for call in (lambda d=did: s.Evaluate(pb.EvaluateRequest(derivation_id=d), timeout=CALL_TIMEOUT),
                     lambda d=did: list(s.EvaluateBatch(iter([pb.EvaluateBatchRequest(derivation_id=d)]),
                                                        timeout=CALL_TIMEOUT))):
            code, details = _code(call)
            assert code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT), (did[:10], code, details)
            assert len(details) < 1000


def test_list_layers_odd_arguments(stub) -> None:
    s, _, _ = stub
    for framework, name in (("x" * 100_000, ""), ("\x00", ""), ("", "y" * 100_000), ("torch", "\x00"),
                            ("KERAS", ""), ("", "Conv2d\n"), ("torch", "é")):
        code, details = _code(lambda f=framework, n=name: s.ListLayers(
            pb.ListLayersRequest(framework=f, name=n), timeout=CALL_TIMEOUT))
        assert code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND), (framework[:10], code)
        assert len(details) < 1000


def test_server_is_healthy_after_everything(stub) -> None:
    s, channel, _ = stub
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1.0)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    d = s.Derive(pb.DeriveRequest(spec=pb.Spec(text=CLASSIC)), timeout=CALL_TIMEOUT)
    assert d.derivation_id == derivation_id(CLASSIC)
    assert s.Evaluate(pb.EvaluateRequest(derivation_id=d.derivation_id, bindings=VALUES)).counts.total == 140
