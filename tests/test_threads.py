"""symshape_server.threads.CallPool: at most `core` calls at once; a call in blocking() gives its turn to the
next; a stall (a call that holds its turn and waits without saying so) gets one more turn from the watchdog,
withdrawn later; threads leave when idle and at shutdown. Then the real server: its unary calls run on the
pool, and Evaluate keeps answering while a derivation holds the only call thread's turn in a worker."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future

import grpc
import pytest

from symshape.client import Client
from symshape_server.gen import shape_algebra_pb2 as pb
from symshape_server.service import ServerConfig, create_server, shutdown
from symshape_server.threads import CallPool, blocking

from .test_server import CLASSIC, VALUES, _wait, slow_spec


class Meter:
    """Counts calls running at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def __call__(self, seconds: float) -> int:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(seconds)
        with self.lock:
            self.now -= 1
        return 1


def _settled(pool: CallPool, turns: int) -> None:
    """Wait until the calls' threads have given their turns back: a future is done before its thread does."""
    _wait(lambda: pool.turns == turns and not pool.waiting(), 5)


class QuickIdle(CallPool):
    IDLE = 0.2


@pytest.mark.parametrize("core", [1, 2, 3])
def test_at_most_core_calls_run_at_once(core: int) -> None:
    pool = CallPool(core, 64)
    meter = Meter()
    try:
        results = [pool.submit(meter, 0.004) for _ in range(40)]
        assert sum(f.result(10) for f in results) == 40
        assert meter.most == core  # (4 ms calls start every few ms: never a stall)
        assert pool.stalls == 0 and pool.threads == core
    finally:
        pool.shutdown()


def test_a_call_in_blocking_gives_its_turn() -> None:
    pool = CallPool(1, 8)
    released = threading.Event()

    def waits() -> str:
        with blocking():
            assert released.wait(10)
        return "waited"

    try:
        first = pool.submit(waits)
        t0 = time.monotonic()
        second = pool.submit(released.set)  # runs while the first waits: the only turn was given back
        second.result(5)
        assert time.monotonic() - t0 < pool.STALL  # not the watchdog's doing
        assert first.result(5) == "waited"
        _settled(pool, 1)
        assert pool.stalls == 0 and pool.turns == 1 and pool.extra == 0
    finally:
        pool.shutdown()


def test_blocking_outside_a_pool_thread_does_nothing() -> None:
    with blocking():
        pass


def test_a_stall_gets_one_more_turn_then_it_is_withdrawn() -> None:
    class Short(CallPool):
        EXTRA_FOR = 0.3

    pool = Short(1, 8)
    released = threading.Event()
    try:
        first = pool.submit(released.wait, 10)  # holds the only turn, without blocking()
        t0 = time.monotonic()
        second = pool.submit(released.set)
        second.result(5)
        waited = time.monotonic() - t0
        assert pool.STALL * 0.9 <= waited < 2.0, waited
        assert first.result(5) is True
        _settled(pool, 2)
        assert pool.stalls == 1 and pool.extra == 1 and pool.turns == 2
        time.sleep(Short.EXTRA_FOR + 0.05)
        meter = Meter()
        assert sum(f.result(5) for f in [pool.submit(meter, 0.002) for _ in range(20)]) == 20
        _settled(pool, 1)
        assert pool.extra == 0 and pool.turns == 1  # withdrawn at the next call's end
    finally:
        pool.shutdown()


def test_results_exceptions_and_cancellation_travel_in_futures() -> None:
    pool = CallPool(1, 4)
    try:
        assert pool.submit(lambda a, b=0: a + b, 2, b=3).result(5) == 5
        with pytest.raises(ZeroDivisionError):
            pool.submit(lambda: 1 // 0).result(5)
        gate = threading.Event()
        first = pool.submit(gate.wait, 5)
        queued = pool.submit(lambda: "never")
        assert queued.cancel()
        gate.set()
        assert first.result(5) is True and queued.cancelled()
        _settled(pool, 1)
        assert pool.turns == 1
    finally:
        pool.shutdown()


def test_threads_over_core_leave_when_idle_and_all_leave_at_shutdown() -> None:
    pool = QuickIdle(1, 8)
    gates = [threading.Event() for _ in range(4)]

    def waits(gate: threading.Event) -> None:
        with blocking():
            gate.wait(10)

    futures = [pool.submit(waits, g) for g in gates]
    assert _wait(lambda: pool.threads == 4, 5) is not None  # each waiting call gave its turn: a thread each
    for g in gates:
        g.set()
    for f in futures:
        f.result(5)
    assert _wait(lambda: pool.threads == 1, 3) is not None  # back to core after IDLE
    pool.shutdown()
    assert pool.threads == 0


def test_core_must_be_within_most() -> None:
    with pytest.raises(ValueError):
        CallPool(0, 4)
    with pytest.raises(ValueError):
        CallPool(5, 4)


# ---------------------------------------------------------------- the server


def test_the_servers_unary_calls_run_on_the_call_pool() -> None:
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1, call_threads=2))
    running.server.start()
    try:
        with Client(f"127.0.0.1:{running.port}") as c:
            key = c.derive(CLASSIC, timeout=60).derivation_id
            before = running.calls.started
            for k in range(10):
                c.evaluate(key, {**VALUES, "I": 32 + k})
            c.list_layers()
            assert running.calls.started - before == 11  # (grpc read the pool from the behavior)
            assert running.calls.threads <= 2 + 1
    finally:
        shutdown(running, 0.5)
    assert _wait(lambda: running.calls.threads == 0, 5) is not None


