"""The Solve RPC on a real loopback server (port 0): the answer as numbers and as a portable condition,
equal to the library's symshape.solve; by spec, structured spec and derivation_id; targets and ranges;
errors with exact codes and field violations (sizes beyond int64 refused rather than answered from
wrapped numbers); the deadline stopping an enumeration; the Python client's solve and value_set; nasty
requests (SYMSHAPE_SERVER_SOLVE_CASES / _SEED for longer runs)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

import symshape
from symshape.client import Client, ServiceError, value_set
from symshape.errors import BindingError
from symshape.portable import evaluate_graph
from symshape.solve import solve
from symshape_server.gen import shape_algebra_pb2 as pb
from symshape_server.ids import derivation_id
from symshape_server.service import ServerConfig, create_server, shutdown
from tests.test_server import nodes

EXAMPLES = Path(__file__).parent.parent / "examples"
UNET = (EXAMPLES / "unet.yaml").read_text()
CLASSIC = (EXAMPLES / "classic_symbolic.yaml").read_text()
UNET_BINDINGS = {"C": 3, "W": 64, "K": 2}
CLASSIC_BINDINGS = {"F": 5, "S": 2, "P": 0, "D": 3}
# the stride is the free symbol: a divisor that depends on it, so no closed form (enumeration needs hi)
STRIDED = json.dumps({"framework": "torch", "input": [4, "I"],
                      "layers": [{"Conv1d": {"out_channels": 4, "kernel_size": 3, "stride": "S"}}]})
HOLES = json.dumps({"framework": "torch", "input": [4, "I"], "layers": [
    {"Conv1d": {"out_channels": 4, "kernel_size": 3, "stride": "S"}, "name": "a", "inputs": ["input"]},
    {"Conv1d": {"out_channels": 4, "kernel_size": 1, "stride": "S"}, "name": "b", "inputs": ["input"]},
    {"add": {}, "inputs": ["a", "b"]}]})


@pytest.fixture(scope="module")
def served():
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=2))
    running.server.start()
    yield running
    shutdown(running, 1)


@pytest.fixture(scope="module")
def client(served):
    with Client(f"127.0.0.1:{served.port}") as c:
        yield c


def as_dict(resp: pb.SolveResponse) -> dict:
    """The response in the library's to_dict() form (numbers only; the condition is checked apart)."""
    return {"symbol": resp.symbol, "domain": [resp.lo, resp.hi if resp.HasField("hi") else None],
            "bindings": dict(resp.bindings), "text": resp.text,
            "pieces": [{"lo": p.lo, "hi": p.hi if p.HasField("hi") else None, "modulus": p.modulus,
                        "residue": p.residue} for p in resp.pieces],
            "periodic": {"start": resp.periodic.start, "period": resp.periodic.period,
                         "residues": list(resp.periodic.residues)} if resp.HasField("periodic") else None,
            "count": resp.count if resp.HasField("count") else None, "first": list(resp.first),
            "explanation": list(resp.explanation), "method": resp.method}


def check_condition(resp: pb.SolveResponse, answer, values) -> int:
    """The portable condition, evaluated here like any client would, is true exactly for the members."""
    graph = nodes(resp.condition)
    members = 0
    for v in values:
        got = evaluate_graph(graph, {resp.symbol: v})
        assert got == int(answer.contains(v)), (v, resp.condition.text)
        members += got
    return members


def test_unet_valid_set(client: Client) -> None:
    resp = client.stub.Solve(pb.SolveRequest(spec=pb.Spec(text=UNET), symbol="H", bindings=UNET_BINDINGS, near=570))
    answer = solve(symshape.derive(UNET), "H", UNET_BINDINGS)
    assert resp.text == "H ≥ 8 and H ≡ 0 (mod 8)"
    assert [(p.lo, p.HasField("hi"), p.modulus, p.residue) for p in resp.pieces] == [(8, False, 8, 0)]
    assert list(resp.first) == list(range(8, 168, 8))
    assert not resp.finite and not resp.HasField("count")
    assert (resp.periodic.period, list(resp.periodic.residues)) == (8, [0])
    assert (resp.nearest_below, resp.nearest_above) == (568, 576)
    assert resp.method == "closed form" and resp.explanation and "skip" in resp.explanation[0]
    assert as_dict(resp) == answer.to_dict()
    assert resp.derivation_id == derivation_id(UNET)
    assert resp.condition.text == "(H >= 8) & (H % 8 == 0)"
    values = [*range(-20, 600), 2**40, 2**40 + 8, 2**62 - 8, 2**62 - 9]
    assert check_condition(resp, answer, values) == 74 + 2 + 1


