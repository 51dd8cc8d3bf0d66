"""The fallback when torch.fx cannot trace a module (control flow on tensor values, unsupported Python):
torch.export's graph of ATen ops, read back into layers.

Each ATen node records the stack of modules it ran in (``nn_module_stack``). A run of consecutive nodes inside
one module symshape knows (a Conv2d, a BatchNorm2d...) is that module's call: it becomes one layer with the
module's constructor arguments, named by its qualified name. Nodes outside such modules map op by op, like
torch.fx's functional calls (``aten.add`` -> add, ``aten.cat`` -> cat, ``aten.view`` -> reshape/Flatten...).
Shapes come from the exported graph's own metadata (its fake tensors at the example input).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import SpecError
from .common import Imported
from .torch import _Importer, _module_args, _torch

__all__ = ["from_exported"]


class _ExportImporter(_Importer):
    def __init__(self, root: Any, ep: Any, example: Sequence[Any], allow_opaque: bool) -> None:
        graph = ep.graph_module.graph
        shapes = {n.name: n.meta.get("val") for n in graph.nodes if "val" in n.meta}
        super().__init__(root, graph, example, allow_opaque, shapes)
        self.user_inputs = list(ep.graph_signature.user_inputs)
        self.leaf_of: dict[str, tuple[str, str]] = {}  # node -> (stack key, module path) of its known module
        from ..layers.base import REGISTRY

        for node in graph.nodes:
            for key, entry in (node.meta.get("nn_module_stack") or {}).items():
                path = entry[0]
                try:
                    module = root.get_submodule(path) if path else root
                except AttributeError:
                    continue
                kind = type(module).__name__
                if ("torch", kind) in REGISTRY and type(module).__module__.startswith("torch.nn"):
                    self.leaf_of[node.name] = (key, path)
                    break

    def run(self) -> Imported:
        nodes = list(self.graph.nodes)
        single = len(self.user_inputs) == 1
        outputs: list[str] = []
        i = 0
        while i < len(nodes):
            node = nodes[i]
            if node.op == "placeholder":
                if node.name in self.user_inputs:
                    self.ref[node.name] = self.b.input("input" if single else node.name,
                                                       self.tensor_shape(self.shapes[node.name]))
                else:
                    self.ref[node.name] = None  # a parameter or buffer
            elif node.op == "output":
                outputs = self.tensor_refs(node.args[0])
            elif node.op == "call_function" and node.name in self.leaf_of:
                key, path = self.leaf_of[node.name]
                group = [node]
                while i + 1 < len(nodes) and self.leaf_of.get(nodes[i + 1].name, (None,))[0] == key:
                    i += 1
                    group.append(nodes[i])
                self.leaf_call(group, path)
            elif node.op == "call_function":
                self.call_function(node)
            i += 1
        spec = self.b.spec(outputs[:1] if outputs else None)
        return Imported(spec, "torch", type(self.root).__name__ + " (torch.export)", self.b.opaque, self.b.recorded,
                        ["traced with torch.export: torch.fx could not trace the module"])

    def leaf_call(self, group: list[Any], path: str) -> None:
        module = self.root.get_submodule(path)
        kind = type(module).__name__
        inside = {n.name for n in group}
        inputs: list[str] = []
        for n in group:
            for a in [*n.args, *n.kwargs.values()]:
                for x in (a if isinstance(a, (list, tuple)) else [a]):
                    if hasattr(x, "op") and x.name not in inside and isinstance(self.ref.get(x.name), str):
                        r = self.ref[x.name]
                        if r not in inputs:
                            inputs.append(r)
        torch = self.torch
        last = next((n for n in reversed(group) if isinstance(self.shapes.get(n.name), torch.Tensor)), group[-1])
        n = self.calls.get(path, 0)
        self.calls[path] = n + 1
        name = path if n == 0 else f"{path}_{n}"
        ref = self.b.layer(kind, _module_args(module, kind), inputs, name, self.recorded(last))
        for g in group:
            self.ref[g.name] = ref

    def call_function(self, node: Any) -> None:
        target = node.target
        packet = getattr(target, "_overloadpacket", None)
        name = getattr(packet, "__name__", None) or getattr(target, "__name__", str(target))
        if name in ("sym_size", "sym_numel", "sym_stride"):
            self.ref[node.name] = None
            return
        if name in ("alias", "_to_copy", "lift_fresh_copy", "detach_", "clone", "contiguous", "detach"):
            refs = self.tensor_refs(node.args[:1])
            self.ref[node.name] = refs[0] if refs else None
            return
        if name == "dropout" and len(node.args) > 2 and node.args[2] is False:
            self.ref[node.name] = self.tensor_refs(node.args[:1])[0]
            return
        original = node.target
        try:
            node.target = _Named(name, original)
            super().call_function(node)
        finally:
            node.target = original

    def name_for(self, node: Any) -> str:
        stack = node.meta.get("nn_module_stack") or {}
        base = str(getattr(node.target, "__name__", node.name)).split(".")[0]
        if stack:
            return f"{list(stack.values())[-1][0]}.{base}".lstrip(".")
        return base


class _Named:
    """An ATen op seen through the name torch.fx's functional call would have (``aten.add.Tensor`` -> add)."""

    def __init__(self, name: str, op: Any) -> None:
        self.__name__ = name
        self.__module__ = "torch.ops.aten"
        self.op = op


