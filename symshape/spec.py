"""Reading specs: YAML or JSON text, a file path or a dict, into a checked, normalized `Spec`.

The document is untrusted: it is read with YAML's safe composer (no tags, no objects), sizes are
bounded, and every later error can name the line it came from, through `Spec.line(path)`.

    framework: torch                  # or keras
    input: [3, H, W]                  # batch axis excluded; or inputs: {name: shape, ...}
    symbols: {P: {min: 0}, S: {min: 1, max: 4}}
    layers:
      - Conv2d: {out_channels: D, kernel_size: F, stride: S, padding: P}
        name: conv1                   # optional
        inputs: [input]               # optional: names of earlier layers or inputs (name:k = k-th output)
    outputs: [conv1]                  # optional: defaults to the last layer
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import LimitError, Location, SpecError, did_you_mean

__all__ = ["LIMITS", "LayerSpec", "Limits", "Spec", "load_spec"]


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 2_000_000
    max_layers: int = 5_000
    max_symbols: int = 20_000
    max_rank: int = 8


LIMITS = Limits()
TOP_KEYS = ("framework", "input", "inputs", "symbols", "layers", "outputs", "name", "description")
SYMBOL_KEYS = ("min", "max", "description")
LAYER_META = ("name", "inputs")


@dataclass(frozen=True)
class LayerSpec:
    index: int
    kind: str
    name: str | None
    args: dict[str, Any]
    inputs: tuple[str, ...] | None
    path: tuple[str | int, ...]  # where the layer's arguments sit in the document


@dataclass(frozen=True)
class Spec:
    framework: str
    inputs: dict[str, list]
    symbols: dict[str, dict[str, int]]
    layers: tuple[LayerSpec, ...]
    outputs: tuple[str, ...] | None
    source: str
    lines: dict[tuple, int] = field(default_factory=dict, compare=False, repr=False)

    def line(self, path: tuple) -> int | None:
        """The line of the deepest recorded node on `path` (1-based), if the source was YAML/JSON text."""
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.lines:
                return self.lines[path[:cut]]
        return None

    def where(self, path: tuple = (), **extra: Any) -> Location:
        return Location(source=self.source, line=self.line(path), path=path, **extra)

    def canonical(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "inputs": self.inputs,
            "symbols": self.symbols,
            "layers": [{"kind": ly.kind, "name": ly.name, "inputs": list(ly.inputs) if ly.inputs else None,
                        "args": ly.args} for ly in self.layers],
            "outputs": list(self.outputs) if self.outputs else None,
        }

    @property
    def key(self) -> str:
        """A hash of the canonical form: the same network written twice gets the same key."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------- YAML with line numbers


def _compose(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err)
        line = mark.line + 1 if mark is not None else None
        raise SpecError(f"not valid YAML/JSON: {problem}", Location(source=source, line=line)) from None
    lines: dict[tuple, int] = {}
    if node is None:
        return None, lines
    return _construct(node, (), lines, source, 0), lines


_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("map", "seq", "str", "int", "float", "bool", "null")}
MAX_NODES = 1_000_000  # aliases can make a small text expand without bound


def _construct(node: yaml.Node, path: tuple, lines: dict, source: str, depth: int) -> Any:
    if depth > 64:
        raise LimitError("document nested deeper than 64 levels", Location(source=source))
    if len(lines) > MAX_NODES:
        raise LimitError(f"document expands to more than {MAX_NODES} values (YAML aliases?)", Location(source=source))
    lines[path] = node.start_mark.line + 1
    if node.tag not in _PLAIN_TAGS:
        raise SpecError(f"unsupported YAML tag {node.tag!r}: specs hold plain values only",
                        Location(source=source, line=node.start_mark.line + 1))
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise SpecError("mapping keys must be plain names",
                                Location(source=source, line=key_node.start_mark.line + 1))
            key = _scalar(key_node, key_node.value)
            if key in out:
                raise SpecError(f"duplicate key '{key}'", Location(source=source, line=key_node.start_mark.line + 1))
            out[key] = _construct(value_node, (*path, key), lines, source, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, (*path, i), lines, source, depth + 1) for i, v in enumerate(node.value)]
    return _scalar(node, node.value)


_RESOLVER = yaml.SafeLoader("")


