"""`portable.expression_graph` walks an expression itself instead of compiling a Program (the cold Derive's
graphs): its nodes must be exactly ProgramBuilder's, in its order, with its sharing and folding. Checked
against the builder's path (copied here as the reference) on every expression the server turns into a graph
for every example and 100+ fuzzed specs, on the library's own expressions (sizes, counts and their closed
forms, conditions, named sizes, with and without the size atoms' definitions), and on hand-made corner
cases (folding through definitions, booleans, relations, logic, powers the builder refuses, deep chains)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import sympy
from sympy import Integer, Symbol

import symshape
from symshape import portable
from symshape.algebra import Dim, FloorDiv, as_expr
from symshape.deep import run_deep
from symshape.portable import expression_graph
from symshape.program import ProgramBuilder
from symshape_server import convert
from tests.fuzzgen import derivations

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
OPTIONS = [(False, False), (True, False), (False, True), (True, True)]
Graph = list[tuple[str, tuple[int, ...], str]]


def reference(e: object, defs: Mapping | None = None) -> Graph:
    """expression_graph as it was: through ProgramBuilder and its Program."""
    b = ProgramBuilder(defs)
    root = b.add(e if isinstance(e, bool) else as_expr(e))
    nodes: Graph = []
    for op, args in b.build().ops[: root + 1]:
        if op == "const":
            nodes.append(("integer", (), str(int(args[0]))))
        elif op == "sym":
            nodes.append(("symbol", (), args[0]))
        else:
            nodes.append((portable.OPS[op], tuple(args), ""))
    return nodes


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "graph", fn(*args)
    except Exception as err:  # the builder's refusals must stay the same refusals
        return "error", (type(err), str(err))


def same(e: object, defs: Mapping | None) -> bool:
    """expression_graph(e, defs) is the reference's (graph or error); returns whether the walk itself did it
    (not the builder it hands unknown nodes to)."""
    want = _outcome(reference, e, defs)
    assert _outcome(expression_graph, e, defs) == want, (e, defs is not None)
    if isinstance(e, bool):
        return True
    try:
        walked = portable._walk(as_expr(e), defs or {})
    except portable._Unknown:
        return False
    assert ("graph", walked) == want, (e, defs is not None)
    return True


def _recorded(d: Any) -> list[tuple[Any, Any]]:
    """Every (expression, defs) the server turns into a graph for `d`, under each option set."""
    calls: list[tuple[Any, Any]] = []

    def record(e: Any, defs: Any = None) -> Graph:
        calls.append((e, defs))
        return expression_graph(e, defs)

    original = convert.expression_graph
    convert.expression_graph = record
    try:
        for closed_forms, layer_graphs in OPTIONS:
            run_deep(convert.derive_reply, d, closed_forms, layer_graphs)
    finally:
        convert.expression_graph = original
    return calls


def _library(d: Any) -> Iterator[tuple[Any, Any]]:
    """The library's own expressions, each with the definitions and without."""
    exprs: list[Any] = []
    if not d.never_valid:
        exprs += [*d.output_shape, *d.closed_form]
        for name in ("trainable", "non_trainable", "buffers", "macs", "activations"):
            count = getattr(d, name)
            exprs += [count, d.collapse(count)]
        for closed_forms in (False, True):
            exprs += [rel for _, rel in d.constraints(closed_forms)]
        names = d.size_names
        for size in names.definitions():
            exprs += [size.definition, names.named(size.definition)]
        for ly in d.layers:
            exprs += [s for shape in ly.outputs for s in shape]
            exprs += [getattr(ly, n) for n in ("trainable", "non_trainable", "buffers", "macs", "activations")]
    for nc in d.conditions:
        c = nc.condition
        exprs += [c.lhs] if c.op == "holds" else [c.lhs, c.rhs]
    for e in exprs:
        if e is not None:
            yield e, d.defs
            yield e, None


def _check(d: Any) -> tuple[int, int]:
    """(expressions compared, of them walked by the fast path)."""
    pairs = _recorded(d)
    assert pairs or d.never_valid  # (the recorder saw the server's calls: else this compares nothing)
    pairs += list(_library(d))
    walked = run_deep(lambda: sum(same(e, defs) for e, defs in pairs))
    return len(pairs), walked


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples(path: Path) -> None:
    total, walked = _check(symshape.derive(path, cache=False))
    assert total > 20 and walked == total


def test_fuzzed() -> None:
    ds = derivations(3000, 500)
    assert len(ds) >= 100
    total = walked = 0
    for d in ds:
        t, w = _check(d)
        total, walked = total + t, walked + w
    assert total > 5000 and walked == total


def test_chain() -> None:
    layers = "".join(f"  - Conv2d: {{out_channels: C{i}, kernel_size: K{i}, stride: S{i}}}\n" for i in range(30))
    d = symshape.derive(f"framework: torch\ninput: [C, H, W]\nlayers:\n{layers}", cache=False)
    total, walked = _check(d)
    assert walked == total


