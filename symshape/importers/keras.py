"""Import a keras 3 model: Sequential and functional models (the ``get_config()`` graph: each layer's inbound
nodes name the layers whose outputs it takes), nested models inlined with their layers named
``inner_model.layer``, keras.applications models (built with ``weights=None``), ``.keras`` and ``.json`` files.

Each layer becomes the spec layer of its class with the arguments of its ``get_config()`` that change shapes or
counts (defaults, initializers and regularizers left out; ``activation`` kept, keras checks its name).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import SpecError
from .common import Imported, SpecBuilder, UnsupportedOpError, plain, supported_kinds

__all__ = ["from_keras", "load_keras"]

_SKIPPED = {"name", "dtype", "trainable", "input_shape", "autocast", "weights"}
_MODELS = {"Functional", "Sequential", "Model"}


def _keras() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError as err:  # pragma: no cover - the CLI names the package
        raise SpecError(f"importing a keras model needs keras installed ({err})") from None
    return keras


def load_keras(path: str | os.PathLike) -> Any:
    """A model from a .keras (or .h5) file, or a .json architecture (``model.to_json()``)."""
    keras = _keras()
    path = Path(path)
    if not path.exists():
        raise SpecError("no such file", None)
    try:
        if path.suffix.lower() == ".json":
            model = keras.models.model_from_json(path.read_text(encoding="utf-8"))
            if not isinstance(model, keras.Model):
                raise SpecError(f"{path} is not a keras model's architecture (the JSON of model.to_json(), with "
                                f"'class_name' and 'config'); it reads as a {type(model).__name__}")
            return model
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except SpecError:
        raise
    except Exception as err:  # noqa: BLE001 - keras' own failure, one line
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SpecError(f"keras could not load {path}: {text}") from None


def _source(layer: Any) -> str:
    """Where a layer comes from: its class's file:line for a class of the user's own (keras records no file or
    line for a layer call), else the keras class path and that keras records no location."""
    cls = type(layer)
    if not cls.__module__.startswith("keras."):
        try:
            file = inspect.getsourcefile(cls)
            line = inspect.getsourcelines(cls)[1]
            return f"{os.path.relpath(file) if file else '?'}:{line} (class {cls.__name__})"
        except (OSError, TypeError):
            pass
    return f"class {cls.__module__}.{cls.__name__} (keras records no file or line for a layer)"


class _Importer:
    def __init__(self, allow_opaque: bool) -> None:
        self.keras = _keras()
        self.b = SpecBuilder("keras")
        self.allow_opaque = allow_opaque

    def shapes(self, tensors: Any) -> list[tuple[int, ...]] | None:
        flat = tensors if isinstance(tensors, (list, tuple)) else [tensors]
        out = []
        for t in flat:
            shape = getattr(t, "shape", None)
            if shape is None or any(s is None for s in shape[1:]):
                return None
            out.append(tuple(int(s) for s in shape[1:]))
        return out

    def unsupported(self, node: str, op: str, why: str = "", source: str | None = None) -> UnsupportedOpError:
        return UnsupportedOpError("keras", node, op, source, supported_kinds("keras"), why)

    def args(self, layer: Any, kind: str) -> dict[str, Any]:
        from ..layers import find_rule
        from ..layers.base import ActivationKind, AnyKind, IntsKind, OptionalKind

        rule = find_rule("keras", kind)
        config = layer.get_config()
        out: dict[str, Any] = {}
        for arg in rule.args:
            if arg.name in _SKIPPED or arg.name not in config:
                continue
            inner = arg.kind.inner if isinstance(arg.kind, OptionalKind) else arg.kind
            value = config[arg.name]
            if isinstance(inner, AnyKind) and not (kind in ("Normalization",) and arg.name in ("mean", "variance")):
                continue
            if isinstance(inner, ActivationKind) and value in (None, "linear"):
                continue
            if isinstance(value, dict):
                raise self.unsupported(layer.name, f"{kind}.{arg.name}",
                                       f"a serialized object {value.get('class_name')}", _source(layer))
            value = plain(value)
            if isinstance(inner, IntsKind) and isinstance(value, list) and value and \
                    all(v == value[0] and isinstance(v, int) for v in value):
                value = value[0]  # (3, 3) -> 3, as people write it
            if not arg.required and value == plain(arg.default) and type(value) is type(plain(arg.default)):
                continue
            if arg.name == "data_format" and value == "channels_last":
                continue
            out[arg.name] = value
        if config.get("trainable") is False and rule.arg("trainable") is not None:
            out["trainable"] = False
        return out

    def call(self, layer: Any, refs: list[str], prefix: str) -> list[str]:
        from ..layers.base import ALIASES, REGISTRY

        cls = type(layer).__name__
        if cls in _MODELS or isinstance(layer, self.keras.Model):
            return self.graph(layer, refs, f"{prefix}{layer.name}.")
        kind = ALIASES.get(("keras", cls), cls)
        name = f"{prefix}{layer.name}"
        try:
            recorded = self.shapes(layer.output)
        except (AttributeError, ValueError, RuntimeError):
            recorded = None
        if ("keras", kind) not in REGISTRY or kind == "Opaque":
            if not self.allow_opaque:
                raise self.unsupported(name, f"{type(layer).__module__}.{cls}", "a layer class symshape has no rule "
                                       "for", _source(layer))
            if recorded is None:
                raise self.unsupported(name, cls, "its output shape is not known", _source(layer))
            seen = [list(self.ref_shape(r)) for r in refs]
            trainable = sum(int(w.numpy().size) for w in layer.trainable_weights)
            frozen = sum(int(w.numpy().size) for w in layer.non_trainable_weights)
            args: dict[str, Any] = {"op": f"{type(layer).__module__}.{cls}",
                                    "output_shapes": [list(s) for s in recorded], "input_shapes": seen,
                                    "source": _source(layer)}
            if trainable:
                args["trainable"] = trainable
            if frozen:
                args["non_trainable"] = frozen
            out = self.b.layer("Opaque", args, refs, name, recorded)
            return [out] + [f"{out}:{k}" for k in range(1, len(recorded))]
        out = self.b.layer(kind, self.args(layer, kind), refs, name, recorded)
        n = len(recorded) if recorded else REGISTRY[("keras", kind)].n_outputs
        return [out] + [f"{out}:{k}" for k in range(1, n)]

    def ref_shape(self, ref: str) -> tuple[int, ...]:
        name, _, k = ref.partition(":")
        if name in self.b.inputs:
            return tuple(self.b.inputs[name])
        return self.b.recorded[name][int(k or 0)]

    def graph(self, model: Any, refs: list[str], prefix: str) -> list[str]:
        cls = type(model).__name__
        if cls == "Sequential":
            x = refs
            for layer in model.layers:
                if type(layer).__name__ == "InputLayer":
                    continue
                x = self.call(layer, x[:1], prefix)
            return x[:1]
        config = model.get_config()
        if "layers" not in config or "input_layers" not in config:
            raise self.unsupported(prefix.rstrip(".") or model.name, f"{type(model).__module__}.{cls}",
                                   "a subclassed model (no functional graph in get_config()): build it as a "
                                   "functional or Sequential model", _source(model))
        tensors: dict[tuple[str, int, int], str] = {}
        inputs = _histories(config["input_layers"])
        if len(inputs) != len(refs):
            raise SpecError(f"model '{model.name}' takes {len(inputs)} input(s), given {len(refs)}")
        for key, ref in zip(inputs, refs, strict=True):
            tensors[key] = ref
        for entry in config["layers"]:
            if entry.get("class_name") == "InputLayer":
                continue
            name = entry.get("name") or entry["config"]["name"]
            nodes = entry.get("inbound_nodes") or []
            if len(nodes) > 1:
                raise self.unsupported(f"{prefix}{name}", entry.get("class_name", "?"),
                                       f"a layer shared by {len(nodes)} calls (its weights counted once)")
            if not nodes:
                continue
            node = nodes[0]
            keys = _histories([node.get("args", ()), node.get("kwargs", {})])
            missing = [k for k in keys if k not in tensors]
            if missing:
                raise SpecError(f"layer '{prefix}{name}' takes the output of '{missing[0][0]}', which comes later "
                                "or is missing in the model's config")
            outs = self.call(model.get_layer(name), [tensors[k] for k in keys], prefix)
            for k, ref in enumerate(outs):
                tensors[(name, 0, k)] = ref
        result = []
        for key in _histories(config["output_layers"]):
            if key not in tensors:
                raise SpecError(f"model '{model.name}': output '{key[0]}' is not produced by its layers")
            result.append(tensors[key])
        return result


def _histories(value: Any) -> list[tuple[str, int, int]]:
    """Every tensor reference in a node's args/kwargs or a model's input/output list: (layer, node, index)."""
    out: list[tuple[str, int, int]] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            if v.get("class_name") == "__keras_tensor__":
                name, node, index = v["config"]["keras_history"]
                out.append((str(name), int(node), int(index)))
                return
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            if len(v) == 3 and isinstance(v[0], str) and isinstance(v[1], int) and isinstance(v[2], int):
                out.append((v[0], v[1], v[2]))
                return
            for x in v:
                walk(x)
    walk(value)
    return out


def from_keras(model: Any, *, allow_opaque: bool = False) -> Imported:
    """A keras model (or a path to a .keras/.json file) -> an :class:`~symshape.importers.Imported` spec."""
    keras = _keras()
    source = None
    if isinstance(model, (str, os.PathLike)):
        source = str(model)
        model = load_keras(model)
    if not isinstance(model, keras.Model):
        raise SpecError(f"from_keras takes a keras Model (or a .keras/.json path), got {type(model).__name__}")
    try:
        from keras.src.models.functional import Functional
    except ImportError:  # pragma: no cover - another keras layout: the checks below still apply
        Functional = keras.Model  # noqa: N806
    if not isinstance(model, (Functional, keras.Sequential)):
        raise SpecError(f"model '{model.name}' is a subclassed keras Model (class {type(model).__name__}): symshape "
                        "reads functional and Sequential models (their get_config() graph); build it with "
                        "keras.Input and layer calls, or import its ONNX export")
    try:
        model_inputs = list(model.inputs)
    except (AttributeError, ValueError):
        model_inputs = []
    if not model_inputs:
        raise SpecError(f"model '{model.name}' has no defined inputs: build it with keras.Input(shape=...) "
                        "(a Sequential model needs an input shape)")
    im = _Importer(allow_opaque)
    refs: list[str] = []
    names = _input_names(model, len(model_inputs))
    for name, tensor in zip(names, model_inputs, strict=True):
        shape = tensor.shape[1:]
        if any(s is None for s in shape):
            sym = [s if s is not None else f"N{i}" for i, s in enumerate(shape)]
            refs.append(im.b.input("input" if len(model_inputs) == 1 else name, sym))
        else:
            refs.append(im.b.input("input" if len(model_inputs) == 1 else name, [int(s) for s in shape]))
    outputs = im.graph(model, refs, "")
    spec = im.b.spec(outputs)
    return Imported(spec, "keras", source or f"keras model '{model.name}'", im.b.opaque, im.b.recorded)


def _input_names(model: Any, n: int) -> Sequence[str]:
    try:
        config = model.get_config()
        names = [k[0] for k in _histories(config.get("input_layers", []))]
        if len(names) == n:
            return names
    except (AttributeError, NotImplementedError, TypeError):
        pass
    return [f"input_{i}" for i in range(n)]