def _scalar(node: yaml.ScalarNode, value: str) -> Any:
    """Scalars through the safe loader's own constructors (int, float, bool, null, str only)."""
    tag = node.tag
    if tag == "tag:yaml.org,2002:int":
        return _RESOLVER.construct_yaml_int(node)
    if tag == "tag:yaml.org,2002:float":
        return _RESOLVER.construct_yaml_float(node)
    if tag == "tag:yaml.org,2002:bool":
        return _RESOLVER.construct_yaml_bool(node)
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:str":
        return value
    raise SpecError(f"unsupported YAML tag {tag!r}", Location(line=node.start_mark.line + 1))


# ---------------------------------------------------------------- loading and checking


def load_spec(spec: str | os.PathLike | Mapping[str, Any], source: str | None = None,
              limits: Limits = LIMITS) -> Spec:
    """A path, a YAML/JSON text or a dict -> a checked `Spec` (raises `SpecError`)."""
    lines: dict[tuple, int] = {}
    if isinstance(spec, Mapping):
        doc: Any = dict(spec)
        source = source or "spec"
    else:
        text, source = _read(spec, source, limits)
        doc, lines = _compose(text, source)
    return _check(doc, source, lines, limits)


def _read(spec: str | os.PathLike, source: str | None, limits: Limits) -> tuple[str, str]:
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and "\n" not in spec and
                                         spec.endswith((".yaml", ".yml", ".json"))):
        path = Path(spec)
        try:
            size = path.stat().st_size
            if size > limits.max_bytes:
                raise LimitError(f"spec file is {size} bytes; the limit is {limits.max_bytes}",
                                 Location(source=str(path)))
            return path.read_text(encoding="utf-8"), source or str(path)
        except FileNotFoundError:
            raise SpecError("no such file", Location(source=str(path))) from None
        except IsADirectoryError:
            raise SpecError("is a directory, not a spec file", Location(source=str(path))) from None
        except UnicodeDecodeError:
            raise SpecError("not UTF-8 text", Location(source=str(path))) from None
        except OSError as err:
            raise SpecError(f"cannot read: {err.strerror}", Location(source=str(path))) from None
    if not isinstance(spec, str):
        raise SpecError(f"a spec is a path, a YAML/JSON string or a dict, not {type(spec).__name__}")
    if len(spec) > limits.max_bytes:
        raise LimitError(f"spec text is {len(spec)} characters; the limit is {limits.max_bytes}",
                         Location(source=source or "<string>"))
    return spec, source or "<string>"


def _check(doc: Any, source: str, lines: dict, limits: Limits) -> Spec:
    def where(path: tuple = (), **extra: Any) -> Location:
        line = None
        for cut in range(len(path), -1, -1):
            if path[:cut] in lines:
                line = lines[path[:cut]]
                break
        return Location(source=source, line=line, path=path, **extra)

    if not isinstance(doc, dict):
        raise SpecError("a spec is a mapping with framework, input and layers", where())
    for key in doc:
        if key not in TOP_KEYS:
            raise SpecError(f"unknown top-level key '{key}'{did_you_mean(str(key), TOP_KEYS)}", where((key,)))
    framework = doc.get("framework")
    if framework not in ("keras", "torch"):
        hint = did_you_mean(framework, ("keras", "torch")) if isinstance(framework, str) else ""
        raise SpecError(f"framework must be 'keras' or 'torch', got {framework!r}{hint}", where(("framework",)))

    if ("input" in doc) == ("inputs" in doc):
        raise SpecError("give exactly one of 'input' (a shape) or 'inputs' (name: shape)", where())
    if "input" in doc:
        inputs = {"input": _shape_entry(doc["input"], ("input",), where, limits)}
    else:
        raw = doc["inputs"]
        if not isinstance(raw, dict) or not raw:
            raise SpecError("'inputs' maps input names to shapes", where(("inputs",)))
        inputs = {str(k): _shape_entry(v, ("inputs", k), where, limits) for k, v in raw.items()}

    symbols = _symbols(doc.get("symbols") or {}, where, limits)

    raw_layers = doc.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise SpecError("'layers' must be a non-empty list", where(("layers",)))
    if len(raw_layers) > limits.max_layers:
        raise LimitError(f"{len(raw_layers)} layers; the limit is {limits.max_layers}", where(("layers",)))
    layers = tuple(_layer(i, entry, where) for i, entry in enumerate(raw_layers))

    outputs = doc.get("outputs")
    if outputs is not None:
        if isinstance(outputs, str):
            outputs = [outputs]
        if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs) or not outputs:
            raise SpecError("'outputs' is a list of layer names", where(("outputs",)))
        outputs = tuple(outputs)
    return Spec(framework, inputs, symbols, layers, outputs, source, lines)


