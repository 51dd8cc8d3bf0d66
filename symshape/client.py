"""A Python client for the symshape gRPC service, a friendly API over the generated stubs.

    from symshape.client import Client
    with Client("localhost:50051") as c:
        d = c.derive(Path("examples/resnet50.yaml"))      # a Path, YAML/JSON text, or a dict
        e = c.evaluate(d.derivation_id, H=224, W=224)     # or the spec itself
        e.counts.total, list(e.output_shape.dims), [v.message for v in e.violations]
        cols = c.evaluate_batch(d.derivation_id, {"H": np.arange(32, 1024), "W": 224})
        cols["valid"], cols["output_shape"], cols["params"]
        s = c.solve(d.derivation_id, "H", W=224)          # the valid H: s.text, s.pieces, s.first

Failures raise `ServiceError` (a `symshape.errors.SymshapeError`) with the status code, the message, the
reason and the request fields at fault. A str is always spec text: a file is read only when given as a
`pathlib.Path` (or any os.PathLike), never guessed from the shape of a string.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from .errors import BindingError, SymshapeError, did_you_mean

__all__ = ["Client", "ServiceError", "value_set"]

# a derivation id (symshape_server.ids): s1.<payload>.<tag>, s1k.<...>, or a 64-hex hash; never a spec text
_ID = re.compile(r"^(?:s1k?\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+|[0-9a-f]{64})$")


class ServiceError(SymshapeError):
    """A call the service refused: `code` (grpc.StatusCode), `message`, `fields` [(field, description)],
    `reason` and `metadata` (from the status' ErrorInfo: e.g. metadata["error_id"] for INTERNAL)."""

    def __init__(self, code: grpc.StatusCode, message: str, fields: list[tuple[str, str]], reason: str,
                 metadata: dict[str, str] | None = None) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code, self.message, self.fields, self.reason = code, message, fields, reason
        self.metadata = metadata or {}


def _error(err: grpc.RpcError) -> ServiceError:
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    fields: list[tuple[str, str]] = []
    reason = ""
    metadata: dict[str, str] = {}
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                fields += [(v.field, v.description) for v in bad.field_violations]
            elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
                metadata = dict(info.metadata)
    return ServiceError(err.code(), err.details() or "", fields, reason, metadata)


def _int64_columns(columns: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], int]:
    """The bindings as int64 arrays (a scalar for every row, or a column) and the number of rows."""
    arrays: dict[str, np.ndarray] = {}
    for name, column in columns.items():
        try:
            arrays[name] = _int64_column(column)
        except (ValueError, TypeError, OverflowError) as err:
            raise BindingError(f"column '{name}': {err}") from None
    return arrays, max((a.size for a in arrays.values() if a.ndim == 1), default=1)


def _int64_column(column: Any) -> np.ndarray:
    """Integers that fit int64, as int64: never a silent wrap (uint64 2**64-1 is not -1)."""
    raw = np.asarray(column)
    if raw.dtype.kind == "O" or raw.dtype.kind == "u" and raw.size and int(raw.max()) > 2**63 - 1:
        values = [int(v) for v in raw.reshape(-1)]
        if any(not -(2**63) <= v < 2**63 for v in values):
            raise OverflowError("values must fit in int64")
    if raw.dtype.kind == "f":
        if not np.all(np.isfinite(raw) & (raw == np.round(raw))):
            raise ValueError("values must be integers")
        if raw.size and float(np.abs(raw).max()) >= 2.0**63:
            raise OverflowError("values must fit in int64")
    if raw.dtype.kind not in "iuOf":
        raise TypeError(f"values must be integers, not {raw.dtype}")
    return raw.astype(np.int64)


def value_set(response: Any) -> Any:
    """A SolveResponse as the library's `symshape.solve.ValueSet` (contains, nearest, first, count, text),
    rebuilt from its numbers."""
    from .solve import Piece, ValueSet

    pieces = tuple(Piece(p.lo, p.hi if p.HasField("hi") else None, p.modulus, p.residue) for p in response.pieces)
    tail = response.periodic if response.HasField("periodic") else None
    return ValueSet(response.symbol, response.lo, response.hi if response.HasField("hi") else None, pieces,
                    tail.period if tail else 1, tail.start if tail else None, tuple(tail.residues) if tail else (),
                    dict(response.bindings), tuple(response.explanation), response.method)


