"""The gRPC servicer: proto in, symshape call, proto out (errors become statuses in `status`).

    running = create_server("127.0.0.1:0", ServerConfig(...))   # tests bind port 0
    running.server.start(); ...; shutdown(running, grace=5)

Derivations (parse included) run in worker processes that a deadline kills (`workers`); Evaluate
and EvaluateBatch run here on the cached compiled program, bounded in size (`bounds`) and checked
against the deadline, or in a worker when the program is too long to hold a serving thread.
"""

from __future__ import annotations

import hashlib
import mimetypes
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field, replace
from typing import Any

import grpc
import numpy as np
from google.rpc import code_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from symshape.errors import BindingError, LimitError, Location, SpecError, SymshapeError
from symshape.evaluate import check_bindings, evaluate, evaluate_batch
from symshape.layers import REGISTRY
from symshape.limits import Limits
from symshape.limits import current as current_limits
from symshape.report import layer_info

from . import convert, reflection, solving
from .bounds import MAX_BITS, check_bits
from .gen import shape_algebra_pb2 as pb
from .gen import shape_algebra_pb2_grpc as pb_grpc
from .ids import BadId, IdCodec
from .interceptors import RESERVE_THREADS, ConcurrencyLimit, DecodeErrors, TokenAuth
from .status import Abort, errors
from .threads import CallPool, blocking
from .wire import EvaluateEncoder
from .workers import DeadlineExceeded, Derived, ReplyOptions, WorkerPool

SERVICE = pb.DESCRIPTOR.services_by_name["ShapeAlgebraService"].full_name
BATCH_WORK = 4_000_000  # rows x program steps per slice of a batch chunk (tens of ms) between deadline checks
FAULTS = ("evaluate", "derive")
NO_REPLY = ReplyOptions(reply=False)  # a derivation for Evaluate/Solve/EvaluateBatch: no Derive reply built
DOCUMENT_FORMATS = ("html", "markdown", "latex", "pdf")
MEDIA_TYPES = {"html": "text/html", "markdown": "text/markdown", "latex": "application/x-latex",
               "pdf": "application/pdf"}


@dataclass
class ServerConfig:
    derive_workers: int = 2  # processes that run derivations (killed at deadlines)
    call_threads: int = 2  # unary calls that run at once; one more per call that waits on a worker (threads.py)
    threads: int = 16  # threads of streams, health and reflection; at least max_concurrent_rpcs + RESERVE_THREADS
    max_concurrent_rpcs: int = 64  # ShapeAlgebraService calls at once; more get RESOURCE_EXHAUSTED (health exempt)
    max_message_bytes: int = 16 * 1024 * 1024
    max_spec_bytes: int = 1_000_000
    max_layers: int = 2_000
    max_batch_rows: int = 1_000_000  # rows in one EvaluateBatch message
    max_derive_seconds: float = 60.0  # a derivation (or a heavy evaluation) stops after this, whatever the deadline
    max_inline_ops: int = 20_000  # an Evaluate of a larger program runs in a worker, where a deadline can stop it
    max_solve_pieces: int = solving.MAX_PIECES  # pieces in one Solve answer; more is RESOURCE_EXHAUSTED
    cache_size: int = 512
    evaluation_cache_size: int = 4096  # Evaluate replies kept per serving process (an LRU; a pure function),
    # from a binding's second request on (ShapeAlgebraServicer._keep)
    id_key: bytes | None = None  # HMAC key of derivation ids, shared by the replicas (symshape_server.ids)
    token: str | None = None  # bearer token; health checks are exempt
    tls: tuple[bytes, bytes] | None = None  # (certificate chain, private key), PEM
    client_ca: bytes | None = None  # PEM roots: require and verify client certificates (mutual TLS)
    max_connection_age_s: float | None = 300.0  # lets round_robin clients pick up new servers
    reuse_port: bool = False
    extra_options: list[tuple[str, Any]] = field(default_factory=list)
    # Test-only: make a real internal failure happen, to check how one is reported. "evaluate" raises
    # inside the Evaluate handler, "derive" inside a derivation worker. Never set it in production.
    fault_injection: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [f for f in self.fault_injection if f not in FAULTS]
        if unknown:
            raise ValueError(f"fault_injection: unknown {unknown}; known: {FAULTS}")


