"""The gRPC servicer: proto in, symshape call, proto out; errors mapped to status codes in one place.

    server, port = create_server("127.0.0.1:0", ServerConfig(...))   # tests bind port 0
    server.start(); ...; shutdown(server, grace=5)
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from symshape.errors import BindingError, LimitError, SpecError
from symshape.evaluate import Compiled, evaluate, evaluate_batch
from symshape.layers import REGISTRY
from symshape.report import layer_info
from symshape.spec import LIMITS, load_spec

from . import convert
from .gen import shape_algebra_pb2 as pb
from .gen import shape_algebra_pb2_grpc as pb_grpc
from .workers import DeadlineExceeded, WorkerCrashed, WorkerPool

SERVICE = pb.DESCRIPTOR.services_by_name["ShapeAlgebraService"].full_name
DOMAIN = "symshape.dev"


@dataclass
class ServerConfig:
    derive_workers: int = 2  # processes that run derivations (killed at deadlines)
    threads: int = 16
    max_concurrent_rpcs: int = 64
    max_message_bytes: int = 16 * 1024 * 1024
    max_spec_bytes: int = 1_000_000
    max_layers: int = 2_000
    max_batch_rows: int = 1_000_000  # rows in one EvaluateBatch message
    default_deadline: float = 60.0  # seconds, for calls that set none
    cache_size: int = 512
    token: str | None = None  # bearer token; health checks are exempt
    tls: tuple[bytes, bytes] | None = None  # (certificate chain, private key), PEM
    client_ca: bytes | None = None  # PEM roots: require and verify client certificates (mutual TLS)
    max_connection_age_s: float | None = 300.0  # lets round_robin clients pick up new servers
    reuse_port: bool = False
    extra_options: list[tuple[str, Any]] = field(default_factory=list)


class Cache:
    """derivation id -> (DeriveResponse bytes, compiled program), least recently used out."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[str, tuple[bytes, Compiled]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> tuple[bytes, Compiled] | None:
        with self.lock:
            hit = self.items.get(key)
            if hit is not None:
                self.items.move_to_end(key)
            return hit

    def put(self, key: str, value: tuple[bytes, Compiled]) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


class Abort(Exception):
    """An error for the caller: a status code, a message, a reason and field violations."""

    def __init__(self, code: int, message: str, reason: str, fields: list[tuple[str, str]] | None = None,
                 metadata: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.reason = code, message, reason
        self.fields = fields or []
        self.metadata = metadata or {}


def _status(err: Abort) -> grpc.Status:
    info = error_details_pb2.ErrorInfo(reason=err.reason, domain=DOMAIN, metadata=err.metadata)
    details = [any_pb2.Any()]
    details[0].Pack(info)
    if err.fields:
        bad = error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in err.fields])
        details.append(any_pb2.Any())
        details[-1].Pack(bad)
    return rpc_status.to_status(status_pb2.Status(code=err.code, message=err.message, details=details))


@contextmanager
def errors(context: grpc.ServicerContext, field: str = "spec") -> Iterator[None]:
    """The one place where exceptions become gRPC statuses."""
    try:
        yield
    except Abort as err:
        context.abort_with_status(_status(err))
    except LimitError as err:
        field = err.location.source if (err.location.source or "").startswith(field) else field
        context.abort_with_status(_status(Abort(code_pb2.RESOURCE_EXHAUSTED, str(err), "LIMIT_EXCEEDED",
                                                [(convert.spec_field(field, err), str(err))])))
    except SpecError as err:
        loc = err.location
        field = loc.source if (loc.source or "").startswith(field) else field
        meta = {k: str(v) for k, v in (("line", loc.line), ("layer_index", loc.layer_index),
                                       ("layer_name", loc.layer_name), ("argument", loc.argument)) if v is not None}
        context.abort_with_status(_status(Abort(code_pb2.INVALID_ARGUMENT, str(err), "BAD_SPEC",
                                                [(convert.spec_field(field, err), str(err))], meta)))
    except BindingError as err:
        context.abort_with_status(_status(Abort(code_pb2.INVALID_ARGUMENT, str(err), "BAD_BINDINGS",
                                                [("bindings", str(err))])))
    except OverflowError as err:
        context.abort_with_status(_status(Abort(code_pb2.OUT_OF_RANGE, str(err), "INT64_OVERFLOW")))
    except DeadlineExceeded as err:
        context.abort_with_status(_status(Abort(code_pb2.DEADLINE_EXCEEDED, str(err), "DEADLINE_EXCEEDED")))
    except WorkerCrashed as err:
        context.abort_with_status(_status(Abort(code_pb2.INTERNAL, str(err), "WORKER_FAILED")))


