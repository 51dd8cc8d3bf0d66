"""Reading specs: YAML or JSON text, a file path or a dict, into a checked, normalized `Spec`.

The document is untrusted: it is read with YAML's safe composer (no tags, no objects), sizes are
bounded, and every later error can name the line it came from, through `Spec.line(path)`.

    framework: torch                  # or keras
    input: [3, H, W]                  # batch axis excluded; or inputs: {name: shape, ...}
    symbols: {P: {min: 0}, S: {min: 1, max: 4, default: 2}}   # default: an example value (docs, eval --defaults)
    layers:
      - Conv2d: {out_channels: D, kernel_size: F, stride: S, padding: P}
        name: conv1                   # optional
        inputs: [input]               # optional: names of earlier layers or inputs (name:k = k-th output)
    outputs: [conv1]                  # optional: defaults to the last layer
    batch: B                          # optional: the batch size (a symbol or an integer); default: excluded
    mode: train                       # optional (with batch): train or eval, where the frameworks differ
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from .errors import LimitError, Location, SpecError, did_you_mean
from .limits import LIMITS, Limits
from .limits import current as current_limits

__all__ = ["LIMITS", "LayerSpec", "Limits", "Spec", "load_spec", "read_file"]


TOP_KEYS = ("framework", "input", "inputs", "symbols", "layers", "outputs", "name", "description", "batch", "mode")
MODES = ("train", "eval")
SYMBOL_KEYS = ("min", "max", "default", "step", "log", "description")  # step, log: how a search samples it (optuna)
# default: the symbol's example value (an imported model's original one): the documents' worked example and
# `symshape eval --defaults` take it; it is no bound and no search's hint
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
    # the `description:` texts (of the network under "", of each symbol under its name): documentation only,
    # not part of `key` (untrusted text: escape it wherever it is shown)
    descriptions: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    # the batch size (a symbol name or an int) and the mode: None when not given (the batch axis excluded,
    # as before); only given ones enter `key`, so existing specs keep theirs
    batch: int | str | None = None
    mode: str | None = None

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
            **({"batch": self.batch} if self.batch is not None else {}),
            **({"mode": self.mode} if self.mode is not None else {}),
        }

    @cached_property
    def _canonical_fields(self) -> dict[str, str]:
        """Each field of the canonical form as JSON (keys sorted, compact): the key's text and the server's id
        (`canonical_text` with some fields written otherwise) are made of the same parts, dumped once."""
        return {name: _compact(value) for name, value in self.canonical().items()}

    def canonical_text(self, **instead: Any) -> str:
        """`json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), default=str)`, with the fields in
        `instead` holding those values (the same text as dumping the canonical dict with them put in)."""
        fields = {**self._canonical_fields, **{name: _compact(value) for name, value in instead.items()}}
        return "{" + ",".join([f"{json.dumps(name)}:{fields[name]}" for name in sorted(fields)]) + "}"

    @cached_property
    def key(self) -> str:
        """A hash of the canonical form: the same network written twice gets the same key (computed once:
        a Spec is not changed after loading; `dataclasses.replace` makes a new one)."""
        text = self.canonical_text()
        order = list(self.inputs)
        if order != sorted(order):  # the first input feeds a first layer without `inputs`: the order is the network
            text += json.dumps(order)  # (appended only here, so every other spec keeps its key)
        return hashlib.sha256(text.encode()).hexdigest()


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


# ---------------------------------------------------------------- YAML with line numbers

# libyaml's parser where PyYAML was built with it (about 10x faster than the pure-Python one)
_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("map", "seq", "str", "int", "float", "bool", "null")}
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


def _yaml_error(err: yaml.YAMLError, source: str) -> SpecError:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    line = mark.line + 1 if mark is not None else None
    return SpecError(f"not valid YAML/JSON: {problem}", Location(source=source, line=line))


def _compose(text: str, source: str, limits: Limits = LIMITS) -> tuple[Any, dict[tuple, int]]:
    """YAML/JSON text -> plain values and the line of each value's path.

    Built from the parser's events with an explicit stack: no recursion (any nesting is refused
    at `max_nesting` levels, in linear time), YAML aliases counted as expanded (`max_nodes`),
    and only plain scalars (str, int, float, bool, null), each checked before conversion.
    """
    lines: dict[tuple, int] = {}
    try:
        loader = _LOADER(text)
    except (UnicodeError, ValueError) as err:
        raise SpecError(f"not valid text: {err}", Location(source=source)) from None
    try:
        return _build(loader, source, limits, lines), lines
    except yaml.YAMLError as err:
        raise _yaml_error(err, source) from None
    except UnicodeError as err:
        raise SpecError(f"not valid text: {err}", Location(source=source)) from None
    finally:
        loader.dispose()


class _Frame:
    __slots__ = ("anchor", "key", "path", "start", "value")

    def __init__(self, value: Any, path: tuple, anchor: str | None, start: int) -> None:
        self.value = value
        self.path = path
        self.anchor = anchor
        self.start = start
        self.key: Any = _NO_KEY


_NO_KEY = object()


def _build(loader: Any, source: str, limits: Limits, lines: dict) -> Any:
    def where(event: Any) -> Location:
        return Location(source=source, line=event.start_mark.line + 1)

    anchors: dict[str, tuple[Any, int]] = {}
    stack: list[_Frame] = []
    count = 0
    root: Any = None
    documents = 0
    while True:
        event = loader.get_event()
        if event is None or isinstance(event, yaml.StreamEndEvent):
            return root
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise SpecError("a spec is one YAML document, found a second one", where(event))
            continue
        if isinstance(event, (yaml.StreamStartEvent, yaml.DocumentEndEvent)):
            continue
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            frame = stack.pop()
            if frame.anchor is not None:
                anchors[frame.anchor] = (frame.value, count - frame.start)
            value: Any = frame.value
            if not stack:
                root = value
            continue
        # a node: where it goes
        parent = stack[-1] if stack else None
        is_key = isinstance(parent, _Frame) and isinstance(parent.value, dict) and parent.key is _NO_KEY
        if parent is None:
            path: tuple = ()
        elif isinstance(parent.value, dict):
            path = parent.path if is_key else (*parent.path, parent.key)
        else:
            path = (*parent.path, len(parent.value))
        count += 1
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                raise SpecError(f"unknown or recursive YAML alias '*{event.anchor}'", where(event))
            value, size = anchors[event.anchor]
            count += size
        elif isinstance(event, yaml.ScalarEvent):
            value = _scalar(loader, event, source, limits, is_key)
            if event.anchor is not None:
                anchors[event.anchor] = (value, 1)
        else:  # a mapping or sequence starts
            mapping = isinstance(event, yaml.MappingStartEvent)
            tag = event.tag
            if tag is not None and tag != "!" and tag != (_MAP if mapping else _SEQ):
                raise SpecError(f"unsupported YAML tag {tag!r}: specs hold plain values only", where(event))
            if is_key:
                raise SpecError("mapping keys must be plain names", where(event))
            if len(stack) >= limits.max_nesting:
                raise LimitError(f"document nested deeper than {limits.max_nesting} levels", where(event))
            value = {} if mapping else []
        if count > limits.max_nodes:
            raise LimitError(f"document expands to more than {limits.max_nodes} values (YAML aliases?)",
                             where(event))
        if not is_key:
            lines.setdefault(path, event.start_mark.line + 1)
        if parent is None:
            root = value
        elif is_key:
            if isinstance(value, (dict, list)):
                raise SpecError("mapping keys must be plain names", where(event))
            if value in parent.value:
                raise SpecError(f"duplicate key '{value}'", where(event))
            parent.key = value
        elif isinstance(parent.value, dict):
            parent.value[parent.key] = value
            parent.key = _NO_KEY
        else:
            parent.value.append(value)
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            stack.append(_Frame(value, path, event.anchor, count))


_RESOLVER = yaml.SafeLoader("")


def _scalar(loader: Any, event: Any, source: str, limits: Limits, is_key: bool) -> Any:
    """A plain scalar through the safe loader's constructors, each bounded before it converts."""
    value = event.value
    tag = event.tag
    line = event.start_mark.line + 1
    explicit = tag is not None and tag != "!"
    if not explicit:
        tag = loader.resolve(yaml.ScalarNode, value, event.implicit)
    if is_key:  # keys are names: '3: 4' is the argument '3', 'on:' the word 'on'
        if explicit and tag != "tag:yaml.org,2002:str":
            raise SpecError(f"mapping keys are names, got a {tag.rsplit(':', 1)[-1]}", Location(source, line))
        return value
    if tag not in _PLAIN_TAGS:
        if explicit:
            raise SpecError(f"unsupported YAML tag {tag!r}: specs hold plain values only", Location(source, line))
        return value  # an implicit timestamp, merge key...: plain text here
    if tag == "tag:yaml.org,2002:str":
        return value
    if tag == "tag:yaml.org,2002:null":
        return None
    node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark)
    if tag != "tag:yaml.org,2002:bool" and len(value) > 2 * limits.max_digits + 8:
        raise LimitError(f"number literal longer than {limits.max_digits} digits", Location(source, line))
    try:
        if tag == "tag:yaml.org,2002:bool":
            return _RESOLVER.construct_yaml_bool(node)
        if tag == "tag:yaml.org,2002:float":
            return _RESOLVER.construct_yaml_float(node)
        number = _RESOLVER.construct_yaml_int(node)
    except (ValueError, TypeError, OverflowError):
        raise SpecError(f"{_short(value)} is not a valid {tag.rsplit(':', 1)[-1]}", Location(source, line)) from None
    if abs(number) >= 10**limits.max_digits:
        raise LimitError(f"integer literal longer than {limits.max_digits} digits", Location(source, line))
    return number


