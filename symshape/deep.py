"""Running SymPy work on deep expressions without hitting Python's recursion limit.

symshape's own algorithms are iterative, but SymPy's printers, sort keys and hashes recurse
once per nesting level, and a 1,000-layer network nests its closed form 1,000 levels deep. So
the public entry points that hand expressions to SymPy run here: in a worker thread with a
large stack and a raised recursion limit (in the calling thread when already inside one).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

__all__ = ["deep"]

STACK_BYTES = 512 * 1024 * 1024
RECURSION_LIMIT = 200_000
_local = threading.local()
_setup = threading.Lock()
T = TypeVar("T")


def run_deep(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    if getattr(_local, "inside", False):
        return fn(*args, **kwargs)
    box: dict[str, Any] = {}

    def target() -> None:
        _local.inside = True
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as err:  # noqa: BLE001 - handed back to the caller's thread as is
            box["error"] = err

    with _setup:
        if sys.getrecursionlimit() < RECURSION_LIMIT:
            sys.setrecursionlimit(RECURSION_LIMIT)
        previous = threading.stack_size(STACK_BYTES)
        try:
            worker = threading.Thread(target=target, name="symshape-deep", daemon=True)
            worker.start()
        finally:
            threading.stack_size(previous)
    worker.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def deep(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator: run `fn` through :func:`run_deep`."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return run_deep(fn, *args, **kwargs)

    return wrapper
