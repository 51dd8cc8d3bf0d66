"""symshape on Ray (``pip install 'symshape[ray]'``): columns through Ray Data, grid sweeps on a cluster.

Columns of bindings to columns of results, on Ray Data's actors::

    import ray
    from symshape.integrations.ray import EvaluateColumns

    ds = ray.data.from_items([{"I": i, "F": 3, "S": 2, "P": 0, "D": 8} for i in range(1, 10_000)])
    spec = Path("examples/classic_symbolic.yaml").read_text()
    out = ds.map_batches(EvaluateColumns, fn_constructor_kwargs={"spec": spec, "margins": True},
                         batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=2))

`EvaluateColumns` is a picklable callable class that carries the spec's text and derives and compiles
it once per actor (on its first batch); an instance may also be passed as a plain function (Ray
tasks: it is pickled without its compiled program, and each worker process derives the spec once).
A batch is a ``dict`` of numpy arrays (``batch_format="numpy"``) or a ``pyarrow.Table``
(``batch_format="pyarrow"``); it answers in the same format. **Schema** of the
answer, in this order:

- every input column, passed through (the bindings and any other column, e.g. an id);
- ``out0``, ``out1``, ...: the output sizes (int64), with "output_shape" in `outputs`;
- the other results of `outputs` by name (``params``, ``macs``, ``activations``, ...; int64);
- ``valid`` (bool); ``overflow`` (bool: a value did not fit int64; the row is not valid, its results 0,
  its margins and first violation exact, saturated at +-(2**63 - 1));
- ``first_violation`` (int32: the index of the first failing condition, -1 for none) and ``violation``
  (string: that condition's name, "" for none), unless ``violations=False``;
- ``margin_0``, ``margin_1``, ... (int64 signed margins, <= 0 where the condition holds), with
  ``margins=True``; ``EvaluateColumns.condition_names`` names them (and the pyarrow schema's metadata
  ``symshape.conditions``).

Grid sweeps on a cluster (what ``symshape sweep SPEC --grid ... --ray [ADDRESS] -o DIR`` runs)::

    summary = sweep_on_ray(Path("model.yaml"), [parse_axis("I", "1:100001"), ...], "out_dir")

The grid's combinations are numbered 0 .. N-1 as in a local sweep; the driver splits that range into
blocks of numbers (the grid is never materialized on the driver), each Ray task expands its block
chunk by chunk, evaluates it and writes the kept rows to ``out_dir/part-00000.parquet``, ... (block
order is row order): read back in file order, the rows equal a local sweep's, row for row.
A cluster's workers need symshape installed (or ``runtime_env={"pip": ["symshape[ray]"]}``).
Each task writes where it runs: across several machines ``out_dir`` must be a filesystem every node
sees, a shared path mounted alike on every node or a URI pyarrow opens (``s3://bucket/dir``,
``gs://...``, ``hdfs://...``); tasks create the directory (a local path with ``os.makedirs``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BindingError, SymshapeError

__all__ = ["EvaluateColumns", "SweepSummary", "spec_source", "sweep_on_ray"]

DEFAULT_OUTPUTS = ("output_shape", "params", "macs")


def spec_source(spec: str | Path | Mapping[str, Any]) -> str | dict[str, Any]:
    """What travels to the workers: the spec's text (a Path is read here, on the driver) or its dict."""
    if isinstance(spec, Path):
        from ..spec import read_file

        return read_file(spec)[0]
    if isinstance(spec, Mapping):
        return json.loads(json.dumps(spec))  # plain data, checked to be JSON
    if isinstance(spec, str):
        return spec
    raise BindingError(f"a spec is YAML/JSON text, a dict or a pathlib.Path, not {type(spec).__name__}")


def _derive(source: str | dict[str, Any]) -> Any:
    from ..derive import derive

    return derive(source)  # cached per process by symshape's derivation cache


