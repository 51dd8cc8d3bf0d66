"""The gRPC service on real loopback servers (port 0) with real clients: every RPC and error path,
deadlines, health, reflection, TLS and mutual TLS, token auth, limits, round_robin over two servers."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

import symshape
from symshape.client import Client, ServiceError
from symshape.portable import evaluate_graph
from symshape_server.gen import shape_algebra_pb2 as pb
from symshape_server.gen import shape_algebra_pb2_grpc as pb_grpc
from symshape_server.ids import derivation_id
from symshape_server.service import ServerConfig, create_server, shutdown
from tests.test_honest import negatives

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
CLASSIC = (EXAMPLES / "classic_symbolic.yaml").read_text()
VALUES = {"I": 32, "F": 3, "S": 1, "P": 0, "D": 5}


def slow_spec(n: int = 1500) -> str:
    layers = [{"Conv1d": {"out_channels": f"D{k}", "kernel_size": f"F{k}", "stride": f"S{k}", "padding": f"P{k}"}}
              for k in range(n)]
    return json.dumps({"framework": "torch", "input": ["C", "I"], "layers": layers})


@pytest.fixture(scope="module")
def served():
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=2, max_layers=2000))
    running.server.start()
    yield running
    shutdown(running, 1)


@pytest.fixture(scope="module")
def client(served):
    with Client(f"127.0.0.1:{served.port}") as c:
        yield c


def nodes(expr: pb.Expression) -> list[tuple[str, tuple[int, ...], str]]:
    names = {v: k.lower()[3:] for k, v in pb.Op.items()}
    return [(names[n.op], tuple(n.args), n.integer if n.op == pb.OP_INTEGER else n.symbol) for n in expr.graph]


def test_derive_matches_library(client: Client) -> None:
    d = symshape.derive(CLASSIC)
    resp = client.derive(CLASSIC)
    lib = d.to_dict()
    assert resp.derivation_id == derivation_id(CLASSIC)
    assert [e.text for e in resp.closed_form.dims] == lib["closed_form"]
    assert resp.counts.total.text == lib["params"]["total"]
    assert [c.relation.text for c in resp.constraints] == [c["relation"] for c in lib["constraints"]]
    assert resp.layers[0].recurrence == lib["layers"][0]["recurrence"]
    assert resp.closed_form.dims[0].latex.startswith(r"\left\lfloor")
    assert list(resp.free_symbols) == ["I", "F", "S", "P", "D"]


def test_expression_graphs_evaluate_like_the_library(client: Client) -> None:
    for name in ("classic_symbolic.yaml", "unet.yaml", "resnet18.yaml", "transformer_block.yaml"):
        d = symshape.derive(EXAMPLES / name)
        resp = client.derive(EXAMPLES / name, layer_graphs=True)  # per-layer graphs on request
        binding = {"classic_symbolic.yaml": VALUES, "unet.yaml": {"C": 3, "H": 64, "W": 96, "K": 4},
                   "resnet18.yaml": {"H": 224, "W": 200}, "transformer_block.yaml": {"L": 7, "E": 64, "Hh": 8}}[name]
        e = d.evaluate(binding)
        assert [evaluate_graph(nodes(x), binding) for x in resp.closed_form.dims] == list(e.output_shape)
        assert evaluate_graph(nodes(resp.counts.total), binding) == e.params
        assert evaluate_graph(nodes(resp.counts.macs), binding) == e.macs
        for layer, values in zip(resp.layers, e.layers, strict=True):
            assert [evaluate_graph(nodes(x), binding) for x in layer.outputs[0].dims] == list(values.output_shape)


def test_structured_spec_equals_text(client: Client) -> None:
    structured = pb.StructuredSpec(framework="keras", inputs=[pb.Input(name="input", shape=[
        pb.Value(text="I"), pb.Value(text="I"), pb.Value(int=3)])], symbols=[
        pb.SymbolDeclaration(name=n, min=m, default_value=v)
        for n, m, v in (("I", 1, 32), ("F", 1, 3), ("S", 1, 1), ("P", 0, 0), ("D", 1, 5))])  # as the example declares
    structured.layers.add(kind="Conv2D", args={"filters": pb.Value(text="D"), "kernel_size": pb.Value(text="F"),
                                               "strides": pb.Value(text="S"), "padding": pb.Value(text="P")})
    structured.layers.add(kind="MaxPooling2D", args={"pool_size": pb.Value(list=pb.ValueList(
        items=[pb.Value(int=2), pb.Value(int=2)]))})
    resp = client.stub.Derive(pb.DeriveRequest(spec=pb.Spec(structured=structured)))
    assert resp.derivation_id == client.derive(CLASSIC).derivation_id  # the same canonical spec


def test_evaluate_by_id_and_by_spec(client: Client) -> None:
    d = client.derive(CLASSIC)
    by_id = client.evaluate(d.derivation_id, VALUES)
    by_spec = client.evaluate(CLASSIC, VALUES)
    assert by_id == by_spec
    assert list(by_id.output_shape.dims) == [15, 15, 5] and by_id.counts.total == 140 and by_id.valid
    assert list(by_id.layers[0].outputs[0].dims) == [30, 30, 5] and by_id.layers[0].counts.total == 140
    bad = client.evaluate(d.derivation_id, {**VALUES, "I": 2})
    assert not bad.valid
    assert bad.violations[0].message == "layer 0 'conv2d' (Conv2D): output height 0 < 1 at I=2, F=3, S=1, P=0"
    assert bad.violations[0].layer == 0


def test_evaluate_replies_kept_from_a_bindings_second_request(served, client: Client) -> None:
    """A sweep asks each binding once: its reply is not kept (only that it was asked); a binding asked again is
    answered from the second request on with the very same bytes, valid or not."""
    key = client.derive(CLASSIC).derivation_id
    kept, asked = served.servicer.evaluations, served.servicer.asked
    for values, valid in (({**VALUES, "I": 41}, True), ({**VALUES, "I": 3}, False)):  # (asked nowhere else)
        memo = (key, tuple(sorted(values.items())))
        first = client.evaluate(key, values)
        assert first.valid is valid
        assert asked.get(memo) is True and kept.get(memo) is None
        second = client.evaluate(key, values)
        assert kept.get(memo) == second.SerializeToString()
        assert client.evaluate(key, values) == second == first


def test_evaluate_batch_streams_chunks(client: Client) -> None:
    d = symshape.derive(CLASSIC)
    i = np.arange(1, 200_001)
    got = client.evaluate_batch(CLASSIC, {"I": i, "F": 3, "S": 2, "P": 1, "D": 8},
                                outputs=("output_shape", "params", "macs"), chunk=50_000)
    want = d.evaluate_batch({"I": i, "F": 3, "S": 2, "P": 1, "D": 8}, outputs=("output_shape", "params", "macs"))
    assert np.array_equal(got["valid"], want.valid)
    assert all(np.array_equal(a, b) for a, b in zip(got["output_shape"], want.columns["output_shape"], strict=True))
    assert np.array_equal(got["params"], want.columns["params"]) and np.array_equal(got["macs"], want.columns["macs"])


def test_evaluate_batch_flags_int64_overflow(client: Client) -> None:
    """I = D = 2**62 on the classic example: params 1.3e20 and MACs 2.6e57 exactly, far beyond int64. The row
    is flagged and not valid, never a wrapped number shown as valid."""
    got = client.evaluate_batch(CLASSIC, {"I": [32, 2**62], "F": 3, "S": 1, "P": 0, "D": [5, 2**62]},
                                outputs=("params", "macs"))
    assert got["overflow"].tolist() == [False, True] and got["valid"].tolist() == [True, False]
    assert got["params"].tolist() == [140, 0] and got["macs"][1] == 0
    plain = client.evaluate_batch(CLASSIC, {**VALUES, "I": [32, 33]})
    assert plain["overflow"].tolist() == [False, False]


ERRORS = [  # request builder, status code, reason, a field violation's field (or None)
    (lambda: pb.EvaluateRequest(derivation_id="0" * 64), grpc.StatusCode.NOT_FOUND, "UNKNOWN_DERIVATION",
     "derivation_id"),
    (lambda: pb.EvaluateRequest(spec=pb.Spec(text=CLASSIC), bindings={"I": 3}), grpc.StatusCode.INVALID_ARGUMENT,
     "BAD_BINDINGS", "bindings"),
    (lambda: pb.EvaluateRequest(spec=pb.Spec(text=CLASSIC), bindings={**VALUES, "Q": 1}),
     grpc.StatusCode.INVALID_ARGUMENT, "BAD_BINDINGS", "bindings"),
    (lambda: pb.EvaluateRequest(spec=pb.Spec(text="framework: keras\ninput: [3]\nlayers: [Dens]\n")),
     grpc.StatusCode.INVALID_ARGUMENT, "BAD_SPEC", "spec.text"),
    (lambda: pb.EvaluateRequest(spec=pb.Spec(structured=pb.StructuredSpec(
        framework="torch", inputs=[pb.Input(shape=[pb.Value(int=3), pb.Value(int=8)])],
        layers=[pb.Layer(kind="Conv1d", args={"out_channels": pb.Value(int=2), "kernal_size": pb.Value(int=3)})]))),
     grpc.StatusCode.INVALID_ARGUMENT, "BAD_SPEC", "spec.structured.layers[0].args[kernal_size]"),
    (lambda: pb.EvaluateRequest(spec=pb.Spec(text="framework: keras\ninput: [3]\nlayers: [" +
                                             ", ".join(["Flatten"] * 2500) + "]\n")),
     grpc.StatusCode.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED", "spec.text"),
    (lambda: pb.EvaluateRequest(spec=pb.Spec(text="framework: torch\ninput: [1, 'I']\nlayers:\n  - Linear: "
                                             "{out_features: 4611686018427387904}\n"), bindings={"I": 4}),
     grpc.StatusCode.OUT_OF_RANGE, "INT64_OVERFLOW", None),
    (lambda: pb.EvaluateRequest(), grpc.StatusCode.INVALID_ARGUMENT, "MISSING_TARGET", "target"),
]


@pytest.mark.parametrize(("build", "code", "reason", "field"), ERRORS)
def test_error_statuses(client: Client, build, code, reason: str, field: str | None) -> None:
    with pytest.raises(ServiceError) as info:
        client._call(client.stub.Evaluate, build(), 30)
    assert info.value.code == code
    assert info.value.reason == reason
    if field:
        assert field in [f for f, _ in info.value.fields], info.value.fields


def test_bad_spec_error_names_line_layer_argument(client: Client) -> None:
    with pytest.raises(ServiceError) as info:
        client.derive("framework: keras\ninput: [32, 32, 3]\nlayers:\n  - Conv2D: {filters: 8, kernal_size: 3}\n")
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "spec.text:4: layer 0 'conv2d' (Conv2D): argument 'kernal_size'" in info.value.message
    assert "did you mean 'kernel_size'" in info.value.message


def test_list_layers(client: Client) -> None:
    layers = client.list_layers("torch", "Conv2d")
    assert [ly.name for ly in layers] == ["Conv2d"]
    assert layers[0].outputs[0].dims[1].text == "floor((H_in + 2*p - d*(k - 1) - 1)/s) + 1"  # the layer reference's
    assert len(client.list_layers()) > 150
    with pytest.raises(ServiceError) as info:
        client.list_layers("torch", "Conv2D")
    assert (info.value.code, info.value.reason, info.value.fields) == (
        grpc.StatusCode.NOT_FOUND, "UNKNOWN_LAYER", [("name", "Conv2D")])
    with pytest.raises(ServiceError) as info:
        client.list_layers("jax")
    assert (info.value.code, info.value.reason, info.value.fields) == (
        grpc.StatusCode.INVALID_ARGUMENT, "BAD_FRAMEWORK", [("framework", "jax")])


def test_health_and_reflection(served) -> None:
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    channel = grpc.insecure_channel(f"127.0.0.1:{served.port}")
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "symshape.v1.ShapeAlgebraService"):
        assert stub.Check(health_pb2.HealthCheckRequest(service=service)).status == \
            health_pb2.HealthCheckResponse.SERVING
    db = ProtoReflectionDescriptorDatabase(channel)
    assert "symshape.v1.ShapeAlgebraService" in db.get_services()
    method = db.FindFileContainingSymbol("symshape.v1.ShapeAlgebraService")
    assert method.package == "symshape.v1"
    channel.close()


def test_graceful_shutdown_goes_not_serving_first() -> None:
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1))
    running.server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    stub = health_pb2_grpc.HealthStub(channel)
    assert stub.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
    stopper = threading.Thread(target=shutdown, args=(running, 3.0))
    in_flight = pb_grpc.ShapeAlgebraServiceStub(channel).Evaluate.future(
        pb.EvaluateRequest(spec=pb.Spec(text=CLASSIC), bindings=VALUES), timeout=30)
    stopper.start()
    seen = set()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            seen.add(stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status)
        except grpc.RpcError:
            break
    stopper.join()
    assert health_pb2.HealthCheckResponse.NOT_SERVING in seen
    assert in_flight.result().valid  # the call in flight finished within the grace period
    channel.close()


def test_token_auth() -> None:
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1, token="s3cret"))
    running.server.start()
    try:
        target = f"127.0.0.1:{running.port}"
        for token in (None, "wrong"):
            with Client(target, token=token) as c:
                with pytest.raises(ServiceError) as info:
                    c.evaluate(CLASSIC, VALUES)
                assert (info.value.code, info.value.reason) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")
                assert c.health() == "SERVING"  # health is exempt
                with pytest.raises(ServiceError) as info:
                    c.evaluate_batch(CLASSIC, {**VALUES, "I": [1, 2]})
                assert (info.value.code, info.value.reason) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")
        with Client(target, token="s3cret") as c:
            assert c.evaluate(CLASSIC, VALUES).valid
    finally:
        shutdown(running, 0.5)


def test_batch_row_limit(served, client: Client) -> None:
    with pytest.raises(ServiceError) as info:
        client.evaluate_batch(CLASSIC, {**VALUES, "I": np.ones(2_000_000)}, chunk=2_000_000)
    assert (info.value.code, info.value.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED")
    assert info.value.fields == [("columns", "2000000 rows")]


def test_round_robin_over_two_servers() -> None:
    servers = [create_server("127.0.0.1:0", ServerConfig(derive_workers=1)) for _ in range(2)]
    for s in servers:
        s.server.start()
    try:
        target = "ipv4:" + ",".join(f"127.0.0.1:{s.port}" for s in servers)
        config = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})
        with Client(target, options=[("grpc.service_config", config)]) as c:
            for _ in range(12):
                assert c.evaluate(CLASSIC, VALUES).valid
        key = derivation_id(CLASSIC)
        assert all(s.servicer.cache.get(key) is not None for s in servers), "a server got no call"
    finally:
        for s in servers:
            shutdown(s, 0.5)


def _certs(tmp: Path) -> dict[str, Path]:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=symshape test CA")
    (tmp / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name in ("server", "client"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={'localhost' if name == 'server' else 'symshape client'}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", "-extfile", "san.ext")
    return {n: tmp / n for n in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


@pytest.mark.skipif(subprocess.run(["which", "openssl"], capture_output=True).returncode != 0,
                    reason="openssl is not installed (apt-get install openssl): it makes the TLS test's certificates")
def test_tls_and_mutual_tls(tmp_path: Path) -> None:
    c = _certs(tmp_path)
    tls = (c["server.pem"].read_bytes(), c["server.key"].read_bytes())
    for mutual in (False, True):
        running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1, tls=tls,
                                                           client_ca=c["ca.pem"].read_bytes() if mutual else None))
        running.server.start()
        target = f"localhost:{running.port}"
        try:
            with Client(target, root_certificates=c["ca.pem"].read_bytes(),
                        certificate_chain=c["client.pem"].read_bytes() if mutual else None,
                        private_key=c["client.key"].read_bytes() if mutual else None) as ok:
                assert ok.evaluate(CLASSIC, VALUES).valid
            with Client(target, timeout=3) as plain:  # no TLS at all: the handshake fails, no call is made
                with pytest.raises(ServiceError) as info:
                    plain.evaluate(CLASSIC, VALUES)
                assert (info.value.code, info.value.reason) == (grpc.StatusCode.UNAVAILABLE, "")
            if mutual:
                with Client(target, root_certificates=c["ca.pem"].read_bytes(), timeout=3) as anonymous:
                    with pytest.raises(ServiceError) as info:
                        anonymous.evaluate(CLASSIC, VALUES)
                    assert (info.value.code, info.value.reason) == (grpc.StatusCode.UNAVAILABLE, "")
        finally:
            shutdown(running, 0.5)


def _status_of(call) -> tuple[grpc.StatusCode, str, dict[str, str], list[str]]:
    """(code, ErrorInfo reason, ErrorInfo metadata, BadRequest fields) of a failed call, from the server's status."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(call)
    reason, meta, fields = "", {}, []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, meta = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
    return call.code(), reason, meta, fields