def test_member_near_is_both_nearest(client: Client) -> None:
    resp = client.solve(UNET, "H", UNET_BINDINGS, near=64)
    assert (resp.nearest_below, resp.nearest_above) == (64, 64)
    none_below = client.solve(UNET, "H", UNET_BINDINGS, near=5)
    assert not none_below.HasField("nearest_below") and none_below.nearest_above == 8
    no_near = client.solve(UNET, "H", UNET_BINDINGS)
    assert not no_near.HasField("nearest_below") and not no_near.HasField("nearest_above")


def test_target_gives_one_interval(client: Client) -> None:
    resp = client.solve(CLASSIC, "I", CLASSIC_BINDINGS, targets={0: 7}, near=40)
    d = symshape.derive(CLASSIC)
    answer = solve(d, "I", CLASSIC_BINDINGS, target={0: 7})
    assert resp.text == "31 ≤ I ≤ 34" and resp.finite and resp.count == 4
    assert [(p.lo, p.hi, p.modulus) for p in resp.pieces] == [(31, 34, 1)]
    assert list(resp.first) == [31, 32, 33, 34] and not resp.HasField("periodic")
    assert (resp.nearest_below, resp.HasField("nearest_above")) == (34, False)
    assert as_dict(resp) == answer.to_dict()
    assert resp.condition.text == "(I >= 31) & (I <= 34)"
    assert check_condition(resp, answer, range(-5, 200)) == 4
    for i in range(25, 40):  # the members are exactly the sizes that give 7, checked by evaluation
        e = d.evaluate({**CLASSIC_BINDINGS, "I": i})
        assert (e.valid and e.output_shape[0] == 7) == (31 <= i <= 34)
    both = client.solve(CLASSIC, "I", CLASSIC_BINDINGS, targets={0: 7, 1: 7})
    assert both.text == resp.text
    other = client.solve(CLASSIC, "I", CLASSIC_BINDINGS, targets={0: 7, 2: 4})  # the channels are D = 3
    assert other.text == "no value of I ≥ 1" and other.count == 0 and not other.pieces
    assert other.condition.text == "False" and evaluate_graph(nodes(other.condition), {"I": 32}) == 0


def test_by_derivation_id_equals_by_spec(client: Client) -> None:
    derived = client.derive(UNET)
    by_id = client.solve(derived.derivation_id, "H", UNET_BINDINGS, near=570)
    by_spec = client.solve(UNET, "H", UNET_BINDINGS, near=570)
    assert by_id == by_spec and by_id.derivation_id == derived.derivation_id


def test_range_and_enumeration(client: Client) -> None:
    ranged = client.solve(UNET, "H", UNET_BINDINGS, lo=100, hi=130)
    assert ranged.text == "104 ≤ H ≤ 130 and H ≡ 0 (mod 8)"  # the range's bounds, and the congruence
    assert list(ranged.first) == [104, 112, 120, 128] and ranged.count == 4 and ranged.finite
    assert (ranged.lo, ranged.hi) == (100, 130)
    answer = solve(symshape.derive(UNET), "H", UNET_BINDINGS, lo=100, hi=130)
    assert as_dict(ranged) == answer.to_dict() and ranged.HasField("periodic")  # the tail, cut at hi
    assert check_condition(ranged, answer, range(0, 300)) == 4
    empty = client.solve(UNET, "H", UNET_BINDINGS, lo=130, hi=100, near=120)  # an empty range: an empty set
    assert empty.text == "no value of H in 130..100" and empty.finite and empty.count == 0
    assert not empty.pieces and not empty.first and not empty.HasField("periodic")
    assert not empty.HasField("nearest_below") and not empty.HasField("nearest_above")
    assert evaluate_graph(nodes(empty.condition), {"H": 120}) == 0
    enumerated = client.solve(STRIDED, "S", {"I": 100}, hi=1000, targets={1: 5})
    answer = solve(symshape.derive(STRIDED), "S", {"I": 100}, target={1: 5}, hi=1000)
    assert enumerated.method == "enumeration" and enumerated.text == "20 ≤ S ≤ 24"
    assert as_dict(enumerated) == answer.to_dict()
    assert check_condition(enumerated, answer, range(0, 60)) == 5


