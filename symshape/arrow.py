"""Columns as Arrow: bindings in and results out as Arrow record batches (pyarrow, `symshape[arrow]`).

One schema serves the gRPC `EvaluateBatch` (Arrow IPC streams both ways), the Ray integration and
Parquet sweep files, so Go, Java and JS clients exchange columns without per-value decoding.

Bindings: one integer column per free symbol, named by the symbol (any integer type whose values fit
int64; a record batch's columns all have its length). Results (`results_batch`), in this order:

- ``out0``, ``out1``, ...: the output sizes (int64), when "output_shape" is asked for;
- the other results by name (``params``, ``macs``, ...; int64);
- ``valid`` (bool), ``overflow`` (bool: a value did not fit int64; the row is not valid, its results 0,
  its margins and first violation exact, saturated);
- ``first_violation`` (int32: the index of the first failing condition, -1 for none), when asked for;
- ``margin_0``, ``margin_1``, ... (int64: the signed margins, <= 0 where the condition holds), when asked for.

The schema's metadata ``symshape.conditions`` is the JSON list of the conditions' names, in margin order.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import BindingError, LimitError, SymshapeError

if TYPE_CHECKING:
    import pyarrow as pa

    from .evaluate import BatchResult

__all__ = ["CONDITIONS_KEY", "columns_to_ipc", "ipc_to_columns", "ipc_to_results", "numpy_array", "read_bindings",
           "require", "results_batch", "results_to_ipc"]

CONDITIONS_KEY = b"symshape.conditions"


def require() -> Any:
    """pyarrow, or a clear error saying how to get it."""
    try:
        import pyarrow
        import pyarrow.ipc  # noqa: F401
    except ImportError:  # pragma: no cover - pyarrow is in the test extra
        raise BindingError("Arrow columns need pyarrow: pip install 'symshape[arrow]'") from None
    return pyarrow


def numpy_array(values: np.ndarray, dtype: str = "int64") -> Any:
    """A numpy column as an Arrow array (int64, int32 or bool), from its buffer: no copy for contiguous
    integers, and no pandas import (pyarrow.array imports pandas on its first call, seconds per process)."""
    pa = require()
    if dtype == "bool":
        bits = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])
    arr = np.ascontiguousarray(values, dtype=np.int64 if dtype == "int64" else np.int32)
    return pa.Array.from_buffers(pa.int64() if dtype == "int64" else pa.int32(), len(arr),
                                 [None, pa.py_buffer(arr)])


def read_bindings(table: pa.RecordBatch | pa.Table, where: str = "arrow columns") -> dict[str, np.ndarray]:
    """Integer columns of a record batch or table as int64 numpy arrays, by column name."""
    pa = require()
    out: dict[str, np.ndarray] = {}
    for name, column in zip(table.schema.names, table.columns, strict=True):
        if name in out:
            raise BindingError(f"{where}: column '{name}' appears twice")
        if not pa.types.is_integer(column.type):
            raise BindingError(f"{where}: column '{name}' is {column.type}, not an integer type")
        if column.null_count:
            raise BindingError(f"{where}: column '{name}' has {column.null_count} null value(s)")
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        if pa.types.is_uint64(column.type) and len(column) and \
                pa.compute.max(column).as_py() > 2**63 - 1:
            raise BindingError(f"{where}: a value of '{name}' does not fit in int64; batches compute in int64")
        out[name] = column.cast(pa.int64()).to_numpy(zero_copy_only=False)
    return out


def ipc_to_columns(data: bytes, max_rows: int, where: str = "arrow_columns") -> dict[str, np.ndarray]:
    """The bindings in an Arrow IPC stream. The bytes are untrusted: each message's header is read
    before its body is decoded, so compressed bodies (which could inflate far beyond the message) and
    dictionary batches are refused and the rows are counted before they exist; batches are validated
    in full."""
    pa = require()
    try:
        reader = pa.ipc.MessageReader.open_stream(pa.py_buffer(data))
        schema = None
        batches = []
        rows = 0
        for message in reader:
            if schema is None:
                if message.type != "schema":
                    raise BindingError(f"{where}: an Arrow IPC stream starts with its schema")
                schema = pa.ipc.read_schema(message)
                continue
            if message.type != "record batch":
                raise BindingError(f"{where}: only record batches of integer columns are accepted, "
                                   f"not a {message.type} message")
            length, compressed = _record_batch_header(message.metadata.to_pybytes())
            if compressed:
                raise BindingError(f"{where}: compressed Arrow IPC buffers are not accepted; send them uncompressed")
            rows += length
            if rows > max_rows:
                raise LimitError(f"{where}: more than {max_rows:,} rows in one chunk: send smaller chunks")
            batch = pa.ipc.read_record_batch(message, schema)
            batch.validate(full=True)
            batches.append(batch)
        if schema is None:
            raise BindingError(f"{where}: an empty Arrow IPC stream")
        return read_bindings(pa.Table.from_batches(batches, schema=schema), where)
    except SymshapeError:
        raise
    except (pa.ArrowException, ValueError, OSError, struct.error, IndexError) as err:
        raise BindingError(f"{where}: not an Arrow IPC stream of integer columns ({str(err)[:200]})") from None


def _record_batch_header(meta: bytes) -> tuple[int, bool]:
    """(rows, compressed) from a record batch message's flatbuffer (Arrow's Message.fbs: Message fields
    version, header_type, header, bodyLength; RecordBatch fields length, nodes, buffers, compression)."""

    def field(table: int, index: int) -> int | None:
        vtable = table - struct.unpack_from("<i", meta, table)[0]
        size = struct.unpack_from("<H", meta, vtable)[0]
        if 4 + 2 * index >= size:
            return None
        offset = struct.unpack_from("<H", meta, vtable + 4 + 2 * index)[0]
        return table + offset if offset else None

    root = struct.unpack_from("<I", meta, 0)[0]
    kind_at = field(root, 1)
    if kind_at is None or meta[kind_at] != 3:  # MessageHeader.RecordBatch
        raise BindingError("not a record batch message")
    header_at = field(root, 2)
    if header_at is None:
        raise BindingError("a record batch message without its header")
    batch = header_at + struct.unpack_from("<I", meta, header_at)[0]
    length_at = field(batch, 0)
    rows = struct.unpack_from("<q", meta, length_at)[0] if length_at is not None else 0
    if rows < 0:
        raise BindingError("a record batch of negative length")
    return rows, field(batch, 3) is not None


def columns_to_ipc(columns: Mapping[str, Any]) -> bytes:
    """Bindings (int64 columns; scalars are repeated to the columns' length) as an Arrow IPC stream."""
    pa = require()
    arrays = {k: np.asarray(v, dtype=np.int64) for k, v in columns.items()}
    n = max((a.size for a in arrays.values() if a.ndim == 1), default=1)
    arrays = {k: np.broadcast_to(a, (n,)) if a.ndim == 0 or a.size == 1 else a for k, a in arrays.items()}
    batch = pa.RecordBatch.from_arrays([numpy_array(a) for a in arrays.values()], names=list(arrays))
    return _ipc(batch)


def _ipc(batch: pa.RecordBatch) -> bytes:
    pa = require()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def results_batch(result: BatchResult, outputs: Sequence[str] | None = None) -> pa.RecordBatch:
    """A BatchResult as one record batch in the schema above."""
    pa = require()
    names: list[str] = []
    arrays: list[Any] = []
    n = result.length
    for o in outputs if outputs is not None else list(result.columns):
        value = result.columns[o]
        if o == "output_shape":
            for k, axis in enumerate(value):
                names.append(f"out{k}")
                arrays.append(numpy_array(np.broadcast_to(axis, (n,))))
        elif o in ("margins", "first_violation"):
            continue
        else:
            names.append(o)
            arrays.append(numpy_array(np.broadcast_to(value, (n,))))
    names += ["valid", "overflow"]
    overflow = result.overflow if result.overflow is not None else np.zeros(n, dtype=bool)
    arrays += [numpy_array(result.valid, "bool"), numpy_array(overflow, "bool")]
    if "first_violation" in result.columns:
        names.append("first_violation")
        arrays.append(numpy_array(result.columns["first_violation"], "int32"))
    if "margins" in result.columns:
        for k, col in enumerate(result.columns["margins"]):
            names.append(f"margin_{k}")
            arrays.append(numpy_array(col))
    schema = pa.schema([pa.field(nm, a.type) for nm, a in zip(names, arrays, strict=True)],
                       metadata={CONDITIONS_KEY: json.dumps(list(result.condition_names)).encode()})
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def results_to_ipc(result: BatchResult, outputs: Sequence[str] | None = None) -> bytes:
    return _ipc(results_batch(result, outputs))


def ipc_to_results(data: bytes) -> tuple[dict[str, np.ndarray], list[str]]:
    """(columns by name, condition names) from an Arrow IPC stream of results (a server's answer)."""
    pa = require()
    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    meta = table.schema.metadata or {}
    conditions = json.loads(meta[CONDITIONS_KEY]) if CONDITIONS_KEY in meta else []
    return {name: table.column(name).to_numpy() for name in table.schema.names}, conditions
