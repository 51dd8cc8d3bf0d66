"""Derivation workers (symshape_server.workers): each task runs in one large-stack thread (deep networks,
no hand-over per call); Ctrl-C, sent to the whole process group, leaves them quiet and serving (the server
stops them); a pool closed while a derivation's compiled program is still on its way hands the waiting
caller an error, never a hang; nothing holds up the interpreter's exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from symshape.limits import current
from symshape_server.workers import ReplyOptions, ShuttingDown, WorkerCrashed, WorkerPool

CLASSIC = "framework: torch\ninput: [3, H]\nlayers:\n  - Conv1d: {out_channels: 4, kernel_size: K}\n"


def chain(n: int, tag: str = "") -> str:
    layers = [{"Conv2d": {"out_channels": f"D{k}{tag}", "kernel_size": f"F{k}{tag}", "stride": f"S{k}{tag}",
                          "padding": f"P{k}{tag}"}} for k in range(n)]
    return json.dumps({"framework": "torch", "input": ["C", "H", "W"], "layers": layers})


@pytest.fixture()
def pool():
    p = WorkerPool(1)
    deadline = time.monotonic() + 120
    while not p.idle and time.monotonic() < deadline:
        time.sleep(0.05)
    assert p.idle, "no worker became ready"
    yield p
    p.close()


def test_a_deep_network_derives_in_the_worker_s_one_thread(pool: WorkerPool) -> None:
    derived = pool.derive(chain(400), "chain", current(), 120)  # nested 400 floors deep: SymPy recursion
    assert derived.response and len(derived.compiled.program.ops) > 400


def test_ctrl_c_leaves_a_worker_quiet_and_serving() -> None:
    """SIGINT to the worker (what Ctrl-C on `symshape serve` sends every process of the group): no
    traceback, the same worker alive and serving. (In a subprocess: its stderr is the worker's.)"""
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        sys.path.insert(0, {os.getcwd()!r})
        from symshape.limits import current
        from symshape_server.workers import WorkerPool
        pool = WorkerPool(1)
        while not pool.idle:
            time.sleep(0.05)
        (pid,) = pool.pids()
        os.kill(pid, signal.SIGINT)
        time.sleep(0.5)
        assert pool.pids() == [pid], pool.pids()
        print(sorted(pool.derive({CLASSIC!r}, "classic", current(), 60).compiled.program.symbols), flush=True)
        pool.close()
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "['H', 'K']" in out.stdout, out.stderr[-2000:]
    assert "KeyboardInterrupt" not in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]


def test_closing_while_the_program_is_on_its_way_gives_an_error_not_a_hang(pool: WorkerPool) -> None:
    derived = pool.derive(chain(150, "c"), "chain", current(), 120, options=ReplyOptions())
    pool.close()  # the worker is still building the evaluation program (after the reply)
    start = time.monotonic()
    try:
        derived.later.get()
    except (ShuttingDown, WorkerCrashed):
        pass  # killed before sending it: the caller who needs the program is told
    assert time.monotonic() - start < 10


def test_the_interpreter_exits_at_once_with_a_program_pending() -> None:
    """A process that exits right after a reply, its pool never closed: no thread holds up the exit."""
    script = textwrap.dedent(f"""
        import json, sys, time
        sys.path.insert(0, {os.getcwd()!r})
        from symshape.limits import current
        from symshape_server.workers import WorkerPool
        pool = WorkerPool(1)
        while not pool.idle:
            time.sleep(0.05)
        spec = {chain(300, "x")!r}
        pool.derive(spec, "chain", current(), 120)
        print("replied", flush=True)
    """)
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "replied" in out.stdout, out.stderr[-2000:]
    assert "Traceback" not in out.stderr, out.stderr[-2000:]
    print(f"\nexit after the reply: {time.monotonic() - start:.1f} s in all")
