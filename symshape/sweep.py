"""Sweeps over a grid of symbol values, streamed: any grid in bounded memory.

The grid is never materialized. Its combinations are numbered 0 .. N-1 (the last symbol varies
fastest, as in itertools.product); a chunk of numbers becomes a chunk of bindings by mixed-radix
unravelling, each axis a `range` or a short list of values, so a sweep holds one chunk at a time:
its bindings, its results and the text of its kept rows, which are written out before the next
chunk is evaluated.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from .errors import BindingError, did_you_mean

if TYPE_CHECKING:
    from .derive import Derivation
    from .where import Filter

__all__ = ["MAX_COMBINATIONS", "RESULTS", "Axis", "Sweep", "parse_axis"]

MAX_COMBINATIONS = 10**12
RESULTS = ("params", "trainable", "non_trainable", "buffers", "macs", "activations")
CHUNK = 1 << 18
MIN_RUN = 4096  # a last axis at least this long is swept run by run (the closed-form fast path)
FORMAT_CHUNK = 1 << 15
PARQUET_ROWS = 1 << 20  # rows held before a Parquet row group is written
INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class Axis:
    """One symbol's values: a range (never expanded) or an explicit list."""

    name: str
    values: range | tuple[int, ...]

    def __len__(self) -> int:
        return len(self.values)

    def take(self, index: np.ndarray) -> np.ndarray:
        """The values at these positions (int64)."""
        if isinstance(self.values, range):
            return np.int64(self.values.start) + index * np.int64(self.values.step)
        return np.asarray(self.values, dtype=np.int64)[index]


def parse_axis(name: str, text: str) -> Axis:
    """'16,32,64', 'start:stop[:step]' (stop excluded, as in Python) or one integer."""
    text = text.strip()
    try:
        if ":" in text:
            parts = [int(p.replace("_", "")) for p in text.split(":")]
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] == 0):
                raise ValueError
            values: range | tuple[int, ...] = range(*parts)
        else:
            values = tuple(int(v.replace("_", "")) for v in text.split(",") if v.strip())
    except ValueError:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise BindingError(f"--grid {name}: {shown!r} is not a list (16,32), a range (start:stop[:step]) "
                           "or an integer") from None
    if len(values) == 0:
        raise BindingError(f"--grid {name}: {text[:40]!r} holds no value")
    if min(values[0], values[-1]) < INT64[0] or max(values[0], values[-1]) > INT64[1] or \
            (isinstance(values, tuple) and not all(INT64[0] <= v <= INT64[1] for v in values)):
        raise BindingError(f"--grid {name}: values must fit in 64 bits (|v| < 2**63)")
    return Axis(name, values)


