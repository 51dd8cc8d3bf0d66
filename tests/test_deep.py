"""run_deep: calls run on reused large-stack workers, deep recursion works, a call past the time limit
is stopped with a LimitError and its worker is never reused."""

import sys
import threading
import time
from dataclasses import replace

import pytest

from symshape import limits
from symshape.deep import run_deep
from symshape.errors import LimitError


def depth(n: int) -> int:
    return 0 if n == 0 else 1 + depth(n - 1)


def test_deep_recursion_and_reuse():
    assert run_deep(depth, 50_000) == 50_000  # far past the default recursion limit of the caller's thread
    names = {run_deep(lambda: threading.current_thread().ident) for _ in range(50)}
    assert len(names) == 1  # one worker, reused: no thread per call
    before = threading.active_count()
    for _ in range(200):
        run_deep(sum, [1, 2, 3])
    assert threading.active_count() <= before + 1


def test_errors_come_back_as_they_are():
    with pytest.raises(KeyError, match="boom"):
        run_deep(lambda: {}["boom"])
    assert run_deep(lambda: 7) == 7


def test_past_the_time_limit_the_call_is_stopped():
    previous = limits.set_limits(seconds=0.3)
    try:
        spinning = {}

        def spin() -> None:
            spinning["thread"] = threading.current_thread()
            while True:
                sum(range(100))

        started = time.perf_counter()
        with pytest.raises(LimitError, match="gave up after 0.3 s"):
            run_deep(spin)
        assert time.perf_counter() - started < 3
        stopped = run_deep(lambda: threading.current_thread())
    finally:
        limits._current[0] = replace(previous)
    assert run_deep(lambda: 1 + 1) == 2  # a fresh worker serves the next call
    assert stopped is not spinning["thread"]
    spinning["thread"].join(3)
    assert not spinning["thread"].is_alive()  # the stopped worker ended
    assert sys.getrecursionlimit() >= 200_000


def test_run_in_deep_thread_runs_deep_calls_in_place():
    """The derivation workers' loop: one large-stack thread, run_deep calls inside run directly (the same
    thread, no hand-over), deep recursion works, results and errors come back as they are."""
    from symshape.deep import run_in_deep_thread

    def body() -> tuple:
        here = threading.current_thread().ident
        return here, {run_deep(lambda: threading.current_thread().ident) for _ in range(20)}, run_deep(depth, 50_000)

    here, inner, deep_result = run_in_deep_thread(body)
    assert inner == {here} and here != threading.current_thread().ident and deep_result == 50_000
    sys.setrecursionlimit(1000)  # lowered by someone else meanwhile (it is process-wide): raised again
    assert run_in_deep_thread(lambda: run_deep(depth, 20_000)) == 20_000
    with pytest.raises(KeyError, match="boom"):
        run_in_deep_thread(lambda: {}["boom"])