# ---------------------------------------------------------------- plain values from a dict


def _plain(doc: Any, source: str, limits: Limits) -> Any:
    """A dict spec as plain values (dicts with str keys, lists, str, int, float, bool, None), checked
    like a document: nesting, size, integer literals; tuples become lists, numpy scalars numbers."""
    count = 0
    big = 10**limits.max_digits

    def fail(path: tuple, message: str, limit: bool = False) -> SpecError:
        where = Location(source=source, path=path)
        return LimitError(message, where) if limit else SpecError(message, where)

    def leaf(v: Any, path: tuple) -> Any:
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int) or (hasattr(v, "dtype") and getattr(v, "ndim", 1) == 0 and v.dtype.kind in "iu"):
            v = int(v)
            if abs(v) >= big:
                raise fail(path, f"integer literal longer than {limits.max_digits} digits", True)
            return v
        if isinstance(v, float) or (hasattr(v, "dtype") and getattr(v, "ndim", 1) == 0 and v.dtype.kind == "f"):
            return float(v)
        if hasattr(v, "dtype") and getattr(v, "ndim", 1) == 0 and v.dtype.kind == "b":
            return bool(v)
        raise fail(path, f"a spec holds plain values (text, numbers, lists, mappings), not {type(v).__name__}")

    root: dict = {}
    todo: list[tuple[Any, Any, Any, tuple]] = [(doc, root, "", ())]  # (value, container, key, path)
    while todo:
        v, into, key, path = todo.pop()
        count += 1
        if count > limits.max_nodes:
            raise fail((), f"spec holds more than {limits.max_nodes} values", True)
        if len(path) > limits.max_nesting:
            raise fail(path[:1], f"spec nested deeper than {limits.max_nesting} levels", True)
        if isinstance(v, Mapping):
            out: Any = {}
            for k, x in v.items():
                if not isinstance(k, str):
                    raise fail(path, f"mapping keys are names (strings), got {type(k).__name__} {_short(k)}")
                out[k] = None
                todo.append((x, out, k, (*path, k)))
        elif isinstance(v, (list, tuple)):
            out = [None] * len(v)
            todo.extend((x, out, i, (*path, i)) for i, x in enumerate(v))
        else:
            out = leaf(v, path)
        into[key] = out
    return root[""]