H, W, K = sympy.symbols("H W K", integer=True, positive=True)


def _corners() -> list[tuple[Any, Any]]:
    a, b, c = Dim("a"), Dim("b"), Dim("c")
    defs = {a: Integer(3), b: Integer(-5), c: H + 2 * a}
    hp = Symbol("H")  # the same name, other assumptions: one symbol node, as in the builder
    d1, d2 = sympy.Dummy("H"), sympy.Dummy("H")
    return [
        (True, None), (False, None), (7, None), (-3, None), (0, defs), (sympy.true, None), (sympy.false, None),
        (H + W, None), (-H, None), (H - 2 * W + 7, None), (H * W * K, None), (H**2, None), (H**0 + W, None),
        (sympy.Max(H, W, 3), None), (sympy.Min(H, 1 - W), None), (sympy.Mod(H, 4), None),
        (FloorDiv(H + K - 1, K), None), (FloorDiv(H - 3, 2) + 1, None), (sympy.Mod(FloorDiv(H, 2), 2), None),
        (sympy.Ge(H, 3), None), (sympy.Gt(H, W), None), (sympy.Le(H, 3), None), (sympy.Lt(W, H + 1), None),
        (sympy.Eq(sympy.Mod(H, 2), 0), None), (sympy.Ne(H, W), None),
        (sympy.And(sympy.Ge(H, 3), sympy.Ne(W, 2)), None), (sympy.Or(sympy.Ge(H, 3), sympy.Lt(W, 2)), None),
        (sympy.Not(sympy.Ge(H, 3)), None), (sympy.And(sympy.Ge(H, 1), sympy.Or(sympy.Ge(H, 3), sympy.Eq(H, 1))), None),
        # size atoms: through their definitions (constants folded) or as symbols by name
        (a + b, defs), (a + b + 2, defs), (sympy.Max(a + b, -2), defs), (a * b + a + b, defs), (c * c + a, defs),
        (sympy.Max(Integer(-2), a + b), defs), (sympy.Ge(c, a + b), defs), (a + b, None), (c + H, None),
        (sympy.Add(a, b, evaluate=False), defs), (sympy.Add(a, Integer(-3), evaluate=False), defs),
        (sympy.Mul(a, b, evaluate=False), defs), (hp + H, None), (hp * H + W, None), (d1 + d2, None),
        (sympy.Max(Integer(2), sympy.Add(a, Integer(-1), evaluate=False)), defs),
        (sympy.Add(Integer(1), a, evaluate=False), {a: sympy.true}), (sympy.Max(a, b), {a: sympy.true, b: 1}),
        # what the builder refuses (the same error)
        (H / 2, None), (H**-1, None), (H**W, None), (sympy.Rational(1, 2) * H, None), (sympy.ceiling(H / 2), None),
        (sympy.sqrt(H), None), (H + sympy.Float(1.5), None), (sympy.oo, None),
        (sympy.Piecewise((H, H > 2), (W, True)), None),
    ]


@pytest.mark.parametrize("case", _corners(), ids=lambda c: repr(c[0]) + (" (defs)" if c[1] else ""))
def test_corners(case: tuple[Any, Any]) -> None:
    e, defs = case
    walked = same(e, defs)
    refused = _outcome(reference, e, defs)[0] == "error"
    assert walked != refused  # the walk does all the builder compiles, and leaves it only what it refuses


def test_deep_chain_does_not_recurse() -> None:
    """A 300-layer chain (each size built on the one before): compared in a thread whose stack and recursion
    limit would not survive a recursive walk."""
    e = flat = H
    atoms = {}
    for i in range(300):
        e = FloorDiv(e + 2 * Symbol(f"P{i % 7}") - Symbol(f"K{i % 5}"), Symbol(f"S{i % 3}")) + 1
        flat = FloorDiv(flat + 2 * Symbol(f"P{i % 7}") - Symbol(f"K{i % 5}"), Symbol(f"S{i % 3}")) + 1
        if i % 50 == 49:
            atom = Dim(f"x{i}")
            atoms[atom], e = e, atom
    deep = e + sum(atoms)  # (hashes computed as they are built, outside the small stack)
    out: dict[str, Any] = {}

    def walk() -> None:
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(120)
        try:
            out["graphs"] = [expression_graph(deep, atoms), expression_graph(flat), expression_graph(deep)]
        finally:
            sys.setrecursionlimit(old)

    t = threading.Thread(target=walk)
    t.start()
    t.join()
    assert "graphs" in out
    big = run_deep(reference, flat)
    assert out["graphs"] == [run_deep(reference, deep, atoms), big, run_deep(reference, deep)]
    assert len(big) > 600  # (two nodes a layer: deeper than the recursion limit)