class Sweep:
    """Every combination of the axes, evaluated chunk by chunk; rows kept by validity and a filter.

    Columns of a row: the symbols, the output sizes (out0, out1, ...), params, macs and valid.
    """

    def __init__(self, d: Derivation, axes: Sequence[Axis], where: Filter | None = None,
                 keep_invalid: bool = False) -> None:
        names = [a.name for a in axes]
        for a in axes:
            if a.name not in d.symbols:
                raise BindingError(f"unknown symbol '{a.name}'{did_you_mean(a.name, d.symbols)}")
            if names.count(a.name) > 1:
                raise BindingError(f"--grid {a.name} is given twice")
        missing = [s for s in d.free_symbols if s not in names]
        if missing:
            raise BindingError(f"no --grid for {', '.join(missing)}")
        self.d = d
        self.axes = tuple(axes)
        self.where = where
        self.keep_invalid = keep_invalid
        self.axes_out = len(d.output_shape)
        self.total = 1
        for a in axes:
            self.total *= len(a)
        if self.total > MAX_COMBINATIONS:
            raise BindingError(f"the grid has {self.total:,} combinations; the limit is {MAX_COMBINATIONS:,}")
        self.outputs = ("output_shape", "params", "macs", *(r for r in RESULTS
                                                            if where is not None and r in where.names
                                                            and r not in ("params", "macs")))

    @staticmethod
    def names(d: Derivation, symbols: Sequence[str]) -> list[str]:
        """Names a --where condition may use: the symbols and the results."""
        return [*symbols, *RESULTS, *(f"out{i}" for i in range(len(d.output_shape)))]

    @property
    def header(self) -> list[str]:
        return [*(a.name for a in self.axes), *(f"out{i}" for i in range(self.axes_out)), "params", "macs", "valid"]

    def bindings(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """The combinations numbered start .. stop-1 as columns (mixed-radix unravel)."""
        rest = np.arange(start, stop, dtype=np.int64)
        cols: dict[str, np.ndarray] = {}
        for axis in reversed(self.axes):
            n = np.int64(len(axis))
            cols[axis.name] = axis.take(rest % n)
            rest //= n
        return {a.name: cols[a.name] for a in self.axes}

    def rows(self, chunk: int | None = None, begin: int = 0, end: int | None = None
             ) -> Iterator[tuple[np.ndarray, int]]:
        """(kept rows as a table, combinations done so far), chunk after chunk. The table is int64,
        or Python ints when a kept row's numbers do not fit in int64 (evaluated exactly).

        Without a fixed `chunk`, chunks grow or shrink (up to CHUNK combinations) so that each takes
        about a tenth of a second: progress moves smoothly for small and for deep networks alike.
        `begin`/`end` restrict the sweep to the combinations numbered begin .. end-1 (one block of a
        distributed sweep: symshape.integrations.ray); "done" then counts from `begin`.
        """
        size = chunk or 1 << 12
        start = max(0, begin)
        last = self.total if end is None else min(end, self.total)
        run = len(self.axes[-1]) if self.axes else 1  # the last axis varies fastest
        while start < last:
            stop = min(start + size, last)
            if run >= MIN_RUN:  # chunks within one run of the last axis: the other symbols are constant
                stop = min(stop, (start // run + 1) * run)
            began = time.perf_counter()
            n = stop - start
            cols = self.bindings(start, stop)
            # constant columns as scalars: with one column varying, evaluate_batch uses the closed form
            calls = {k: (int(v[0]) if len(v) and v[0] == v[-1] and (v == v[0]).all() else v) for k, v in cols.items()}
            res = self.d.evaluate_batch(calls, outputs=self.outputs)
            keep = np.ones(n, dtype=bool) if self.keep_invalid else res.valid.copy()
            exact = res.overflow.copy() if res.overflow is not None else np.zeros(n, dtype=bool)
            if self.where is not None:
                values = {**cols, **{k: v for k, v in res.columns.items() if k != "output_shape"},
                          **{f"out{i}": a for i, a in enumerate(res.columns["output_shape"])}}
                holds, overflow = self.where.mask(values, n)
                keep &= holds
                exact |= overflow
            rows = {}  # rows int64 cannot hold: evaluated exactly, one by one (Python ints)
            for i in np.flatnonzero(exact):
                keep[i], rows[i] = self.exact_row({a.name: int(cols[a.name][i]) for a in self.axes})
            idx = np.flatnonzero(keep)
            table = np.empty((len(idx), len(self.header)), dtype=np.int64)
            parts = [*cols.values(), *res.columns["output_shape"], res.columns["params"], res.columns["macs"]]
            for j, column in enumerate(parts):
                table[:, j] = np.broadcast_to(column, (n,))[idx]
            table[:, -1] = res.valid[idx]
            if rows and exact[idx].any():
                table = table.astype(object)
                for k in np.flatnonzero(exact[idx]):
                    table[k] = rows[idx[k]]
            if chunk is None:
                took = time.perf_counter() - began
                size = int(min(CHUNK, max(1 << 10, size * 2 if took < 0.05 else size // 2 if took > 0.2 else size)))
            start = stop
            yield table, stop - max(0, begin)

    def exact_row(self, binding: dict[str, int]) -> tuple[bool, list[int | None]]:
        """(whether the row is kept, its values) from the exact evaluation of one combination."""
        e = self.d.evaluate(binding)
        keep = self.keep_invalid or e.valid
        if keep and self.where is not None:
            keep = self.where.holds({**binding, "params": e.params, "trainable": e.trainable,
                                     "non_trainable": e.non_trainable, "buffers": e.buffers, "macs": e.macs,
                                     "activations": e.activations,
                                     **{f"out{i}": s for i, s in enumerate(e.output_shape)}})
        return keep, [*binding.values(), *e.output_shape, e.params, e.macs, int(e.valid)]

    def write(self, out: TextIO, fmt: str = "csv", progress: Callable[[int, int], None] | None = None,
              chunk: int | None = None) -> int:
        """Stream the kept rows to `out` as CSV or as JSON (an object whose "rows" array is written
        row by row); returns the number of rows kept."""
        header = self.header
        kept = 0
        if fmt == "json":
            import json

            out.write('{"columns": ' + json.dumps(header) + ', "rows": [')
        else:
            out.write(",".join(header) + "\n")
        for table, done in self.rows(chunk):
            for start in range(0, len(table), FORMAT_CHUNK):  # a row's text costs ~10x its int64 values
                text = format_rows(table[start:start + FORMAT_CHUNK], fmt)
                out.write(text[1:] if fmt == "json" and kept == 0 else text)  # no comma before the first row
                kept += min(FORMAT_CHUNK, len(table) - start)
            if progress is not None:
                progress(done, kept)
        if fmt == "json":
            out.write(("\n" if kept else "") + f'], "combinations": {self.total}, "kept": {kept}}}\n')
        return kept


    def write_parquet(self, path: str | PathLike | Any, progress: Callable[[int, int], None] | None = None,
                      chunk: int | None = None, begin: int = 0, end: int | None = None) -> int:
        """Stream the kept rows (of combinations begin .. end-1) to a Parquet file as they are found, in
        row groups of about PARQUET_ROWS rows; returns the number of rows kept. Schema: `parquet_schema`.
        `path`: a file path, or a writable stream (a pyarrow NativeFile, e.g. from a pyarrow filesystem)."""
        from .arrow import require

        pa = require()
        import pyarrow.parquet as pq

        schema = self.parquet_schema()
        kept = 0
        pending: list[np.ndarray] = []
        held = 0
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            def flush() -> None:
                nonlocal pending, held
                if pending:
                    writer.write_table(pa.Table.from_batches([self.record_batch(t) for t in pending], schema))
                pending, held = [], 0

            for table, done in self.rows(chunk, begin, end):
                if len(table):
                    pending.append(table)
                    held += len(table)
                    kept += len(table)
                if held >= PARQUET_ROWS:
                    flush()
                if progress is not None:
                    progress(done, kept)
            flush()
        return kept

    def parquet_schema(self) -> Any:
        """The columns of `header` as int64, `valid` as bool, and `exact` (text): null, except on a row
        whose numbers do not all fit int64, where `exact` holds the row as CSV text, exact (as the CSV and
        JSON formats write it); on that row only the values that do not fit are null (the inputs and every
        other value that fits are kept)."""
        from .arrow import require

        pa = require()
        fields = [pa.field(n, pa.int64()) for n in self.header[:-1]]
        return pa.schema([*fields, pa.field("valid", pa.bool_()), pa.field("exact", pa.string())])

    def record_batch(self, table: np.ndarray) -> Any:
        """A table of kept rows (from `rows`) as a record batch of `parquet_schema`."""
        from .arrow import numpy_array, require

        pa = require()
        schema = self.parquet_schema()
        k = table.shape[1]
        if table.dtype != object:
            columns = np.ascontiguousarray(table.T)  # one copy; each column then goes to Arrow without one
            arrays = [numpy_array(columns[j]) for j in range(k - 1)]
            return pa.RecordBatch.from_arrays([*arrays, numpy_array(columns[-1], "bool"),
                                               pa.nulls(len(table), pa.string())], schema=schema)
        rows = table.tolist()
        wide = [not all(isinstance(v, int) and INT64[0] <= v <= INT64[1] for v in row) for row in rows]
        cols = [[row[j] if isinstance(row[j], int) and INT64[0] <= row[j] <= INT64[1] else None for row in rows]
                for j in range(k - 1)]
        exact = [format_rows(table[i:i + 1], "csv").rstrip("\n") if w else None for i, w in enumerate(wide)]
        return pa.RecordBatch.from_arrays([*(pa.array(c, pa.int64()) for c in cols),
                                           pa.array([bool(row[-1]) for row in rows], pa.bool_()),
                                           pa.array(exact, pa.string())], schema=schema)


def format_rows(table: np.ndarray, fmt: str) -> str:
    """CSV lines, or JSON arrays each preceded by ',' and a newline; formatted by one '%' in C.

    A table of Python ints (rows evaluated exactly) may hold None (undefined: a division by zero),
    written as an empty CSV field or JSON null."""
    n, k = table.shape
    if table.dtype == object:
        empty = "null" if fmt == "json" else ""
        lines = [",".join(empty if v is None else str(v) for v in row) for row in table.tolist()]
        return "".join(f",\n[{ln}]" if fmt == "json" else ln + "\n" for ln in lines)
    row = ",".join(["%d"] * k)
    row = f",\n[{row}]" if fmt == "json" else row + "\n"
    return (row * n) % tuple(table.ravel().tolist())