def test_evaluate_answers_while_a_derivation_waits_in_a_worker() -> None:
    """One call thread: a cold Derive of a slow spec waits for its worker (seconds); Evaluate calls on a cached
    derivation still answer at once (the Derive gave its turn while it waited), not after it."""
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=2, call_threads=1, max_layers=2000))
    running.server.start()
    try:
        target = f"127.0.0.1:{running.port}"
        with Client(target) as slow, Client(target) as fast:
            key = fast.derive(CLASSIC, timeout=60).derivation_id
            fast.evaluate(key, VALUES)
            busy = slow.stub.Derive.future(_derive_request(slow_spec()), timeout=30)
            assert _wait(lambda: running.servicer.pool.pids(busy_only=True), 10) is not None
            times = []
            for k in range(20):
                t0 = time.monotonic()
                fast.evaluate(key, {**VALUES, "I": 40 + k})
                times.append(time.monotonic() - t0)
            assert not busy.done()  # still deriving: the answers did not wait for it
            assert max(times) < 1.0, times
            assert running.calls.stalls == 0  # the turn was given, not taken by the watchdog
            busy.result()
    finally:
        shutdown(running, 0.5)


def _derive_request(text: str) -> pb.DeriveRequest:
    return pb.DeriveRequest(spec=pb.Spec(text=text))


def test_reflection_and_health_stay_on_the_servers_pool() -> None:
    """The streams (reflection, health watch, EvaluateBatch) are not the call pool's: one held open takes none
    of its turns."""
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1, call_threads=1))
    running.server.start()
    try:
        target = f"127.0.0.1:{running.port}"
        from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
            ProtoReflectionDescriptorDatabase,
        )

        with grpc.insecure_channel(target) as channel, Client(target) as c:
            assert "symshape.v1.ShapeAlgebraService" in ProtoReflectionDescriptorDatabase(channel).get_services()
            started = running.calls.started
            assert c.health() == "SERVING"
            assert running.calls.started == started
            c.evaluate(CLASSIC, VALUES)
            assert running.calls.started == started + 1
    finally:
        shutdown(running, 0.5)


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_a_call_back_from_blocking_with_calls_queued_wakes_the_watchdog() -> None:
    """A call is queued while a turn is free (an idle thread is told), and the call in blocking() takes its turn
    back before that thread runs, then computes for long: the queued call starts after one stall, not after the
    computation (the race made certain by holding the pool's lock; found in review)."""
    waits = []
    for _ in range(5):
        pool = CallPool(1, 4)
        try:
            pool.submit(lambda: None).result(5)  # one idle thread
            gate, inside = threading.Event(), threading.Event()

            def computes(inside: threading.Event = inside, gate: threading.Event = gate) -> None:
                with blocking():
                    inside.set()
                    gate.wait(10)
                _spin(0.6)  # holds the turn, not in blocking()

            first = pool.submit(computes)
            assert inside.wait(5)
            time.sleep(0.01)
            with pool._lock:  # the call's return from blocking() queues on the lock before the submit's release
                gate.set()
                time.sleep(0.01)
                queued: Future = Future()
                t0 = time.monotonic()
                pool._queue.append((queued, time.monotonic, (), {}))  # = submit(time.monotonic), under its lock
                pool._wake()
            waits.append(queued.result(5) - t0)
            first.result(5)
        finally:
            pool.shutdown()
    assert max(waits) < 0.3, waits  # one stall (20 ms) and scheduling, not the 600 ms computation


def test_a_call_that_waits_for_its_program_gives_its_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Evaluate by spec (and an id rebuilt) waits on its own thread for the compiled program after the
    derivation's reply: that wait gives the turn too (found in review), as the derivation's does."""
    from symshape.limits import current
    from symshape_server import workers
    from symshape_server.threads import _here

    seen: list[tuple[str, int]] = []
    receive = workers.WorkerPool._receive

    def recording(self: workers.WorkerPool, worker: object, task: str, timeout: float) -> tuple:
        pool = getattr(_here, "pool", None)
        if pool is not None:
            seen.append((task, pool.turns))
        return receive(self, worker, task, timeout)

    monkeypatch.setattr(workers.WorkerPool, "_receive", recording)
    workers_pool = workers.WorkerPool(1)
    pool = CallPool(1, 4)
    try:
        derived = pool.submit(workers_pool.derive, CLASSIC, "spec", current(), 60, (),
                              workers.ReplyOptions(reply=False)).result(120)
        assert derived.later.get()[0].program is not None
        assert seen == [("derive", 1), ("derive", 1)]  # the reply, then the program: the turn given both times
    finally:
        pool.shutdown()
        workers_pool.close()


def test_a_late_call_after_shutdown_still_runs() -> None:
    """grpc submits from its event loop, which an exception would end: a call that arrives after shutdown
    (a server whose stop timed out) is still run, on a thread that then leaves."""
    pool = CallPool(1, 4)
    pool.shutdown()
    assert pool.submit(lambda: "late").result(5) == "late"
    assert _wait(lambda: pool.threads == 0, 5) is not None


def test_servers_leave_no_threads_behind() -> None:
    """A server that cannot listen, and one started and shut down: no call-pool thread, watchdog or receiver of
    compiled programs is left (tests start many servers; found in review)."""
    def ours() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith(("symshape-call", "symshape-compiled"))}

    before = ours()  # (an earlier test's threads may still be leaving: only this test's must be gone)
    with pytest.raises((OSError, RuntimeError)):  # (grpc raises RuntimeError: the address cannot be bound)
        create_server("256.1.1.1:1", ServerConfig(derive_workers=1))
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1))
    running.server.start()
    with Client(f"127.0.0.1:{running.port}") as c:
        c.evaluate(CLASSIC, VALUES)
    shutdown(running, 0.5)
    assert _wait(lambda: not ours() - before, 5) is not None, sorted(t.name for t in ours() - before)
