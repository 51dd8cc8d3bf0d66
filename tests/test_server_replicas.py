"""Any replica answers any call (issue 13): derivation ids carry the canonical spec, so separately started
servers, the processes of `serve --workers 2`, and a restarted server all answer by-id calls on fresh
connections. Real `symshape serve` processes on loopback; the id codec checked on its own too."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

import symshape
from symshape.client import Client, ServiceError
from symshape.spec import load_spec
from symshape_server.ids import MAX_ID_CHARS, BadId, IdCodec, canonical_json, derivation_id

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
CLASSIC = (EXAMPLES / "classic_symbolic.yaml").read_text()
RESNET50 = (EXAMPLES / "resnet50.yaml").read_text()
VALUES = {"I": 32, "F": 3, "S": 1, "P": 0, "D": 5}
KEY = "0123456789abcdef0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(port: int, workers: int = 1, key: str | None = None) -> Iterator[subprocess.Popen]:
    """`symshape serve` in its own process, until it says it is serving in every serving process."""
    env = {**os.environ, "SYMSHAPE_TEST_ID_KEY": key} if key else dict(os.environ)
    argv = [sys.executable, "-m", "symshape.cli", "serve", "--port", str(port), "--workers", str(workers),
            "--derive-workers", "1", "--grace", "0.5"] + (["--id-key-env", "SYMSHAPE_TEST_ID_KEY"] if key else [])
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        serving, deadline = 0, time.monotonic() + 90
        while serving < workers and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                raise AssertionError(f"symshape serve exited with {proc.returncode}")
            serving += "serving on 127.0.0.1:" in line
        assert serving == workers, "the server did not start"
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def fresh_evaluate(target: str, key: str, options: list | None = None) -> bool:
    """One Evaluate by id on a connection of its own (a new channel: a new TCP connection)."""
    with Client(target, timeout=60, options=options) as c:
        e = c.evaluate(key, VALUES)
        return e.valid and e.counts.total == 140 and e.derivation_id == key


def test_two_servers_behind_round_robin_and_serve_workers_2_answer_every_by_id_call() -> None:
    a, b, both = _free_port(), _free_port(), _free_port()
    with serve(a), serve(b), serve(both, workers=2):
        with Client(f"127.0.0.1:{a}") as c:
            key = c.derive(CLASSIC).derivation_id  # derived on server a only
        assert key == derivation_id(CLASSIC) and key.startswith("s1.")
        config = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})
        target = f"ipv4:127.0.0.1:{a},127.0.0.1:{b}"
        results = [fresh_evaluate(target, key, [("grpc.service_config", config), ("grpc.channel_id", i)])
                   for i in range(200)]
        assert results.count(True) == 200
        assert fresh_evaluate(f"127.0.0.1:{b}", key)  # b, which never saw the spec
        results = [fresh_evaluate(f"127.0.0.1:{both}", key, [("grpc.channel_id", i)]) for i in range(200)]
        assert results.count(True) == 200  # each serving process of --workers 2, whichever the kernel picks


def test_one_round_robin_channel_spreads_by_id_calls_over_both_servers() -> None:
    a, b = _free_port(), _free_port()
    with serve(a), serve(b):
        key = derivation_id(RESNET50)  # never derived anywhere: every server rebuilds it from the id
        config = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})
        with Client(f"ipv4:127.0.0.1:{a},127.0.0.1:{b}", options=[("grpc.service_config", config)]) as c:
            for _ in range(20):
                e = c.evaluate(key, {"H": 224, "W": 224})
                assert e.counts.total == 25_557_032 and e.counts.macs == 4_089_184_256


def test_a_server_restarted_between_derive_and_evaluate() -> None:
    port = _free_port()
    with serve(port):
        with Client(f"127.0.0.1:{port}") as c:
            key = c.derive(RESNET50).derivation_id
            before = c.evaluate(key, {"H": 224, "W": 224})
    with serve(port):  # a new process: an empty cache
        with Client(f"127.0.0.1:{port}") as c:
            after = c.evaluate(key, {"H": 224, "W": 224})
            assert after == before
            assert c.solve(key, "H", W=224).text == symshape.derive(RESNET50).solve("H", {"W": 224}).text()
            cols = c.evaluate_batch(key, {"H": [224, 32, 7], "W": 224})
            want = symshape.derive(RESNET50).evaluate_batch({"H": [224, 32, 7], "W": 224}, ("output_shape", "params"))
            assert cols["valid"].tolist() == want.valid.tolist() and cols["params"].tolist() == [25_557_032] * 3
            assert cols["derivation_id"] == key


def test_keyed_ids_are_taken_only_by_the_same_fleet() -> None:
    a, b, plain = _free_port(), _free_port(), _free_port()
    with serve(a, key=KEY), serve(b, key=KEY), serve(plain):
        with Client(f"127.0.0.1:{a}") as c:
            key = c.derive(CLASSIC).derivation_id
        assert key.startswith("s1k.") and key == derivation_id(CLASSIC, KEY.encode())
        assert fresh_evaluate(f"127.0.0.1:{b}", key)  # another replica with the same key
        with Client(f"127.0.0.1:{plain}") as c:
            with pytest.raises(ServiceError) as info:
                c.evaluate(key, VALUES)  # no key here: a keyed id cannot be checked
            assert (info.value.code, info.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "BAD_DERIVATION_ID")
            assert info.value.fields[0][0] == "derivation_id" and "--id-key-env" in info.value.message
            unkeyed = c.derive(CLASSIC).derivation_id
        with Client(f"127.0.0.1:{b}") as c:
            for bad in (unkeyed, derivation_id(CLASSIC, b"another fleet's key, 32 bytes.."), key[:-2] + "AA"):
                with pytest.raises(ServiceError) as info:
                    c.evaluate(bad, VALUES)  # forged, or keyed by another fleet
                assert (info.value.code, info.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT,
                                                                "BAD_DERIVATION_ID"), bad[:20]


# ---------------------------------------------------------------- the codec alone


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_an_id_rebuilds_the_same_canonical_spec(name: str) -> None:
    spec = load_spec(EXAMPLES / name)
    for codec in (IdCodec(), IdCodec(b"k" * 32)):
        key = codec.encode(canonical_json(spec))
        assert IdCodec.is_id(key) and len(key) < 4000
        assert load_spec(codec.decode(key)).key == spec.key  # the same network, the same compiled program


def test_an_id_carries_the_training_setting_and_search_hints() -> None:
    spec = {"framework": "torch", "input": [3, "H"], "batch": "B", "mode": "train",
            "symbols": {"H": {"min": 8, "max": 512, "step": 8}, "D": {"min": 1, "max": 64, "log": True}},
            "layers": [{"Conv1d": {"out_channels": "D", "kernel_size": 3}}, {"BatchNorm1d": {}}]}
    doc = IdCodec().decode(derivation_id(spec))
    assert load_spec(doc).key == load_spec(spec).key
    assert (doc["batch"], doc["mode"], doc["symbols"]["H"]["step"], doc["symbols"]["D"]["log"]) == ("B", "train", 8,
                                                                                                 True)


def _forge(payload: bytes) -> str:
    """An unkeyed id around any payload (its checksum right): what a hostile client can send."""
    import hashlib

    enc = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    tag = base64.urlsafe_b64encode(hashlib.sha256(payload).digest()[:16]).rstrip(b"=").decode()
    return f"s1.{enc}.{tag}"


BAD_IDS = [  # id, a fragment of the message
    ("s1.abc", "malformed"),
    ("s1.!!!.abc", "malformed"),
    (_forge(b"not zlib"), "does not decompress"),
    (_forge(zlib.compress(b"\xff\xfe")), "not a spec"),
    (_forge(zlib.compress(b"[" * 100_000 + b"]" * 100_000)), "nested"),
    (_forge(zlib.compress(b'{"layers": 3}')), "does not hold a spec"),
    (_forge(zlib.compress(b" " * 50_000_000, 9)), "over"),  # a decompression bomb: stopped at the bound
]


@pytest.mark.parametrize(("key", "fragment"), BAD_IDS)
def test_bad_ids_are_refused_with_one_clear_error(key: str, fragment: str) -> None:
    with pytest.raises(BadId, match=fragment):
        IdCodec(max_bytes=2_000_000).decode(key)


def test_tampering_fails_the_integrity_check() -> None:
    key = derivation_id(CLASSIC)
    prefix, payload, tag = key.split(".")
    data = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data[-1] ^= 1
    altered = f"{prefix}.{base64.urlsafe_b64encode(bytes(data)).rstrip(b'=').decode()}.{tag}"
    with pytest.raises(BadId, match="integrity"):
        IdCodec().decode(altered)


def test_a_spec_too_large_to_carry_gets_a_hash_only_id(served_port: int) -> None:
    import random

    rng = random.Random(0)
    layers = [{"Linear": {"out_features": 4}, "name": "".join(rng.choice("abcdefghjkmnpqrstuvwxyz") for _ in range(60))}
              for _ in range(1900)]
    spec = json.dumps({"framework": "torch", "input": ["N"], "layers": layers})
    key = derivation_id(spec)
    assert len(key) == 64 and IdCodec.hash_only(key)  # its compressed form is over MAX_ID_CHARS
    assert len(IdCodec().encode(canonical_json(load_spec(spec))).encode()) <= MAX_ID_CHARS
    with Client(f"127.0.0.1:{served_port}") as c:
        with pytest.raises(ServiceError) as info:
            c.evaluate(key, {"N": 3})  # nowhere derived: only the spec itself can tell
        assert (info.value.code, info.value.reason) == (grpc.StatusCode.NOT_FOUND, "UNKNOWN_DERIVATION")
        assert c.derive(spec, timeout=120).derivation_id == key
        assert c.evaluate(key, {"N": 3}).valid  # where it is cached, it works


@pytest.fixture(scope="module")
def served_port() -> Iterator[int]:
    from symshape_server.service import ServerConfig, create_server, shutdown

    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1))
    running.server.start()
    yield running.port
    shutdown(running, 0.5)


def test_a_huge_error_message_still_reaches_the_caller(served_port: int) -> None:
    """1,900 missing symbols of 40 characters: the message is cut to a readable length, not dropped
    by the 16 KiB trailer limit (which the caller would see as a confusing RESOURCE_EXHAUSTED)."""
    layers = [{"Linear": {"out_features": f"S{k:04d}" + "x" * 35}} for k in range(1900)]
    spec = json.dumps({"framework": "torch", "input": ["N"], "layers": layers})
    with Client(f"127.0.0.1:{served_port}") as c:
        with pytest.raises(ServiceError) as info:
            c.evaluate(spec, {"N": 3}, timeout=120)
    assert (info.value.code, info.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "BAD_BINDINGS")
    assert len(info.value.message) <= 2_000 and "more characters" in info.value.message


@pytest.mark.parametrize("value", [None, "short"])
def test_serve_refuses_a_missing_or_short_id_key(value: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SYMSHAPE_TEST_ID_KEY"}
    if value is not None:
        env["SYMSHAPE_TEST_ID_KEY"] = value
    done = subprocess.run([sys.executable, "-m", "symshape.cli", "serve", "--port", "0", "--id-key-env",
                           "SYMSHAPE_TEST_ID_KEY"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert done.returncode == 2
    assert "--id-key-env SYMSHAPE_TEST_ID_KEY: the variable is not set or shorter than 16 characters" in done.stderr


def test_an_id_keeps_the_order_of_inputs_and_symbols() -> None:
    """Inputs {x, a}: a first layer without `inputs` reads x; sorted, it would read a (another network)."""
    spec = {"framework": "torch", "inputs": {"x": [3, "H"], "a": [5, "H"]}, "symbols": {"H": {}, "B": {"min": 2}},
            "layers": [{"Conv1d": {"out_channels": "B", "kernel_size": 1}}]}
    swapped = {**spec, "inputs": {"a": [5, "H"], "x": [3, "H"]}}
    assert load_spec(spec).key != load_spec(swapped).key  # two networks, two keys
    doc = IdCodec().decode(derivation_id(spec))
    assert list(doc["inputs"]) == ["x", "a"] and list(doc["symbols"]) == ["H", "B"]
    d = symshape.derive(doc)
    assert d.layers[0].trainable == symshape.derive(spec).layers[0].trainable == 4 * sympy_symbol("B")
    assert list(d.free_symbols) == ["H", "B"]


def sympy_symbol(name: str) -> object:
    import sympy

    return sympy.Symbol(name, integer=True, positive=True)
