"""Expressions as portable graphs: what a client in any language evaluates without SymPy.

A graph is a list of nodes in evaluation order, each ``(op, args, value)`` with ``args`` indices of
earlier nodes; the expression's value is the last node. Shared subexpressions appear once, so the
graph of a 200-layer closed form stays linear in depth and is never deeply nested (protobuf
messages could not nest that deep). The ops are the compiled program's: integer (``value`` the
decimal text), symbol (``value`` the name), add, mul, pow, floor_div, max, min, mod, the relations
ge, gt, le, lt, eq, ne, and and, or, not.
"""

from __future__ import annotations

from collections.abc import Mapping

from .algebra import as_expr
from .program import ProgramBuilder

__all__ = ["OPS", "expression_graph", "evaluate_graph"]

OPS = {"const": "integer", "sym": "symbol", "add": "add", "mul": "mul", "pow": "pow", "fdiv": "floor_div",
       "max": "max", "min": "min", "mod": "mod", ">=": "ge", ">": "gt", "<=": "le", "<": "lt", "==": "eq",
       "!=": "ne", "and": "and", "or": "or", "not": "not"}


def expression_graph(e: object, defs: Mapping | None = None) -> list[tuple[str, tuple[int, ...], str]]:
    """The graph of one expression (size atoms expanded through `defs`)."""
    b = ProgramBuilder(defs)
    root = b.add(e if isinstance(e, bool) else as_expr(e))
    program = b.build()
    nodes: list[tuple[str, tuple[int, ...], str]] = []
    for op, args in program.ops[: root + 1]:
        if op == "const":
            value = args[0]
            nodes.append(("integer", (), str(int(value))))
        elif op == "sym":
            nodes.append(("symbol", (), args[0]))
        else:
            nodes.append((OPS[op], tuple(args), ""))
    return nodes


def evaluate_graph(nodes: list[tuple[str, tuple[int, ...], str]], values: Mapping[str, int]) -> int:
    """Reference evaluation of a graph on Python ints (what a client implements)."""
    out: list = []
    for op, args, value in nodes:
        a = [out[i] for i in args]
        if op == "integer":
            out.append(int(value))
        elif op == "symbol":
            out.append(values[value])
        elif op == "add":
            out.append(sum(a))
        elif op == "mul":
            r = 1
            for x in a:
                r *= x
            out.append(r)
        elif op == "pow":
            out.append(a[0] ** a[1])
        elif op == "floor_div":
            out.append(a[0] // a[1])
        elif op == "ceil_div":
            out.append(-(-a[0] // a[1]))
        elif op == "mod":
            out.append(a[0] % a[1])
        elif op == "max":
            out.append(max(a))
        elif op == "min":
            out.append(min(a))
        elif op == "not":
            out.append(int(not a[0]))
        elif op == "and":
            out.append(int(all(a)))
        elif op == "or":
            out.append(int(any(a)))
        else:
            out.append(int({"ge": a[0] >= a[1], "gt": a[0] > a[1], "le": a[0] <= a[1], "lt": a[0] < a[1],
                            "eq": a[0] == a[1], "ne": a[0] != a[1]}[op]))
    return int(out[-1])
