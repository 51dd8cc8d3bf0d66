"""Around the handlers: bearer-token authentication (an interceptor: it guards every service but
health), and, wrapped once around each ShapeAlgebraService handler when it is registered, the
concurrency limit and requests that do not decode (no per-call interceptor pipeline on the hot path).

Health checks (and reflection) are never counted by the concurrency limit: a loaded server still
answers its health checks.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.rpc import code_pb2

from .status import Abort, to_status

__all__ = ["ConcurrencyLimit", "DecodeErrors", "TokenAuth"]

RESERVE_THREADS = 4  # beyond max_concurrent_rpcs: health, reflection and refusals always find a thread


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
            context.abort_with_status(to_status(Abort(code_pb2.UNAUTHENTICATED, "a valid bearer token is required",
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


class ConcurrencyLimit:
    """At most `limit` ShapeAlgebraService calls at once, counting those queued for a call thread
    (`waiting`); more get RESOURCE_EXHAUSTED as soon as they get a thread (a turn of the CallPool: tens of
    ms under load), never after they ran.

    grpc's own maximum_concurrent_rpcs counts every call, health checks included, so a loaded server
    would refuse its health checks; this limit counts only the calls of the handlers it wraps (the
    service's: health and reflection are not, and they run on the server's own pool, which has
    RESERVE_THREADS threads beyond the limit)."""

    def __init__(self, limit: int, waiting: Callable[[], int] = lambda: 0) -> None:
        self.limit = limit
        self.waiting = waiting  # calls admitted but not started yet (queued for a thread): they count too
        self.active = 0
        self.lock = threading.Lock()

    def _enter(self, context: grpc.ServicerContext) -> None:
        with self.lock:
            if self.active + self.waiting() < self.limit:
                self.active += 1
                return
        context.abort_with_status(to_status(Abort(
            code_pb2.RESOURCE_EXHAUSTED, f"the server is running its limit of {self.limit} concurrent calls; "
            "retry later", "TOO_MANY_CALLS", metadata={"max_concurrent_rpcs": str(self.limit)})))

    def _exit(self) -> None:
        with self.lock:
            self.active -= 1

    def wrap(self, handler: Any) -> Any:
        """The handler, counted."""
        if handler.response_streaming:
            kind = "stream_stream" if handler.request_streaming else "unary_stream"
            inner = getattr(handler, kind)

            def streaming(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                self._enter(context)
                try:
                    yield from inner(request, context)
                finally:
                    self._exit()

            return handler._replace(**{kind: streaming})
        kind = "stream_unary" if handler.request_streaming else "unary_unary"
        inner = getattr(handler, kind)

        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            self._enter(context)
            try:
                return inner(request, context)
            finally:
                self._exit()

        return handler._replace(**{kind: unary})


class _Undecodable:
    """What a request that protobuf cannot decode (nested too deep, not protobuf) becomes."""

    def __init__(self, error: str) -> None:
        self.error = error


def _bad_encoding(what: _Undecodable) -> Abort:
    return Abort(code_pb2.INVALID_ARGUMENT, f"the request is not a valid message: {what.error[:200]}",
                 "BAD_REQUEST_ENCODING", [("request", "cannot be decoded")])


class DecodeErrors:
    """A request protobuf cannot decode is INVALID_ARGUMENT (grpc's own answer would be INTERNAL)."""

    @staticmethod
    def wrap(handler: Any) -> Any:
        """The handler, with its requests decoded safely."""
        decode = handler.request_deserializer

        def safe_decode(data: bytes) -> Any:
            try:
                return decode(data)
            except Exception as err:  # noqa: BLE001 - DecodeError and whatever a decoder raises
                return _Undecodable(str(err))

        changes: dict[str, Any] = {"request_deserializer": safe_decode}
        if handler.request_streaming:
            kind = "stream_stream" if handler.response_streaming else "stream_unary"
            inner = getattr(handler, kind)

            def checked(requests: Iterator[Any]) -> Iterator[Any]:
                for request in requests:
                    if isinstance(request, _Undecodable):
                        raise _bad_encoding(request)  # inside the handler: its errors() maps it
                    yield request

            changes[kind] = lambda requests, context: inner(checked(requests), context)
        else:
            kind = "unary_stream" if handler.response_streaming else "unary_unary"
            inner = getattr(handler, kind)

            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                if isinstance(request, _Undecodable):
                    context.abort_with_status(to_status(_bad_encoding(request)))
                return inner(request, context)

            changes[kind] = unary
        return handler._replace(**changes)
