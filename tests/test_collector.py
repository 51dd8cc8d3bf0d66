"""symshape_server.collector: a derivation worker collects garbage between tasks, never during one.

Each case runs in a fresh interpreter: BetweenTasks turns the process's automatic collection off."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PRELUDE = """
import gc, weakref
from symshape_server.collector import BetweenTasks

class Node:
    pass

def cycle():
    n = Node()
    n.me = n  # garbage only a collection frees
    return n
"""

CASES = {
    "automatic collection is off, what is alive is frozen": """
        c = BetweenTasks()
        assert not gc.isenabled()
        assert gc.get_freeze_count() > 0
        n = cycle(); w = weakref.ref(n); del n
        for _ in range(20_000):  # far past the default thresholds: nothing collects it
            Node()
        assert w() is not None
    """,
    "a task's cyclic garbage is freed after the task": """
        c = BetweenTasks()
        n = cycle(); w = weakref.ref(n); del n
        c.after_task()
        assert w() is None
    """,
    "survivors of a full collection are frozen, so later full collections skip them": """
        c = BetweenTasks()
        c.FULL_EVERY, c.THAW_EVERY = 2, 1000
        before = gc.get_freeze_count()
        kept = [cycle() for _ in range(500)]
        c.after_task()  # young collection only
        assert gc.get_freeze_count() == before
        c.after_task()  # full collection: the survivors are frozen
        assert gc.get_freeze_count() >= before + 500
    """,
    "frozen cycles that become garbage are freed at the next thaw": """
        c = BetweenTasks()
        c.FULL_EVERY, c.THAW_EVERY = 2, 4
        kept = cycle(); w = weakref.ref(kept)
        c.after_task(); c.after_task()  # task 2: full, `kept` frozen
        del kept  # (an evicted cache entry holding a cycle)
        c.after_task(); assert w() is not None  # young collection: frozen objects are not scanned
        c.after_task()  # task 4: thaw, then a full collection
        assert w() is None
    """,
}


@pytest.mark.parametrize("name", list(CASES))
def test_between_tasks(name: str) -> None:
    code = PRELUDE + textwrap.dedent(CASES[name])
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_a_dropped_derivation_is_freed_without_a_collection(path: Path) -> None:
    """A derivation, with everything a Derive reply and Evaluate read of it, holds no reference cycle: dropped
    (evicted from a cache), reference counting frees it at once. The worker freezes what survives its full
    collections, so a cycle would stay until the next thaw. (In one deep thread, as in the worker: a call
    from another thread hands its result back through the deep thread's box.)"""
    from symshape.deep import run_deep

    assert run_deep(_freed, path), "a reference cycle keeps the dropped derivation alive"


def _freed(path: Path) -> bool:
    import gc
    import weakref

    import symshape
    from symshape_server.convert import derive_reply

    d = symshape.derive(path, cache=False)
    derive_reply(d)
    derive_reply(d, closed_forms=True, layer_graphs=True)
    d.compiled  # noqa: B018 - what the worker builds after the reply
    d.to_dict()
    alive = weakref.ref(d)
    gc.collect()
    gc.disable()
    try:
        del d
        return alive() is None
    finally:
        gc.enable()
