"""Lift numbers to symbols: turn an imported (concrete) spec into a family.

    lifted = symbolize(spec, inputs={"input": ["H", "W"]}, hyper=["kernel_size", "stride"], tie={"out_channels": "C"})
    lifted.spec        # an ordinary spec dict, `symbols:` declared, each with its original value as `default:`
    lifted.defaults    # {"H": 224, "W": 224, "K_layer1_0_conv1": 3, ..., "C": 64}
    lifted.to_yaml()   # the editable file: `symshape eval FILE --defaults` evaluates it at the original values

- ``inputs``: the named input's sizes become symbols: a name per axis, ``_`` keeping one as it is (a sequence
  (T, E) takes ``input=T,_``), or one per axis but the channels (torch, channels first: the last axes; keras,
  channels last: the axes before the channels); any other count is refused.
- ``hyper``: each layer argument of that name (torch's or keras' spelling: ``stride``/``strides``,
  ``out_channels``/``filters``, ``out_features``/``units``, ``dilation``/``dilation_rate``) becomes a per-layer
  symbol, ``K_layer1_0_conv1`` (K kernel, S stride, P padding, L dilation, C channels, F features); a tuple
  of equal values is one symbol, of different values one per axis (``K_conv1_h``, ``K_conv1_w``).
- ``tie``: one shared symbol for an argument across layers: ``out_channels=width`` writes each value as a
  multiple of ``width`` (their greatest common divisor), so ResNet's 64, 128, 256, 512 become width, 2*width,
  4*width, 8*width with width = 64.
When channel or feature counts become symbols, the layers' inferred arguments (``in_channels``,
``in_features``, ``num_features``, ...) are dropped so that they follow; input sizes alone keep them (torch's
modules are built with them: a size where they no longer match is invalid, as in torch).

Values are never parsed from text here: the spec's numbers are read as numbers, symbols are written as names.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import SpecError, did_you_mean

__all__ = ["HYPERPARAMETERS", "Lifted", "defaults_of", "parse_symbolize", "symbolize"]

# the hyperparameters that can be lifted: canonical name -> (prefix, spellings in torch and keras)
HYPERPARAMETERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "kernel_size": ("K", ("kernel_size", "pool_size")),
    "stride": ("S", ("stride", "strides")),
    "padding": ("P", ("padding",)),
    "dilation": ("L", ("dilation", "dilation_rate")),
    "out_channels": ("C", ("out_channels", "filters")),
    "out_features": ("F", ("out_features", "units")),
    "groups": ("G", ("groups",)),
}
_SPELLING = {s: canon for canon, (_, spellings) in HYPERPARAMETERS.items() for s in (canon, *spellings)}
_SPELLING.update({"strides": "stride", "filters": "out_channels", "units": "out_features",
                  "dilation_rate": "dilation", "pool_size": "kernel_size"})
_CHANNELS = {"out_channels", "out_features"}
_INFERRED = ("in_channels", "in_features", "num_features", "num_channels", "input_size")
_AXES = ("h", "w", "d")


@dataclass
class Lifted:
    spec: dict[str, Any]
    defaults: dict[str, int] = field(default_factory=dict)

    def to_yaml(self, header: Sequence[str] = ()) -> str:
        from .importers.common import spec_yaml

        note = "the symbols' defaults are the imported values: symshape eval FILE --defaults evaluates them"
        return spec_yaml(self.spec, [*header, note if self.defaults else ""])


def defaults_of(spec: Any) -> dict[str, int]:
    """The declared defaults of a spec, symbol -> value: a spec dict (``symbols: {H: {default: 224}}``) or a
    loaded :class:`~symshape.spec.Spec` (a description is documentation only: never read for values)."""
    declared = spec.symbols if hasattr(spec, "symbols") and hasattr(spec, "layers") else spec.get("symbols") or {}
    out: dict[str, int] = {}
    for name, decl in declared.items():
        value = decl.get("default") if isinstance(decl, Mapping) else None
        if isinstance(value, int) and not isinstance(value, bool):
            out[name] = value
    return out


def parse_symbolize(items: Sequence[str], ties: Sequence[str] = ()) -> tuple[dict[str, list[str]], list[str],
                                                                             dict[str, str]]:
    """CLI words -> (inputs, hyper, tie): 'input=H,W' names input sizes; 'kernel_size,stride' hyperparameters;
    ties 'out_channels=width'."""
    inputs: dict[str, list[str]] = {}
    hyper: list[str] = []
    for item in items:
        head, eq, rest = item.partition("=")
        if eq:
            names = [n.strip() for n in rest.split(",") if n.strip()]
            if not names:
                raise SpecError(f"--symbolize {item}: give the symbol names, e.g. input=H,W")
            inputs[head.strip()] = names
        else:
            hyper += [h.strip() for h in item.split(",") if h.strip()]
    tie: dict[str, str] = {}
    for item in ties:
        head, eq, name = item.partition("=")
        if not eq or not name.strip():
            raise SpecError(f"--tie {item}: expected ARGUMENT=SYMBOL, e.g. out_channels=width")
        tie[head.strip()] = name.strip()
    return inputs, hyper, tie


def _canonical(name: str) -> str:
    canon = _SPELLING.get(name)
    if canon is None:
        raise SpecError(f"cannot symbolize '{name}'{did_you_mean(name, list(_SPELLING))}: the hyperparameters are "
                        f"{', '.join(HYPERPARAMETERS)} (or their keras spellings)")
    return canon


def _ident(name: str) -> str:
    out = re.sub(r"\W+", "_", name).strip("_")
    return out if out and not out[0].isdigit() else f"l{out}"


def _check_symbol(name: str) -> str:
    if not name.isidentifier():
        raise SpecError(f"symbol names are identifiers, got {name!r}")
    return name


def symbolize(spec: Any, *, inputs: Mapping[str, Sequence[str]] | None = None,
              hyper: Sequence[str] = (), tie: Mapping[str, str] | None = None,
              domain: Mapping[str, Sequence[Any]] | None = None,
              frozen: Mapping[str, Sequence[tuple[str, int]]] | None = None) -> Lifted:
    """A concrete spec (a dict, or an :class:`~symshape.importers.Imported`) -> a :class:`Lifted` spec with
    symbols (see the module). ``domain`` (an Imported's ``input_domain``: a graph torch.export specialized to the
    example) says where the graph holds per input axis: an axis fixed at its size cannot become a symbol, a range
    becomes the symbol's min/max. ``frozen`` (an Imported's): layers with an argument computed from a tensor's
    size at the example (``F.interpolate(y, size=x.shape[2:])``); when that size becomes symbolic, refused."""
    if hasattr(spec, "spec") and hasattr(spec, "input_domain"):
        domain = spec.input_domain if domain is None else domain
        frozen = getattr(spec, "frozen", None) if frozen is None else frozen
        spec = spec.spec
    out = copy.deepcopy(dict(spec))
    framework = out.get("framework")
    symbols: dict[str, dict[str, Any]] = dict(out.get("symbols") or {})
    defaults: dict[str, int] = {}

    def declare(name: str, value: int, what: str) -> None:
        _check_symbol(name)
        if name in defaults and defaults[name] != value:
            raise SpecError(f"symbol '{name}' would stand for both {defaults[name]} and {value}")
        defaults[name] = value
        symbols[name] = {"default": value, "description": what}

    # input sizes
    shapes = out.get("inputs") if "inputs" in out else {"input": out.get("input")}
    for key, names in (inputs or {}).items():
        target = key if key in shapes else ("input" if key == "input" and len(shapes) == 1 else None)
        if target is None and len(shapes) == 1 and key == "input":
            target = next(iter(shapes))
        if target is None:
            raise SpecError(f"--symbolize {key}=...: no input '{key}'{did_you_mean(key, list(shapes))}; "
                            f"the inputs are {', '.join(shapes)}")
        shape = list(shapes[target])
        names = [n if n == "_" else _check_symbol(n) for n in names]  # '_' keeps that axis as it is
        if len(names) not in (len(shape), len(shape) - 1) or not names:
            spatial = ("H", "W", "D")[:len(shape) - 1] if len(shape) <= 4 else tuple(f"S{i}" for i in
                                                                                      range(len(shape) - 1))
            example = ",".join(["_", *spatial] if framework != "keras" else [*spatial, "_"])
            raise SpecError(f"--symbolize {key}={','.join(names)}: input '{target}' has {len(shape)} axes "
                            f"{tuple(shape)}; give a name per axis, '_' keeping one as it is ({key}={example}), "
                            f"or one per axis but the channels ({key}={','.join(spatial)})")
        if len(names) == len(shape):
            axes = list(range(len(shape)))
        elif framework == "keras":
            axes = list(range(len(shape) - 1 - len(names), len(shape) - 1)) if len(shape) > len(names) else []
        else:
            axes = list(range(len(shape) - len(names), len(shape)))
        for axis, name in zip(axes, names, strict=True):
            if name == "_":
                continue
            if not isinstance(shape[axis], int):
                raise SpecError(f"input '{target}' axis {axis} is already {shape[axis]!r}, not a number")
            held = (domain or {}).get(target)
            held = held[axis] if held is not None and axis < len(held) else None
            if isinstance(held, int):
                raise SpecError(f"--symbolize {key}=...: input '{target}' axis {axis} cannot become the symbol "
                                f"'{name}': the graph was read from torch.export, which specialized it to the "
                                f"example's size {held} (the model's code depends on it: a branch or a size "
                                f"computed from it); keep it with '_', or make the code traceable by torch.fx")
            declare(name, shape[axis], f"input '{target}' axis {axis}")
            if isinstance(held, (tuple, list)):
                lo, hi = held
                if lo > 1:
                    symbols[name]["min"] = lo
                if hi is not None:
                    symbols[name]["max"] = hi
                if lo > 1 or hi is not None:
                    symbols[name]["description"] += (" (torch.export's graph, the branches taken at the example "
                                                     "size, holds only in this range)")
            shape[axis] = name
        shapes[target] = shape
    if "inputs" in out:
        out["inputs"] = shapes
    else:
        out["input"] = shapes["input"]

    # hyperparameters
    wanted = {_canonical(h) for h in hyper}
    ties = {_canonical(k): _check_symbol(v) for k, v in (tie or {}).items()}
    wanted |= set(ties)
    if wanted and domain is not None:
        raise SpecError(f"cannot symbolize {', '.join(sorted(wanted))}: the graph was read from torch.export, which "
                        "keeps only the branches the model's code took with these values (a branch on a size a "
                        "hyperparameter changes would be silently wrong); import again with other values, or make "
                        "the code traceable by torch.fx (no Python control flow on sizes)")
    layers = out.get("layers") or []
    tied_values: dict[str, list[int]] = {k: [] for k in ties}
    sites: list[tuple[dict, str, str, str]] = []  # (args, key, canonical, layer name)
    for index, entry in enumerate(layers):
        if not isinstance(entry, dict):
            continue
        kind = next((k for k in entry if k not in ("name", "inputs")), None)
        args = entry.get(kind)
        if not isinstance(args, dict):
            continue
        name = entry.get("name") or f"{kind}_{index}"
        for key in list(args):
            canon = _SPELLING.get(key)
            if canon not in wanted or key == "pool_size" and canon != "kernel_size":
                continue
            value = args[key]
            flat = value if isinstance(value, list) else [value]
            if not flat or not all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
                continue  # a mode ('same'), a symbol already, or pairs: left as written
            sites.append((args, key, canon, name))
            if canon in ties:
                tied_values[canon] += flat
    for canon, values in tied_values.items():
        if not values:
            raise SpecError(f"--tie {canon}={ties[canon]}: no layer has {canon}")
    for args, key, canon, name in sites:
        value = args[key]
        depthwise = canon == "out_channels" and _depthwise(args) and not isinstance(value, list)
        if canon in ties:
            sym = ties[canon]
            unit = math.gcd(*tied_values[canon]) or 1
            spelled = "/".join(sorted({k for _, k, c, _ in sites if c == canon}))  # the framework's own words
            declare(sym, unit, f"{spelled} (tied: every {spelled} is a multiple of it)")
            args[key] = [_multiple(v, unit, sym) for v in value] if isinstance(value, list) else \
                _multiple(value, unit, sym)
        else:
            prefix = HYPERPARAMETERS[canon][0]
            base = f"{prefix}_{_ident(name)}"
            if isinstance(value, list) and len(set(value)) > 1:
                names = [f"{base}_{_AXES[i] if len(value) <= 3 else i}" for i in range(len(value))]
                for n, v in zip(names, value, strict=True):
                    declare(n, v, f"{key} of {name}")
                args[key] = names
            else:
                v = value[0] if isinstance(value, list) else value
                declare(base, v, f"{key} of {name}")
                args[key] = base
        if depthwise:  # groups == in_channels: the groups follow the channels (out = multiplier * groups)
            multiplier = value // args["groups"]
            args["groups"] = args[key] if multiplier == 1 else f"({args[key]}) // {multiplier}"
    if wanted & _CHANNELS:
        for entry in layers:
            if isinstance(entry, dict):
                for k, args in entry.items():
                    if k not in ("name", "inputs") and isinstance(args, dict):
                        for inferred in _INFERRED:
                            args.pop(inferred, None)
    if symbols:
        out = {k: out[k] for k in ("framework", "input", "inputs", "name", "description") if k in out} | \
            {"symbols": symbols} | {k: v for k, v in out.items() if k not in ("framework", "input", "inputs", "name",
                                                                              "description", "symbols")}
    if frozen:
        _check_frozen(out, frozen)
    return Lifted(out, defaults)


def _depthwise(args: Mapping[str, Any]) -> bool:
    """A depthwise convolution (torch's spelling): groups == in_channels > 1, out_channels a multiple of them."""
    groups, cin, cout = args.get("groups"), args.get("in_channels"), args.get("out_channels")
    return (isinstance(groups, int) and not isinstance(groups, bool) and groups > 1 and groups == cin
            and isinstance(cout, int) and cout % groups == 0)


def _check_frozen(spec: dict[str, Any], frozen: Mapping[str, Sequence[tuple[str, int]]]) -> None:
    """Refuse a lifted spec where a layer argument was computed from a size that is now symbolic."""
    from .derive import derive

    d = derive(spec)
    shapes = {name: [tuple(s) for s in layer.outputs] for name, layer in ((ly.name, ly) for ly in d.layers)}
    inputs = spec.get("inputs") or {"input": spec.get("input")}
    for layer, reads in frozen.items():
        moving = []
        for ref, axis in reads:
            name, _, k = ref.partition(":")
            shape = inputs[name] if name in inputs else shapes.get(name, [()])[int(k or 0)]
            size = shape[axis] if axis < len(shape) else None
            if size is not None and not isinstance(size, int) and getattr(size, "free_symbols", {size}):
                moving.append(f"{name} axis {axis} ({size})")
        if moving:
            raise SpecError(f"layer '{layer}' has an argument the model computes from a tensor's size "
                            f"({', '.join(moving)}), imported as its value at the example; with these symbols that "
                            f"size varies and the imported value would be wrong. symshape cannot express it: keep "
                            f"those sizes fixed, or write the argument as a constant in the model")


def _multiple(value: int, unit: int, sym: str) -> Any:
    if value == unit:
        return sym
    if value % unit:
        raise SpecError(f"{value} is not a multiple of {unit}")  # gcd: unreachable
    return f"{value // unit}*{sym}"