class Cache:
    """derivation id -> Derived (compiled program, size bound), least recently used out; also (id, bindings)
    -> an Evaluate reply."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            hit = self.items.get(key)
            if hit is not None:
                self.items.move_to_end(key)
            return hit

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


class ShapeAlgebraServicer(pb_grpc.ShapeAlgebraServiceServicer):
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.cache = Cache(config.cache_size)
        self.raw_keys: dict[str, str] = {}  # hash of a request's spec message -> derivation id
        self.failures: OrderedDict[str, SpecError] = OrderedDict()  # hash of a request's spec -> its error
        self.replies: OrderedDict[tuple[str, bool, bool], bytes] = OrderedDict()  # (id, options) -> Derive reply
        self.evaluations = Cache(config.evaluation_cache_size)  # (id, bindings) -> Evaluate reply (bytes)
        self.asked = Cache(config.evaluation_cache_size)  # (id, bindings) asked once, not kept yet (see _keep)
        self.encoders = Cache(config.cache_size)  # id -> wire.EvaluateEncoder (each layer's fixed bytes)
        self.codec = IdCodec(config.id_key, max_bytes=4 * config.max_spec_bytes)
        self.rebuilding = [threading.Lock() for _ in range(64)]  # one derivation of an unknown id at a time
        self.pool = WorkerPool(config.derive_workers)
        self.costs: OrderedDict[tuple, Any] = OrderedDict()  # (id, cost options) -> symshape.cost.CostProgram

    # -- helpers

    def _cost_program(self, derived: Derived, options: pb.CostOptions, context: grpc.ServicerContext) -> Any:
        """The cost program for these options: cached, else built in a worker (the deadline bounds it)."""
        opts = _cost_options(options)
        key = (derived.key, tuple(sorted(opts.items())))
        with self.cache.lock:
            hit = self.costs.get(key)
            if hit is not None:
                self.costs.move_to_end(key)
                return hit
        program = self.pool.cost(derived, self.limits, opts, self._timeout(context))
        with self.cache.lock:
            self.costs[key] = program
            while len(self.costs) > self.config.cache_size:
                self.costs.popitem(last=False)
        return program

    @property
    def limits(self) -> Limits:
        """The library's limits with this server's: spec size, layers, and the library's own clock
        (limits.seconds) a little later than the kill, so that the server's cap decides."""
        c = self.config
        return replace(current_limits(), max_bytes=c.max_spec_bytes, max_layers=c.max_layers,
                       seconds=c.max_derive_seconds + 1.0)

    def _timeout(self, context: grpc.ServicerContext) -> float:
        remaining = context.time_remaining()
        cap = self.config.max_derive_seconds
        return cap if remaining is None else min(remaining, cap)

    def _reply(self, key: str, options: ReplyOptions) -> bytes | None:
        with self.cache.lock:
            hit = self.replies.get((key, options.closed_forms, options.layer_graphs))
            if hit is not None:
                self.replies.move_to_end((key, options.closed_forms, options.layer_graphs))
            return hit

    def _put_reply(self, key: str, options: ReplyOptions, reply: bytes) -> None:
        with self.cache.lock:
            self.replies[(key, options.closed_forms, options.layer_graphs)] = reply
            while len(self.replies) > self.config.cache_size:
                self.replies.popitem(last=False)

    def _derived(self, spec: pb.Spec, field: str, context: grpc.ServicerContext,
                 options: ReplyOptions = NO_REPLY) -> Derived:
        raw = hashlib.sha256(spec.SerializeToString(deterministic=True)).hexdigest()
        known = self.raw_keys.get(raw)  # the very same request spec as before: no parsing at all
        hit = self.cache.get(known) if known else None
        if hit is not None and hit.later.failed:  # its program never came (a worker killed): derive it again
            hit = None
        if hit is not None and (not options.reply or self._reply(hit.key, options) is not None):
            return hit
        failed = self.failures.get(raw)  # the very same bad spec again: the same error, no worker needed
        if failed is not None:
            raise type(failed)(failed.message, failed.location)  # a fresh exception: threads share the entry
        try:
            return self._derive_new(spec, field, raw, context, options)
        except SpecError as err:  # deterministic (LimitError included): remembered
            with self.cache.lock:
                self.failures[raw] = err
                while len(self.failures) > self.config.cache_size:
                    self.failures.popitem(last=False)
            raise

    def _derive_new(self, spec: pb.Spec, field: str, raw: str, context: grpc.ServicerContext,
                    options: ReplyOptions) -> Derived:
        payload, where = convert.spec_payload(spec, field)
        if isinstance(payload, str) and len(payload) > self.limits.max_bytes:  # before it crosses a pipe
            raise LimitError(f"spec text is {len(payload):,} characters; the limit is {self.limits.max_bytes:,}",
                             Location(source=where))
        # parsed, checked and derived in a worker: the deadline bounds all of it
        derived = self.pool.derive(payload, where, self.limits, self._timeout(context), self.config.fault_injection,
                                   options)
        key = self.codec.encode(derived.canonical)  # the id: any replica rebuilds it on a miss
        if options.reply:  # the id first, then the worker's reply (protobuf fields concatenate)
            self._put_reply(key, options, pb.DeriveResponse(derivation_id=key).SerializeToString() + derived.response)
        derived = replace(derived, key=key, response=b"")
        hit = self.cache.get(derived.key)
        if hit is None or hit.later.failed:
            self.cache.put(derived.key, derived)
            hit = derived
        if raw:
            with self.cache.lock:
                self.raw_keys[raw] = derived.key
                while len(self.raw_keys) > 4 * self.config.cache_size:
                    self.raw_keys.pop(next(iter(self.raw_keys)))
        return hit

    def _by_id(self, key: str, context: grpc.ServicerContext) -> Derived:
        """The derivation an id names: cached, or derived again from the spec the id carries (any replica,
        any process, after restarts). A hash-only id (a spec too large to carry) is valid where cached."""
        hit = self.cache.get(key)
        if hit is not None and not hit.later.failed:
            return hit
        if IdCodec.hash_only(key):
            raise Abort(code_pb2.NOT_FOUND, f"unknown derivation_id {key[:80]!r}: a spec too large to travel in its "
                        "id is known only where it was derived (pass the spec itself)", "UNKNOWN_DERIVATION",
                        [("derivation_id", "not found")])
        try:
            doc = self.codec.decode(key)
        except BadId as err:
            raise Abort(code_pb2.INVALID_ARGUMENT, f"derivation_id: {err}", "BAD_DERIVATION_ID",
                        [("derivation_id", str(err))]) from None
        lock = self.rebuilding[hash(key) % len(self.rebuilding)]  # concurrent calls with one new id: one derivation
        if not lock.acquire(blocking=False):
            with blocking():  # another call derives it (or one with the same lock): this call's turn goes on
                lock.acquire()
        try:
            hit = self.cache.get(key)
            if hit is not None and not hit.later.failed:
                return hit
            try:
                derived = self.pool.derive(doc, "derivation_id", self.limits, self._timeout(context),
                                           self.config.fault_injection, NO_REPLY)
            except LimitError as err:
                raise Abort(code_pb2.RESOURCE_EXHAUSTED, f"derivation_id: the spec it carries is over this server's "
                            f"limits: {err}", "LIMIT_EXCEEDED", [("derivation_id", str(err))]) from None
            except SpecError as err:
                raise Abort(code_pb2.INVALID_ARGUMENT, f"derivation_id: the spec it carries is refused: {err}",
                            "BAD_SPEC", [("derivation_id", str(err))]) from None
            derived = replace(derived, key=key)
            self.cache.put(key, derived)
            return derived
        finally:
            lock.release()

    def _keep(self, memo: tuple, reply: bytes) -> None:
        """Keep an Evaluate reply for its binding's next request, from the binding's second request on: a sweep
        asks each binding once, and keeping every reply (a few KB each, 4,096 of them) churned the serving
        process's memory for nothing (A/B: 6-8% fewer new ResNet-18 bindings a second). A binding asked once is
        only remembered as asked (its key, not its reply)."""
        if self.asked.get(memo) is None:
            self.asked.put(memo, True)
        else:
            self.evaluations.put(memo, reply)

    def _encoder(self, key: str, compiled: Any, worst_bits: float) -> EvaluateEncoder:
        encoder = self.encoders.get(key)
        if encoder is None or encoder.c is not compiled:
            encoder = EvaluateEncoder(compiled, key, worst_bits)
            self.encoders.put(key, encoder)
        return encoder

    def _target(self, request: Any, context: grpc.ServicerContext) -> Derived:
        which = request.WhichOneof("target")
        if which == "derivation_id":
            return self._by_id(request.derivation_id, context)
        if which == "spec":
            return self._derived(request.spec, "spec", context)
        raise Abort(code_pb2.INVALID_ARGUMENT, "give a spec or a derivation_id", "MISSING_TARGET",
                    [("target", "missing")])

    # -- RPCs

    def Derive(self, request: pb.DeriveRequest, context: grpc.ServicerContext) -> pb.DeriveResponse:  # noqa: N802
        with errors(context):
            if not request.HasField("spec"):
                raise Abort(code_pb2.INVALID_ARGUMENT, "spec is required", "MISSING_SPEC", [("spec", "missing")])
            options = ReplyOptions(request.closed_forms, request.layer_graphs)
            derived = self._derived(request.spec, "spec", context, options)
            reply = self._reply(derived.key, options)
            if reply is None:  # evicted between the two lookups: derive it again (the worker's cache has it)
                derived = self._derive_new(request.spec, "spec", "", context, options)
                reply = self._reply(derived.key, options)
            return reply  # type: ignore[return-value]  # bytes: the handlers pass bytes through (_add_service)

    def Evaluate(self, request: pb.EvaluateRequest, context: grpc.ServicerContext) -> pb.EvaluateResponse:  # noqa: N802
        with errors(context):
            derived = self._target(request, context)
            if "evaluate" in self.config.fault_injection:
                raise RuntimeError("fault injected in Evaluate (ServerConfig.fault_injection)")
            bindings = dict(request.bindings)
            with_cost = request.HasField("cost")
            memo = None if with_cost else (derived.key, tuple(sorted(bindings.items())))
            if memo is not None:
                hit = self.evaluations.get(memo)  # the same binding again: the reply as it was sent
                if hit is not None:
                    return hit  # type: ignore[return-value]  # bytes: passed through (_add_service)
            compiled, worst_bits = derived.later.get()
            cost = None
            if with_cost:  # the cost program also takes the batch symbol
                cost = self._cost_program(derived, request.cost, context)
                cost_values = cost.values(bindings)
                bindings = {k: v for k, v in bindings.items() if k in compiled.accepted}
            values = check_bindings(compiled, bindings)
            program = compiled.program
            if len(program.ops) > self.config.max_inline_ops:  # too long to hold a serving thread: a worker
                reply = self.pool.evaluate(derived.key, compiled, values, self._timeout(context))
                response = pb.EvaluateResponse.FromString(reply)
            else:
                if worst_bits > MAX_BITS:  # some int64 binding could make huge numbers: check this one
                    check_bits(program, values)
                if memo is not None:  # a valid binding: the reply's bytes straight from the registers
                    reply = self._encoder(derived.key, compiled, worst_bits).valid_reply(values)
                    if reply is not None:
                        self._keep(memo, reply)
                        return reply  # type: ignore[return-value]
                response = convert.evaluate_response(derived.key, evaluate(compiled, values))
            if cost is not None:
                response.cost.CopyFrom(_cost_message(cost.run(cost_values)[0]))
            if memo is not None:
                reply = response.SerializeToString()
                self._keep(memo, reply)
                return reply  # type: ignore[return-value]
            return response

    def EvaluateBatch(self, request_iterator: Iterator[pb.EvaluateBatchRequest],  # noqa: N802
                      context: grpc.ServicerContext) -> Iterator[pb.EvaluateBatchResponse]:
        with errors(context, "spec"):
            derived: Derived | None = None
            cost: Any = None  # the cost program, when cost outputs are asked for
            outputs: tuple[str, ...] = ("output_shape", "params")
            offset = 0
            arrow = False
            for request in request_iterator:
                if not context.is_active():  # the caller cancelled or its deadline passed: stop computing
                    return
                if derived is None:
                    derived = self._target(request, context)
                    outputs = tuple(request.outputs) or outputs
                    arrow = request.arrow
                    if request.HasField("cost") or any(o in COST_OUTPUTS for o in outputs):
                        cost = self._cost_program(derived, request.cost, context)
                elif request.WhichOneof("target"):
                    raise Abort(code_pb2.INVALID_ARGUMENT, "only the first chunk names the derivation",
                                "TARGET_REPEATED", [("target", "set on a later chunk")])
                if request.arrow_columns:  # Arrow IPC columns (symshape.arrow), validated, rows bounded
                    columns = _arrow_columns(request, self.config.max_batch_rows)
                else:
                    columns = {name: np.asarray(col.values, dtype=np.int64) for name, col in request.columns.items()}
                rows = max((len(c) for c in columns.values()), default=0)
                if rows > self.config.max_batch_rows:
                    raise Abort(code_pb2.RESOURCE_EXHAUSTED, f"{rows} rows in one chunk; the limit is "
                                f"{self.config.max_batch_rows}: send smaller chunks", "LIMIT_EXCEEDED",
                                [("columns", f"{rows} rows")])
                columns = {k: (int(v[0]) if len(v) == 1 and rows > 1 else v) for k, v in columns.items()}
                try:
                    out = self._batch(derived, columns, rows, outputs, context, arrow, first=offset == 0, cost=cost)
                except BindingError as err:  # a missing or unknown column of Arrow bindings: name that field
                    if not request.arrow_columns or str(err).startswith("unknown batch output"):
                        raise
                    raise Abort(code_pb2.INVALID_ARGUMENT, str(err), "BAD_BINDINGS",
                                [("arrow_columns", str(err))]) from None
                if out is None:
                    return
                out.offset = offset
                offset += rows if arrow else len(out.valid)
                yield out

    def _batch(self, derived: Derived, columns: dict[str, Any], rows: int, outputs: tuple[str, ...],
               context: grpc.ServicerContext, arrow: bool = False, first: bool = True, cost: Any = None
               ) -> pb.EvaluateBatchResponse | None:
        """One chunk, evaluated in slices of bounded work with the deadline checked between them."""
        remaining = context.time_remaining()
        deadline = None if remaining is None else time.monotonic() + remaining
        step = max(64, BATCH_WORK // max(1, len(derived.compiled.program.ops)))
        parts = []
        for start in range(0, rows, step) if rows else [0]:
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlineExceeded(f"the batch ran past the deadline after {start:,} of {rows:,} rows")
            if not context.is_active():
                return None
            part = {k: (v[start:start + step] if isinstance(v, np.ndarray) else v) for k, v in columns.items()}
            parts.append(evaluate_batch(derived.compiled, part, outputs, cost=cost))
        if arrow:  # one Arrow IPC stream for the chunk; the repeated fields stay empty
            from symshape.arrow import results_to_ipc

            return pb.EvaluateBatchResponse(derivation_id=derived.key,
                                            arrow_results=results_to_ipc(_joined(parts, rows), outputs))
        out = pb.EvaluateBatchResponse(derivation_id=derived.key,
                                       valid=np.concatenate([p.valid for p in parts]).tolist())
        if first and ("margins" in outputs or "first_violation" in outputs):
            out.condition_names.extend(parts[0].condition_names)
        if "first_violation" in outputs:
            out.first_violation.extend(np.concatenate([p.columns["first_violation"] for p in parts]).tolist())
        if "margins" in outputs:
            for k in range(len(parts[0].columns["margins"])):
                out.margins.add().values.extend(np.concatenate([p.columns["margins"][k] for p in parts]).tolist())
        flags = [p.overflow for p in parts if getattr(p, "overflow", None) is not None]
        if flags and any(f.any() for f in flags):
            out.overflow.extend(np.concatenate(flags).tolist())
        for name in parts[0].columns:
            if name in ("margins", "first_violation"):
                continue
            if name == "output_shape":
                for axis in zip(*(p.columns[name] for p in parts), strict=True):
                    out.output_shape.add().values.extend(np.concatenate(axis).tolist())
            else:
                out.results[name].values.extend(np.concatenate([p.columns[name] for p in parts]).tolist())
        return out

    def Solve(self, request: pb.SolveRequest, context: grpc.ServicerContext) -> pb.SolveResponse:  # noqa: N802
        with errors(context):
            derived = self._target(request, context)
            bindings, targets = dict(request.bindings), dict(request.targets)
            solving.check(derived.compiled, request.symbol, bindings, targets)
            optional = [request.lo if request.HasField("lo") else None, request.hi if request.HasField("hi") else None,
                        request.near if request.HasField("near") else None]
            values = solving.exact_values(derived, request.symbol, bindings, *optional[:2])
            if derived.worst_bits > MAX_BITS:  # some binding could make huge exact numbers: check these ones
                check_bits(derived.compiled.program, values)
            solving.check_int64(derived.compiled, values, targets, request.HasField("lo"))
            try:  # in a worker: an enumeration (no closed form, a long range) is stopped by the deadline
                reply = self.pool.solve(derived, self.limits, (request.symbol, bindings, targets, *optional,
                                                                   self.config.max_solve_pieces),
                                        self._timeout(context))
            except LimitError as err:  # no closed form, or too much to check or to answer: the range lo..hi helps
                fields = [(name, str(err)) for name in ("lo", "hi") if name == "hi" or request.HasField(name)]
                raise Abort(code_pb2.RESOURCE_EXHAUSTED, str(err), "LIMIT_EXCEEDED", fields) from None
            return pb.SolveResponse.FromString(reply)

    def RenderDocument(self, request: pb.RenderDocumentRequest,  # noqa: N802
                       context: grpc.ServicerContext) -> pb.RenderDocumentResponse:
        with errors(context):
            fmt = request.format or "html"
            if fmt not in DOCUMENT_FORMATS:
                raise Abort(code_pb2.INVALID_ARGUMENT, f"unknown document format {fmt[:40]!r}: one of "
                            f"{', '.join(DOCUMENT_FORMATS)}", "BAD_FORMAT", [("format", fmt[:80])])
            if not request.HasField("spec"):
                raise Abort(code_pb2.INVALID_ARGUMENT, "spec is required", "MISSING_SPEC", [("spec", "missing")])
            image = request.image or "model.svg"
            if len(image) > 100 or not all(c.isalnum() or c in "._-" for c in image) or image.startswith("."):
                raise Abort(code_pb2.INVALID_ARGUMENT, "image is a plain file name (letters, digits, '.', '_', "
                            "'-'; at most 100 characters)", "BAD_IMAGE_NAME", [("image", image[:80])])
            if fmt == "pdf" and shutil.which("pdflatex") is None:
                raise Abort(code_pb2.FAILED_PRECONDITION, "this server has no TeX (pdflatex) to make a PDF: ask for "
                            "'latex' and compile it, or install TeX on the server", "NO_TEX", [("format", "pdf")])
            payload, where = convert.spec_payload(request.spec, "spec")
            if isinstance(payload, str) and len(payload) > self.limits.max_bytes:
                raise LimitError(f"spec text is {len(payload):,} characters; the limit is "
                                 f"{self.limits.max_bytes:,}", Location(source=where))
            try:  # in a worker: the deadline (and max_derive_seconds) bounds parsing, analysis and rendering
                body, files, canonical, never = self.pool.render(payload, where, self.limits, fmt,
                                                                 dict(request.example), image, self._timeout(context))
            except BindingError as err:
                raise Abort(code_pb2.INVALID_ARGUMENT, f"example: {err}", "BAD_BINDINGS",
                            [("example", str(err))]) from None
            reply = pb.RenderDocumentResponse(document=body, media_type=MEDIA_TYPES[fmt], never_valid=never,
                                              derivation_id=self.codec.encode(canonical))
            for name, content in files.items():
                reply.files.add(name=name, content=content,
                                media_type=mimetypes.guess_type(name)[0] or "application/octet-stream")
            return reply

    def ListLayers(self, request: pb.ListLayersRequest, context: grpc.ServicerContext) -> pb.ListLayersResponse:  # noqa: N802
        with errors(context):
            if request.framework not in ("", "keras", "torch"):
                raise Abort(code_pb2.INVALID_ARGUMENT, "framework is 'keras', 'torch' or empty", "BAD_FRAMEWORK",
                            [("framework", request.framework[:80])])
            selected = [r for (fw, n), r in sorted(REGISTRY.items())
                        if request.framework in ("", fw) and request.name in ("", n)]
            if request.name and not selected:
                raise Abort(code_pb2.NOT_FOUND, f"unknown layer {request.name[:80]!r}", "UNKNOWN_LAYER",
                            [("name", request.name[:80])])
            try:
                layers = [_layer_message(r) for r in selected]
            except SymshapeError as err:  # the library's own layer description failed: a bug, not the caller's
                raise RuntimeError(f"layer_info failed: {err}") from err
            return pb.ListLayersResponse(layers=layers)


_LAYER_CACHE: dict[tuple[str, str], pb.LayerInfo] = {}


COST_OUTPUTS = ("forward_flops", "backward_flops", "train_flops", "params_bytes", "grads_bytes",
                "optimizer_bytes", "buffers_bytes", "activations_bytes", "total_bytes")  # symshape.cost.QUANTITIES


def _cost_options(options: pb.CostOptions) -> dict[str, Any]:
    """CostOptions -> the keyword arguments of symshape.cost.cost (unset fields: the defaults)."""
    out: dict[str, Any] = {}
    for name in ("batch", "dtype", "optimizer", "flops", "mode"):
        if len(getattr(options, name)) > 64:
            raise BindingError(f"cost.{name}: {len(getattr(options, name)):,} characters; names are short")
    batch = options.batch.strip()
    if batch:
        digits = batch.lstrip("+-")
        if digits.isdigit() and len(digits) > 19:
            raise BindingError(f"cost.batch: {batch[:30]!r} is beyond int64")
        out["batch"] = int(batch) if digits.isdigit() else batch
    for name in ("dtype", "optimizer", "flops", "mode"):
        value = getattr(options, name)
        if value:
            out[name] = value
    if options.checkpoint:
        out["checkpoint"] = True
    return out


def _cost_message(totals: dict[str, Any]) -> pb.CostValues:
    """The cost at one binding; every field 0 and overflow set when a value does not fit in int64."""
    numbers = {k: totals[k] for k in COST_OUTPUTS}
    if any(v is None or not -(2**63) <= v < 2**63 for v in numbers.values()):
        return pb.CostValues(overflow=True)
    return pb.CostValues(**numbers)


def _layer_message(rule: Any) -> pb.LayerInfo:
    key = (rule.framework, rule.name)
    if key not in _LAYER_CACHE:
        _LAYER_CACHE[key] = convert.layer_info(layer_info(rule))
    return _LAYER_CACHE[key]


@dataclass
class Running:
    server: grpc.Server
    port: int
    servicer: ShapeAlgebraServicer
    health: health.HealthServicer
    limiter: ConcurrencyLimit
    calls: CallPool  # the threads of the unary calls


def create_server(address: str, config: ServerConfig | None = None) -> Running:
    config = config or ServerConfig()
    options = [("grpc.max_receive_message_length", config.max_message_bytes),
               ("grpc.max_send_message_length", config.max_message_bytes),
               ("grpc.so_reuseport", 1 if config.reuse_port else 0), *config.extra_options]
    if config.max_connection_age_s:
        options += [("grpc.max_connection_age_ms", int(config.max_connection_age_s * 1000)),
                    ("grpc.max_connection_age_grace_ms", 30_000)]
    interceptors: list[grpc.ServerInterceptor] = [TokenAuth(config.token)] if config.token else []
    threads = max(config.threads, config.max_concurrent_rpcs + RESERVE_THREADS)
    calls = CallPool(min(config.call_threads, threads), threads)
    limiter = ConcurrencyLimit(config.max_concurrent_rpcs, calls.waiting)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="symshape-rpc"),
                         options=options, interceptors=interceptors)
    servicer = ShapeAlgebraServicer(config)
    _add_service(servicer, server, limiter, calls)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable((SERVICE, health.SERVICE_NAME), server)  # grpc.reflection.v1 and v1alpha
    try:
        if config.tls:
            chain, key = config.tls
            creds = grpc.ssl_server_credentials([(key, chain)], root_certificates=config.client_ca,
                                                require_client_auth=config.client_ca is not None)
            port = server.add_secure_port(address, creds)
        else:
            port = server.add_insecure_port(address)
        if port == 0:
            raise OSError(f"cannot listen on {address}")
    except BaseException:  # nothing started is left behind: the call threads, the derivation workers
        calls.shutdown(wait=False)
        servicer.pool.close()
        raise
    return Running(server, port, servicer, health_servicer, limiter, calls)


