"""The threads that run the service's unary calls: a few at once, more only while some wait.

grpc's sync server hands every call to a thread pool. With a large pool, a load of short calls keeps
many threads runnable at once, and they take turns at the GIL: each of grpc's own short releases of it
becomes a hand-off to another thread, and the hand-offs cost more than the calls. Measured on 2 cores,
8 calls in flight: a bare echo server answers about 1.4x more calls with 2 threads than with 68, and a
handler that computes 50 us loses 10-15% of the echo's rate on 2 threads, 20-40% on 68.

So `CallPool` runs at most `core` calls at once (turns). A call that waits (for a derivation worker, or
for a program still on its way) says so with `blocking()`, and its turn goes to the next call while it
waits. Anything else that holds a turn for long without saying so (a client slow to send its request, a
long computation) is caught by a watchdog: when calls wait and none has started for `STALL` seconds, one
more turn is granted, and withdrawn once `EXTRA_FOR` seconds pass without a stall. Threads are started
as turns need them, up to `most`; a thread with no turn to take leaves after `IDLE` seconds.

What that means at the edges: grpc waits for a unary call's request message on its thread, where
blocking() cannot reach (and every call passes there: giving the turn each time would bring the
contention back), so each client slow to send its request costs one stall (20 ms) before a turn covers
it; more such clients than `most` hold every thread, as with any pool of that size. Many calls that
compute longer than `STALL` each make the watchdog add turns (up to `most`): they then run side by side,
as on a plain pool.

grpc takes a per-method pool (the behavior's `experimental_thread_pool`) only if it is a
`concurrent.futures.ThreadPoolExecutor`; this is one, with its own queue and threads (grpc only calls
`submit`). Nothing here knows about gRPC.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from typing import Any

__all__ = ["CallPool", "blocking"]

_here = threading.local()  # .pool: the CallPool whose thread this is


@contextmanager
def blocking() -> Iterator[None]:
    """Around a wait inside a call: on a CallPool thread, the call's turn goes to another call while it waits
    (elsewhere, nothing)."""
    pool: CallPool | None = getattr(_here, "pool", None)
    if pool is None:
        yield
        return
    pool._give_turn()
    try:
        yield
    finally:
        pool._take_turn()


class CallPool(futures.ThreadPoolExecutor):
    """An executor that runs at most `core` calls at once, plus one per call in `blocking()` and one per
    recent stall; up to `most` threads."""

    STALL = 0.02  # seconds without a call started, while calls wait for a turn: one more turn
    EXTRA_FOR = 1.0  # a stall's turn is withdrawn once this long has passed without another stall
    IDLE = 30.0  # a thread with nothing to run leaves after this long (down to `core` threads)

    def __init__(self, core: int, most: int, name: str = "symshape-call") -> None:  # noqa: D107
        # (the base class's __init__ is not called: none of its queue, threads or exit hooks are used)
        if not 1 <= core <= most:
            raise ValueError(f"a CallPool needs 1 <= core <= most, got core={core}, most={most}")
        self.core, self.most, self.name = core, most, name
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # threads with no turn or no call wait here
        self._watch = threading.Condition(self._lock)  # the watchdog, while nothing waits for a turn
        self._queue: deque[tuple[futures.Future, Callable, tuple, dict]] = deque()
        self.turns = core  # calls that may start now (negative: calls back from blocking() over the count)
        self.extra = 0  # turns granted by stalls and not withdrawn yet
        self.threads = 0
        self.idle = 0
        self._starting = False  # a thread started and not running yet (it wakes the next one: one at a time)
        self.started = 0  # calls started, ever: the watchdog's sign of progress
        self.stalls = 0  # stalls seen, ever
        self._last_stall = -float("inf")
        self._dormant = False  # the watchdog waits to be told that calls wait for a turn
        self._closed = False
        self._watchdog = threading.Thread(target=self._watch_loop, name=f"{name}-watchdog", daemon=True)
        self._watchdog.start()

    # -- the executor

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> futures.Future:
        """Run fn(*args, **kwargs) when a turn is free; its future. After shutdown too: grpc submits from its
        event loop, which an exception would end, and a call that arrives late (a server whose stop timed out)
        is still answered (a thread starts for it, and leaves)."""
        future: futures.Future = futures.Future()
        with self._lock:
            self._queue.append((future, fn, args, kwargs))
            self._wake()
        return future

    def waiting(self) -> int:
        """Calls waiting for a turn."""
        return len(self._queue)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Threads leave once the queue is empty (the queued calls still run, or with `cancel_futures` are
        cancelled); idle threads and the watchdog leave at once; with `wait`, returns when every thread has
        left."""
        with self._lock:
            self._closed = True
            cancelled = list(self._queue) if cancel_futures else []
            if cancel_futures:
                self._queue.clear()
            self._work.notify_all()
            self._watch.notify_all()
        for future, *_ in cancelled:  # (outside the lock: a future's callbacks take their own locks)
            future.cancel()
        if wait:
            deadline = time.monotonic() + 60
            while self.threads and time.monotonic() < deadline:
                time.sleep(0.01)

    # -- turns

    def _wake(self) -> None:
        """(under the lock) A thread for the next queued call if a turn is free; else the watchdog's eye."""
        if not self._queue:
            return
        if self.turns > 0:
            if self.idle:
                self._work.notify()
            elif self.threads < self.most and not self._starting:
                self._starting = True
                self.threads += 1
                try:
                    threading.Thread(target=self._run, name=f"{self.name}-{self.started}", daemon=True).start()
                except RuntimeError:  # (no thread can start now: the call waits for a running one)
                    self._starting = False
                    self.threads -= 1
        elif self._dormant:
            self._dormant = False
            self._watch.notify()

    def _give_turn(self) -> None:
        with self._lock:
            self.turns += 1
            self._wake()

    def _take_turn(self) -> None:
        with self._lock:
            self.turns -= 1
            self._wake()  # no turn left now while calls wait: the watchdog must look

    def _run(self) -> None:
        _here.pool = self
        lock = self._lock
        with lock:
            self._starting = False
            while True:
                while not (self._queue and self.turns > 0):
                    if self._closed and not self._queue:
                        self.threads -= 1
                        return
                    self.idle += 1
                    woken = self._work.wait(self.IDLE)
                    self.idle -= 1
                    if not woken and self.threads > self.core and not (self._queue and self.turns > 0):
                        self.threads -= 1
                        return
                future, fn, args, kwargs = self._queue.popleft()
                self.turns -= 1
                self.started += 1
                self._wake()  # more calls and turns: another thread (a notify wakes one)
                lock.release()
                try:
                    if future.set_running_or_notify_cancel():
                        try:
                            future.set_result(fn(*args, **kwargs))
                        except BaseException as err:  # noqa: BLE001 - the future carries it, as in the base class
                            future.set_exception(err)
                    del future, fn, args, kwargs  # (no reference kept while idle)
                finally:
                    lock.acquire()
                if self.extra and time.monotonic() - self._last_stall > self.EXTRA_FOR:
                    self.extra -= 1  # the stall's turn goes back (this one is not freed)
                else:
                    self.turns += 1

    def _watch_loop(self) -> None:
        with self._lock:
            while not self._closed:
                if not (self._queue and self.turns <= 0):
                    self._dormant = True
                    self._watch.wait()
                    self._dormant = False
                    continue
                started, until = self.started, time.monotonic() + self.STALL
                while not self._closed and (left := until - time.monotonic()) > 0:
                    self._watch.wait(left)  # (not notified while awake: only shutdown wakes it early)
                if (not self._closed and self._queue and self.turns <= 0 and self.started == started
                        and self.extra < self.most - self.core):
                    self.extra += 1
                    self.turns += 1
                    self.stalls += 1
                    self._last_stall = time.monotonic()
                    self._wake()
