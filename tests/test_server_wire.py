"""Evaluate's reply written straight to bytes (symshape_server.wire): the same message as the message API
builds, for sampled bindings of every example (valid ones; invalid ones go the ordinary way), and through a
real server."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import symshape
from symshape.client import Client
from symshape.evaluate import evaluate
from symshape_server.convert import evaluate_response
from symshape_server.gen import shape_algebra_pb2 as pb
from symshape_server.service import ServerConfig, create_server, shutdown
from symshape_server.wire import EvaluateEncoder

EXAMPLES = Path(__file__).parent.parent / "examples"
NAMES = sorted(p.name for p in EXAMPLES.glob("*.yaml"))


def sample(d: symshape.Derivation, rng: random.Random) -> dict[str, int]:
    out = {}
    for name in d.free_symbols:
        info = d.symbols[name]
        lo = info.min if info.min is not None else 1
        hi = info.max if info.max is not None else lo + 600
        out[name] = rng.randint(lo, min(hi, lo + 600))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_bytes_parse_to_the_message_api_s_reply(name: str) -> None:
    d = symshape.derive(EXAMPLES / name)
    if d.never_valid:
        pytest.skip("never valid: every binding goes the ordinary way")  # (no numbers to encode)
    encoder = EvaluateEncoder(d.compiled, "s1.some-id")
    rng = random.Random(name)
    seen = {True: 0, False: 0}
    for _ in range(60):
        values = sample(d, rng)
        e = evaluate(d.compiled, values)
        raw = encoder.valid_reply(values)
        seen[e.valid] += 1
        if not e.valid:
            assert raw is None
            continue
        want = evaluate_response("s1.some-id", e)
        assert pb.EvaluateResponse.FromString(raw) == want
        assert raw == want.SerializeToString()  # (byte for byte, as upb writes it)
    assert seen[True] > 0, seen


@pytest.mark.parametrize(("spec", "scales"), [
    ("resnet18.yaml", {"H": (32, 2**21), "W": (32, 2**12)}),
    ("classic_symbolic.yaml", {"I": (8, 2**14), "D": (1, 2**12), "F": (1, 5), "S": (1, 3), "P": (0, 2)}),
    ("transformer_block.yaml", {"L": (1, 2**13), "E": (8, 2**9), "Hh": (1, 8)}),
])
def test_sizes_of_every_varint_length(spec: str, scales: dict[str, tuple[int, int]]) -> None:
    """Values from one byte to four: each pattern of varint lengths gets its own skeleton (length
    prefixes change with them), the same bytes as upb writes."""
    d = symshape.derive(EXAMPLES / spec)
    encoder = EvaluateEncoder(d.compiled, "s1.some-id")
    rng = random.Random(spec)
    valid = 0
    for _ in range(80):
        values = {k: rng.randint(lo, hi) if hi - lo < 100 else int(lo * (hi / lo) ** rng.random())  # log-uniform
                  for k, (lo, hi) in scales.items()}
        e = evaluate(d.compiled, values)
        raw = encoder.valid_reply(values)
        if not e.valid:
            assert raw is None
            continue
        valid += 1
        assert raw == evaluate_response("s1.some-id", e).SerializeToString()
    assert valid > 20 and len(encoder.skeletons) > 3


def test_past_max_skeletons_the_oldest_pattern_goes() -> None:
    d = symshape.derive(EXAMPLES / "classic_symbolic.yaml")
    encoder = EvaluateEncoder(d.compiled, "k")
    encoder.MAX_SKELETONS = 3
    seen = []
    for i in (8, 200, 20_000, 3_000_000, 8, 200):  # 1-, 2-, 3- and 4-byte sizes, then the first two again
        values = {"I": i, "F": 3, "S": 1, "P": 0, "D": 5}
        assert encoder.valid_reply(values) == evaluate_response("k", evaluate(d.compiled, values)).SerializeToString()
        seen.append(next(reversed(encoder.skeletons)))
        assert len(encoder.skeletons) <= 3
    assert list(encoder.skeletons) == seen[-3:]  # the newest three patterns, oldest first


def test_beyond_int64_goes_the_ordinary_way_which_says_so() -> None:
    d = symshape.derive("framework: torch\ninput: [N]\nlayers:\n  - Linear: {out_features: N}\n")
    assert EvaluateEncoder(d.compiled, "k").valid_reply({"N": 2**40}) is None  # the ordinary way words it:
    with pytest.raises(OverflowError, match="does not fit in int64"):
        evaluate_response("k", evaluate(d.compiled, {"N": 2**40}))


def test_through_a_server_valid_and_invalid_bindings() -> None:
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1))
    running.server.start()
    try:
        with Client(f"127.0.0.1:{running.port}") as c:
            d = symshape.derive(EXAMPLES / "unet.yaml")
            key = c.derive(EXAMPLES / "unet.yaml").derivation_id
            rng = random.Random(1)
            for _ in range(40):
                values = {"C": rng.randint(1, 4), "H": rng.randint(1, 300), "W": rng.randint(1, 300),
                          "K": rng.randint(1, 4)}
                got = c.evaluate(key, values)
                assert got == evaluate_response(key, evaluate(d.compiled, values))
                assert c.evaluate(key, values) == got  # (the second time from the reply cache)
    finally:
        shutdown(running, 0.5)


def test_varints_as_protobuf_writes_them() -> None:
    """Every tier of the table-driven varint (1-2 bytes, 4, 6, longer, negative: 10) at its edges and
    sampled, against protobuf's own encoder."""
    from google.protobuf.internal.encoder import _VarintBytes

    from symshape_server.wire import _v, _varint

    rng = random.Random(5)
    edges = [b + d for k in (7, 14, 21, 28, 35, 42, 49, 56, 63) for b in (2**k,) for d in (-1, 0, 1)]
    values = [v for v in edges if 0 < v < 2**63] + [rng.randrange(1, 2**rng.randint(1, 63)) for _ in range(20_000)]
    for n in values + [-1, -(2**63), -rng.randrange(1, 2**62)]:
        want = _VarintBytes(n % 2**64)
        assert _varint(n) == want, n
        assert _v(n) == want, n
    for n in (2**63, -(2**63) - 1):
        with pytest.raises(OverflowError):
            _v(n)


def test_products_are_checked_unless_the_bound_proves_them_small() -> None:
    """The encoder drops the product checks only when worst_bits (bounds over int64 bindings) is under
    max_bits: here N*N reaches 126 bits, so at max_bits 100 the check is kept and fires."""
    from symshape.errors import LimitError
    from symshape.limits import set_limits
    from symshape_server.bounds import INT64_BITS, max_bits

    d = symshape.derive("framework: torch\ninput: [N]\nlayers:\n  - Linear: {out_features: N}\n")
    worst = max_bits(d.compiled.program, INT64_BITS)
    encoder = EvaluateEncoder(d.compiled, "k", worst)
    assert encoder.valid_reply({"N": 2**60}) is None  # unchecked at 4,096 bits: computed, past int64
    previous = set_limits(max_bits=100)
    try:
        with pytest.raises(LimitError):
            encoder.valid_reply({"N": 2**60})
    finally:
        set_limits(**dict(previous.table()))
    assert encoder.valid_reply({"N": 1000}) == evaluate_response("k", evaluate(d.compiled, {"N": 1000})) \
        .SerializeToString()
