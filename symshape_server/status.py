"""Exceptions to gRPC statuses, in one place: a code, a message, an ErrorInfo reason and field violations.

Bad input (symshape's error family) is INVALID_ARGUMENT or RESOURCE_EXHAUSTED and names the request
field; anything unexpected is INTERNAL with a short error id, the traceback logged under the same id,
never sent to the caller.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from types import TracebackType

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from symshape.errors import BindingError, LimitError, SpecError, SymshapeError

from . import convert
from .workers import DeadlineExceeded, ShuttingDown, WorkerCrashed, WorkerFailed

__all__ = ["Abort", "errors", "internal_error", "to_status"]

DOMAIN = "symshape.dev"
log = logging.getLogger("symshape_server")


class Abort(Exception):
    """An error for the caller: a status code, a message, a reason and field violations."""

    def __init__(self, code: int, message: str, reason: str, fields: list[tuple[str, str]] | None = None,
                 metadata: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.reason = code, message, reason
        self.fields = fields or []
        self.metadata = metadata or {}


MAX_MESSAGE = 2_000  # characters of a status message or a field violation (the trailer must stay under 16 KiB)


def _cut(text: str, limit: int = MAX_MESSAGE) -> str:
    return text if len(text) <= limit else text[: limit - 40] + f"... ({len(text) - limit + 40:,} more characters)"


def to_status(err: Abort) -> grpc.Status:
    """The status with its details; every text bounded, so that a huge message (1,900 missing symbols)
    still reaches the caller instead of breaking the trailer's size limit."""
    err.message = _cut(err.message)
    err.fields = [(_cut(f, 200), _cut(d)) for f, d in err.fields[:20]]
    err.metadata = {_cut(k, 100): _cut(v, 200) for k, v in list(err.metadata.items())[:20]}
    info = error_details_pb2.ErrorInfo(reason=err.reason, domain=DOMAIN, metadata=err.metadata)
    details = [any_pb2.Any()]
    details[0].Pack(info)
    if err.fields:
        bad = error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in err.fields])
        details.append(any_pb2.Any())
        details[-1].Pack(bad)
    return rpc_status.to_status(status_pb2.Status(code=err.code, message=err.message, details=details))


def internal_error(what: str, details: str) -> Abort:
    """INTERNAL with a short error id; the details (a traceback) go to the server log under the same id,
    never to the caller."""
    error_id = uuid.uuid4().hex[:12]
    log.error("error id %s: %s\n%s", error_id, what, details)
    return Abort(code_pb2.INTERNAL, f"internal error (error id {error_id}): the server log has the details",
                 "INTERNAL", metadata={"error_id": error_id})


def _abort(context: grpc.ServicerContext, err: Exception, field: str) -> None:
    """The one place where exceptions become gRPC statuses."""
    if isinstance(err, Abort):
        context.abort_with_status(to_status(err))
    if isinstance(err, LimitError):
        source = err.location.source or ""
        field = source if source.startswith(field) or source in ("bindings", "columns") else field
        context.abort_with_status(to_status(Abort(code_pb2.RESOURCE_EXHAUSTED, str(err), "LIMIT_EXCEEDED",
                                                [(convert.spec_field(field, err), str(err))])))
    if isinstance(err, SpecError):
        loc = err.location
        field = loc.source if (loc.source or "").startswith(field) else field
        meta = {k: str(v) for k, v in (("line", loc.line), ("layer_index", loc.layer_index),
                                       ("layer_name", loc.layer_name), ("argument", loc.argument)) if v is not None}
        context.abort_with_status(to_status(Abort(code_pb2.INVALID_ARGUMENT, str(err), "BAD_SPEC",
                                                [(convert.spec_field(field, err), str(err))], meta)))
    if isinstance(err, BindingError):
        context.abort_with_status(to_status(Abort(code_pb2.INVALID_ARGUMENT, str(err), "BAD_BINDINGS",
                                                [("bindings", str(err))])))
    if isinstance(err, OverflowError):
        context.abort_with_status(to_status(Abort(code_pb2.OUT_OF_RANGE, str(err), "INT64_OVERFLOW")))
    if isinstance(err, DeadlineExceeded):
        context.abort_with_status(to_status(Abort(code_pb2.DEADLINE_EXCEEDED, str(err), "DEADLINE_EXCEEDED")))
    if isinstance(err, ShuttingDown):
        context.abort_with_status(to_status(Abort(code_pb2.UNAVAILABLE, str(err), "SHUTTING_DOWN")))
    if isinstance(err, WorkerCrashed):
        abort = internal_error("a derivation worker died", str(err))
        abort.message = f"{err} (error id {abort.metadata['error_id']})"
        abort.reason = "WORKER_DIED"
        context.abort_with_status(to_status(abort))
    if isinstance(err, WorkerFailed):
        context.abort_with_status(to_status(internal_error("exception in a derivation worker", str(err))))
    context.abort_with_status(to_status(internal_error("exception in a handler", traceback.format_exc())))


EXPECTED = (Abort, SymshapeError, OverflowError, DeadlineExceeded, ShuttingDown, WorkerCrashed, grpc.RpcError)


class errors:  # noqa: N801 - a context manager, read as `with errors(context):`
    """Every exception in a handler becomes a status (unexpected ones INTERNAL, logged with an id). A class, not
    a generator: it is entered on every call, Evaluate's included."""

    __slots__ = ("context", "field")

    def __init__(self, context: grpc.ServicerContext, field: str = "spec") -> None:
        self.context, self.field = context, field

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> bool:
        if not isinstance(err, Exception):  # none, or GeneratorExit / KeyboardInterrupt: as they are
            return False
        context = self.context
        if context.is_active():
            _abort(context, err, self.field)
        elif not isinstance(err, EXPECTED):  # the caller is gone, but a bug is still logged
            internal_error("exception in a handler whose caller is gone", traceback.format_exc())
        # the caller is gone (deadline, cancel): end the call as aborted, so grpc has no reply to serialize
        context.abort(grpc.StatusCode.CANCELLED, "the caller is gone")
        return False  # (not reached: abort raises)
