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
        kept = [Node() for _ in range(20_000)]  # far past the default thresholds: nothing collects it
        assert w() is not None
    """,
    "a task's cyclic garbage is freed after the task, in the older young generation too": """
        c = BetweenTasks()
        n = cycle(); w = weakref.ref(n)
        gc.collect(0)  # (now in generation 1)
        del n
        c.after_task()
        assert w() is None
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
        tracked = {id(o) for o in gc.get_objects()}  # what a collection scans: the frozen are not among them
        assert not any(id(k) in tracked for k in kept)
    """,
    "a full collection waits while the next task is already there, up to PUT_OFF tasks": """
        c = BetweenTasks()
        c.FULL_EVERY, c.PUT_OFF, c.THAW_EVERY = 2, 3, 1000
        kept = [cycle() for _ in range(100)]
        before = gc.get_freeze_count()
        for _ in range(4):  # due at task 2, put off at tasks 2, 3 and 4
            c.after_task(lambda: True)
        assert gc.get_freeze_count() == before
        c.after_task(lambda: True)  # task 5: put off 3 tasks already
        assert gc.get_freeze_count() >= before + 100
        for _ in range(2):
            c.after_task(lambda: True)  # (the count starts again)
        assert c.last_full == 5
        c.after_task()  # task 8: due, nothing waits
        assert c.last_full == 8
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
    from symshape.cost import _CACHE as cost_cache
    from symshape_server.convert import derive_reply

    d = symshape.derive(path, cache=False)
    derive_reply(d)
    derive_reply(d, closed_forms=True, layer_graphs=True)
    d.compiled  # noqa: B018 - what the worker builds after the reply
    d.to_dict()
    d.cost()  # (a cached cost, whose derivation is `d` itself in a network without training BatchNorm)
    d.cost(dtype="bf16-mixed", optimizer="adamw").compiled  # noqa: B018 - as the worker's cost task
    alive = weakref.ref(d)
    cost_cache.clear()  # (evicted from the bounded cache of costs, which holds its derivations)
    gc.collect()
    gc.disable()
    try:
        del d
        return alive() is None
    finally:
        gc.enable()


def test_the_cache_of_costs_lets_its_derivations_go() -> None:
    """Costs are cached per derivation and options, bounded: a derivation dropped by its caller is freed once
    its costs leave that cache (a cache keyed by the derivation itself held it for good: a Cost holds it)."""
    from symshape.cost import _CACHE_SIZE
    from symshape.deep import run_deep

    assert run_deep(_costs_let_go, _CACHE_SIZE + 8) <= _CACHE_SIZE


def _costs_let_go(n: int) -> int:
    import gc
    import weakref

    import symshape

    text = (ROOT / "examples" / "classic_symbolic.yaml").read_text()
    alive = []
    for k in range(n):
        d = symshape.derive(text.replace("[I, I, 3]", f"[I, I, {k + 3}]"), cache=False)
        d.cost()
        alive.append(weakref.ref(d))
        del d
    gc.collect()
    return sum(r() is not None for r in alive)