def violations(err: grpc.RpcError) -> tuple[str, list[str]]:
    status = rpc_status.from_call(err)
    reason, fields = "", []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return reason, fields


ERRORS = [  # request, code, reason, fields, a phrase of the message
    (dict(spec=pb.Spec(text=UNET), symbol="Hh", bindings=UNET_BINDINGS), grpc.StatusCode.INVALID_ARGUMENT,
     "BAD_BINDINGS", ["symbol"], "unknown symbol 'Hh' (did you mean 'H'?)"),
    (dict(spec=pb.Spec(text=UNET), symbol="H", bindings={**UNET_BINDINGS, "Kk": 1}),
     grpc.StatusCode.INVALID_ARGUMENT, "BAD_BINDINGS", ["bindings[Kk]"], "unknown symbol 'Kk' (did you mean 'K'?)"),
    (dict(spec=pb.Spec(text=UNET), symbol="H", bindings={"C": 3, "K": 2}), grpc.StatusCode.INVALID_ARGUMENT,
     "BAD_BINDINGS", ["bindings[W]"], "bind W to solve for H"),
    (dict(spec=pb.Spec(text=UNET), symbol="H", bindings={"C": 3}), grpc.StatusCode.INVALID_ARGUMENT,
     "BAD_BINDINGS", ["bindings[W]", "bindings[K]"], "bind W, K to solve for H"),
    (dict(spec=pb.Spec(text=UNET), bindings=UNET_BINDINGS), grpc.StatusCode.INVALID_ARGUMENT, "MISSING_SYMBOL",
     ["symbol"], "symbol is required"),
    (dict(spec=pb.Spec(text=CLASSIC), symbol="I", bindings=CLASSIC_BINDINGS, targets={3: 7}),
     grpc.StatusCode.INVALID_ARGUMENT, "BAD_TARGET", ["targets[3]"], "the output has 3 axes"),
    (dict(derivation_id="0" * 64, symbol="H"), grpc.StatusCode.NOT_FOUND, "UNKNOWN_DERIVATION", ["derivation_id"],
     "unknown derivation_id"),
    (dict(symbol="H"), grpc.StatusCode.INVALID_ARGUMENT, "MISSING_TARGET", ["target"], "give a spec"),
    (dict(spec=pb.Spec(text="framework: torch\n"), symbol="H"), grpc.StatusCode.INVALID_ARGUMENT, "BAD_SPEC",
     ["spec.text"], ""),
    (dict(spec=pb.Spec(text=STRIDED), symbol="S", bindings={"I": 100}), grpc.StatusCode.RESOURCE_EXHAUSTED,
     "LIMIT_EXCEEDED", ["hi"], "no closed form for S"),
    (dict(spec=pb.Spec(text=STRIDED), symbol="S", bindings={"I": 100}, lo=1, hi=60_000_000),
     grpc.StatusCode.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED", ["lo", "hi"], "holds 60,000,000 values"),
    (dict(spec=pb.Spec(text=STRIDED), symbol="S", bindings={"I": 100}, hi=60_000_000),
     grpc.StatusCode.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED", ["hi"], "holds 60,000,000 values"),
    (dict(spec=pb.Spec(text=UNET), symbol="H", bindings=UNET_BINDINGS, lo=-(10**9)),
     grpc.StatusCode.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED", ["lo", "hi"], "over 50,000,000 values to check"),
]


@pytest.mark.parametrize(("request_fields", "code", "reason", "fields", "phrase"), ERRORS)
def test_error_statuses(client: Client, request_fields: dict, code: grpc.StatusCode, reason: str,
                        fields: list[str], phrase: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        client.stub.Solve(pb.SolveRequest(**request_fields))
    assert info.value.code() == code, info.value.details()
    assert violations(info.value) == (reason, fields)
    assert phrase in info.value.details()


def test_client_solve_and_its_errors(client: Client) -> None:
    resp = client.solve(UNET, "H", C=3, W=64, K=2, near=570)
    assert resp.text == "H ≥ 8 and H ≡ 0 (mod 8)" and (resp.nearest_below, resp.nearest_above) == (568, 576)
    for spec, symbol, bindings, targets, hi in [(UNET, "H", UNET_BINDINGS, None, None),
                                                (UNET, "H", UNET_BINDINGS, None, 130),
                                                (CLASSIC, "I", CLASSIC_BINDINGS, {0: 7}, None),
                                                (HOLES, "S", {"I": 100}, None, 200)]:
        rebuilt = value_set(client.solve(spec, symbol, bindings, targets=targets, hi=hi))
        assert rebuilt == solve(symshape.derive(spec), symbol, bindings, target=targets, hi=hi)  # every field
    with pytest.raises(ServiceError) as info:
        client.solve(UNET, "Hh", UNET_BINDINGS)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT and info.value.fields[0][0] == "symbol"
    assert "did you mean 'H'" in info.value.message
    for bad in ({**UNET_BINDINGS, "W": 2**63}, {**UNET_BINDINGS, "W": -(2**63) - 1}, {**UNET_BINDINGS, "W": 1.5}):
        with pytest.raises(BindingError, match="int64 range"):  # refused here: never a wrapped value on the wire
            client.solve(UNET, "H", bad)
    with pytest.raises(BindingError, match="int64 range"):
        client.solve(UNET, "H", UNET_BINDINGS, near=2**64)
    with pytest.raises(BindingError, match="int64 range"):
        client.solve(CLASSIC, "I", CLASSIC_BINDINGS, targets={-1: 7})


def test_too_many_pieces_is_refused() -> None:
    """Two branches, kernels 3 and 1 at stride S, added: equal lengths unless S divides I - 1 or I - 3, so the
    valid strides are 1..hi with holes near the divisors (8 pieces at I = 100). Over the server's limit on
    pieces: RESOURCE_EXHAUSTED with the way out (a narrower range), and under it the same answer."""
    d = symshape.derive(HOLES)
    answer = solve(d, "S", {"I": 100}, hi=200)
    assert len(answer.pieces) == 8 and answer.method == "enumeration"
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1, max_solve_pieces=7))
    running.server.start()
    try:
        with Client(f"127.0.0.1:{running.port}") as small:
            with pytest.raises(ServiceError) as info:
                small.solve(HOLES, "S", {"I": 100}, hi=200)
            assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and info.value.fields[0][0] == "hi"
            assert "8 pieces; the limit is 7" in info.value.message
            fewer = small.solve(HOLES, "S", {"I": 100}, hi=40)
            narrow = solve(d, "S", {"I": 100}, hi=40)
            assert 1 < len(fewer.pieces) <= 7 and as_dict(fewer) == narrow.to_dict()
            check_condition(fewer, narrow, range(-3, 60))
    finally:
        shutdown(running, 0.5)


def test_deadline_stops_a_long_enumeration(served, client: Client) -> None:
    """Enumerating 40 million strides takes seconds: a 0.3 s deadline stops it (the worker is killed and
    replaced), and the server answers the next call."""
    busy_before = set(served.servicer.pool.pids())
    start = time.monotonic()
    with pytest.raises(grpc.RpcError) as info:
        client.stub.Solve(pb.SolveRequest(spec=pb.Spec(text=STRIDED), symbol="S", bindings={"I": 100}, hi=40_000_000),
                          timeout=0.3)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - start < 2.0
    deadline = time.monotonic() + 60  # the server kills the worker at its own deadline, a moment after ours
    while time.monotonic() < deadline and (len(served.servicer.pool.pids()) < 2 or
                                           set(served.servicer.pool.pids()) == busy_before):
        time.sleep(0.05)
    pids = set(served.servicer.pool.pids())
    assert len(pids) == 2 and len(pids & busy_before) == 1  # one killed and replaced, the other untouched
    assert client.solve(UNET, "H", UNET_BINDINGS).text == "H ≥ 8 and H ≡ 0 (mod 8)"


# three axes of powers flattened: 12,000+ bits when J is near 2**62, small when J is small
WIDE = "framework: keras\ninput: ['I**64', 'J**64', 'J**64']\nlayers:\n  - Flatten: {}\n  - Dense: {units: 3}\n"


def test_huge_exact_numbers_are_refused_before_the_worker(client: Client) -> None:
    """J near 2**62 and I up to the 10**8 values solve may evaluate: over the server's bound on exact numbers."""
    with pytest.raises(ServiceError) as info:
        client.solve(WIDE, "I", J=2**62 - 1)
    assert (info.value.code, info.value.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED")
    assert info.value.fields[0][0] == "bindings" and "8,192 bits" in info.value.message
    small = client.solve(WIDE, "I", J=1, hi=1)
    assert small.text == "I = 1" and as_dict(small) == solve(symshape.derive(WIDE), "I", {"J": 1}, hi=1).to_dict()


def test_sizes_beyond_int64_are_out_of_range_not_a_wrong_answer(client: Client) -> None:
    """On the wide Flatten, I = 2 is valid exactly (2**64 elements): the library evaluates such rows on
    Python ints; the server, whose replies are int64, refuses the request (OUT_OF_RANGE, naming the
    fields) rather than answer with numbers it cannot carry."""
    d = symshape.derive(WIDE)
    assert solve(d, "I", {"J": 1}, hi=10).text() == "1 ≤ I ≤ 10" and d.evaluate(I=2, J=1).valid
    with pytest.raises(ServiceError) as info:
        client.solve(WIDE, "I", J=1, lo=1, hi=10)
    assert (info.value.code, info.value.reason) == (grpc.StatusCode.OUT_OF_RANGE, "INT64_OVERFLOW")
    assert [f for f, _ in info.value.fields] == ["bindings", "lo"] and "int64" in info.value.message
    fits = client.solve(UNET, "H", {**UNET_BINDINGS, "W": 2**59})  # the U-Net's widths fit int64
    assert fits.text == "H ≥ 8 and H ≡ 0 (mod 8)"
    wide = {**UNET_BINDINGS, "W": 2**63 - 1}  # they do not: the library's int64 answer is "no value"
    assert solve(symshape.derive(UNET), "H", wide).text() == "no value of H ≥ 1"
    with pytest.raises(ServiceError) as info:
        client.solve(UNET, "H", wide)
    assert info.value.code == grpc.StatusCode.OUT_OF_RANGE and [f for f, _ in info.value.fields] == ["bindings"]


def test_nearest_beyond_int64_is_out_of_range(client: Client) -> None:
    """The nearest member above 2**63 - 1 is 2**63: said so, never wrapped or left out as if there were none."""
    with pytest.raises(ServiceError) as info:
        client.solve(UNET, "H", UNET_BINDINGS, near=2**63 - 1)
    assert (info.value.code, info.value.reason) == (grpc.StatusCode.OUT_OF_RANGE, "INT64_OVERFLOW")
    assert str(2**63) in info.value.message
    member = client.solve(UNET, "H", UNET_BINDINGS, near=2**63 - 8)  # a multiple of 8: its own nearest
    assert member.nearest_below == member.nearest_above == 2**63 - 8


# ---------------------------------------------------------------- nasty requests

EXTREMES = [0, 1, -1, 2, 7, 64, 2**31, 2**62, -(2**63), 2**63 - 1]
BOUNDS = [None, None, -5, 0, 1, 30, 100, 2**62, -(2**63), 2**63 - 1]
SOLVE_SPECS = {"unet": (UNET, ["H", "W", "C", "K"]), "classic": (CLASSIC, ["I", "F", "S", "P", "D"]),
               "strided": (STRIDED, ["S", "I"]), "holes": (HOLES, ["S", "I"]), "wide": (WIDE, ["I", "J"]),
               "resnet18": ((EXAMPLES / "resnet18.yaml").read_text(), ["H", "W"]),
               "transformer": ((EXAMPLES / "transformer_block.yaml").read_text(), ["L", "E", "Hh"])}
FUZZ_CASES = int(os.environ.get("SYMSHAPE_SERVER_SOLVE_CASES", "120"))
FUZZ_SEED = int(os.environ.get("SYMSHAPE_SERVER_SOLVE_SEED", "20261201"))


def fuzz_request(rng) -> tuple[str, dict]:
    name = rng.choice(sorted(SOLVE_SPECS))
    text, symbols = SOLVE_SPECS[name]
    symbol = rng.choice(symbols) if rng.random() < 0.85 else rng.choice(["", "Q", "h" * 300, "H\u00e9"])
    bindings = {s: rng.choice([*EXTREMES, rng.randint(1, 40), rng.randint(1, 40)]) for s in symbols if s != symbol}
    if bindings and rng.random() < 0.1:
        bindings.pop(rng.choice(sorted(bindings)))
    fields: dict = {"spec": pb.Spec(text=text), "symbol": symbol, "bindings": bindings}
    if rng.random() < 0.3:
        fields["targets"] = {rng.choice([0, 1, 2, 7, 2**32 - 1]): rng.choice([*EXTREMES, 5, 7])}
    for key in ("lo", "hi", "near"):
        value = rng.choice(BOUNDS)
        if value is not None:
            fields[key] = value
    return name, fields


def test_nasty_requests_get_an_answer_or_a_clear_refusal(client: Client, served) -> None:
    """Random requests with extreme bindings, bounds, targets and odd symbols: OK (equal to the library's
    answer), or INVALID_ARGUMENT / RESOURCE_EXHAUSTED / OUT_OF_RANGE; never INTERNAL, UNKNOWN or a deadline."""
    import random

    rng = random.Random(FUZZ_SEED)
    seen: dict[str, int] = {}
    for _ in range(FUZZ_CASES):
        name, fields = fuzz_request(rng)
        try:
            resp = client.stub.Solve(pb.SolveRequest(**fields), timeout=30)
        except grpc.RpcError as err:
            assert err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED,
                                  grpc.StatusCode.OUT_OF_RANGE), (name, fields, err.code(), err.details())
            seen[err.code().name] = seen.get(err.code().name, 0) + 1
            continue
        seen["OK"] = seen.get("OK", 0) + 1
        answer = solve(symshape.derive(SOLVE_SPECS[name][0]), fields["symbol"], fields["bindings"],
                       target=fields.get("targets") or None, lo=fields.get("lo"), hi=fields.get("hi"))
        assert as_dict(resp) == answer.to_dict(), (name, fields)
        probe = [answer.lo, answer.lo + 1, *answer.first(3), *(p.lo for p in answer.pieces[:3])]
        check_condition(resp, answer, [v for v in probe if -(2**63) <= v < 2**63])
    print(f"\nSolve fuzz: {seen}")
    assert seen.get("OK", 0) > FUZZ_CASES // 8 and len(seen) >= 3, seen  # the generator reaches real answers
    assert client.solve(UNET, "H", UNET_BINDINGS).text == "H ≥ 8 and H ≡ 0 (mod 8)"


@pytest.mark.parametrize("raw", [b"\xff\xff\xff\xff", b"\x0a\x10\x12", b"\x1a\x05H"],
                         ids=["junk", "truncated spec", "truncated symbol"])
def test_undecodable_solve_requests(served, raw: bytes) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{served.port}") as channel:
        call = channel.unary_unary("/symshape.v1.ShapeAlgebraService/Solve")  # bytes in, bytes out
        with pytest.raises(grpc.RpcError) as info:
            call(raw, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("the request is not a valid message: ")


@pytest.mark.parametrize("did", ["", "x" * 100_000, "\x00" * 64, "é" * 64, "s1.abc.def"])
def test_bad_derivation_ids(client: Client, did: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        client.stub.Solve(pb.SolveRequest(derivation_id=did, symbol="H"), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and len(info.value.details()) < 1000
    assert violations(info.value) == ("BAD_DERIVATION_ID", ["derivation_id"])


def test_unknown_hash_only_id_is_not_found(client: Client) -> None:
    """A 64-hex id (a spec too large to carry) is known only where it was derived."""
    with pytest.raises(grpc.RpcError) as info:
        client.stub.Solve(pb.SolveRequest(derivation_id="0" * 64, symbol="H"), timeout=30)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert violations(info.value) == ("UNKNOWN_DERIVATION", ["derivation_id"])


def test_structured_spec_equals_text(client: Client) -> None:
    """The classic example as structured messages: the same derivation, the same answer."""
    structured = pb.StructuredSpec(framework="keras", inputs=[pb.Input(name="input", shape=[
        pb.Value(text="I"), pb.Value(text="I"), pb.Value(int=3)])], symbols=[
        pb.SymbolDeclaration(name=n, min=m, default_value=v)
        for n, m, v in (("I", 1, 32), ("F", 1, 3), ("S", 1, 1), ("P", 0, 0), ("D", 1, 5))])  # as the example declares
    structured.layers.add(kind="Conv2D", args={"filters": pb.Value(text="D"), "kernel_size": pb.Value(text="F"),
                                               "strides": pb.Value(text="S"), "padding": pb.Value(text="P")})
    structured.layers.add(kind="MaxPooling2D", args={"pool_size": pb.Value(list=pb.ValueList(
        items=[pb.Value(int=2), pb.Value(int=2)]))})
    request = pb.SolveRequest(spec=pb.Spec(structured=structured), symbol="I", bindings=CLASSIC_BINDINGS,
                              targets={0: 7}, near=40)
    assert client.stub.Solve(request) == client.solve(CLASSIC, "I", CLASSIC_BINDINGS, targets={0: 7}, near=40)