def _serialize(reply: Any) -> bytes:
    """A reply message, or a reply already serialized (Derive's replies are cached as bytes)."""
    return reply if isinstance(reply, bytes) else reply.SerializeToString()


def _add_service(servicer: ShapeAlgebraServicer, server: grpc.Server, limiter: ConcurrencyLimit,
                 calls: CallPool) -> None:
    """The generated registration, with replies that may be bytes already (no parse and re-serialize), each
    handler wrapped once in the concurrency limit and safe decoding (an interceptor would do it per call);
    the unary calls run on `calls` (grpc's per-method pool), the streams on the server's pool."""
    handlers = {}
    for method in pb.DESCRIPTOR.services_by_name["ShapeAlgebraService"].methods:
        request = getattr(pb, method.input_type.name)
        kind = grpc.stream_stream_rpc_method_handler if method.client_streaming else \
            grpc.unary_unary_rpc_method_handler
        handler = kind(getattr(servicer, method.name), request_deserializer=request.FromString,
                       response_serializer=_serialize)
        handlers[method.name] = limiter.wrap(DecodeErrors.wrap(handler))
        if not method.client_streaming and not method.server_streaming:  # (grpc reads the pool from the behavior)
            handlers[method.name].unary_unary.experimental_thread_pool = calls
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)


