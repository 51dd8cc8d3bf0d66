"""Columns as Arrow: EvaluateBatch with Arrow IPC both ways equals the repeated fields and the library,
margins through gRPC, refusals of bad Arrow input naming the field; real server on port 0."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pyarrow as pa
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

import symshape
from symshape.arrow import CONDITIONS_KEY, columns_to_ipc, ipc_to_results, results_batch
from symshape.client import Client, ServiceError
from symshape_server.gen import shape_algebra_pb2 as pb
from symshape_server.gen import shape_algebra_pb2_grpc as pb_grpc
from symshape_server.service import ServerConfig, create_server, shutdown

ROOT = Path(__file__).resolve().parent.parent
CLASSIC = (ROOT / "examples" / "classic_symbolic.yaml").read_text()


@pytest.fixture(scope="module")
def served():
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1, max_batch_rows=200_000))
    running.server.start()
    yield running
    shutdown(running, 1)


@pytest.fixture(scope="module")
def client(served):
    with Client(f"127.0.0.1:{served.port}") as c:
        yield c


@pytest.fixture(scope="module")
def stub(served):
    channel = grpc.insecure_channel(f"127.0.0.1:{served.port}")
    yield pb_grpc.ShapeAlgebraServiceStub(channel)
    channel.close()


def _bindings(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"I": rng.integers(1, 80, n), "F": rng.integers(1, 8, n), "S": rng.integers(0, 4, n),
            "P": rng.integers(0, 3, n), "D": rng.integers(1, 64, n)}


OUTPUTS = [
    ("output_shape", "params"),
    ("output_shape", "params", "macs", "margins", "first_violation"),
    ("first_violation",),
    ("margins", "trainable"),
]


@pytest.mark.parametrize("outputs", OUTPUTS)
def test_arrow_both_ways_equals_repeated_fields_and_library(client: Client, outputs: tuple[str, ...]) -> None:
    cols = _bindings(30_000)
    d = symshape.derive(CLASSIC)
    lib = d.evaluate_batch(cols, outputs=outputs)
    plain = client.evaluate_batch(CLASSIC, cols, outputs=outputs, chunk=7_000)
    arrow = client.evaluate_batch(CLASSIC, cols, outputs=outputs, chunk=7_000, arrow=True)
    for got in (plain, arrow):
        assert (got["valid"] == lib.valid).all()
        assert (got["overflow"] == lib.overflow).all()
        for o in outputs:
            want = lib.columns[o]
            if isinstance(want, list):
                assert len(got[o]) == len(want)
                for a, b in zip(got[o], want, strict=True):
                    assert (np.asarray(a) == b).all(), o
            else:
                assert (np.asarray(got[o]) == want).all(), o
        if "margins" in outputs or "first_violation" in outputs:
            assert got["condition_names"] == list(lib.condition_names)
    assert arrow["derivation_id"] == plain["derivation_id"]


def test_a_client_in_another_language_sends_raw_arrow(stub) -> None:
    """What a Go/JS client does: an IPC stream of int32/int8/uint16/int64 columns, and the answer read
    with pyarrow alone (schema, metadata, types)."""
    n = 1000
    batch = pa.record_batch({"I": pa.array(np.arange(1, n + 1), type=pa.int32()), "F": pa.array([3] * n),
                             "S": pa.array([2] * n, type=pa.int8()), "P": pa.array([0] * n, type=pa.uint16()),
                             "D": pa.array([8] * n, type=pa.int64())})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as w:
        w.write_batch(batch)
    request = pb.EvaluateBatchRequest(spec=pb.Spec(text=CLASSIC), outputs=["output_shape", "params", "margins"],
                                      arrow=True, arrow_columns=sink.getvalue().to_pybytes())
    (reply,) = list(stub.EvaluateBatch(iter([request])))
    assert not reply.valid and not reply.output_shape  # the repeated fields stay empty
    table = pa.ipc.open_stream(reply.arrow_results).read_all()
    names = table.schema.names
    assert names[:4] == ["out0", "out1", "out2", "params"] and names[4:6] == ["valid", "overflow"]
    assert table.schema.field("valid").type == pa.bool_() and table.schema.field("out0").type == pa.int64()
    d = symshape.derive(CLASSIC)
    conditions = __import__("json").loads(table.schema.metadata[CONDITIONS_KEY])
    assert len([c for c in names if c.startswith("margin_")]) == len(conditions)
    for i in (0, 7, 31, 999):
        e = d.evaluate(I=i + 1, F=3, S=2, P=0, D=8)
        assert table.column("valid")[i].as_py() == e.valid
        if e.valid:
            assert table.column("out0")[i].as_py() == e.output_shape[0]
            assert table.column("params")[i].as_py() == e.params


def _status(err: grpc.RpcError) -> tuple[grpc.StatusCode, list[str]]:
    status = rpc_status.from_call(err)
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return err.code(), fields


def _float_stream() -> bytes:
    b = pa.record_batch({"I": pa.array([1.5, 2.0])})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, b.schema) as w:
        w.write_batch(b)
    return sink.getvalue().to_pybytes()


def _stream(batch: pa.RecordBatch, **options) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema, options=pa.ipc.IpcWriteOptions(**options)) as w:
        w.write_batch(batch)
    return sink.getvalue().to_pybytes()


ZEROS = pa.record_batch({"I": pa.array(np.zeros(100_000, dtype=np.int64))})
DICTIONARY = pa.record_batch({"I": pa.array([1, 2, 1]).dictionary_encode()})

BAD = [  # request extras, code
    ({"arrow_columns": _stream(ZEROS, compression="zstd")}, grpc.StatusCode.INVALID_ARGUMENT),  # could inflate
    ({"arrow_columns": _stream(DICTIONARY)}, grpc.StatusCode.INVALID_ARGUMENT),
    ({"arrow_columns": _stream(ZEROS)[:200]}, grpc.StatusCode.INVALID_ARGUMENT),  # cut short
    ({"arrow_columns": b"not arrow at all"}, grpc.StatusCode.INVALID_ARGUMENT),
    ({"arrow_columns": b"\xff\xff\xff\xff\x10\x00\x00\x00" + b"\x00" * 64}, grpc.StatusCode.INVALID_ARGUMENT),
    ({"arrow_columns": _float_stream()}, grpc.StatusCode.INVALID_ARGUMENT),
    ({"arrow_columns": columns_to_ipc({"I": np.arange(300_000)})}, grpc.StatusCode.RESOURCE_EXHAUSTED),
    ({"arrow_columns": columns_to_ipc({"I": [1]}), "columns": {"I": pb.Int64Column(values=[1])}},
     grpc.StatusCode.INVALID_ARGUMENT),
]


@pytest.mark.parametrize(("extra", "code"), BAD)
def test_bad_arrow_input_names_the_field(stub, extra: dict, code: grpc.StatusCode) -> None:
    request = pb.EvaluateBatchRequest(spec=pb.Spec(text=CLASSIC), **extra)
    with pytest.raises(grpc.RpcError) as info:
        list(stub.EvaluateBatch(iter([request])))
    got, fields = _status(info.value)
    assert got == code
    assert fields == ["arrow_columns"]


def test_unknown_symbol_in_arrow_columns(client: Client) -> None:
    with pytest.raises(ServiceError, match="unknown symbol 'J'"):
        client.evaluate_batch(CLASSIC, {"J": np.arange(3), "F": 3, "S": 1, "P": 0, "D": 4}, arrow=True)


def test_results_batch_schema() -> None:
    d = symshape.derive(CLASSIC)
    res = d.evaluate_batch(_bindings(100), outputs=("output_shape", "macs", "first_violation", "margins"))
    batch = results_batch(res, ("output_shape", "macs", "first_violation", "margins"))
    k = len(res.condition_names)
    assert batch.schema.names == ["out0", "out1", "out2", "macs", "valid", "overflow", "first_violation",
                                  *(f"margin_{i}" for i in range(k))]
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as w:
        w.write_batch(batch)
    cols, names = ipc_to_results(sink.getvalue().to_pybytes())
    assert names == list(res.condition_names)
    assert (cols["first_violation"] == res.columns["first_violation"]).all()


def test_mutated_arrow_streams_are_refused_cleanly() -> None:
    """Seeded byte mutations of a valid stream: every outcome is columns or one symshape error."""
    import random

    from symshape.arrow import ipc_to_columns
    from symshape.errors import SymshapeError

    good = columns_to_ipc({"I": np.arange(50), "F": np.arange(50) % 7})
    rng = random.Random(13)
    outcomes = set()
    for _ in range(4000):
        data = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[:rng.randrange(len(data))]
        try:
            cols = ipc_to_columns(bytes(data), 10_000)
            assert all(v.dtype == np.int64 for v in cols.values())
            outcomes.add("ok")
        except SymshapeError:
            outcomes.add("refused")
    assert outcomes == {"ok", "refused"}


def test_arrow_overflow_rows_have_exact_margins(client: Client) -> None:
    """(review13 #1) a row beyond int64 whose pooling output height fails by 1: margin 1 through Arrow."""
    from symshape.margins import margins

    row = {"I": 2**62, "F": 2**62, "S": 1, "P": 0, "D": 4}
    exact = margins(symshape.derive(CLASSIC), row)
    cols = {k: np.array([v, 32 if k == "I" else 3 if k == "F" else 1 if k == "S" else 0 if k == "P" else 4])
            for k, v in row.items()}
    for arrow in (False, True):
        got = client.evaluate_batch(CLASSIC, cols, outputs=("params", "margins", "first_violation"), arrow=arrow)
        assert list(got["overflow"]) == [True, False] and list(got["valid"])[0] is not True
        assert [int(np.asarray(m)[0]) for m in got["margins"]] == list(exact.values)
        assert int(np.asarray(got["first_violation"])[0]) == exact.first_violation == len(exact.values) - 1


@pytest.mark.parametrize(("columns", "message"), [
    ({"I": [32], "F": [3], "S": [1], "P": [0]}, "missing column for D"),  # D missing
    ({"I": [32], "F": [3], "S": [1], "P": [0], "D": [4], "J": [1]}, "unknown symbol 'J'"),  # an extra column
])
def test_arrow_column_errors_name_arrow_columns(stub, columns: dict, message: str) -> None:
    """(review13 #4) a missing or extra Arrow column is BadRequest field arrow_columns, not bindings."""
    request = pb.EvaluateBatchRequest(spec=pb.Spec(text=CLASSIC), arrow_columns=columns_to_ipc(columns))
    with pytest.raises(grpc.RpcError) as info:
        list(stub.EvaluateBatch(iter([request])))
    got, fields = _status(info.value)
    assert got == grpc.StatusCode.INVALID_ARGUMENT and fields == ["arrow_columns"]
    assert message in info.value.details()
