"""Expressions as portable graphs: what a client in any language evaluates without SymPy.

A graph is a list of nodes in evaluation order, each ``(op, args, value)`` with ``args`` indices of
earlier nodes; the expression's value is the last node. Shared subexpressions appear once, so the
graph of a 200-layer closed form stays linear in depth and is never deeply nested (protobuf
messages could not nest that deep). The ops are the compiled program's: integer (``value`` the
decimal text), symbol (``value`` the name), add, mul, pow, floor_div, max, min, mod, the relations
ge, gt, le, lt, eq, ne, and and, or, not.

`expression_graph` walks the expression itself, emitting the nodes that `symshape.program.ProgramBuilder`
would compile, in its order, with its sharing and its folding (the cold Derive builds one graph per
network-level expression: going through a Program cost ~5 us a node). Anything the walk does not know
(a node type outside the ops, a power it could not compile, a number that is not an integer) sends the
whole expression through the builder, which compiles it or raises exactly as before.
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy
from sympy import Add, Basic, Integer, Mod, Mul, Pow, Symbol
from sympy.core.relational import Relational
from sympy.logic.boolalg import And, BooleanFalse, BooleanTrue, Not, Or

from .algebra import FloorDiv, as_expr
from .program import ProgramBuilder

__all__ = ["OPS", "expression_graph", "evaluate_graph"]

OPS = {"const": "integer", "sym": "symbol", "add": "add", "mul": "mul", "pow": "pow", "fdiv": "floor_div",
       "max": "max", "min": "min", "mod": "mod", ">=": "ge", ">": "gt", "<=": "le", "<": "lt", "==": "eq",
       "!=": "ne", "and": "and", "or": "or", "not": "not"}

Graph = list[tuple[str, tuple[int, ...], str]]

# what the walk does with a node of each type: one of these kinds (_UNKNOWN: through the builder)
_UNKNOWN, _INT, _TRUE, _FALSE, _SYM, _POW, _OP = range(-1, 6)
_LEAVES = (Integer, Symbol, BooleanTrue, BooleanFalse)  # ProgramBuilder's _children: no children
# ProgramBuilder._node's tests after the leaves, in its order, each with the graph's op
_OP_TYPES = ((Add, "add"), (Mul, "mul"), (Pow, "pow"), (FloorDiv, "floor_div"), (Mod, "mod"),
             (sympy.Max, "max"), (sympy.Min, "min"), (Relational, None), (And, "and"), (Or, "or"), (Not, "not"))
_KINDS: dict[type, tuple[int, str]] = {}


class _Unknown(Exception):
    """A node the walk leaves to ProgramBuilder (which compiles it or raises its own error)."""


def _kind(cls: type) -> tuple[int, str]:
    """(kind, graph op) of a node type, following ProgramBuilder._node's isinstance tests in order."""
    if issubclass(cls, Integer):
        return _INT, "integer"
    if issubclass(cls, BooleanTrue):
        return _TRUE, "integer"
    if issubclass(cls, BooleanFalse):
        return _FALSE, "integer"
    if issubclass(cls, Symbol):
        return _SYM, "symbol"
    if issubclass(cls, _LEAVES) or getattr(cls, "is_Number", False) is not False:
        return _UNKNOWN, ""  # a leaf of another kind, or a non-integer number (the builder raises)
    for base, op in _OP_TYPES:
        if issubclass(cls, base):
            if base is Relational:
                rel = getattr(cls, "rel_op", None)  # (a class attribute: else the builder reads it per node)
                op = OPS.get(rel, "") if rel in (">=", ">", "<=", "<", "==", "!=") else ""
            if not op or (base is not Pow and issubclass(cls, Pow)) or cls.args is not Basic.args:
                # (a Pow subclass of another op: the builder checks its children as a power's; the walk reads
                # the children as _args, which is what Basic.args gives)
                return _UNKNOWN, ""
            return (_POW if base is Pow else _OP), op
    return _UNKNOWN, ""


def expression_graph(e: object, defs: Mapping | None = None) -> Graph:
    """The graph of one expression (size atoms expanded through `defs`): ProgramBuilder's nodes, in its order."""
    if isinstance(e, bool):
        return [("integer", (), "1" if e else "0")]
    expr = as_expr(e)
    try:
        return _walk(expr, defs or {})
    except _Unknown:
        return _graph_via_program(expr, defs)