def not_serving(running: Running) -> None:
    for name in ("", SERVICE):
        running.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)


def shutdown(running: Running, grace: float = 5.0, drain: float | None = None) -> None:
    """Done within `grace` seconds: NOT_SERVING first, still serving for `drain` seconds (default: half the
    grace, at most 1 s; health checkers and load balancers see it and stop sending), then stop accepting
    calls; the calls in flight get the rest of the grace, then every derivation worker is killed (their
    calls get UNAVAILABLE)."""
    start = time.monotonic()
    not_serving(running)
    time.sleep(min(grace / 2, 1.0) if drain is None else max(0.0, min(drain, grace)))
    running.server.stop(max(0.0, grace - (time.monotonic() - start))).wait(grace + 1)
    running.calls.shutdown(wait=False)
    running.servicer.pool.close()


def _arrow_columns(request: pb.EvaluateBatchRequest, max_rows: int) -> dict[str, np.ndarray]:
    """A chunk's Arrow IPC bindings; a chunk sets columns or arrow_columns, not both."""
    if request.columns:
        raise Abort(code_pb2.INVALID_ARGUMENT, "a chunk sets columns or arrow_columns, not both", "BAD_BINDINGS",
                    [("arrow_columns", "set together with columns")])
    from symshape.arrow import ipc_to_columns

    try:
        return ipc_to_columns(request.arrow_columns, max_rows)
    except LimitError as err:
        raise Abort(code_pb2.RESOURCE_EXHAUSTED, str(err), "LIMIT_EXCEEDED", [("arrow_columns", str(err))]) from None
    except SymshapeError as err:
        raise Abort(code_pb2.INVALID_ARGUMENT, str(err), "BAD_BINDINGS", [("arrow_columns", str(err))]) from None


def _joined(parts: list[Any], rows: int) -> Any:
    """The slices of one chunk as one BatchResult."""
    if len(parts) == 1:
        return parts[0]
    from symshape.evaluate import BatchResult

    columns: dict[str, Any] = {}
    for name, first in parts[0].columns.items():
        if isinstance(first, list):
            columns[name] = [np.concatenate([p.columns[name][k] for p in parts]) for k in range(len(first))]
        else:
            columns[name] = np.concatenate([np.broadcast_to(p.columns[name], (p.length,)) for p in parts])
    return BatchResult(rows, columns, np.concatenate([p.valid for p in parts]),
                       np.concatenate([p.overflow for p in parts]), parts[0].condition_names)