def _short(v: Any, width: int = 40) -> str:
    try:
        text = repr(v)
    except ValueError:  # an int over Python's digit limit for str()
        return "(a huge number)"
    return text if len(text) <= width else text[: width - 3] + "..."


# ---------------------------------------------------------------- loading and checking


def load_spec(spec: str | os.PathLike | Mapping[str, Any], source: str | None = None,
              limits: Limits = LIMITS) -> Spec:
    """A YAML/JSON text (str), a file (a `pathlib.Path` or other `os.PathLike`) or a dict -> a checked
    `Spec` (raises `SpecError`). A str is always the spec's text, never a file name."""
    lines: dict[tuple, int] = {}
    if isinstance(spec, Mapping):
        source = source or "spec"
        doc: Any = _plain(spec, source, limits)
    else:
        text, source = _read(spec, source, limits)
        doc, lines = _compose(text, source, limits)
        if isinstance(doc, str) and "\n" not in text.strip() and _looks_like_path(doc):
            shown = _short(doc, 240)
            raise SpecError(f"a spec is a mapping with framework, input and layers, got the text {shown}: "
                            f"to read a file, pass pathlib.Path({shown})", Location(source=source, line=1))
    return _check(doc, source, lines, limits)


def _looks_like_path(text: str) -> bool:
    return text.endswith((".yaml", ".yml", ".json")) or "/" in text or "\\" in text


def read_file(path: os.PathLike, limits: Limits | None = None) -> tuple[str, str]:
    """A spec file's text and its name for messages: bounded, and every failure a SpecError."""
    return _read(path, None, limits or current_limits())