def _graph_via_program(e: object, defs: Mapping | None = None) -> Graph:
    """The graph through a compiled Program (the walk's reference, and its path for what it does not know)."""
    b = ProgramBuilder(defs)
    root = b.add(e if isinstance(e, bool) else as_expr(e))
    program = b.build()
    nodes: Graph = []
    for op, args in program.ops[: root + 1]:
        if op == "const":
            value = args[0]
            nodes.append(("integer", (), str(int(value))))
        elif op == "sym":
            nodes.append(("symbol", (), args[0]))
        else:
            nodes.append((OPS[op], tuple(args), ""))
    return nodes


def _walk(e: sympy.Basic, defs: Mapping) -> Graph:
    """ProgramBuilder.add's iterative post-order walk (children pushed in order, so popped last first), with
    its memo (SymPy equality), its sharing ((op, args) once, symbols by name, constants by type and value)
    and its folding of additions of integer constants, emitting the graph's nodes directly.

    A node object met again is found by id (no SymPy hash); an operation by SymPy equality, as in the
    builder's memo. Integers and symbols skip that memo: an equal one's node is the same constant or the same
    name's symbol, which the walk finds by value or name (and a size atom through `defs` either way). A leaf
    is done when it is popped (the builder pushes it back and pops it straight away). The stack holds
    (node, None) to visit, (operation, its graph op) to emit once its children are done, and (size atom,
    [its definition]) to take its definition's index. (One loop: it runs for every node of every graph of a
    Derive reply.)"""
    out: Graph = []
    ints: list[int | None] = []  # a node's value when it is an integer constant (booleans are not: no folding)
    memo: dict[sympy.Basic, int] = {}  # the builder's memo, for operations: node (SymPy equality) -> index
    seen: dict[int, int] = {}  # id(node) -> index, for every node object met (all alive: in e, defs or hold)
    hold: list = []  # the definitions met (a Mapping may build them on the fly): their ids stay theirs
    integers: dict[int, int] = {}  # an integer constant's value -> index
    booleans: dict[int, int] = {}  # _TRUE or _FALSE -> index
    symbols: dict[str, int] = {}
    shared: dict[tuple[str, tuple[int, ...]], int] = {}
    kinds = _KINDS
    stack: list[tuple[sympy.Basic, str | list | None]] = [(e, None)]
    pop, push = stack.pop, stack.append
    while stack:
        node, then = pop()
        i = id(node)
        if then is None:  # first met
            if i in seen:
                continue
            cls = type(node)
            kind = kinds.get(cls)
            if kind is None:
                kind = kinds[cls] = _kind(cls)
            k = kind[0]
            if k >= _POW:
                index = memo.get(node)
                if index is not None:
                    seen[i] = index
                    continue
            elif k < 0:
                raise _Unknown
            if defs and node in defs:  # a size atom is the index of its definition
                definition = [defs[node]]
                hold.append(definition)
                push((node, definition))
                push((definition[0], None))
                continue
            if k >= _POW:
                children = node._args
                if k == _POW:
                    exponent = children[1]
                    if not isinstance(exponent, Integer) or exponent.p < 0:
                        raise _Unknown
                push((node, kind[1]))
                for c in children:
                    if id(c) not in seen:
                        push((c, None))
                continue
            if k == _SYM:
                name = node.name
                index = symbols.get(name)
                if index is None:
                    index = symbols[name] = len(out)
                    out.append(("symbol", (), name))
                    ints.append(None)
            elif k == _INT:
                value = int(node.p)
                index = integers.get(value)
                if index is None:
                    index = integers[value] = len(out)
                    out.append(("integer", (), str(value)))
                    ints.append(value)
            else:  # true and false: constants of their own (the builder's key has the type), never folded
                index = booleans.get(k)
                if index is None:
                    index = booleans[k] = len(out)
                    out.append(("integer", (), "1" if k == _TRUE else "0"))
                    ints.append(None)
        elif type(then) is list:  # a size atom, after its definition
            index = seen[id(then[0])]
        else:  # an operation, after its children (each met: in seen now)
            args = tuple(map(seen.__getitem__, map(id, node._args)))
            if then == "add" and None not in map(ints.__getitem__, args):  # constants folded, as the builder does
                value = sum(map(ints.__getitem__, args))
                index = integers.get(value)
                if index is None:
                    index = integers[value] = len(out)
                    out.append(("integer", (), str(value)))
                    ints.append(value)
            else:
                index = shared.get((then, args))
                if index is None:
                    index = shared[(then, args)] = len(out)
                    out.append((then, args, ""))
                    ints.append(None)
            memo[node] = index
        seen[i] = index
    root = seen[id(e)]
    return out[: root + 1] if root + 1 < len(out) else out


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
