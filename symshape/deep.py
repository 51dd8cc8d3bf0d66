"""Running SymPy work on deep expressions without hitting Python's recursion limit, within a time bound.

symshape's own algorithms are iterative, but SymPy's printers, sort keys and hashes recurse
once per nesting level, and a 1,000-layer network nests its closed form 1,000 levels deep. So
the public entry points that hand expressions to SymPy run here: in a worker thread with a
large stack and a raised recursion limit (in the calling thread when already inside one). Workers
wait for the next call when done (up to MAX_IDLE of them), so a call costs no thread start.

The same worker bounds the time: when a call runs longer than ``limits.seconds`` (see
:mod:`symshape.limits`), the caller gets a :class:`~symshape.errors.LimitError` and the worker is
stopped (an asynchronous exception, raised at its next Python instruction: SymPy is pure Python,
and the size limits keep every single big-integer operation short).
"""

from __future__ import annotations

import ctypes
import queue
import sys
import threading
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from .errors import LimitError
from .limits import current

__all__ = ["deep", "run_deep", "run_in_deep_thread"]

STACK_BYTES = 512 * 1024 * 1024
RECURSION_LIMIT = 200_000
STOP_GRACE = 2.0  # seconds a stopped worker gets to unwind before the caller stops waiting
_local = threading.local()
_setup = threading.Lock()
T = TypeVar("T")


class _Deadline(BaseException):
    """Raised inside a worker past its deadline (a BaseException: no `except Exception` swallows it)."""


def _stop(thread: threading.Thread) -> None:
    ident = thread.ident
    if ident is not None and thread.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(_Deadline))


class _Worker:
    """A large-stack thread that runs calls one at a time and waits for the next (kept idle for reuse:
    starting a thread per call cost more than the call itself for small expressions)."""

    def __init__(self) -> None:
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = _large_stack_thread(self._loop, "symshape-deep")

    def _loop(self) -> None:
        _local.inside = True
        while True:
            task = self.tasks.get()
            if task is None:
                return
            fn, args, kwargs, box, done = task
            _raise_recursion_limit()
            try:
                box["value"] = fn(*args, **kwargs)
            except BaseException as err:  # noqa: BLE001 - handed back to the caller's thread as is
                box["error"] = err
            finally:
                done.set()
            if isinstance(box.get("error"), _Deadline):
                return  # stopped past its deadline: this worker ends (it is never reused)


_idle: list[_Worker] = []
MAX_IDLE = 4


def _raise_recursion_limit() -> None:
    """The limit is process-wide and others lower it (torch.export sets its own): raised again where needed."""
    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)


def _large_stack_thread(target: Callable[[], None], name: str) -> threading.Thread:
    """A daemon thread with STACK_BYTES of stack, started (the stack size is process-wide too: set under
    _setup for this thread only)."""
    with _setup:
        _raise_recursion_limit()
        previous = threading.stack_size(STACK_BYTES)
        try:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
        finally:
            threading.stack_size(previous)
    return thread


def _take() -> _Worker:
    with _setup:
        if _idle:
            return _idle.pop()
    return _Worker()


def _give_back(worker: _Worker) -> None:
    with _setup:
        if len(_idle) < MAX_IDLE:
            _idle.append(worker)
            return
    worker.tasks.put(None)


def run_deep(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    if getattr(_local, "inside", False):  # a large-stack thread already
        _raise_recursion_limit()
        return fn(*args, **kwargs)
    box: dict[str, Any] = {}
    done = threading.Event()
    worker = _take()
    worker.tasks.put((fn, args, kwargs, box, done))
    seconds = current().seconds
    if not done.wait(seconds):
        # past the deadline: stop the worker (again while it swallows the exception) and give up on it;
        # a stopped worker is never reused
        for _ in range(int(STOP_GRACE / 0.05)):
            if done.is_set():
                break
            _stop(worker.thread)
            done.wait(0.05)
        name = getattr(fn, "__qualname__", "the computation")
        raise LimitError(f"gave up after {seconds:g} s ({name}): the spec is too large or too complex "
                         "for the time limit (symshape.limits: seconds)")
    _give_back(worker)
    if "error" in box:
        err = box["error"]
        if isinstance(err, _Deadline):  # pragma: no cover - a stop that arrived as the call ended
            raise LimitError(f"gave up after {seconds:g} s")
        raise err
    return box["value"]


def run_in_deep_thread(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a new large-stack thread marked as inside, so that the `run_deep` calls in it run
    directly: no hand-over to a worker thread per call and no time bound of their own. For a process
    whose whole work is deep and bounded from outside: the server's derivation workers, which the server
    kills at their deadlines (each call here would otherwise cost two thread wake-ups)."""
    box: dict[str, Any] = {}

    def body() -> None:
        _local.inside = True
        try:
            box["value"] = fn(*args)
        except BaseException as err:  # noqa: BLE001 - handed back to the caller's thread as is
            box["error"] = err

    _large_stack_thread(body, "symshape-deep-main").join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def deep(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator: run `fn` through :func:`run_deep`."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return run_deep(fn, *args, **kwargs)

    return wrapper