class EvaluateColumns:
    """A callable class for ``Dataset.map_batches``: bindings columns -> results columns (schema above)."""

    def __init__(self, spec: str | Path | Mapping[str, Any], outputs: Sequence[str] = DEFAULT_OUTPUTS,
                 margins: bool = False, violations: bool = True, chunk: int = 1 << 16) -> None:
        from ..evaluate import BATCH_OUTPUTS

        for o in outputs:
            if o not in BATCH_OUTPUTS:
                from ..errors import did_you_mean

                raise BindingError(f"unknown output '{o}'{did_you_mean(o, BATCH_OUTPUTS)}")
        self.source = spec_source(spec)
        self.outputs = tuple(outputs)
        self.margins = margins
        self.violations = violations
        self.chunk = chunk
        self._compiled: Any = None

    def __getstate__(self) -> dict[str, Any]:
        """The spec travels, not the compiled program: each actor compiles once, on its first batch."""
        return {k: v for k, v in self.__dict__.items() if k != "_compiled"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._compiled = None

    @property
    def compiled(self) -> Any:
        if self._compiled is None:
            self._compiled = _derive(self.source).compiled
        return self._compiled

    @property
    def condition_names(self) -> list[str]:
        from ..margins import condition_names

        return condition_names(self.compiled)

    @property
    def symbols(self) -> tuple[str, ...]:
        """The columns a batch must have (the derivation's free symbols)."""
        return tuple(s for s in self.compiled.accepted if s in set(self.compiled.program.symbols))

    def _asked(self) -> tuple[str, ...]:
        extra = (("first_violation",) if self.violations else ()) + (("margins",) if self.margins else ())
        return self.outputs + extra

    def results(self, bindings: Mapping[str, np.ndarray], length: int) -> dict[str, np.ndarray]:
        """Results columns (schema above, without the inputs) for columns of bindings."""
        from ..evaluate import evaluate_batch

        c = self.compiled
        cols = {k: v for k, v in bindings.items() if k in c.accepted}
        res = evaluate_batch(c, cols, self._asked(), self.chunk)
        n = length
        out: dict[str, np.ndarray] = {}
        for o in self.outputs:
            value = res.columns[o]
            if o == "output_shape":
                for k, axis in enumerate(value):
                    out[f"out{k}"] = np.ascontiguousarray(np.broadcast_to(axis, (n,)), dtype=np.int64)
            else:
                out[o] = np.ascontiguousarray(np.broadcast_to(value, (n,)), dtype=np.int64)
        out["valid"] = np.broadcast_to(res.valid, (n,)).copy()
        out["overflow"] = np.broadcast_to(res.overflow, (n,)).copy()
        if self.violations:
            first = np.broadcast_to(res.columns["first_violation"], (n,)).astype(np.int32)
            names = np.asarray(["", *self.condition_names], dtype=object)
            out["first_violation"] = first
            out["violation"] = names[first + 1]
        if self.margins:
            for k, col in enumerate(res.columns["margins"]):
                out[f"margin_{k}"] = np.broadcast_to(col, (n,)).copy()
        return out

    def __call__(self, batch: Any) -> Any:
        try:
            import pyarrow as pa
        except ImportError:  # pragma: no cover - in the ray extra
            pa = None
        if pa is not None and isinstance(batch, (pa.Table, pa.RecordBatch)):
            from ..arrow import CONDITIONS_KEY, read_bindings

            wanted = [n for n in batch.schema.names if n in self.compiled.accepted]
            bindings = read_bindings(batch.select(wanted), "batch") if wanted else {}
            got = self.results(bindings, batch.num_rows)
            table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
            for name, col in got.items():
                if name == "violation":
                    arr = pa.DictionaryArray.from_arrays(
                        pa.array(got["first_violation"] + 1, pa.int32()),
                        pa.array(["", *self.condition_names], pa.string()))
                else:
                    arr = pa.array(col)
                table = table.append_column(name, arr)
            meta = {**(table.schema.metadata or {}), CONDITIONS_KEY: json.dumps(self.condition_names).encode()}
            return table.replace_schema_metadata(meta)
        if not isinstance(batch, Mapping):
            raise BindingError(f"a batch is a dict of numpy arrays or a pyarrow Table, not {type(batch).__name__}")
        length = max((len(v) for v in batch.values() if np.ndim(v) == 1), default=1)
        got = self.results({k: v for k, v in batch.items()}, length)
        return {**batch, **got}


# ---------------------------------------------------------------- sweeps on a cluster


@dataclass(frozen=True)
class SweepSummary:
    combinations: int
    kept: int
    files: tuple[str, ...]
    seconds: float
    workers: int

    @property
    def rows_per_second(self) -> float:
        return self.combinations / self.seconds if self.seconds else float("inf")


def is_uri(path: str | Path) -> bool:
    """A URI pyarrow opens with its own filesystem (s3://bucket/dir, gs://..., hdfs://..., file:///...)."""
    return isinstance(path, str) and "://" in path


def _sweep_block(source: str | dict[str, Any], axes: Sequence[Any], where: Any, keep_invalid: bool,
                 begin: int, end: int, path: str) -> tuple[int, int, str]:
    """One Ray task: combinations begin .. end-1 expanded, evaluated and written to `path` (Parquet).
    The task runs on any node: it creates the file's directory there (a local path: os.makedirs; a URI:
    the directory on pyarrow's filesystem for it, pyarrow.fs.FileSystem.from_uri)."""
    import os

    from ..sweep import Sweep

    sweep = Sweep(_derive(source), axes, where, keep_invalid=keep_invalid)
    if is_uri(path):
        from pyarrow.fs import FileSystem

        fs, inner = FileSystem.from_uri(path)
        parent = inner.rsplit("/", 1)[0] if "/" in inner else ""
        if parent:
            fs.create_dir(parent, recursive=True)
        with fs.open_output_stream(inner) as stream:
            kept = sweep.write_parquet(stream, begin=begin, end=end)
    else:
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        kept = sweep.write_parquet(path, begin=begin, end=end)
    return begin, kept, path


def _prepare_out(out_dir: str | Path) -> Callable[[str], str]:
    """Create `out_dir` on the driver too (a local path or a URI), refuse one holding part files, and
    return name -> the path a task writes (a URI stays a URI)."""
    if is_uri(out_dir):
        from pyarrow.fs import FileSelector, FileSystem, FileType

        try:
            fs, inner = FileSystem.from_uri(str(out_dir))
        except Exception as err:  # pyarrow raises ArrowInvalid / OSError on an unknown scheme
            raise BindingError(f"output {out_dir}: not a filesystem pyarrow opens ({str(err)[:200]})") from None
        inner = inner.rstrip("/")
        fs.create_dir(inner, recursive=True)
        found = fs.get_file_info(FileSelector(inner, allow_not_found=True))
        if any(f.type == FileType.File and f.base_name.startswith("part-") and f.base_name.endswith(".parquet")
               for f in found):
            raise BindingError(f"{out_dir} already holds part-*.parquet files: choose an empty directory")
        base = str(out_dir).rstrip("/")
        return lambda name: f"{base}/{name}"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.glob("part-*.parquet")):
        raise BindingError(f"{out} already holds part-*.parquet files: choose an empty directory")
    return lambda name: str(out / name)


