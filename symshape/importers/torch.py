"""Import a PyTorch module: trace it with torch.fx (symbolic_trace; torch.export's graph where fx fails) into
a spec graph.

Modules symshape knows (every torch rule in :mod:`symshape.layers`) stay leaves of the trace and become layers
with their real constructor arguments, named by torch's qualified module names (``layer1.0.conv1``; a module
called twice gets ``_1``). Functional calls become the matching spec layers: ``+``/``add`` -> add, ``*``/``mul``
-> mul, ``torch.cat`` -> cat, ``flatten``/``view(n, -1)`` -> Flatten, ``view``/``reshape`` -> reshape,
``permute``, ``transpose``, ``mean``, ``F.relu`` and the other activations, ``F.adaptive_avg_pool2d``,
``F.max_pool2d``, ``F.interpolate``...; ``getitem`` on a module's tuple output picks that output (``lstm:1``).
Arithmetic with a Python number (``x * 0.5``) keeps the shape and becomes an ``Identity`` layer.

Shapes are recorded at the example input by running the traced graph once (``torch.no_grad``, eval mode,
restored after): they are the ground truth of opaque layers and of the round trip.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import SpecError
from .common import Imported, SpecBuilder, UnsupportedOpError, plain, supported_kinds

__all__ = ["from_torch", "load_factory"]

_SKIPPED_ARGS = {"device", "dtype", "inplace"}


def _torch() -> Any:
    try:
        import torch
    except ImportError as err:  # pragma: no cover - the CLI says which package is missing
        raise SpecError(f"importing a PyTorch model needs torch installed ({err})") from None
    return torch


# ---------------------------------------------------------------- module constructor arguments


def _module_args(module: Any, kind: str) -> dict[str, Any]:
    """The constructor arguments of a module symshape knows, read from its attributes, defaults left out."""
    from ..layers import find_rule

    rule = find_rule("torch", kind)
    special: dict[str, Callable[[Any], Any]] = {
        "bias": lambda m: (m.in_proj_bias is not None) if kind == "MultiheadAttention" else m.bias is not None,
        "add_bias_kv": lambda m: m.bias_k is not None,
        "num_parameters": lambda m: int(m.weight.numel()),
        "kdim": lambda m: m.kdim if m.kdim != m.embed_dim else None,
        "vdim": lambda m: m.vdim if m.vdim != m.embed_dim else None,
    }
    out: dict[str, Any] = {}
    for arg in rule.args:
        if arg.name in _SKIPPED_ARGS:
            continue
        if arg.name in special and (arg.name != "bias" or hasattr(module, "bias") or kind == "MultiheadAttention"):
            try:
                value = special[arg.name](module)
            except AttributeError:
                continue
        elif hasattr(module, arg.name):
            value = getattr(module, arg.name)
        else:
            continue
        value = plain(value)
        if arg.name == "padding" and kind.endswith(("Pad1d", "Pad2d", "Pad3d")):
            value = list(value) if isinstance(value, list) else value
        elif isinstance(value, list) and value and all(v == value[0] for v in value) and \
                not isinstance(value[0], list) and arg.name not in ("output_size", "normalized_shape", "size",
                                                                     "unflattened_size", "scale_factor"):
            value = value[0]  # (3, 3) -> 3, as people write it
        if not arg.required and _same(value, arg.default):
            continue
        out[arg.name] = value
    return out


def _same(value: Any, default: Any) -> bool:
    try:
        return bool(plain(default) == value) and type(plain(default)) is type(value) or \
            (isinstance(value, (int, float)) and not isinstance(value, bool) and
             isinstance(default, (int, float)) and not isinstance(default, bool) and value == default)
    except Exception:  # noqa: BLE001 - a default that does not compare is simply written out
        return False


# ---------------------------------------------------------------- functional ops

_ACTIVATIONS = {  # function or method name -> the module kind (shape unchanged)
    "relu": "ReLU", "relu_": "ReLU", "relu6": "ReLU6", "sigmoid": "Sigmoid", "sigmoid_": "Sigmoid", "tanh": "Tanh",
    "hardswish": "Hardswish", "hardsigmoid": "Hardsigmoid", "silu": "SiLU", "gelu": "GELU", "elu": "ELU",
    "selu": "SELU", "celu": "CELU", "mish": "Mish", "leaky_relu": "LeakyReLU", "softplus": "Softplus",
    "softsign": "Softsign", "hardtanh": "Hardtanh", "logsigmoid": "LogSigmoid", "tanhshrink": "Tanhshrink",
    "dropout": "Dropout", "dropout2d": "Dropout2d", "alpha_dropout": "AlphaDropout",
}
_MERGES = {"add": "add", "add_": "add", "iadd": "add", "mul": "mul", "mul_": "mul", "imul": "mul", "sub": "sub",
           "isub": "sub", "sub_": "sub"}
_SCALAR_OK = {"add", "add_", "iadd", "mul", "mul_", "imul", "sub", "isub", "sub_", "truediv", "itruediv", "div",
              "div_", "neg", "pow", "rsub", "radd", "rmul"}
_NO_OPS = {"contiguous", "clone", "detach", "float", "to", "type_as", "requires_grad_"}
_POOLS = {"adaptive_avg_pool1d": "AdaptiveAvgPool1d", "adaptive_avg_pool2d": "AdaptiveAvgPool2d",
          "adaptive_avg_pool3d": "AdaptiveAvgPool3d", "adaptive_max_pool2d": "AdaptiveMaxPool2d",
          "max_pool1d": "MaxPool1d", "max_pool2d": "MaxPool2d", "max_pool3d": "MaxPool3d",
          "avg_pool1d": "AvgPool1d", "avg_pool2d": "AvgPool2d", "avg_pool3d": "AvgPool3d"}
_FUNCTIONAL_OPS = sorted({*_ACTIVATIONS, *_MERGES, *_POOLS, "cat", "concat", "flatten", "view", "reshape",
                          "permute", "transpose", "mean", "softmax", "log_softmax", "interpolate", "getitem", "pad",
                          "size", *(_NO_OPS - {"to"})})


def _op_name(node: Any) -> str:
    target = node.target
    if isinstance(target, str):
        return target
    name = getattr(target, "__name__", str(target))
    return name


def _qualified(node: Any) -> str:
    target = node.target
    if node.op == "call_method":
        return f"Tensor.{target}"
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", str(target))
    if module in ("_operator", "operator"):
        return f"operator.{name}"
    if module.startswith("torch.nn.functional"):
        return f"torch.nn.functional.{name}"
    return f"{module}.{name}" if module else name


def _nodes(args: Any) -> Iterator[Any]:
    """The graph nodes in a node's (nested) arguments, in order."""
    if isinstance(args, (list, tuple)):
        for a in args:
            yield from _nodes(a)
    elif isinstance(args, dict):
        for a in args.values():
            yield from _nodes(a)
    elif hasattr(args, "op"):
        yield args