class ShapeAlgebraServicer(pb_grpc.ShapeAlgebraServiceServicer):
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.cache = Cache(config.cache_size)
        self.raw_keys: dict[str, str] = {}  # hash of a request's spec message -> derivation id
        self.pool = WorkerPool(config.derive_workers)
        self.limits = LIMITS.__class__(max_bytes=config.max_spec_bytes, max_layers=config.max_layers)

    # -- helpers

    def _timeout(self, context: grpc.ServicerContext) -> float:
        remaining = context.time_remaining()
        return self.config.default_deadline if remaining is None else min(remaining, self.config.default_deadline)

    def _derived(self, spec: pb.Spec, field: str, context: grpc.ServicerContext) -> tuple[str, bytes, Compiled]:
        raw = hashlib.sha256(spec.SerializeToString(deterministic=True)).hexdigest()
        known = self.raw_keys.get(raw)  # the very same request spec as before: no parsing at all
        hit = self.cache.get(known) if known else None
        if hit is not None:
            return known, *hit  # type: ignore[return-value]
        payload, where = convert.spec_payload(spec, field)
        key = load_spec(payload, source=where, limits=self.limits).key  # checked and limited here, cheaply
        hit = self.cache.get(key)
        if hit is None:
            key, response, compiled = self.pool.derive(payload, where, self._timeout(context))
            hit = (response, compiled)
            self.cache.put(key, hit)
        with self.cache.lock:
            self.raw_keys[raw] = key
            while len(self.raw_keys) > 4 * self.config.cache_size:
                self.raw_keys.pop(next(iter(self.raw_keys)))
        return key, *hit

    def _target(self, request: Any, context: grpc.ServicerContext) -> tuple[str, Compiled]:
        which = request.WhichOneof("target")
        if which == "derivation_id":
            hit = self.cache.get(request.derivation_id)
            if hit is None:
                raise Abort(code_pb2.NOT_FOUND, f"unknown derivation_id {request.derivation_id!r} (derive the spec "
                            "again, or pass the spec itself)", "UNKNOWN_DERIVATION", [("derivation_id", "not found")])
            return request.derivation_id, hit[1]
        if which == "spec":
            key, _, compiled = self._derived(request.spec, "spec", context)
            return key, compiled
        raise Abort(code_pb2.INVALID_ARGUMENT, "give a spec or a derivation_id", "MISSING_TARGET",
                    [("target", "missing")])

    # -- RPCs

    def Derive(self, request: pb.DeriveRequest, context: grpc.ServicerContext) -> pb.DeriveResponse:  # noqa: N802
        with errors(context):
            if not request.HasField("spec"):
                raise Abort(code_pb2.INVALID_ARGUMENT, "spec is required", "MISSING_SPEC", [("spec", "missing")])
            _, response, _ = self._derived(request.spec, "spec", context)
            return pb.DeriveResponse.FromString(response)

    def Evaluate(self, request: pb.EvaluateRequest, context: grpc.ServicerContext) -> pb.EvaluateResponse:  # noqa: N802
        with errors(context):
            key, compiled = self._target(request, context)
            return convert.evaluate_response(key, evaluate(compiled, dict(request.bindings)))

    def EvaluateBatch(self, request_iterator: Iterator[pb.EvaluateBatchRequest],  # noqa: N802
                      context: grpc.ServicerContext) -> Iterator[pb.EvaluateBatchResponse]:
        with errors(context, "spec"):
            key: str | None = None
            compiled: Compiled | None = None
            outputs: tuple[str, ...] = ("output_shape", "params")
            offset = 0
            for request in request_iterator:
                if not context.is_active():  # the caller cancelled or its deadline passed: stop computing
                    return
                if compiled is None:
                    key, compiled = self._target(request, context)
                    outputs = tuple(request.outputs) or outputs
                elif request.WhichOneof("target"):
                    raise Abort(code_pb2.INVALID_ARGUMENT, "only the first chunk names the derivation",
                                "TARGET_REPEATED", [("target", "set on a later chunk")])
                columns = {name: np.asarray(col.values, dtype=np.int64) for name, col in request.columns.items()}
                rows = max((len(c) for c in columns.values()), default=0)
                if rows > self.config.max_batch_rows:
                    raise Abort(code_pb2.RESOURCE_EXHAUSTED, f"{rows} rows in one chunk; the limit is "
                                f"{self.config.max_batch_rows}: send smaller chunks", "LIMIT_EXCEEDED",
                                [("columns", f"{rows} rows")])
                columns = {k: (int(v[0]) if len(v) == 1 and rows > 1 else v) for k, v in columns.items()}
                result = evaluate_batch(compiled, columns, outputs)
                out = pb.EvaluateBatchResponse(derivation_id=key, offset=offset, valid=result.valid.tolist())
                for name, col in result.columns.items():
                    if name == "output_shape":
                        for axis in col:
                            out.output_shape.add().values.extend(axis.tolist())
                    else:
                        out.results[name].values.extend(col.tolist())
                offset += result.length
                yield out

    def ListLayers(self, request: pb.ListLayersRequest, context: grpc.ServicerContext) -> pb.ListLayersResponse:  # noqa: N802
        with errors(context):
            if request.framework not in ("", "keras", "torch"):
                raise Abort(code_pb2.INVALID_ARGUMENT, "framework is 'keras', 'torch' or empty", "BAD_FRAMEWORK",
                            [("framework", request.framework)])
            selected = [r for (fw, n), r in sorted(REGISTRY.items())
                        if request.framework in ("", fw) and request.name in ("", n)]
            if request.name and not selected:
                raise Abort(code_pb2.NOT_FOUND, f"unknown layer {request.name!r}", "UNKNOWN_LAYER",
                            [("name", request.name)])
            return pb.ListLayersResponse(layers=[_layer_message(r) for r in selected])