def sweep_on_ray(spec: str | Path | Mapping[str, Any], axes: Sequence[Any], out_dir: str | Path,
                 where: Any = None, keep_invalid: bool = False, address: str | None = None,
                 workers: int | None = None, block: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> SweepSummary:
    """Run a grid sweep on Ray (the current one, or one started or joined at `address`; "local" starts
    a local instance) with at most `workers` tasks at once (default: the cluster's CPUs), in blocks of
    `block` combinations; Parquet files in `out_dir` (it must hold no part files). `where`: a Filter
    (symshape.where.parse_where). Returns what was done.

    Each task writes its file where it runs, so on several machines `out_dir` must be a filesystem every
    node sees: a shared path (NFS...) mounted at the same place, or a URI pyarrow opens (s3://bucket/dir,
    gs://..., hdfs://...; pyarrow.fs.FileSystem.from_uri). A local path is created by the driver and by
    every task (os.makedirs), a URI's directory on its filesystem; a node-local path on a multi-node
    cluster would leave the part files scattered over the nodes."""
    import ray

    from ..sweep import Sweep

    source = spec_source(spec)
    sweep = Sweep(_derive(source), axes, where, keep_invalid=keep_invalid)  # checks the grid on the driver
    part_path = _prepare_out(out_dir)
    started = False
    if not ray.is_initialized():
        ray.init(address=None if address in (None, "local") else address, num_cpus=workers if address in
                 (None, "local") else None, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        started = True
    try:
        if workers is None:
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        total = sweep.total
        if block is None:
            block = int(min(1 << 23, max(1 << 16, -(-total // (4 * workers)))))
        remote = ray.remote(num_cpus=1)(_sweep_block)
        source_ref = ray.put(source)
        began = time.perf_counter()
        starts = range(0, total, block)
        digits = max(5, len(str(len(starts))))
        pending: list[Any] = []
        files: list[str] = []
        kept = done = 0
        for k, start in enumerate(starts):
            path = part_path(f"part-{k:0{digits}d}.parquet")
            files.append(path)
            pending.append(remote.remote(source_ref, tuple(axes), where, keep_invalid, start,
                                         min(start + block, total), path))
            while len(pending) >= workers:
                kept, done = _collect(ray, pending, kept, done, total, block, progress)
        while pending:
            kept, done = _collect(ray, pending, kept, done, total, block, progress)
        seconds = time.perf_counter() - began
    finally:
        if started:
            ray.shutdown()
    return SweepSummary(total, kept, tuple(files), seconds, workers)


def _collect(ray: Any, pending: list[Any], kept: int, done: int, total: int, block: int,
             progress: Callable[[int, int], None] | None) -> tuple[int, int]:
    ready, rest = ray.wait(pending, num_returns=1)
    pending[:] = rest
    try:
        begin, n, _ = ray.get(ready[0])
    except ray.exceptions.RayTaskError as err:  # a block failed (a full disk...): stop the others, say why
        for ref in pending:
            ray.cancel(ref)
        pending.clear()
        cause = getattr(err, "cause", None)
        if isinstance(cause, (SymshapeError, OSError)):
            raise cause from None
        raise
    kept += n
    done += min(block, total - begin)
    if progress is not None:
        progress(done, kept)
    return kept, done