def _read(spec: str | os.PathLike, source: str | None, limits: Limits) -> tuple[str, str]:
    if isinstance(spec, os.PathLike):
        path = Path(spec)
        try:
            size = path.stat().st_size
            if size > limits.max_bytes:
                raise LimitError(f"spec file is {size} bytes; the limit is {limits.max_bytes}",
                                 Location(source=str(path)))
            with path.open("rb") as f:  # a file that grows (or a device) is read only up to the limit
                data = f.read(limits.max_bytes + 1)
            if len(data) > limits.max_bytes:
                raise LimitError(f"spec file is over {limits.max_bytes} bytes", Location(source=str(path)))
            return data.decode("utf-8"), source or str(path)
        except FileNotFoundError:
            raise SpecError("no such file", Location(source=str(path))) from None
        except IsADirectoryError:
            raise SpecError("is a directory, not a spec file", Location(source=str(path))) from None
        except UnicodeDecodeError:
            raise SpecError("not UTF-8 text", Location(source=str(path))) from None
        except OSError as err:
            raise SpecError(f"cannot read: {err.strerror}", Location(source=str(path))) from None
    if not isinstance(spec, str):
        raise SpecError(f"a spec is a YAML/JSON string, a pathlib.Path or a dict, not {type(spec).__name__}")
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
    descriptions = {name: str(decl["description"]) for name, decl in (doc.get("symbols") or {}).items()
                    if isinstance(decl, dict) and isinstance(decl.get("description"), str)}
    if isinstance(doc.get("description"), str):
        descriptions[""] = doc["description"]
    batch = doc.get("batch")
    if batch is not None:
        if isinstance(batch, bool) or not isinstance(batch, (int, str)) or \
                (isinstance(batch, str) and not batch.strip().isidentifier()):
            raise SpecError(f"batch is the batch size: an integer or a symbol name, got {_short(batch)}",
                            where(("batch",)))
        if isinstance(batch, int) and batch < 1:
            raise SpecError(f"batch is at least 1, got {batch}", where(("batch",)))
        batch = batch.strip() if isinstance(batch, str) else batch
    mode = doc.get("mode")
    if mode is not None and mode not in MODES:
        hint = did_you_mean(mode, MODES) if isinstance(mode, str) else ""
        raise SpecError(f"mode is 'train' or 'eval', got {_short(mode)}{hint}", where(("mode",)))
    return Spec(framework, inputs, symbols, layers, outputs, source, lines, descriptions, batch, mode)


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
                raise SpecError(f"symbol '{name}': unknown symbol property '{key}'"
                                f"{did_you_mean(str(key), SYMBOL_KEYS)}", where((*path, key)))
            if key == "description":
                if not isinstance(value, str):
                    raise SpecError(f"a description is text, got {value!r}", where((*path, key)))
                continue
            if key == "log":  # sample on a log scale (a search's hint; the domain is min..max)
                if not isinstance(value, bool):
                    raise SpecError(f"'log' is true or false, got {value!r}", where((*path, key)))
                entry[key] = value
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                of = f"symbol '{name}': " if key == "default" else ""
                raise SpecError(f"{of}'{key}' must be an integer, got {_short(value)}", where((*path, key)))
            if key == "step" and value < 1:
                raise SpecError(f"'step' must be at least 1, got {value}", where((*path, key)))
            entry[key] = value
        if "min" in entry and "max" in entry and entry["min"] > entry["max"]:
            raise SpecError(f"min {entry['min']} is above max {entry['max']}", where(path))
        _check_default(name, entry, where, limits)
        if entry.get("log") and entry.get("min", 1) < 1:
            raise SpecError(f"'log: true' needs min >= 1, got min {entry['min']}", where((*path, "log")))
        if entry.get("log") and entry.get("step", 1) != 1:
            raise SpecError("'log: true' samples every integer: it takes no step", where((*path, "step")))
        out[name] = entry
    return out


def _check_default(name: str, entry: Mapping[str, Any], where: Any, limits: Limits) -> None:
    """A declared default lies in the declared domain (the domain the symbol's roles give is checked where the
    roles are known, symshape.symbols.SymbolTable) and is a bounded integer."""
    if "default" not in entry:
        return
    value = entry["default"]
    at = where(("symbols", name, "default"))
    if abs(value) >= 10 ** limits.max_digits:
        raise LimitError(f"symbol '{name}': default has more than {limits.max_digits} digits (the limit)", at)
    if "min" in entry and value < entry["min"]:
        raise SpecError(f"symbol '{name}': default {value} is below its min {entry['min']}", at)
    if "max" in entry and value > entry["max"]:
        raise SpecError(f"symbol '{name}': default {value} is above its max {entry['max']}", at)


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