_LAYER_CACHE: dict[tuple[str, str], pb.LayerInfo] = {}


def _layer_message(rule: Any) -> pb.LayerInfo:
    key = (rule.framework, rule.name)
    if key not in _LAYER_CACHE:
        _LAYER_CACHE[key] = convert.layer_info(layer_info(rule))
    return _LAYER_CACHE[key]


class TokenAuth(grpc.ServerInterceptor):
    """Bearer-token authentication, compared in constant time; the health service is exempt."""

    def __init__(self, token: str) -> None:
        self.expected = f"Bearer {token}".encode()

    def intercept_service(self, continuation: Callable, details: grpc.HandlerCallDetails) -> Any:
        if details.method.startswith("/grpc.health.v1.Health/"):
            return continuation(details)
        given = dict(details.invocation_metadata or ()).get("authorization", "")
        if hmac.compare_digest(given.encode() if isinstance(given, str) else given, self.expected):
            return continuation(details)
        handler = continuation(details)

        def deny(request_or_iterator: Any, context: grpc.ServicerContext) -> None:
            context.abort_with_status(_status(Abort(code_pb2.UNAUTHENTICATED, "a valid bearer token is required",
                                                    "UNAUTHENTICATED")))

        if handler is None:
            return None
        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(deny)
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(deny)
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(deny)
        return grpc.unary_unary_rpc_method_handler(deny)


@dataclass
class Running:
    server: grpc.Server
    port: int
    servicer: ShapeAlgebraServicer
    health: health.HealthServicer


def create_server(address: str, config: ServerConfig | None = None) -> Running:
    config = config or ServerConfig()
    options = [("grpc.max_receive_message_length", config.max_message_bytes),
               ("grpc.max_send_message_length", config.max_message_bytes),
               ("grpc.so_reuseport", 1 if config.reuse_port else 0), *config.extra_options]
    if config.max_connection_age_s:
        options += [("grpc.max_connection_age_ms", int(config.max_connection_age_s * 1000)),
                    ("grpc.max_connection_age_grace_ms", 30_000)]
    interceptors = [TokenAuth(config.token)] if config.token else []
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=config.threads), options=options,
                         interceptors=interceptors, maximum_concurrent_rpcs=config.max_concurrent_rpcs)
    servicer = ShapeAlgebraServicer(config)
    pb_grpc.add_ShapeAlgebraServiceServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection((SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    if config.tls:
        chain, key = config.tls
        creds = grpc.ssl_server_credentials([(key, chain)], root_certificates=config.client_ca,
                                            require_client_auth=config.client_ca is not None)
        port = server.add_secure_port(address, creds)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return Running(server, port, servicer, health_servicer)


def shutdown(running: Running, grace: float = 5.0, drain: float | None = None) -> None:
    """NOT_SERVING first, still serving for `drain` seconds (health checkers and load balancers see it and
    stop sending), then stop: calls in flight get `grace` seconds to finish."""
    for name in ("", SERVICE):
        running.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    time.sleep(min(grace, 1.0) if drain is None else drain)
    running.server.stop(grace).wait()
    running.servicer.pool.close()

