"""The gRPC service on real loopback servers (port 0) with real clients: every RPC and error path,
deadlines, health, reflection, TLS and mutual TLS, token auth, limits, round_robin over two servers."""

from __future__ import annotations

import json
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
from grpc_health.v1 import health_pb2, health_pb2_grpc

import symshape
from symshape_server.gen import shape_algebra_pb2 as pb
from symshape_server.gen import shape_algebra_pb2_grpc as pb_grpc
from symshape_server.service import ServerConfig, create_server, shutdown
from symshape.client import Client, ServiceError
from symshape.portable import evaluate_graph

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
    assert resp.derivation_id == d.key
    assert [e.text for e in resp.closed_form.dims] == lib["closed_form"]
    assert resp.counts.total.text == lib["params"]["total"]
    assert [c.relation.text for c in resp.constraints] == [c["relation"] for c in lib["constraints"]]
    assert resp.layers[0].recurrence == lib["layers"][0]["recurrence"]
    assert resp.closed_form.dims[0].latex.startswith(r"\left\lfloor")
    assert list(resp.free_symbols) == ["I", "F", "S", "P", "D"]


def test_expression_graphs_evaluate_like_the_library(client: Client) -> None:
    for name in ("classic_symbolic.yaml", "unet.yaml", "resnet18.yaml", "transformer_block.yaml"):
        d = symshape.derive(EXAMPLES / name)
        resp = client.derive(EXAMPLES / name)
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
        pb.SymbolDeclaration(name=n, min=m) for n, m in (("I", 1), ("F", 1), ("S", 1), ("P", 0), ("D", 1))])
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


def test_evaluate_batch_streams_chunks(client: Client) -> None:
    d = symshape.derive(CLASSIC)
    i = np.arange(1, 200_001)
    got = client.evaluate_batch(CLASSIC, {"I": i, "F": 3, "S": 2, "P": 1, "D": 8},
                                outputs=("output_shape", "params", "macs"), chunk=50_000)
    want = d.evaluate_batch({"I": i, "F": 3, "S": 2, "P": 1, "D": 8}, outputs=("output_shape", "params", "macs"))
    assert np.array_equal(got["valid"], want.valid)
    assert all(np.array_equal(a, b) for a, b in zip(got["output_shape"], want.columns["output_shape"], strict=True))
    assert np.array_equal(got["params"], want.columns["params"]) and np.array_equal(got["macs"], want.columns["macs"])


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


def test_deadline_really_stops_the_derivation(served, client: Client) -> None:
    pids_before = {p.pid for p, _ in list(served.servicer.pool.idle.queue)}
    start = time.monotonic()
    with pytest.raises(ServiceError) as info:
        client.derive(slow_spec(), timeout=1.0)
    assert info.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - start < 5
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the server kills the worker as soon as its own wait ends
        pids_after = {p.pid for p, _ in list(served.servicer.pool.idle.queue)}
        if len(pids_after) == 2 and pids_after != pids_before:
            break
        time.sleep(0.1)
    killed = pids_before - pids_after
    assert killed, "the worker running the derivation was not replaced"
    for pid in killed:
        with pytest.raises(ProcessLookupError):
            import os

            os.kill(pid, 0)
    assert client.health() == "SERVING"
    assert client.evaluate(CLASSIC, VALUES).valid  # and it keeps serving


def test_list_layers(client: Client) -> None:
    layers = client.list_layers("torch", "Conv2d")
    assert [ly.name for ly in layers] == ["Conv2d"]
    assert layers[0].outputs[0].dims[1].text == "floor((Hin - F + 2*P)/S) + 1"
    assert len(client.list_layers()) > 150
    with pytest.raises(ServiceError) as info:
        client.list_layers("torch", "Conv2D")
    assert info.value.code == grpc.StatusCode.NOT_FOUND


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
                assert info.value.code == grpc.StatusCode.UNAUTHENTICATED
                assert c.health() == "SERVING"  # health is exempt
                with pytest.raises(ServiceError) as info:
                    c.evaluate_batch(CLASSIC, {**VALUES, "I": [1, 2]})
                assert info.value.code == grpc.StatusCode.UNAUTHENTICATED
        with Client(target, token="s3cret") as c:
            assert c.evaluate(CLASSIC, VALUES).valid
    finally:
        shutdown(running, 0.5)


def test_concurrency_limit() -> None:
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1, max_concurrent_rpcs=1, max_layers=2000))
    running.server.start()
    try:
        target = f"127.0.0.1:{running.port}"
        with Client(target) as slow, Client(target) as fast:
            busy = slow.stub.Derive.future(pb.DeriveRequest(spec=pb.Spec(text=slow_spec())), timeout=3)
            time.sleep(0.5)
            with pytest.raises(ServiceError) as info:
                fast.evaluate(CLASSIC, VALUES)
            assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            with pytest.raises(grpc.RpcError):
                busy.result()
    finally:
        shutdown(running, 0.5)


def test_batch_row_limit(served, client: Client) -> None:
    with pytest.raises(ServiceError) as info:
        client.evaluate_batch(CLASSIC, {**VALUES, "I": np.ones(2_000_000)}, chunk=2_000_000)
    assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and info.value.fields[0][0] == "columns"


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
        key = symshape.derive(CLASSIC).key
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


@pytest.mark.skipif(subprocess.run(["which", "openssl"], capture_output=True).returncode != 0, reason="no openssl")
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
            with Client(target, timeout=3) as plain:  # no TLS at all
                with pytest.raises(ServiceError):
                    plain.evaluate(CLASSIC, VALUES)
            if mutual:
                with Client(target, root_certificates=c["ca.pem"].read_bytes(), timeout=3) as anonymous:
                    with pytest.raises(ServiceError):
                        anonymous.evaluate(CLASSIC, VALUES)
        finally:
            shutdown(running, 0.5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_command_with_two_workers_and_sigterm() -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "symshape.cli", "serve", "--host", "127.0.0.1", "--port",
                             str(port), "--workers", "2", "--derive-workers", "1", "--grace", "1"],
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        pids: set[str] = set()
        while time.monotonic() < deadline and len(pids) < 2:
            line = proc.stderr.readline()
            if "serving on" in line:
                pids.add(line.rsplit("pid ", 1)[1].strip(") \n"))
        assert len(pids) == 2, "two serving processes should start"
        with Client(f"127.0.0.1:{port}") as c:
            assert c.health() == "SERVING"
            assert c.evaluate(CLASSIC, VALUES).counts.total == 140
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_generated_code_is_up_to_date() -> None:
    done = subprocess.run([sys.executable, "-m", "symshape_server.gen_proto", "--check"], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(subprocess.run(["which", "npx"], capture_output=True).returncode != 0, reason="no npx")
def test_proto_is_buf_lint_clean() -> None:
    done = subprocess.run(["npx", "--yes", "@bufbuild/buf@1.75.0", "lint"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