def _shape_entry(raw: Any, path: tuple, where: Any, limits: Limits) -> list:
    if isinstance(raw, (int, str)) and not isinstance(raw, bool):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise SpecError("an input shape is a non-empty list of sizes (batch axis excluded)", where(path))
    if len(raw) > limits.max_rank:
        raise LimitError(f"input of rank {len(raw)}; the limit is {limits.max_rank}", where(path))
    for i, v in enumerate(raw):
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            raise SpecError(f"a size must be an integer, a symbol or an expression, got {v!r}", where((*path, i)))
    return list(raw)


def _symbols(raw: Any, where: Any, limits: Limits) -> dict[str, dict[str, int]]:
    if not isinstance(raw, dict):
        raise SpecError("'symbols' maps names to {min, max}", where(("symbols",)))
    if len(raw) > limits.max_symbols:
        raise LimitError(f"{len(raw)} symbols; the limit is {limits.max_symbols}", where(("symbols",)))
    out: dict[str, dict[str, int]] = {}
    for name, decl in raw.items():
        path = ("symbols", name)
        if not isinstance(name, str) or not name.isidentifier():
            raise SpecError(f"symbol names are identifiers, got {name!r}", where(path))
        decl = {} if decl is None else decl
        if not isinstance(decl, dict):
            raise SpecError("a symbol declaration is a mapping such as {min: 0, max: 8}", where(path))
        entry: dict[str, int] = {}
        for key, value in decl.items():
            if key not in SYMBOL_KEYS:
                raise SpecError(f"unknown symbol property '{key}'{did_you_mean(str(key), SYMBOL_KEYS)}",
                                where((*path, key)))
            if key == "description":
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise SpecError(f"'{key}' must be an integer, got {value!r}", where((*path, key)))
            entry[key] = value
        if "min" in entry and "max" in entry and entry["min"] > entry["max"]:
            raise SpecError(f"min {entry['min']} is above max {entry['max']}", where(path))
        out[name] = entry
    return out


def _layer(index: int, entry: Any, where: Any) -> LayerSpec:
    path: tuple = ("layers", index)
    if isinstance(entry, str):
        return LayerSpec(index, entry, None, {}, None, path)
    if not isinstance(entry, dict) or not entry:
        raise SpecError("a layer is a mapping such as {Conv2D: {filters: 8, kernel_size: 3}}",
                        where(path, layer_index=index))
    if "kind" in entry:  # flat form: {kind: Conv2D, name: c1, filters: 8, ...}
        kind = entry["kind"]
        args = {k: v for k, v in entry.items() if k != "kind"}
        args_path = path
    else:
        kinds = [k for k in entry if k not in LAYER_META]
        if len(kinds) != 1:
            raise SpecError(f"a layer names exactly one class, found {kinds or 'none'}", where(path, layer_index=index))
        kind = kinds[0]
        args = entry[kind]
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise SpecError(f"the arguments of {kind} must be a mapping, got {args!r}",
                            where((*path, kind), layer_index=index, layer_kind=str(kind)))
        args = dict(args)
        args_path = (*path, kind)
        for meta in LAYER_META:
            if meta in entry:
                if meta in args:
                    raise SpecError(f"'{meta}' given twice", where((*path, meta), layer_index=index))
                args[meta] = entry[meta]
    if not isinstance(kind, str):
        raise SpecError(f"a layer kind is a class name, got {kind!r}", where(path, layer_index=index))
    name = args.pop("name", None)
    if name is not None and not isinstance(name, str):
        raise SpecError(f"a layer name is a string, got {name!r}", where((*path, "name"), layer_index=index))
    inputs = args.pop("inputs", None)
    if inputs is not None:
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
            raise SpecError("'inputs' is a list of layer or input names", where((*path, "inputs"), layer_index=index))
        inputs = tuple(inputs)
    return LayerSpec(index, kind, name, args, inputs, args_path)