def from_exported(module: Any, example: Sequence[Any], *, allow_opaque: bool, fx_error: BaseException) -> Imported:
    torch = _torch()
    try:
        ep = torch.export.export(module, tuple(example), strict=False)
    except Exception as err:  # noqa: BLE001 - neither tracer understood the module
        raise SpecError(f"cannot trace {type(module).__name__}: torch.fx failed ({type(fx_error).__name__}: "
                        f"{str(fx_error).splitlines()[0] if str(fx_error) else ''}) and torch.export failed "
                        f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None
    imported = _ExportImporter(module, ep, example, allow_opaque).run()
    names = list(imported.spec["inputs"]) if "inputs" in imported.spec else ["input"]
    imported.input_domain = _domain(module, example, names, imported)
    ranges = [f"{n} axis {i}: " + (f"fixed at {d}" if isinstance(d, int) else
                                   f">= {d[0]}" + (f", <= {d[1]}" if d[1] is not None else ""))
              for n, axes in imported.input_domain.items() for i, d in enumerate(axes)
              if isinstance(d, int) or d[0] > 2 or d[1] is not None]
    imported.notes.append("torch.export's graph holds the branches taken at the example size; it is valid where "
                          + ("; ".join(ranges) if ranges else "torch.export found no size condition"))
    return imported


def _domain(module: Any, example: Sequence[Any], names: Sequence[str], imported: Imported) -> dict[str, list[Any]]:
    """Where the exported graph holds, per input axis (batch axis excluded): (min, max or None) when torch.export
    traced that axis as a size (its guards, e.g. a branch on the size, become the range), else the example's size
    (fixed: the graph was specialized to it; an axis that cannot be checked counts as fixed)."""
    torch = _torch()
    from torch.export import Dim

    fixed = {n: [int(v) for v in t.shape[1:]] for n, t in zip(names, example, strict=True)}
    dynamic = tuple({i: Dim.AUTO for i in range(1, t.dim())} for t in example)
    try:
        ep = torch.export.export(module, tuple(example), dynamic_shapes=dynamic, strict=False)
        guards = getattr(ep.module(), "_guards_fn", None)
    except Exception:  # noqa: BLE001 - no dynamic graph: every axis stays at the example's size
        return dict(fixed)
    if guards is None:  # this torch cannot check the graph's guards: nothing is known to hold elsewhere
        return dict(fixed)
    if any(any(w in str(n.target) for w in ("assert", "constrain", "sym_size")) for n in ep.graph.nodes):
        return dict(fixed)  # runtime checks on sizes (a range cannot hold them), or sizes the graph computes with
    import sympy

    placeholders = [n for n in ep.graph.nodes if n.op == "placeholder" and n.name in ep.graph_signature.user_inputs]
    ranges = {str(k): v for k, v in ep.range_constraints.items()}
    out: dict[str, list[Any]] = {}
    seen: set[str] = set()
    for name, node in zip(names, placeholders, strict=False):
        axes: list[Any] = []
        for i, d in enumerate(node.meta["val"].shape[1:]):
            expr = getattr(d, "node", None)
            expr = getattr(expr, "expr", None)
            key = str(expr)
            if not isinstance(expr, sympy.Symbol) or key in seen or key not in ranges:
                axes.append(fixed[name][i])  # specialized, or tied to another axis: not a free size
                continue
            seen.add(key)
            vr = ranges[key]
            lo = int(vr.lower) if getattr(vr.lower, "is_Integer", False) else 0
            hi = int(vr.upper) if getattr(vr.upper, "is_Integer", False) else None
            axes.append((lo, hi))
        out[name] = axes
    return _check_guards(imported, out, guards, example, names)


def _check_guards(imported: Imported, domain: dict[str, list[Any]], guards: Any, example: Sequence[Any],
                  names: Sequence[str]) -> dict[str, list[Any]]:
    """The graph's guards are not all ranges (a branch on x.shape[-1] % 2, on H > W): at sizes across the ranges,
    where symshape's spec says valid, torch's guards must pass; an axis where they fail is fixed at its size."""
    torch = _torch()
    from ..derive import derive
    from ..lift import symbolize

    free = [(n, i, d) for n in names for i, d in enumerate(domain[n]) if not isinstance(d, int)]
    if not free:
        return domain
    symbols = {(n, i): f"s{k}" for k, (n, i, _) in enumerate(free)}
    try:
        lifted = symbolize(imported.spec, inputs={n: [symbols.get((n, i), "_") for i in range(len(domain[n]))]
                                                  for n in names}, domain=domain)
        d = derive(lifted.spec)
    except Exception:  # noqa: BLE001 - the spec does not lift: keep every size fixed
        return {n: [int(v) for v in t.shape[1:]] for n, t in zip(names, example, strict=True)}
    base = {(n, i): int(t.shape[1 + i]) for n, t in zip(names, example, strict=True) for i in range(t.dim() - 1)}

    def values(lo: int, hi: int | None, at: int) -> list[int]:
        top = 2 * at + 9 if hi is None else hi
        step = max(1, (top - lo) // 24)
        return sorted({*range(lo, top + 1, step), at - 1, at + 1, at + 2, top} & set(range(lo, top + 1)))

    def passes(sample: dict[tuple[str, int], int], ranges: dict[tuple[str, int], Any]) -> bool | None:
        """None: outside the ranges or invalid in the spec; else whether torch's guards pass there."""
        sizes = {**base, **sample}
        if any(not (lo <= sizes[k] and (hi is None or sizes[k] <= hi)) for k, (lo, hi) in ranges.items()):
            return None
        if not d.evaluate({symbols[k]: v for k, v in sizes.items() if k in symbols}).valid:
            return None
        tensors = [torch.empty(int(t.shape[0]), *[sizes[(n, i)] for i in range(t.dim() - 1)], device="meta")
                   for n, t in zip(names, example, strict=True)]
        try:
            guards(*tensors)
        except Exception:  # noqa: BLE001 - a guard fails where the spec says valid: another branch there
            return False
        return True

    ranges = {(n, i): tuple(d_) for n, i, d_ in free}
    broken: set[tuple[str, int]] = set()
    for key, (lo, hi) in list(ranges.items()):  # one axis at a time: failures only at an end narrow the range
        seen = {v: passes({key: v}, ranges) for v in values(lo, hi, base[key])}
        bad = [v for v, ok in seen.items() if ok is False]
        good = [v for v, ok in seen.items() if ok]
        if not bad:
            continue
        if good and max(bad) < min(good):  # the exact end: every size between the last failure and a pass
            gap = [v for v in range(max(bad) + 1, min(good)) if passes({key: v}, ranges) is False]
            ranges[key] = (max([max(bad), *gap]) + 1, hi)
        elif good and min(bad) > max(good):
            gap = [v for v in range(max(good) + 1, min(bad)) if passes({key: v}, ranges) is False]
            ranges[key] = (lo, min([min(bad), *gap]) - 1)
        else:
            broken.add(key)
    keys = [k for k in ranges if k not in broken]
    joint: list[dict[tuple[str, int], int]] = []
    for f in (0.5, 0.75, 1.25, 1.5, 2.0, 3.0):  # every axis at once
        joint.append({k: max(ranges[k][0], round(base[k] * f) + j % 2) for j, k in enumerate(keys)})
    for a in keys:  # pairs at the ends of their ranges (a relation between two sizes, H > W)
        for b in keys:
            if a != b:
                top = ranges[a][1] if ranges[a][1] is not None else 2 * base[a] + 9
                joint += [{a: top, b: ranges[b][0]}, {a: base[b], b: base[a]}]
    for sample in joint:
        if passes(sample, {k: ranges[k] for k in keys}) is False:
            moved = {k for k, v in sample.items() if v != base[k]} or set(keys)
            broken |= moved
    if not broken and all(ranges[(n, i)] == tuple(d_) for n, i, d_ in free):
        return domain
    return {n: [base[(n, i)] if (n, i) in broken else ranges.get((n, i), d_) for i, d_ in enumerate(domain[n])]
            for n in names}