class Client:
    def __init__(self, target: str, *, token: str | None = None, root_certificates: bytes | None = None,
                 certificate_chain: bytes | None = None, private_key: bytes | None = None, tls: bool | None = None,
                 timeout: float = 60.0, options: list[tuple[str, Any]] | None = None) -> None:
        from symshape_server.gen import shape_algebra_pb2 as pb
        from symshape_server.gen import shape_algebra_pb2_grpc as pb_grpc

        self.pb = pb
        self.timeout = timeout
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        options = [("grpc.max_receive_message_length", 64 * 1024 * 1024),
                   ("grpc.max_send_message_length", 64 * 1024 * 1024), *(options or [])]
        if tls or root_certificates or certificate_chain:
            creds = grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
            self.channel = grpc.secure_channel(target, creds, options=options)
        else:
            self.channel = grpc.insecure_channel(target, options=options)
        self.stub = pb_grpc.ShapeAlgebraServiceStub(self.channel)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    # -- arguments

    def spec(self, spec: str | os.PathLike | Mapping[str, Any]) -> Any:
        """A Spec message from a Path (read here), YAML/JSON text (a str) or a dict."""
        if isinstance(spec, Mapping):
            return self.pb.Spec(text=json.dumps(spec))
        if isinstance(spec, os.PathLike):  # read as the library reads it: same limits, same errors
            from .spec import read_file

            return self.pb.Spec(text=read_file(Path(spec))[0])
        if isinstance(spec, str):
            return self.pb.Spec(text=spec)
        raise TypeError(f"a spec is a Path, YAML/JSON text or a dict, not {type(spec).__name__}")

    def _target(self, spec_or_id: Any) -> dict[str, Any]:
        if isinstance(spec_or_id, str) and _ID.match(spec_or_id):
            return {"derivation_id": spec_or_id}
        return {"spec": self.spec(spec_or_id)}

    def _call(self, method: Any, request: Any, timeout: float | None) -> Any:
        try:
            return method(request, timeout=timeout or self.timeout, metadata=self.metadata)
        except grpc.RpcError as err:
            raise _error(err) from None

    # -- calls

    def derive(self, spec: Any, timeout: float | None = None, *, closed_forms: bool = False,
               layer_graphs: bool = False) -> Any:
        """DeriveResponse: derivation_id (valid on every replica), closed_form, counts, constraints (text, LaTeX,
        graph), layers (text; with `layer_graphs` LaTeX and graphs too) and, for a deep network fed by many
        symbols, the named `sizes` its layers are written in (`closed_forms`: closed forms everywhere)."""
        request = self.pb.DeriveRequest(spec=self.spec(spec), closed_forms=closed_forms, layer_graphs=layer_graphs)
        return self._call(self.stub.Derive, request, timeout)

    def render_document(self, spec: Any, format: str = "html", *, example: Mapping[str, int] | None = None,
                        image: str = "", timeout: float | None = None) -> Any:
        """RenderDocumentResponse: `document` (bytes: HTML, Markdown, LaTeX or PDF), `media_type`, `files`
        (a Markdown document's figures: name, content), `derivation_id`, `never_valid`."""
        try:
            request = self.pb.RenderDocumentRequest(spec=self.spec(spec), format=format, example=dict(example or {}),
                                                    image=image)
        except (ValueError, TypeError) as err:
            raise BindingError(f"example: every value must be an integer in the int64 range ({err})") from None
        return self._call(self.stub.RenderDocument, request, timeout)

    def evaluate(self, spec_or_id: Any, bindings: Mapping[str, int] | None = None, timeout: float | None = None,
                 cost: Mapping[str, Any] | None = None, **kw: int) -> Any:
        """EvaluateResponse at one binding (exact integers, violations); with `cost` ({"batch": "B", "dtype":
        "bf16-mixed", "optimizer": "adamw", "flops": "fvcore", "mode": ..., "checkpoint": ...}; {} for the
        defaults) also the cost of training in `.cost` (a CostValues)."""
        values = {**(bindings or {}), **kw}
        extra = {"cost": self._cost_options(cost)} if cost is not None else {}
        try:
            request = self.pb.EvaluateRequest(bindings=values, **self._target(spec_or_id), **extra)
        except (ValueError, TypeError) as err:  # protobuf: not an int, or beyond int64
            raise BindingError(f"bindings: every value must be an integer in the int64 range ({err})") from None
        return self._call(self.stub.Evaluate, request, timeout)

    def _cost_options(self, cost: Mapping[str, Any]) -> Any:
        if not isinstance(cost, Mapping):
            raise BindingError(f"cost is a mapping of options (batch, dtype, optimizer, flops, mode, checkpoint), "
                               f"not {type(cost).__name__}")
        known = ("batch", "dtype", "optimizer", "flops", "mode", "checkpoint")
        for key in cost:
            if key not in known:
                raise BindingError(f"unknown cost option '{key}'{did_you_mean(str(key), known)}")
        fields = {k: (str(v) if k != "checkpoint" else bool(v)) for k, v in cost.items() if v is not None}
        return self.pb.CostOptions(**fields)

    def evaluate_batch(self, spec_or_id: Any, columns: Mapping[str, Any],
                       outputs: tuple[str, ...] = ("output_shape", "params"), chunk: int = 65536,
                       timeout: float | None = None, arrow: bool = False,
                       cost: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Columns in, columns out: {"valid": bool array, "overflow": bool array, "output_shape": [int64 arrays],
        "params": ...}; "overflow" flags rows whose exact values do not fit int64 (not valid, results 0;
        margins and first_violation exact, saturated).
        With "margins" in `outputs`: "margins" (one int64 array per condition) and "condition_names";
        with "first_violation": an int32 array (-1 for none). Cost outputs ("total_bytes", "train_flops", ...)
        are counted as `cost` asks (see `evaluate`); a symbolic batch is then a column.

        The bindings are streamed in chunks and the results come back as they are computed. With `arrow`
        (pyarrow), both ways travel as Arrow IPC record batches instead of repeated int64 fields.
        """
        first_extra = {"cost": self._cost_options(cost)} if cost is not None else {}
        if arrow:
            return self._evaluate_batch_arrow(spec_or_id, columns, outputs, chunk, timeout, first_extra)
        arrays, length = _int64_columns(columns)

        def requests() -> Iterator[Any]:
            for start in range(0, length, chunk):
                cols = {k: self.pb.Int64Column(values=(a[start:start + chunk] if a.ndim == 1 else
                                                       a.reshape(1)).tolist()) for k, a in arrays.items()}
                extra = {**self._target(spec_or_id), "outputs": list(outputs), **first_extra} if start == 0 else {}
                yield self.pb.EvaluateBatchRequest(columns=cols, **extra)

        parts: dict[str, list] = {"valid": [], "overflow": []}
        try:
            for response in self.stub.EvaluateBatch(requests(), timeout=timeout or self.timeout,
                                                    metadata=self.metadata):
                parts["valid"].append(np.asarray(response.valid, dtype=bool))
                parts["overflow"].append(np.asarray(response.overflow, dtype=bool) if response.overflow
                                         else np.zeros(len(response.valid), dtype=bool))
                if response.output_shape:
                    parts.setdefault("output_shape", []).append(
                        [np.asarray(c.values, dtype=np.int64) for c in response.output_shape])
                for name, col in response.results.items():
                    parts.setdefault(name, []).append(np.asarray(col.values, dtype=np.int64))
                if response.margins:
                    parts.setdefault("margins", []).append([np.asarray(c.values, dtype=np.int64)
                                                            for c in response.margins])
                if response.first_violation:
                    parts.setdefault("first_violation", []).append(np.asarray(response.first_violation,
                                                                              dtype=np.int32))
                if response.condition_names:
                    parts["condition_names"] = list(response.condition_names)  # type: ignore[assignment]
                parts["derivation_id"] = response.derivation_id  # type: ignore[assignment]
        except grpc.RpcError as err:
            raise _error(err) from None
        out: dict[str, Any] = {k: np.concatenate(parts.pop(k)) if parts[k] else np.zeros(0, dtype=bool)
                               for k in ("valid", "overflow")}
        out["derivation_id"] = parts.pop("derivation_id", None)
        if "condition_names" in parts:
            out["condition_names"] = parts.pop("condition_names")
        for name, pieces in parts.items():
            if name in ("output_shape", "margins"):
                out[name] = [np.concatenate(axis) for axis in zip(*pieces, strict=True)]
            else:
                out[name] = np.concatenate(pieces)
        return out

    def _evaluate_batch_arrow(self, spec_or_id: Any, columns: Mapping[str, Any], outputs: tuple[str, ...],
                              chunk: int, timeout: float | None, first_extra: dict | None = None) -> dict[str, Any]:
        """evaluate_batch with Arrow IPC both ways; the same dictionary back."""
        from .arrow import columns_to_ipc, ipc_to_results

        arrays, length = _int64_columns(columns)

        def requests() -> Iterator[Any]:
            for start in range(0, length, chunk):
                data = columns_to_ipc({k: a[start:start + chunk] if a.ndim == 1 else a.reshape(1)
                                       for k, a in arrays.items()})
                extra = {**self._target(spec_or_id), "outputs": list(outputs), "arrow": True, **(first_extra or {})} \
                    if start == 0 else {}
                yield self.pb.EvaluateBatchRequest(arrow_columns=data, **extra)

        pieces: list[dict[str, np.ndarray]] = []
        names: list[str] = []
        derivation_id = None
        try:
            for response in self.stub.EvaluateBatch(requests(), timeout=timeout or self.timeout,
                                                    metadata=self.metadata):
                got, names = ipc_to_results(response.arrow_results)
                pieces.append(got)
                derivation_id = response.derivation_id
        except grpc.RpcError as err:
            raise _error(err) from None
        joined = {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]} if pieces else {}
        out: dict[str, Any] = {"valid": joined.pop("valid", np.zeros(0, dtype=bool)),
                               "overflow": joined.pop("overflow", np.zeros(0, dtype=bool)),
                               "derivation_id": derivation_id}
        axes = sorted((k for k in joined if k.startswith("out") and k[3:].isdigit()), key=lambda k: int(k[3:]))
        if axes:
            out["output_shape"] = [joined.pop(k) for k in axes]
        margin_keys = sorted((k for k in joined if k.startswith("margin_")), key=lambda k: int(k[7:]))
        if "margins" in outputs:
            out["margins"] = [joined.pop(k) for k in margin_keys]
        if "margins" in outputs or "first_violation" in outputs:
            out["condition_names"] = names
        out.update(joined)
        return out

    def solve(self, spec_or_id: Any, symbol: str, bindings: Mapping[str, int] | None = None, *,
              targets: Mapping[int, int] | None = None, lo: int | None = None, hi: int | None = None,
              near: int | None = None, timeout: float | None = None, **kw: int) -> Any:
        """SolveResponse: the exact set of values of `symbol` (the other free symbols bound) for which the
        network is valid and, with `targets` ({output axis: size}), has those output sizes; within lo..hi
        (default: the symbol's range). `.text` ("H ≥ 8 and H ≡ 0 (mod 8)"), `.pieces`, `.first`, `.count`,
        `.periodic`, `.explanation`, `.condition` (a portable expression); with `near`, `.nearest_below`
        and `.nearest_above`. `value_set(response)` gives the library's ValueSet (contains, nearest)."""
        values = {**(bindings or {}), **kw}
        extra = {k: v for k, v in (("lo", lo), ("hi", hi), ("near", near)) if v is not None}
        try:
            request = self.pb.SolveRequest(symbol=symbol, bindings=values, targets=dict(targets or {}), **extra,
                                           **self._target(spec_or_id))
        except (ValueError, TypeError) as err:  # protobuf: not an int, or beyond int64 (never a wrap)
            raise BindingError(f"bindings, targets, lo, hi and near must be integers in the int64 range (targets' "
                               f"axes 0 or more): {err}") from None
        return self._call(self.stub.Solve, request, timeout)

    def list_layers(self, framework: str = "", name: str = "", timeout: float | None = None) -> Any:
        return self._call(self.stub.ListLayers, self.pb.ListLayersRequest(framework=framework, name=name),
                          timeout).layers

    def health(self, service: str = "", timeout: float | None = None) -> str:
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self.channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout or self.timeout)
        except grpc.RpcError as err:
            raise _error(err) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
