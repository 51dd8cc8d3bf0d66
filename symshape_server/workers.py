"""Derivations in worker processes that can be killed when a caller's deadline passes.

SymPy work cannot be interrupted inside a thread, so each derivation runs in a worker process;
when the deadline passes the worker is killed and replaced, and the server carries on. A worker
returns the finished DeriveResponse (bytes) and the compiled evaluation program (plain data), so
Evaluate and EvaluateBatch never need a worker: they run in the serving process, from the cache.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import queue
import threading
import time
from dataclasses import asdict
from typing import Any

from symshape.errors import LimitError, Location, SpecError


class DeadlineExceeded(Exception):
    pass


class WorkerCrashed(Exception):
    pass


def _worker_main(conn: Any) -> None:
    import symshape
    from symshape_server.convert import derive_response

    while True:
        try:
            payload, source = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        try:
            d = symshape.derive(payload, source=source)
            response = derive_response(d).SerializeToString()
            conn.send(("ok", (d.key, response, pickle.dumps(d.compiled, protocol=pickle.HIGHEST_PROTOCOL))))
        except SpecError as err:
            conn.send(("spec_error", (type(err).__name__, err.message, asdict(err.location))))
        except Exception as err:  # noqa: BLE001 - reported to the caller as INTERNAL, the worker lives on
            conn.send(("error", f"{type(err).__name__}: {err}"))


def rebuild_error(kind: str, message: str, location: dict) -> SpecError:
    location = {**location, "path": tuple(location.get("path") or ())}
    cls = LimitError if kind == "LimitError" else SpecError
    return cls(message, Location(**location))


class WorkerPool:
    def __init__(self, size: int) -> None:
        self.ctx = mp.get_context("spawn")  # the serving process runs gRPC threads: never fork it
        self.idle: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        self.closed = False
        self.size = max(1, size)
        for _ in range(self.size):
            self.idle.put(self._spawn())

    def _spawn(self) -> tuple[Any, Any]:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker_main, args=(child,), daemon=True, name="symshape-derive")
        proc.start()
        child.close()
        return proc, parent

    def derive(self, payload: Any, source: str, timeout: float) -> tuple[str, bytes, Any]:
        """(derivation key, DeriveResponse bytes, compiled program); raises SpecError or DeadlineExceeded."""
        start = time.monotonic()
        try:
            worker = self.idle.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            raise DeadlineExceeded("no worker became free before the deadline") from None
        proc, conn = worker
        remaining = timeout - (time.monotonic() - start)
        try:
            conn.send((payload, source))
            ready = conn.poll(max(remaining, 0.0))
            if not ready:
                self._replace(worker)
                raise DeadlineExceeded(f"the derivation ran past the deadline ({timeout:.3g} s); it was stopped")
            status, result = conn.recv()
        except (EOFError, BrokenPipeError, OSError) as err:
            self._replace(worker)
            raise WorkerCrashed(f"a derivation worker died: {err!r}") from None
        self.idle.put(worker)
        if status == "ok":
            key, response, compiled = result
            return key, response, pickle.loads(compiled)
        if status == "spec_error":
            raise rebuild_error(*result)
        raise WorkerCrashed(result)

    def _replace(self, worker: tuple[Any, Any]) -> None:
        proc, conn = worker
        proc.kill()
        proc.join(timeout=5)
        conn.close()
        if not self.closed:
            self.idle.put(self._spawn())

    def close(self) -> None:
        self.closed = True
        while True:
            try:
                proc, conn = self.idle.get_nowait()
            except queue.Empty:
                break
            proc.kill()
            proc.join(timeout=5)
            conn.close()