def _dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie still answers kill(0): look at its state
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


def _wait(predicate, seconds: float, step: float = 0.005) -> float | None:
    """Seconds until predicate() held, or None."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if predicate():
            return time.monotonic() - start
        time.sleep(step)
    return None


def _health(target: str, timeout: float = 1.0) -> str:
    with grpc.insecure_channel(target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


# ---------------------------------------------------------------- a spec is content, never a path


def test_spec_text_is_never_read_as_a_path(tmp_path: Path, client: Client) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"aws_secret_access_key": "AKIA-not-for-you"}))
    valid = tmp_path / "valid.yaml"  # a spec that would derive fine if the server read the file
    valid.write_text(CLASSIC)
    for text in (str(secret), str(valid), str(tmp_path), str(tmp_path / "missing.yml"), "/etc/passwd.json",
                 "/proc/self/environ.yaml", "../../../../etc/hostname.json"):
        for call in (lambda t: client.stub.Derive(pb.DeriveRequest(spec=pb.Spec(text=t)), timeout=30),
                     lambda t: client.stub.Evaluate(pb.EvaluateRequest(spec=pb.Spec(text=t), bindings=VALUES),
                                                    timeout=30)):
            with pytest.raises(grpc.RpcError) as info:
                call(text)
            code, reason, _, fields = _status_of(info.value)
            assert (code, reason, fields) == (grpc.StatusCode.INVALID_ARGUMENT, "BAD_SPEC", ["spec.text"]), text
            message = info.value.details()
            assert "a spec is a mapping" in message, message  # the text itself was parsed: a YAML string
            for leak in ("aws_secret", "AKIA", "no such file", "directory", "cannot read", "root:"):
                assert leak not in message, (text, message)


DEVELOPER_TOOLS = ("gen_proto.py", "proto_doc.py", "protos.py")  # command-line tools the server never imports


def test_serving_code_opens_no_files() -> None:
    """The serving code (all of symshape_server but the developer tools) never opens a file or builds a path:
    request text can only ever be content."""
    for source in sorted((ROOT / "symshape_server").glob("*.py")):
        text = source.read_text()
        if source.name in DEVELOPER_TOOLS:
            continue
        for tool in DEVELOPER_TOOLS:
            assert f"import {tool[:-3]}" not in text and f".{tool[:-3]} import" not in text, (source.name, tool)
        for call in ("open(", "Path(", "read_text", "read_bytes", "os.path", "pathlib"):
            assert call not in text, f"{source.name} uses {call}"


def test_client_reads_a_path_only_when_given_a_path(client: Client) -> None:
    assert client.derive(EXAMPLES / "classic_symbolic.yaml").derivation_id == derivation_id(CLASSIC)
    with pytest.raises(ServiceError) as info:
        client.derive(str(EXAMPLES / "classic_symbolic.yaml"))  # a str is text, even when it looks like a path
    assert (info.value.code, info.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "BAD_SPEC")
    assert isinstance(info.value, symshape.SymshapeError)


@pytest.mark.parametrize(("call", "message"), [
    (lambda c: c.evaluate(CLASSIC, {**VALUES, "I": 2**64}), "int64 range"),
    (lambda c: c.evaluate(CLASSIC, {**VALUES, "I": "32"}), "int64 range"),
    (lambda c: c.evaluate_batch(CLASSIC, {**VALUES, "I": [2**64]}), "column 'I': values must fit in int64"),
    (lambda c: c.evaluate_batch(CLASSIC, {**VALUES, "I": np.array([2**64 - 1], dtype=np.uint64)}),
     "column 'I': values must fit in int64"),
    (lambda c: c.evaluate_batch(CLASSIC, {**VALUES, "I": [1e30]}), "column 'I': values must fit in int64"),
    (lambda c: c.evaluate_batch(CLASSIC, {**VALUES, "I": [1.5]}), "column 'I': values must be integers"),
])
def test_client_refuses_values_beyond_int64(client: Client, call, message: str) -> None:
    with pytest.raises(symshape.BindingError) as info:  # before anything is sent, never a silent wrap
        call(client)
    assert message in str(info.value)


def test_serve_defaults_to_loopback_and_shows_defaults() -> None:
    from symshape.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.grace) == ("127.0.0.1", 50051, 10.0)
    done = subprocess.run([sys.executable, "-m", "symshape.cli", "serve", "--help"], capture_output=True, text=True,
                          cwd=ROOT)
    assert done.returncode == 0
    flat = " ".join(done.stdout.split())
    assert "(default: 127.0.0.1)" in flat and "(default: 10.0)" in flat
    assert "examples:" in flat and "--host 0.0.0.0 --token-env" in flat


# ---------------------------------------------------------------- the server stays in charge of its time

TOWER = "framework: keras\ninput: [I]\nlayers:\n  - Dense: {units: '((((I**64)**64)**64)**64)'}\n"
# accepted by the library (degree 64 per expression), but 3 axes of I**64 flattened: 11,000+ bits at I = 2**62
WIDE = "framework: keras\ninput: ['I**64', 'I**64', 'I**64']\nlayers:\n  - Flatten: {}\n  - Dense: {units: 3}\n"


@pytest.mark.parametrize(("spec", "field"), [(TOWER, "spec.text"), (WIDE, "bindings")])
def test_huge_evaluation_is_refused_and_health_answers(served, client: Client, spec: str, field: str) -> None:
    """The issue's power tower pinned the process; the library now refuses its degree (spec.text), and the
    server refuses any binding whose numbers would be too large before building one (bindings)."""
    target = f"127.0.0.1:{served.port}"
    start = time.monotonic()
    nasty = client.stub.Evaluate.future(pb.EvaluateRequest(spec=pb.Spec(text=spec), bindings={"I": 2**62 - 1}),
                                        timeout=30)
    assert _health(target, timeout=1.0) == "SERVING"
    with pytest.raises(grpc.RpcError) as info:
        nasty.result()
    elapsed = time.monotonic() - start
    code, reason, _, fields = _status_of(info.value)
    assert (code, reason, fields) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED", [field])
    print(f"\nhuge Evaluate ({field}) refused in {elapsed * 1000:.0f} ms: {info.value.details()[-90:]}")
    t0 = time.monotonic()
    assert _health(target, timeout=1.0) == "SERVING"
    print(f"health after it: {(time.monotonic() - t0) * 1000:.0f} ms")
    assert client.derive(CLASSIC, timeout=10).counts.total.text == symshape.derive(CLASSIC).to_dict()["params"]["total"]


def test_evaluation_bound_is_per_binding(client: Client) -> None:
    with pytest.raises(ServiceError) as info:
        client.evaluate(WIDE, {"I": 2**62 - 1})
    assert "8,192 bits" in info.value.message and info.value.fields[0][0] == "bindings"
    small = client.evaluate(WIDE, {"I": 1})  # the same program at a small value is evaluated
    assert list(small.output_shape.dims) == [3] and small.counts.total == 3 * 1 + 3
    with pytest.raises(ServiceError) as info:  # exact, under the bound, but not an int64: said so
        client.evaluate(WIDE, {"I": 2})
    assert (info.value.code, info.value.reason) == (grpc.StatusCode.OUT_OF_RANGE, "INT64_OVERFLOW")
    assert str(3 * 2**192 + 3) in info.value.message


def test_heavy_evaluation_runs_in_a_worker_with_the_same_answer() -> None:
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1, max_inline_ops=5))
    running.server.start()
    try:
        with Client(f"127.0.0.1:{running.port}") as c:
            reply = c.evaluate(CLASSIC, VALUES)
            assert list(reply.output_shape.dims) == [15, 15, 5] and reply.counts.total == 140 and reply.valid
            bad = c.evaluate(CLASSIC, {**VALUES, "I": 2})
            assert bad.violations[0].message == "layer 0 'conv2d' (Conv2D): output height 0 < 1 at I=2, F=3, S=1, P=0"
            with pytest.raises(ServiceError) as info:
                c.evaluate(WIDE, {"I": 2**62 - 1})  # refused by the bound, in the worker
            assert (info.value.code, info.value.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED")
            assert info.value.fields[0][0] == "bindings" and "8,192 bits" in info.value.message
            with pytest.raises(ServiceError) as info:
                c.evaluate(CLASSIC, {**VALUES, "Q": 1})
            assert (info.value.code, info.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "BAD_BINDINGS")
    finally:
        shutdown(running, 0.5)


@pytest.fixture(scope="module")
def deadline_server():
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1, max_layers=5000, max_derive_seconds=0.3))
    running.server.start()
    assert _wait(lambda: len(running.servicer.pool.pids()) == 1, 60) is not None  # the worker is ready
    yield running
    shutdown(running, 0.5)


BIG = slow_spec(5000)


def test_server_deadline_kills_a_big_derivation_within_100_ms(deadline_server) -> None:
    """max_derive_seconds=0.3 with a 30 s client deadline: the status comes from the server, and the worker,
    which parses the 5000-layer spec itself, is dead right after the deadline."""
    pool = deadline_server.servicer.pool
    with Client(f"127.0.0.1:{deadline_server.port}") as c:
        for _ in range(2):
            assert _wait(lambda: len(pool.pids()) == 1, 30) is not None  # the replacement of a previous run is up
            before = set(pool.pids())
            start = time.monotonic()
            call = c.stub.Derive.future(pb.DeriveRequest(spec=pb.Spec(text=BIG)), timeout=30)
            with pytest.raises(grpc.RpcError) as info:
                call.result()
            arrived = time.monotonic() - start
            gone = _wait(lambda b=before: all(_dead(p) for p in b), 2.0)
            code, reason, _, _ = _status_of(info.value)
            assert (code, reason) == (grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED")  # the server's code
            assert "ran past the deadline (0.3 s)" in info.value.details()
            assert gone is not None, "the worker was not killed"
            print(f"\nserver deadline 300 ms: DEADLINE_EXCEEDED after {arrived * 1000:.0f} ms, worker dead "
                  f"{(arrived + gone) * 1000:.0f} ms after the call started")
            assert arrived < 0.3 + 0.25, arrived
        assert _wait(lambda: len(pool.pids()) == 1 and not set(pool.pids()) & before, 30) is not None
        assert c.evaluate(CLASSIC, VALUES).valid  # and it keeps serving


def test_client_deadline_kills_the_worker(deadline_server) -> None:
    pool = deadline_server.servicer.pool
    deadline_server.servicer.config.max_derive_seconds = 30.0
    try:
        with Client(f"127.0.0.1:{deadline_server.port}") as c:
            assert _wait(lambda: len(pool.pids()) == 1, 30) is not None
            before = set(pool.pids())
            start = time.monotonic()
            with pytest.raises(ServiceError) as info:
                c.derive(BIG, timeout=0.3)
            assert info.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
            waited_from = time.monotonic() - start
            gone = _wait(lambda: all(_dead(p) for p in before), 3.0)
            assert gone is not None, "the worker was not killed"
            killed = waited_from + gone
            print(f"\nclient deadline 300 ms: worker dead {killed * 1000:.0f} ms after the call started")
            assert killed < 0.3 + 0.35, killed
    finally:
        deadline_server.servicer.config.max_derive_seconds = 0.3


def test_batch_stops_at_the_deadline(served, client: Client) -> None:
    resnet = (EXAMPLES / "resnet50.yaml").read_text()
    d = client.derive(resnet, timeout=60)
    rows = 3_000_000  # several times what fits in the deadline (both sizes vary: nothing folds away)
    start = time.monotonic()
    with pytest.raises(ServiceError) as info:
        client.evaluate_batch(d.derivation_id, {"H": np.arange(rows) % 300 + 32, "W": np.arange(rows) % 500 + 32},
                              chunk=1_000_000, timeout=0.5)
    assert info.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    stopped = _wait(lambda: served.limiter.active == 0, 5.0)
    assert stopped is not None, "the batch kept running after the deadline"
    print(f"\nbatch of {rows:,} ResNet-50 rows in 3 chunks, deadline 500 ms: handler done "
          f"{(time.monotonic() - start) * 1000:.0f} ms after the start")
    assert time.monotonic() - start < 0.5 + 1.0


def test_worker_crash_gives_a_clear_error_and_a_new_worker(served, client: Client) -> None:
    pool = served.servicer.pool
    assert _wait(lambda: len(pool.pids()) == 2, 30) is not None
    call = client.stub.Derive.future(pb.DeriveRequest(spec=pb.Spec(text=slow_spec(1499))), timeout=60)
    assert _wait(lambda: pool.pids(busy_only=True), 10) is not None
    (victim,) = pool.pids(busy_only=True)
    os.kill(victim, signal.SIGKILL)
    with pytest.raises(grpc.RpcError) as info:
        call.result()
    code, reason, meta, _ = _status_of(info.value)
    assert (code, reason) == (grpc.StatusCode.INTERNAL, "WORKER_DIED")
    assert "stopped unexpectedly" in info.value.details() and meta["error_id"] in info.value.details()
    assert _wait(lambda: len(pool.pids()) == 2 and victim not in pool.pids(), 30) is not None
    fresh = CLASSIC.replace("filters: D", "filters: E")  # not cached: a real derivation on the new worker
    assert client.derive(fresh, timeout=60).derivation_id == derivation_id(fresh)


def test_unexpected_exception_is_internal_with_an_error_id(caplog) -> None:
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1, fault_injection=("evaluate", "derive")))
    running.server.start()
    try:
        with Client(f"127.0.0.1:{running.port}") as c, caplog.at_level(logging.ERROR, "symshape_server"):
            for call in (lambda: c.derive(CLASSIC, timeout=60), lambda: c.evaluate(CLASSIC, VALUES, timeout=60)):
                caplog.clear()
                with pytest.raises(ServiceError) as info:
                    call()
                err = info.value
                assert (err.code, err.reason) == (grpc.StatusCode.INTERNAL, "INTERNAL")
                error_id = err.metadata["error_id"]
                assert len(error_id) == 12 and error_id in err.message
                assert "fault injected" not in err.message and "RuntimeError" not in err.message
                logged = "\n".join(r.getMessage() for r in caplog.records)
                assert f"error id {error_id}" in logged and "RuntimeError: fault injected" in logged
                assert "Traceback" in logged
            assert c.health() == "SERVING"
    finally:
        shutdown(running, 0.5)


def test_health_is_not_counted_by_the_concurrency_limit() -> None:
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1, max_concurrent_rpcs=1, threads=1,
                                                        max_layers=2000))
    running.server.start()
    try:
        target = f"127.0.0.1:{running.port}"
        with Client(target) as slow, Client(target) as fast:
            slow.derive(CLASSIC, timeout=60)  # the worker is up
            busy = slow.stub.Derive.future(pb.DeriveRequest(spec=pb.Spec(text=slow_spec())), timeout=4)
            assert _wait(lambda: running.limiter.active == 1, 2) is not None
            with pytest.raises(ServiceError) as info:
                fast.evaluate(CLASSIC, VALUES)
            assert (info.value.code, info.value.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_CALLS")
            times = []
            for _ in range(5):  # health and reflection still answer, on fresh connections too
                t0 = time.monotonic()
                assert _health(target, timeout=1.0) == "SERVING"
                times.append(time.monotonic() - t0)
            from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
                ProtoReflectionDescriptorDatabase,
            )

            with grpc.insecure_channel(target) as channel:
                assert "symshape.v1.ShapeAlgebraService" in ProtoReflectionDescriptorDatabase(channel).get_services()
            assert running.limiter.active == 1
            print(f"\nhealth under a saturated limit: max {max(times) * 1000:.0f} ms over {len(times)} checks")
            with pytest.raises(grpc.RpcError) as failed:
                busy.result()
            assert failed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert _wait(lambda: running.limiter.active == 0, 5) is not None
    finally:
        shutdown(running, 0.5)


def test_never_valid_spec_is_flagged(client: Client) -> None:
    spec = ("framework: torch\ninput: [3, 32, 32]\nlayers:\n  - Conv2d: {out_channels: 16, kernel_size: 3}\n"
            "  - Conv2d: {in_channels: 32, out_channels: 8, kernel_size: 3}\n")
    reply = client.derive(spec)
    assert reply.never_valid
    assert list(reply.never_valid_reasons) == list(symshape.derive(spec).never_valid_reasons())
    assert list(reply.never_valid_reasons) == ["layer 1 'conv2d_1' (Conv2d): in_channels 32 != 16 incoming channels"]
    assert not client.derive(CLASSIC).never_valid and not client.derive(CLASSIC).never_valid_reasons


def proto_negatives(msg: Message, where: str = "") -> list[str]:
    """Every negative number in a reply: int fields, and strings that are a whole integer ("-2")."""
    out = []
    for field, value in msg.ListFields():
        items = [value] if isinstance(value, (Message, str, bytes, int, float)) else list(value)  # else repeated
        for k, item in enumerate(items):
            at = f"{where}.{field.name}[{k}]"
            out += proto_negatives(item, at) if isinstance(item, Message) else negatives(item, at)
    return out


def test_never_valid_reply_has_no_sizes(client: Client) -> None:
    nv3 = "framework: keras\ninput: [0, 32, 3]\nlayers:\n  - Conv2D: {filters: 5, kernel_size: 3}\n"
    reply = client.derive(nv3)
    assert reply.never_valid and list(reply.never_valid_reasons) == [
        "input 'input': input axis 0: 0 < 1", "layer 0 'conv2d' (Conv2D): output height: -2 < 1"]
    assert not reply.HasField("output_shape") and not reply.HasField("closed_form") and not reply.HasField("counts")
    layers = [(ly.index, ly.name, ly.kind, list(ly.inputs)) for ly in reply.layers]
    assert layers == [(0, "conv2d", "Conv2D", ["input"])]
    assert not reply.layers[0].outputs and not reply.layers[0].HasField("counts")
    assert reply.framework == "keras" and reply.derivation_id == derivation_id(nv3)
    assert proto_negatives(reply) == []
    fine = client.derive(CLASSIC)  # a valid spec keeps its results, and the walk reaches its graphs' -1 factors
    assert fine.HasField("counts") and fine.layers[0].outputs and proto_negatives(fine)
    assert proto_negatives(pb.Expression(text="-2")) == [".text[0]='-2'"]


# ---------------------------------------------------------------- shutdown


def _children(parents: set[int]) -> set[int]:
    """Live processes whose parent is one of `parents` (from /proc)."""
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) in parents and fields[0] not in "ZX":
                found.add(int(entry))
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_two_workers_sigterm_with_a_derivation_in_flight() -> None:
    """Both serving processes go NOT_SERVING at once and the whole thing exits within grace + 2 s."""
    port, grace = _free_port(), 2.0
    proc = subprocess.Popen([sys.executable, "-m", "symshape.cli", "serve", "--port", str(port), "--workers", "2",
                             "--derive-workers", "1", "--grace", str(grace)],
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        pids: set[str] = set()
        while time.monotonic() < deadline and len(pids) < 2:
            line = proc.stderr.readline()
            lines.append(line)
            if "serving on 127.0.0.1:" in line:
                pids.add(line.rsplit("pid ", 1)[1].strip(") \n"))
        assert len(pids) == 2, "two serving processes should start on loopback"
        target = f"127.0.0.1:{port}"
        with Client(target) as c:
            assert c.health() == "SERVING"
            assert c.evaluate(CLASSIC, VALUES, timeout=60).counts.total == 140
            in_flight = c.stub.Derive.future(pb.DeriveRequest(spec=pb.Spec(text=slow_spec(1498))), timeout=60)
            time.sleep(0.5)
            descendants = _children({int(p) for p in pids})  # the derivation workers (and the 2nd server)
            assert len(descendants) >= 3, descendants
            start = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            seen = []
            for _ in range(8):  # fresh connections land on either process
                try:
                    seen.append(_health(target, timeout=0.5))
                except grpc.RpcError as err:
                    seen.append(err.code().name)
            code = proc.wait(timeout=grace + 10)
            elapsed = time.monotonic() - start
            with pytest.raises(grpc.RpcError):
                in_flight.result()
        lines += proc.stderr.read().splitlines()
        print(f"\nserve --workers 2 --grace {grace:g}: exited {elapsed:.2f} s after SIGTERM; health seen: {seen}")
        assert code == 0
        assert elapsed < grace + 2, elapsed
        assert "SERVING" not in seen and "NOT_SERVING" in seen, seen
        assert _wait(lambda: all(_dead(p) for p in descendants), 2.0) is not None, "a worker outlived the server"
        stopping = [line for line in lines if "stopping within" in line]
        assert {line.rsplit("pid ", 1)[1].strip(") \n") for line in stopping} == pids, lines
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_warns_when_exposed_without_token_and_tls() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "symshape.cli", "serve", "--host", "0.0.0.0", "--port", "0",
                             "--derive-workers", "1", "--grace", "0.5"], stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("serving on" in line for line in lines):
            lines.append(proc.stderr.readline())
        assert any("warning: listening on 0.0.0.0 without --token-env and TLS (--tls-cert/--tls-key): anyone who "
                   "can reach this port can use the service and read its traffic" in line for line in lines), lines
        port = int(next(line for line in lines if "serving on" in line).split("serving on 0.0.0.0:")[1].split()[0])
        assert _health(f"127.0.0.1:{port}", timeout=2.0) == "SERVING"
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        print(f"\nserve --grace 0.5 (one process): exited {time.monotonic() - start:.2f} s after SIGTERM")
        assert time.monotonic() - start < 0.5 + 2
    finally:
        if proc.poll() is None:
            proc.kill()


def test_generated_code_is_up_to_date() -> None:
    done = subprocess.run([sys.executable, "-m", "symshape_server.gen_proto", "--check"], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(subprocess.run(["which", "npx"], capture_output=True).returncode != 0,
                    reason="npx is not installed (apt-get install npm): buf, which lints the proto, runs through it")
def test_proto_is_buf_lint_clean() -> None:
    done = subprocess.run(["npx", "--yes", "@bufbuild/buf@1.75.0", "lint"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
