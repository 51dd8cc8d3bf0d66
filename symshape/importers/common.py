"""What every importer shares: the spec-graph builder, the imported result, and the error for an op that
symshape cannot map.

An importer walks a framework's graph and calls :meth:`SpecBuilder.layer` once per layer, with the layer's
class name in the spec vocabulary, its constructor arguments, the names of its inputs, and the shapes the
framework reported at the example size (kept for the round trip and for opaque layers). The builder writes
an ordinary spec (a dict; :meth:`Imported.to_yaml` renders it as an editable file).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import Location, SpecError

__all__ = ["Imported", "SpecBuilder", "UnsupportedOpError", "plain", "supported_kinds"]


class UnsupportedOpError(SpecError):
    """An op the importer cannot map: names the node, its op, where it comes from, and what is supported."""

    def __init__(self, framework: str, node: str, op: str, source: str | None, supported: Iterable[str],
                 why: str = "", hint: str = "", functions: Iterable[str] = ()) -> None:
        self.node, self.op, self.where_from = node, op, source
        self.supported = sorted(set(supported), key=str.lower)
        self.functions = sorted(set(functions), key=str.lower)
        shown = ", ".join(self.supported)
        if self.functions:
            shown = f"the layers {shown}; the functions and tensor methods {', '.join(self.functions)}"
        short = op.rsplit(".", 1)[-1]
        known = [*self.supported, *self.functions]
        near = "" if short in known else _near(short, known)
        text = (f"cannot import {framework} node '{node}': op {op}{' (' + why + ')' if why else ''}"
                f"{' at ' + source if source else ''} is not supported{near}. "
                f"{hint + ' ' if hint else ''}Supported: {shown}. "
                "Use --allow-opaque (allow_opaque=True) to keep it as an opaque layer with the shapes recorded "
                "at this input size.")
        super().__init__(text, Location(source=f"{framework} model"))


def _near(word: str, known: Sequence[str]) -> str:
    """A suggestion only when it is close (a case slip, a letter or two): an op symshape lacks is usually not a
    misspelling, and 'Einsum' -> 'Sum' would mislead."""
    import difflib

    lowered = {k.lower(): k for k in known}
    if word.lower() in lowered:
        return f" (did you mean '{lowered[word.lower()]}'?)"
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.85)
    return f" (did you mean '{lowered[close[0]]}'?)" if close else ""


def supported_kinds(framework: str, extra: Iterable[str] = ()) -> list[str]:
    """The spec layer kinds of one framework (what an importer can produce), plus the importer's own ops."""
    from ..layers import rules
    from ..layers.imported import OPAQUE

    return sorted({r.name for r in rules(framework) if r.name != OPAQUE} | set(extra), key=str.lower)


def plain(value: Any) -> Any:
    """A framework value as a plain spec value: tuples to lists, numpy/torch scalars to numbers."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else float(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "Size":
        return [plain(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item):
        return plain(item())
    return value


@dataclass
class Imported:
    """An imported network: the spec (a plain dict), which layers are opaque, and what the framework reported
    at the example size (per layer: output shapes without the batch axis)."""

    spec: dict[str, Any]
    framework: str
    source: str
    opaque: list[str] = field(default_factory=list)
    recorded: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # where the graph holds, per input and axis (batch excluded): None = any size (a graph that does not depend on
    # the sizes); per axis (min, max or None) or an int: the graph was specialized to that size (torch.export)
    input_domain: dict[str, list[Any]] | None = None
    # layer -> the tensor sizes (spec reference, axis without batch) an argument of it was computed from (frozen at
    # the example's values: F.interpolate(y, size=x.shape[2:]), x.view(b, c, h * w))
    frozen: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def derive(self) -> Any:
        from ..derive import derive

        return derive(self.spec)

    def to_yaml(self, header: Sequence[str] = ()) -> str:
        return spec_yaml(self.spec, [*header, *self.header()])

    def header(self) -> list[str]:
        lines = [f"imported by symshape from {self.source}"]
        if self.opaque:
            lines.append(f"OPAQUE layers (shapes recorded at one input size, valid there only): "
                         f"{', '.join(self.opaque)}")
        return lines + self.notes


def spec_yaml(spec: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    """A spec as YAML in the style of examples/: one layer per entry, flow-style arguments."""
    import yaml

    top = {k: v for k, v in spec.items() if k not in ("layers", "symbols", "outputs")}
    parts = [yaml.safe_dump(top, sort_keys=False, default_flow_style=None, width=120)]
    if spec.get("symbols"):
        parts.append("symbols:\n")
        for name, decl in spec["symbols"].items():
            parts.append(f"  {name}: " + yaml.safe_dump(decl, default_flow_style=True, width=1000).strip() + "\n")
    parts.append("layers:\n")
    for entry in spec["layers"]:
        if any(kind == "Opaque" for kind in entry):
            parts.append("# OPAQUE: not modelled by symshape; shapes recorded at one input size\n")
        if isinstance(entry, str):
            parts.append(f"- {_flow(entry)}\n")
            continue
        first = True
        for key, value in entry.items():
            parts.append(f"{'- ' if first else '  '}{_flow(key)}: {_flow(value)}\n")
            first = False
    if spec.get("outputs"):
        parts.append(yaml.safe_dump({"outputs": spec["outputs"]}, default_flow_style=None, width=120))
    text = "".join(parts)
    return "".join(f"# {line}\n" for line in header) + text


def _flow(value: Any) -> str:
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).strip()
    return text.removesuffix("...").strip()


_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")


class SpecBuilder:
    """Collects inputs and layers in topological order and writes the spec dict."""

    def __init__(self, framework: str) -> None:
        self.framework = framework
        self.inputs: dict[str, list] = {}
        self.layers: list[dict[str, Any]] = []
        self.names: set[str] = set()
        self.last: str | None = None
        self.opaque: list[str] = []
        self.recorded: dict[str, list[tuple[int, ...]]] = {}

    def unique(self, name: str) -> str:
        base = _SAFE.sub("_", name) or "layer"
        if ":" in base:
            base = base.replace(":", "_")
        out, n = base, 0
        while out in self.names:
            n += 1
            out = f"{base}_{n}"
        self.names.add(out)
        return out

    def input(self, name: str, shape: Sequence[int | str]) -> str:
        name = self.unique(name)
        self.inputs[name] = list(shape)
        if self.last is None:
            self.last = name
        return name

    def layer(self, kind: str, args: Mapping[str, Any], inputs: Sequence[str], name: str,
              recorded: Sequence[Sequence[int]] | None = None) -> str:
        name = self.unique(name)
        entry: dict[str, Any] = {kind: {k: plain(v) for k, v in args.items()}, "name": name}
        if list(inputs) != [self.last] or self.last is None:
            entry["inputs"] = list(inputs)
        self.layers.append(entry)
        if kind == "Opaque":
            self.opaque.append(name)
        if recorded is not None:
            self.recorded[name] = [tuple(int(v) for v in s) for s in recorded]
        self.last = name
        return name

    def spec(self, outputs: Sequence[str] | None = None) -> dict[str, Any]:
        if not self.layers:
            raise SpecError("the model has no layers symshape can import (is it only an identity?)")
        spec: dict[str, Any] = {"framework": self.framework}
        if list(self.inputs) == ["input"]:
            spec["input"] = self.inputs["input"]
        else:
            spec["inputs"] = self.inputs
        spec["layers"] = self.layers
        if outputs and list(outputs) != [self.layers[-1]["name"]]:
            spec["outputs"] = list(outputs)
        return spec