class _Importer:
    def __init__(self, root: Any, graph: Any, example: Sequence[Any], allow_opaque: bool,
                 shapes: dict[str, Any]) -> None:
        self.torch = _torch()
        self.root = root
        self.graph = graph
        self.example = example
        self.allow_opaque = allow_opaque
        self.shapes = shapes  # node name -> its value at the example input (tensor, tuple or int)
        self.b = SpecBuilder("torch")
        self.ref: dict[str, Any] = {}  # fx node name -> spec reference (str), int value, or tuple of refs
        self.calls: dict[str, int] = {}
        # sizes read from tensors (x.shape, x.size(2)): node -> the (spec reference, axis without batch) it holds,
        # per element for a shape; a layer argument computed from them is frozen at the example's value
        self.reads: dict[str, set[tuple[str, int]]] = {}
        self.elems: dict[str, list[tuple[str, int] | None]] = {}
        self.frozen: dict[str, list[tuple[str, int]]] = {}

    def read_of(self, args: Any) -> set[tuple[str, int]]:
        out: set[tuple[str, int]] = set()
        for node in _nodes(args):
            out.update(self.reads.get(node.name, ()))
        return out

    def note_size(self, node: Any, op: str, args: list, kwargs: dict) -> None:
        """Where a size value comes from: x.shape / x.size() (every axis), x.size(d), their items, arithmetic."""
        torch = self.torch
        base = args[0] if args else None
        if op in ("size", "getattr") and hasattr(base, "op") and isinstance(self.shapes.get(base.name), torch.Tensor):
            ref = self.ref.get(base.name)
            rank = self.shapes[base.name].dim()
            if not isinstance(ref, str) or (op == "getattr" and (len(args) < 2 or args[1] != "shape")):
                return
            dim = args[1] if op == "size" and len(args) > 1 else kwargs.get("dim") if op == "size" else None
            if isinstance(dim, int):
                d = dim % rank if rank else 0
                self.reads[node.name] = {(ref, d - 1)} if d >= 1 else set()
                return
            elems = [None, *[(ref, i) for i in range(rank - 1)]]
            self.elems[node.name] = elems
            self.reads[node.name] = {e for e in elems if e}
            return
        if op == "getitem" and hasattr(base, "op") and base.name in self.elems and len(args) > 1:
            picked = self.elems[base.name][args[1]] if isinstance(args[1], (int, slice)) else self.elems[base.name]
            picked = picked if isinstance(picked, list) else [picked]
            self.elems[node.name] = picked
            self.reads[node.name] = {e for e in picked if e}
            return
        found = self.read_of((args, kwargs))
        if found:
            self.reads[node.name] = found

    # where a node comes from, for messages
    def source(self, node: Any) -> str | None:
        trace = node.meta.get("stack_trace") if hasattr(node, "meta") else None
        if trace:
            frames = [line.strip() for line in trace.splitlines() if line.strip().startswith("File ")]
            user = [f for f in frames if "/torch/" not in f]  # the model's own code, not torch's
            if user:
                parts = user[-1].split(",")
                file = parts[0].removeprefix("File ").strip().strip('"')
                line = parts[1].strip().removeprefix("line ").strip() if len(parts) > 1 else "?"
                return f"{os.path.relpath(file) if not file.startswith('<') else file}:{line}"
        if node.op == "call_module":
            try:
                cls = type(self.root.get_submodule(node.target))
                file = inspect.getsourcefile(cls)
                line = inspect.getsourcelines(cls)[1]
                return f"{os.path.relpath(file) if file else '?'}:{line} (class {cls.__name__})"
            except (OSError, TypeError):
                return None
        return None

    def unsupported(self, node: Any, op: str, why: str = "", hint: str = "") -> UnsupportedOpError:
        return UnsupportedOpError("torch", self.node_name(node), op, self.source(node), supported_kinds("torch"),
                                  why, hint, _FUNCTIONAL_OPS)

    def node_name(self, node: Any) -> str:
        return str(node.target) if node.op == "call_module" else node.name

    # values
    def tensor_shape(self, value: Any) -> tuple[int, ...]:
        return tuple(int(v) for v in value.shape[1:])

    def recorded(self, node: Any) -> list[tuple[int, ...]] | None:
        value = self.shapes.get(node.name)
        torch = self.torch
        if isinstance(value, torch.Tensor):
            return [self.tensor_shape(value)]
        if isinstance(value, (tuple, list)) and value and all(isinstance(v, torch.Tensor) for v in value):
            return [self.tensor_shape(v) for v in value]
        return None

    def is_tensor(self, arg: Any) -> bool:
        return hasattr(arg, "op") and isinstance(self.shapes.get(arg.name), self.torch.Tensor)

    def tensor_refs(self, args: Any) -> list[str]:
        return [self.ref[node.name] for node in _nodes(args) if isinstance(self.ref.get(node.name), str)]

    def concrete(self, arg: Any) -> Any:
        """A non-tensor argument's value at the example: ints from x.size(1), lists of them, literals."""
        if isinstance(arg, (list, tuple)):
            return [self.concrete(a) for a in arg]
        if hasattr(arg, "op"):
            value = self.shapes.get(arg.name)
            if isinstance(value, self.torch.Tensor):
                raise TypeError("a tensor where a number was expected")
            return plain(value)
        return plain(arg)

    # the walk
    def run(self) -> Imported:
        placeholders = [n for n in self.graph.nodes if n.op == "placeholder"]
        if len(placeholders) != len(self.example):
            raise SpecError(f"the model takes {len(placeholders)} input(s) "
                            f"({', '.join(n.name for n in placeholders)}); give as many example inputs, "
                            f"got {len(self.example)}")
        single = len(placeholders) == 1
        outputs: list[str] = []
        for node in self.graph.nodes:
            if node.op == "placeholder":
                value = self.shapes[node.name]
                self.ref[node.name] = self.b.input("input" if single else node.name, self.tensor_shape(value))
            elif node.op == "output":
                outputs = self.tensor_refs(node.args[0])
            elif node.op == "get_attr":
                self.ref[node.name] = None  # a parameter used in a function call: refused where it is used
            elif node.op == "call_module":
                self.call_module(node)
            else:
                self.call_function(node)
        spec = self.b.spec(outputs)
        imported = Imported(spec, "torch", type(self.root).__name__, self.b.opaque, self.b.recorded)
        imported.frozen = dict(self.frozen)
        return imported

    def name_for(self, node: Any) -> str:
        if node.op != "call_module":  # a function called inside module 'layer1.0': 'layer1.0.add'
            stack = node.meta.get("nn_module_stack") or {}
            base = node.name.rstrip("0123456789").rstrip("_") or node.name
            if stack:
                return f"{list(stack.values())[-1][0]}.{base}"
            return base
        base = str(node.target)
        n = self.calls.get(base, 0)
        self.calls[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def add(self, node: Any, kind: str, args: dict[str, Any], inputs: list[str]) -> None:
        self.ref[node.name] = self.b.layer(kind, args, inputs, self.name_for(node), self.recorded(node))

    def opaque(self, node: Any, op: str, why: str = "", params: int = 0, buffers: int = 0) -> None:
        if not self.allow_opaque:
            raise self.unsupported(node, op, why)
        inputs = self.tensor_refs((node.args, node.kwargs))
        outs = self.recorded(node)
        if not inputs or outs is None:
            raise self.unsupported(node, op, why or "no tensor input or output to record", "")
        seen = [self.b_shape(r) for r in inputs]
        args: dict[str, Any] = {"op": op, "output_shapes": [list(s) for s in outs],
                                "input_shapes": [list(s) for s in seen]}
        if params:
            args["trainable"] = params
        if buffers:
            args["buffers"] = buffers
        source = self.source(node)
        if source:
            args["source"] = source
        self.add(node, "Opaque", args, inputs)

    def b_shape(self, ref: str) -> tuple[int, ...]:
        name, _, k = ref.partition(":")
        if name in self.b.inputs:
            return tuple(self.b.inputs[name])
        return self.b.recorded[name][int(k or 0)]

    def call_module(self, node: Any) -> None:
        from ..layers.base import REGISTRY

        module = self.root.get_submodule(node.target)
        kind = type(module).__name__
        inputs = self.tensor_refs((node.args, node.kwargs))
        if ("torch", kind) not in REGISTRY or kind == "Opaque":
            params = sum(int(p.numel()) for p in module.parameters())
            buffers = sum(int(b.numel()) for b in module.buffers())
            self.opaque(node, f"{type(module).__module__}.{kind}", "a module class symshape has no rule for",
                        params, buffers)
            return
        if self.calls.get(str(node.target), 0) and any(True for _ in module.parameters()):
            # a module with weights called again shares them: a second layer would count them twice
            self.opaque(node, f"{type(module).__module__}.{kind}", f"a second call of '{node.target}', which shares "
                        "its weights with the first (a spec layer owns its weights)")
            return
        self.add(node, kind, _module_args(module, kind), inputs)

    def call_function(self, node: Any) -> None:
        torch = self.torch
        op = _op_name(node)
        qual = _qualified(node)
        args, kwargs = list(node.args), dict(node.kwargs)
        tensors = [a for a in [*args, *kwargs.values()] if self.is_tensor(a)]
        value = self.shapes.get(node.name)
        if op == "getitem":
            base, index = args
            ref = self.ref.get(base.name)
            if isinstance(ref, tuple) or (isinstance(ref, str) and isinstance(self.shapes.get(base.name), tuple)):
                if isinstance(ref, str) and isinstance(index, int):
                    self.ref[node.name] = f"{ref}:{index}" if index else ref
                    return
            if not isinstance(value, torch.Tensor):  # x.shape[1], a size: a number
                self.note_size(node, op, args, kwargs)
                self.ref[node.name] = plain(value)
                return
            self.opaque(node, "operator.getitem", "indexing or slicing a tensor")
            return
        if op in ("size", "dim") or (op == "getattr" and not isinstance(value, torch.Tensor)):
            self.note_size(node, op, args, kwargs)
            self.ref[node.name] = plain(value)
            return
        if not isinstance(value, torch.Tensor) and not (isinstance(value, tuple) and value and
                                                         all(isinstance(v, torch.Tensor) for v in value)):
            self.note_size(node, op, args, kwargs)
            if tensors and node.name not in self.reads:
                self.opaque(node, qual, "its result is not a tensor")
            self.ref[node.name] = plain(value)  # arithmetic on sizes: a number at the example
            return
        if op in _NO_OPS or (op == "dropout" and kwargs.get("training") is False):
            self.ref[node.name] = self.tensor_refs(args[:1])[0]
            return
        refs = self.tensor_refs((args, kwargs))
        if not refs:
            self.opaque(node, qual, "a tensor made inside the model (no tensor input)")
            return
        try:
            kind, layer_args, inputs = self.map_function(node, op, args, kwargs, tensors, refs)
        except TypeError as err:
            self.opaque(node, qual, str(err))
            return
        if kind is None:
            self.opaque(node, qual)
            return
        self.add(node, kind, layer_args, inputs)
        reads = self.read_of((args, kwargs))
        if reads:
            self.frozen[self.ref[node.name]] = sorted(reads)

    def map_function(self, node: Any, op: str, args: list, kwargs: dict, tensors: list,
                     refs: list[str]) -> tuple[str | None, dict[str, Any], list[str]]:
        def arg(i: int, name: str, default: Any = None) -> Any:
            if name in kwargs:
                return self.concrete(kwargs[name])
            return self.concrete(args[i]) if len(args) > i else default

        op = op.removeprefix("__").removesuffix("__")
        if op in _MERGES or op in _SCALAR_OK:
            if len(tensors) >= 2 and op in _MERGES:
                return _MERGES[op], {}, refs
            if len(tensors) == 1 and op in _SCALAR_OK:
                return "Identity", {}, refs[:1]  # x * 0.5, x + 1: the shape is kept
            return None, {}, refs
        if op in _ACTIVATIONS:
            kind = _ACTIVATIONS[op]
            layer_args: dict[str, Any] = {}
            if kind.startswith("Dropout") or kind == "AlphaDropout":
                layer_args = {"p": arg(1, "p", 0.5)}
            elif kind == "LeakyReLU":
                layer_args = {"negative_slope": arg(1, "negative_slope", 0.01)}
            elif kind == "GELU" and kwargs.get("approximate", "none") != "none":
                layer_args = {"approximate": kwargs["approximate"]}
            return kind, layer_args, refs[:1]
        if op in ("cat", "concat"):
            dim = arg(1, "dim", 0)
            if len(refs) == 1:  # torch.cat([x]) is x (DenseNet's first layer of a block)
                return "Identity", {}, refs
            return "cat", {"dim": dim}, refs
        if op == "flatten":
            return "Flatten", _drop_defaults({"start_dim": arg(1, "start_dim", 0), "end_dim": arg(2, "end_dim", -1)},
                                             {"start_dim": 1, "end_dim": -1}), refs[:1]
        if op in ("view", "reshape"):
            raw = args[1:] if len(args) > 2 or (len(args) == 2 and not isinstance(args[1], (list, tuple))) else \
                (args[1] if len(args) > 1 else kwargs.get("shape", kwargs.get("size")))
            sizes = self.concrete(list(raw))
            batch = int(self.shapes[tensors[0].name].shape[0])
            if not sizes or sizes[0] not in (batch, -1):
                raise TypeError("a reshape that moves the batch axis")
            rest = sizes[1:]
            if sizes[0] == -1 and -1 in rest:
                raise TypeError("a reshape that infers the batch axis")
            if rest == [-1]:
                return "Flatten", {}, refs[:1]
            return "reshape", {"shape": rest}, refs[:1]
        if op == "permute":
            dims = args[1:] if len(args) > 2 else args[1] if len(args) > 1 else kwargs["dims"]
            return "permute", {"dims": self.concrete(list(dims) if isinstance(dims, (list, tuple)) else [dims])}, \
                refs[:1]
        if op == "transpose":
            return "transpose", {"dim0": arg(1, "dim0"), "dim1": arg(2, "dim1")}, refs[:1]
        if op == "mean":
            dim = arg(1, "dim")
            if dim is None:
                raise TypeError("a mean over every axis, the batch included")
            return "mean", _drop_defaults({"dim": dim, "keepdim": bool(arg(2, "keepdim", False))},
                                          {"keepdim": False}), refs[:1]
        if op in ("softmax", "log_softmax"):
            return ("Softmax" if op == "softmax" else "LogSoftmax"), {"dim": arg(1, "dim")}, refs[:1]
        if op in _POOLS:
            kind = _POOLS[op]
            if kind.startswith("Adaptive"):
                return kind, {"output_size": arg(1, "output_size")}, refs[:1]
            pool: dict[str, Any] = {"kernel_size": arg(1, "kernel_size")}
            stride = arg(2, "stride")
            if stride not in (None, []):
                pool["stride"] = stride
            names = ("padding", "dilation", "ceil_mode", "return_indices") if kind.startswith("Max") else \
                ("padding", "ceil_mode", "count_include_pad")
            defaults = {"padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False,
                        "count_include_pad": True}
            for i, name in enumerate(names, start=3):
                v = arg(i, name, defaults[name])
                if v != defaults[name]:
                    pool[name] = v
            return kind, pool, refs[:1]
        if op == "pad":  # F.pad(x, (left, right, top, bottom, ...), mode, value): the padding layers' order
            pads = arg(1, "pad")
            mode = arg(2, "mode", "constant")
            value = arg(3, "value", None)
            rank = len(pads) // 2 if isinstance(pads, list) else 0
            family = {"constant": "ConstantPad", "reflect": "ReflectionPad", "replicate": "ReplicationPad",
                      "circular": "CircularPad"}.get(mode)
            if family is None or rank not in (1, 2, 3) or len(pads) != 2 * rank:
                return None, {}, refs
            if family == "ConstantPad" and not value:
                return f"ZeroPad{rank}d", {"padding": pads}, refs[:1]
            return f"{family}{rank}d", {"padding": pads, **({"value": value} if family == "ConstantPad" else {})}, \
                refs[:1]
        if op == "interpolate":
            mode = arg(3, "mode", "nearest")
            up: dict[str, Any] = {"mode": mode} if mode != "nearest" else {}
            size, scale = arg(1, "size"), arg(2, "scale_factor")
            if size is not None:
                up["size"] = size if isinstance(size, list) else [size]
            if scale is not None:
                up["scale_factor"] = scale
            align = arg(4, "align_corners")
            if align is not None:
                up["align_corners"] = align
            return "Upsample", up, refs[:1]
        return None, {}, refs


def _drop_defaults(args: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k not in defaults or defaults[k] != v}


# ---------------------------------------------------------------- tracing


def _leaf_tracer() -> Any:
    torch = _torch()
    from torch import fx

    from ..layers.base import REGISTRY

    class Tracer(fx.Tracer):
        def __init__(self) -> None:
            super().__init__()
            self.record_stack_traces = True

        def is_leaf_module(self, m: Any, qualname: str) -> bool:
            if ("torch", type(m).__name__) in REGISTRY and type(m).__module__.startswith("torch.nn"):
                return True
            return super().is_leaf_module(m, qualname)

    del torch
    return Tracer()


def _record(gm: Any, example: Sequence[Any]) -> dict[str, Any]:
    """Every node's value at the example input (one forward of the traced graph)."""
    torch = _torch()
    from torch.fx import Interpreter

    values: dict[str, Any] = {}

    class Recorder(Interpreter):
        def run_node(self, n: Any) -> Any:
            out = super().run_node(n)
            values[n.name] = out
            return out

    try:
        try:  # shapes only: on the meta device (no arithmetic), the parameters swapped for meta ones meanwhile
            from torch.nn.utils.stateless import _reparametrize_module

            state = {k: v.to("meta") for k, v in [*gm.named_parameters(), *gm.named_buffers()]}
            with torch.no_grad(), _reparametrize_module(gm, state):
                Recorder(gm).run(*[t.to("meta") for t in example])
        except Exception:  # noqa: BLE001 - an op the meta device lacks: run it for real
            values.clear()
            with torch.no_grad():
                Recorder(gm).run(*example)
    except Exception as err:  # noqa: BLE001 - the model's own failure, reported as such
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        shapes = ", ".join(str(tuple(t.shape)) for t in example)
        raise SpecError(f"torch could not run the model on the example input {shapes}: {first}") from None
    return values


def from_torch(module: Any, example_input: Any, *, allow_opaque: bool = False) -> Imported:
    """A torch ``nn.Module`` and an example input (a tensor, or a tuple of tensors for several inputs, batch axis
    first) -> an :class:`~symshape.importers.Imported` spec. Traces with torch.fx; falls back to torch.export's
    graph when fx cannot trace the module. Raises :class:`UnsupportedOpError` for an op symshape cannot map
    (unless ``allow_opaque``)."""
    torch = _torch()
    from torch import fx

    if not isinstance(module, torch.nn.Module):
        raise SpecError(f"from_torch takes a torch.nn.Module, got {type(module).__name__}")
    example = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
    if not example or not all(isinstance(t, torch.Tensor) for t in example):
        raise SpecError("the example input is a tensor (batch axis first) or a tuple of tensors")
    from ..layers.base import REGISTRY

    if ("torch", type(module).__name__) in REGISTRY and type(module).__module__.startswith("torch.nn"):
        module = _single(module)  # a layer on its own, nn.Conv2d(...): one module holding it
    was_training = module.training
    module.eval()
    try:
        try:
            tracer = _leaf_tracer()
            graph = tracer.trace(module)
            gm = fx.GraphModule(tracer.root, graph, type(module).__name__)
        except Exception as fx_error:  # noqa: BLE001 - any trace failure: try torch.export
            from .torch_export import from_exported

            return _training_note(module, from_exported(module, example, allow_opaque=allow_opaque,
                                                        fx_error=fx_error))
        values = _record(gm, example)
        return _training_note(module, _Importer(gm, gm.graph, example, allow_opaque, values).run())
    finally:
        module.train(was_training)


def _training_note(module: Any, imported: Imported) -> Imported:
    """The trace runs in eval mode: say which of the model's own modules behave differently in training (their
    forward reads self.training: StochasticDepth, a functional dropout), which the spec and exported code leave out."""
    seen: dict[str, list[str]] = {}
    for name, sub in module.named_modules():
        cls = type(sub)
        if cls.__module__.startswith("torch."):
            continue
        try:
            text = inspect.getsource(cls.forward)
        except (OSError, TypeError):
            continue
        if "self.training" in text:
            seen.setdefault(cls.__name__, []).append(name or "(the model)")
    if seen:
        shown = "; ".join(f"{k} ({', '.join(v[:3])}{f' and {len(v) - 3} more' if len(v) > 3 else ''})"
                          for k, v in seen.items())
        text = (f"traced in eval mode: what these modules do only in training is not in the spec (nor in code "
                f"exported from it, which computes the eval-mode values): {shown}")
        imported.notes.append(text)
        spec = imported.spec
        old = spec.get("description")
        imported.spec = {k: v for k, v in spec.items() if k not in ("layers", "outputs", "description")} | \
            {"description": f"{old} {text}" if old else text} | \
            {k: v for k, v in spec.items() if k in ("layers", "outputs")}
    return imported


def _single(layer: Any) -> Any:
    """A module that holds one layer (named like keras would: conv2d) and calls it."""
    torch = _torch()
    from ..derive import snake_case

    name = snake_case(type(layer).__name__)

    class Single(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.add_module(name, layer)

        def forward(self, x: Any) -> Any:  # one input: torch.fx traces it (several: torch.export does)
            return getattr(self, name)(x)

    Single.__name__ = Single.__qualname__ = type(layer).__name__
    return Single()


def load_factory(target: str, args: Sequence[str] = ()) -> Any:
    """'pkg.module:factory' -> factory(*args) with each argument read as a Python literal (never eval)."""
    import ast
    import importlib

    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise SpecError(f"expected pkg.module:factory, got {target!r}")
    try:
        mod = importlib.import_module(module_name)
    except ImportError as err:
        raise SpecError(f"cannot import module '{module_name}': {err}") from None
    obj: Any = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            from ..errors import did_you_mean

            raise SpecError(f"'{module_name}' has no attribute '{attr}'{did_you_mean(part, names)}")
        obj = getattr(obj, part)
    values: list[Any] = []
    kwargs: dict[str, Any] = {}
    for raw in args:
        key, eq, text = raw.partition("=")
        if eq and key.isidentifier():
            target_dict, text = kwargs, text
        else:
            target_dict, text, key = None, raw, ""
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text  # a bare word is a string
        if target_dict is None:
            values.append(value)
        else:
            target_dict[key] = value
    if not callable(obj):
        return obj
    try:
        return obj(*values, **kwargs)
    except Exception as err:  # noqa: BLE001 - the factory's own failure, in one line
        shown = ", ".join([*map(repr, values), *(f"{k}={v!r}" for k, v in kwargs.items())])
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise SpecError(f"{target}({shown}) raised {type(err).__name__}: {first}") from None
