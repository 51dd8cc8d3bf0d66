"""Import an ONNX model (the ``onnx`` package) into a torch-vocabulary spec (ONNX is channels first, like torch).

Nodes map to layers: Conv, ConvTranspose (weights give the channel counts and the kernel), MaxPool/AveragePool
(pads, ceil_mode; asymmetric or SAME pads become a ZeroPad before the op when the input size fixes them), Gemm and
MatMul (+ an Add of a bias: one Linear), BatchNormalization, Relu and the other elementwise ops, Add/Mul/Sub,
Concat, Flatten/Reshape/Transpose, GlobalAveragePool, ReduceMean, Resize/Upsample, Pad, Softmax. Shape
computations (Shape, Gather, Unsqueeze, Concat of sizes feeding a Reshape) are read from ONNX's own shape
inference. A ``dim_param`` of an input becomes a symbol of the spec (the first axis, the batch, is left out).

Parameters are the model's initializers: a BatchNormalization's scale and bias are parameters, its mean and
variance buffers (torch also counts ``num_batches_tracked``, one per BatchNorm, which ONNX files do not hold).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import Any

from ..errors import SpecError
from .common import Imported, SpecBuilder, UnsupportedOpError

__all__ = ["ONNX_OPS", "from_onnx"]

_ELEMENTWISE = {"Relu": "ReLU", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "LeakyRelu": "LeakyReLU", "Elu": "ELU",
                "Selu": "SELU", "Celu": "CELU", "HardSigmoid": "Hardsigmoid", "HardSwish": "Hardswish",
                "Softplus": "Softplus", "Softsign": "Softsign", "Gelu": "GELU", "Mish": "Mish", "Identity": "Identity",
                "Dropout": "Dropout", "Erf": "Identity", "Exp": "Identity", "Log": "Identity", "Sqrt": "Identity",
                "Neg": "Identity", "Abs": "Identity", "Clip": "Hardtanh", "Softmax": "Softmax",
                "LogSoftmax": "LogSoftmax", "PRelu": "PReLU"}
_MERGES = {"Add": "add", "Mul": "mul", "Sub": "sub", "Sum": "add"}
_SHAPE_OPS = {"Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice", "Mul", "Div", "Add", "Sub",
              "Constant", "ConstantOfShape", "Range", "Reshape", "Floor", "Ceil", "Size", "Identity"}
_MODULE_OPS = {"Conv", "ConvTranspose", "BatchNormalization", "Gemm", "MatMul", "MaxPool", "AveragePool", "Relu",
               "Sigmoid", "Tanh", "LeakyRelu", "Elu", "Selu", "Celu", "HardSigmoid", "HardSwish", "Softplus",
               "Softsign", "Gelu", "Mish", "Dropout", "Clip", "Softmax", "LogSoftmax", "PRelu", "Pad", "Resize",
               "Upsample", "Flatten"}
ONNX_OPS = sorted({"Conv", "ConvTranspose", "MaxPool", "AveragePool", "Gemm", "MatMul", "BatchNormalization",
                   "Concat", "Flatten", "Reshape", "Transpose", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean",
                   "Resize", "Upsample", "Pad", "Constant", "Shape", "Gather", "Unsqueeze", *_ELEMENTWISE, *_MERGES,
                   "Div"})


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as err:  # pragma: no cover - the CLI names the package
        raise SpecError(f"importing an ONNX model needs the onnx package (pip install 'symshape[onnx]'; {err})") \
            from None
    return onnx


def _symbol(name: str) -> str:
    out = re.sub(r"\W+", "_", name).strip("_")
    return out if out and not out[0].isdigit() else f"d_{out}"


def _qualified(parts: Sequence[str]) -> str:
    """torch exporter scopes ['layer1', 'layer1.0', 'conv1'] -> 'layer1.0.conv1'."""
    out: list[str] = []
    for p in parts:
        if not p:
            continue
        if out and p.startswith(out[-1] + "."):
            out[-1] = p
        else:
            out.append(p)
    return ".".join(out)


class _Importer:
    def __init__(self, model: Any, allow_opaque: bool) -> None:
        onnx = _onnx()
        from onnx import numpy_helper

        self.onnx = onnx
        self.allow_opaque = allow_opaque
        self.graph = model.graph
        self.b = SpecBuilder("torch")
        self.consts: dict[str, Any] = {t.name: numpy_helper.to_array(t) for t in self.graph.initializer}
        self.ref: dict[str, str] = {}  # onnx tensor name -> spec reference
        try:
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
        except Exception:  # noqa: BLE001 - shapes then come from the graph's own value_info only
            inferred = model
        self.dims: dict[str, list[int | str | None]] = {}
        g = inferred.graph
        for vi in [*g.input, *g.value_info, *g.output]:
            t = vi.type.tensor_type
            if t.HasField("shape"):
                self.dims[vi.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                                      for d in t.shape.dim]
        self.consumers: dict[str, list[Any]] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.skip: set[int] = set()
        self.caveats: dict[str, list[str]] = {}  # what the spec's layers compute differently (values, not shapes)
        self.params = 0

    # ------------------------------------------------------------ helpers
    def attrs(self, node: Any) -> dict[str, Any]:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def source(self, node: Any, index: int) -> str:
        meta = {p.key: p.value for p in getattr(node, "metadata_props", [])}
        trace = meta.get("pkg.torch.onnx.stack_trace")
        if trace:
            m = re.search(r'File "([^"]+)", line (\d+)', trace)
            if m:
                return f"{os.path.relpath(m.group(1))}:{m.group(2)}"
        return f"graph '{self.graph.name}' node #{index}"

    def name(self, node: Any, index: int) -> str:
        """torch's exporters name a node by its module scopes: '/layer1/layer1.0/conv1/Conv' (TorchScript) or the
        name_scopes ['', 'layer1', 'layer1.0', 'bn1', '_native_batch_norm...'] (torch.export): a module's op is named
        like the module (layer1.0.conv1), a function inside one after it (layer1.0.add)."""
        meta = {p.key: p.value for p in getattr(node, "metadata_props", [])}
        scopes = meta.get("pkg.torch.onnx.name_scopes")
        if scopes:
            parts = re.findall(r"'([^']*)'", scopes)
        elif node.name.startswith("/"):
            parts = node.name.strip("/").split("/")
        else:
            return node.name or f"{node.op_type.lower()}_{index}"
        scope = _qualified(parts[:-1])
        if node.op_type in _MODULE_OPS and scope:
            return scope
        return f"{scope}.{node.op_type.lower()}" if scope else node.op_type.lower()

    def unsupported(self, node: Any, index: int, why: str = "") -> UnsupportedOpError:
        return UnsupportedOpError("onnx", node.name or f"#{index}", node.op_type, self.source(node, index),
                                  [*ONNX_OPS], why)

    def shape(self, name: str) -> list[int | str | None] | None:
        return self.dims.get(name)

    def recorded(self, name: str) -> list[tuple[int, ...]] | None:
        dims = self.shape(name)
        if dims is None or not all(isinstance(d, int) and d > 0 for d in dims[1:]):
            return None
        return [tuple(int(d) for d in dims[1:])]

    def const(self, name: str) -> Any:
        return self.consts.get(name) if name else None

    def data_inputs(self, node: Any) -> list[str]:
        """The spec references of the node's inputs computed from the model's inputs (weights left out)."""
        return [self.ref[i] for i in node.input if i and i not in self.consts and i in self.ref]

    def add(self, node: Any, index: int, kind: str, args: dict[str, Any], inputs: list[str],
            out: str | None = None) -> str:
        output = out or node.output[0]
        ref = self.b.layer(kind, args, inputs, self.name(node, index), self.recorded(output))
        self.ref[output] = ref
        return ref

    # ------------------------------------------------------------ the walk
    def run(self, source: str) -> Imported:
        inputs = [vi for vi in self.graph.input if vi.name not in self.consts]
        for vi in inputs:
            dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                    for d in vi.type.tensor_type.shape.dim]
            if len(dims) < 2:
                raise SpecError(f"ONNX input '{vi.name}' has {len(dims)} axis(es): symshape needs a batch axis and "
                                "at least one more")
            shape: list[int | str] = []
            for k, d in enumerate(dims[1:], start=1):
                if isinstance(d, int) and d > 0:
                    shape.append(d)
                elif isinstance(d, str):
                    shape.append(_symbol(d))
                else:
                    shape.append(f"{_symbol(vi.name)}_{k}")
            name = "input" if len(inputs) == 1 else vi.name
            self.ref[vi.name] = self.b.input(name, shape)
        for node in self.graph.node:
            if node.op_type == "Constant":
                self.constant(node)
        self.shape_values = self.find_shape_values()
        for index, node in enumerate(self.graph.node):
            if index in self.skip or node.op_type == "Constant":
                continue
            if all(o in self.shape_values for o in node.output if o):
                continue
            self.node(node, index)
        outputs = [self.ref[o.name] for o in self.graph.output if o.name in self.ref]
        spec = self.b.spec(outputs)
        notes = ["ONNX graph in torch's vocabulary (channels first)"]
        if self.caveats:
            text = "Shapes and counts are exact; values differ from the ONNX model in: " + "; ".join(
                f"{what} ({', '.join(layers)}): {_CAVEATS[what]}" for what, layers in self.caveats.items())
            notes.append(text)
            spec = {k: v for k, v in spec.items() if k != "layers"} | {"description": text, "layers": spec["layers"]}
        return Imported(spec, "torch", source, self.b.opaque, self.b.recorded, notes)

    def constant(self, node: Any) -> None:
        from onnx import numpy_helper

        a = self.attrs(node)
        if "value" in a:
            self.consts[node.output[0]] = numpy_helper.to_array(a["value"])
        else:
            import numpy as np

            for key in ("value_int", "value_float", "value_ints", "value_floats"):
                if key in a:
                    self.consts[node.output[0]] = np.array(a[key])

    def find_shape_values(self) -> set[str]:
        """Tensors that only compute sizes (Shape -> Gather -> Concat -> a Reshape's shape): not layers."""
        values: set[str] = set()
        for node in self.graph.node:
            ins = [i for i in node.input if i]
            if node.op_type == "Shape" or (node.op_type in _SHAPE_OPS and ins and
                                           all(i in values or i in self.consts for i in ins) and
                                           any(i in values for i in ins)):
                values.update(o for o in node.output if o)
        return values

    def node(self, node: Any, index: int) -> None:
        op = node.op_type
        a = self.attrs(node)
        data = self.data_inputs(node)
        if not data:
            if self.fold(node):
                return
            raise self.unsupported(node, index, "no input computed from the model's inputs")
        try:
            handler = getattr(self, f"op_{op}", None)
            if handler is not None:
                handler(node, index, a, data)
                return
            if op in _ELEMENTWISE:
                self.elementwise(node, index, a, data)
                return
            if op in _MERGES or op == "Div":
                self.merge(node, index, data)
                return
        except _Refuse as why:
            if self.allow_opaque:
                self.opaque(node, index, data, str(why))
                return
            raise self.unsupported(node, index, str(why)) from None
        if self.allow_opaque:
            self.opaque(node, index, data, "")
            return
        raise self.unsupported(node, index)

    def fold(self, node: Any) -> bool:
        """A node of constants only (an Identity of a weight, a folded shape): its value, computed by onnx's
        reference evaluator."""
        ins = [i for i in node.input if i]
        if not all(i in self.consts for i in ins):
            return False
        if node.op_type == "Identity":
            self.consts[node.output[0]] = self.consts[ins[0]]
            return True
        try:
            from onnx.reference import ReferenceEvaluator

            values = ReferenceEvaluator(node).run(None, {i: self.consts[i] for i in ins})
        except Exception:  # noqa: BLE001 - an op the reference evaluator lacks: refused by the caller
            return False
        for name, value in zip([o for o in node.output if o], values, strict=False):
            self.consts[name] = value
        return True

    def opaque(self, node: Any, index: int, data: list[str], why: str) -> None:
        outs = [self.recorded(o) for o in node.output if o]
        if not outs or any(o is None for o in outs):
            raise self.unsupported(node, index, why or "its output shape is not known from shape inference")
        weights = sum(int(self.consts[i].size) for i in node.input if i in self.consts)
        args: dict[str, Any] = {"op": f"onnx.{node.op_type}", "output_shapes": [list(o[0]) for o in outs],
                                "input_shapes": [list(self.ref_shape(r)) for r in data],
                                "source": self.source(node, index)}
        if weights:
            args["trainable"] = weights
        ref = self.b.layer("Opaque", args, data, self.name(node, index), [o[0] for o in outs])
        for k, o in enumerate(x for x in node.output if x):
            self.ref[o] = ref if k == 0 else f"{ref}:{k}"

    def ref_shape(self, ref: str) -> tuple[int, ...]:
        name, _, k = ref.partition(":")
        if name in self.b.inputs:
            shape = self.b.inputs[name]
            if not all(isinstance(s, int) for s in shape):
                raise _Refuse("an opaque op on a symbolic input")
            return tuple(shape)
        return self.b.recorded[name][int(k or 0)]

    # ------------------------------------------------------------ ops
    def pads(self, a: dict[str, Any], rank: int, node: Any, data: list[str], kernel: Sequence[int],
             strides: Sequence[int], dilations: Sequence[int]) -> tuple[list[int] | str, list[int] | None]:
        """(symmetric padding or 'same', explicit (before, after) pads for a ZeroPad first, or None)."""
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            # SAME's output is ceil(x / s) rows. With stride 1 its padding is (k - 1) * d rows whatever x is; with
            # stride > 1 it is max((ceil(x/s) - 1) * s + (k - 1) * d + 1 - x, 0), which depends on x. A constant
            # (k - 1) * d rows gives the same output size for every x (floor((x - 1) / s) + 1 = ceil(x / s)), so
            # the spec's shapes hold at every size, symbolic or not; the values differ where SAME pads less.
            if any(s > 1 for s in strides):
                self.caveats.setdefault("SAME padding with stride > 1", []).append(node.name or node.op_type)
            pads_b, pads_e = [], []
            for k, d in zip(kernel, dilations, strict=True):
                total = (k - 1) * d
                small, big = total // 2, total - total // 2
                pads_b.append(big if auto == "SAME_LOWER" else small)
                pads_e.append(small if auto == "SAME_LOWER" else big)
            pads = [*pads_b, *pads_e]
        elif auto == "VALID":
            pads = [0] * (2 * rank)
        else:
            pads = list(a.get("pads", [0] * (2 * rank)))
        begin, end = pads[:rank], pads[rank:]
        if begin == end:
            return begin, None
        return [0] * rank, [*begin, *end]

    def zero_pad(self, node: Any, index: int, data: list[str], rank: int, pads: list[int],
                 value: float = 0.0) -> list[str]:
        """A pad layer before the op: zeros (a convolution, an average counting the padding) or -inf (a max
        pool: ONNX's MaxPool pads with -inf, so the padding never wins)."""
        begin, end = pads[:rank], pads[rank:]
        torch_pads: list[int] = []
        for b, e in reversed(list(zip(begin, end, strict=True))):  # torch: last axis first
            torch_pads += [int(b), int(e)]
        kind, args = (f"ZeroPad{rank}d", {"padding": torch_pads}) if not value else \
            (f"ConstantPad{rank}d", {"padding": torch_pads, "value": value})
        ref = self.b.layer(kind, args, data[:1], self.name(node, index) + ".pad")
        return [ref]

    def op_Conv(self, node: Any, index: int, a: dict[str, Any], data: list[str], transposed: bool = False) -> None:
        weight = self.const(node.input[1])
        if weight is None:
            raise _Refuse("a weight computed in the graph (not an initializer)")
        rank = weight.ndim - 2
        kernel = list(a.get("kernel_shape", weight.shape[2:]))
        strides = list(a.get("strides", [1] * rank))
        dilations = list(a.get("dilations", [1] * rank))
        groups = int(a.get("group", 1))
        if transposed:
            if "output_shape" in a:
                raise _Refuse("ConvTranspose with output_shape")
            pads = list(a.get("pads", [0] * (2 * rank)))
            if pads[:rank] != pads[rank:]:
                raise _Refuse("asymmetric pads on a ConvTranspose")
            padding: list[int] | str = pads[:rank]
            extra = None
        else:
            padding, extra = self.pads(a, rank, node, data, kernel, strides, dilations)
        inputs = self.zero_pad(node, index, data, rank, extra) if extra else data[:1]
        cin = weight.shape[1] * groups if not transposed else weight.shape[0]
        cout = weight.shape[0] if not transposed else weight.shape[1] * groups
        args: dict[str, Any] = {"in_channels": int(cin), "out_channels": int(cout), "kernel_size": _one(kernel)}
        for key, value, default in (("stride", strides, 1), ("padding", padding, 0),
                                    ("output_padding", list(a.get("output_padding", [0] * rank)), 0),
                                    ("dilation", dilations, 1)):
            if key == "output_padding" and not transposed:
                continue
            if value != [default] * rank:
                args[key] = _one(value)
        if groups != 1:
            args["groups"] = groups
        if len(node.input) < 3 or not node.input[2]:
            args["bias"] = False
        self.add(node, index, f"ConvTranspose{rank}d" if transposed else f"Conv{rank}d", args, inputs)

    def op_ConvTranspose(self, node: Any, index: int, a: dict[str, Any], data: list[str]) -> None:
        self.op_Conv(node, index, a, data, transposed=True)

    def op_MaxPool(self, node: Any, index: int, a: dict[str, Any], data: list[str], kind: str = "Max") -> None:
        kernel = list(a["kernel_shape"])
        rank = len(kernel)
        strides = list(a.get("strides", [1] * rank))
        dilations = list(a.get("dilations", [1] * rank))
        if len([o for o in node.output if o]) > 1:
            raise _Refuse("MaxPool's indices output")
        padding, extra = self.pads(a, rank, node, data, kernel, strides, dilations)
        if extra and kind == "Avg" and not a.get("count_include_pad", 0):
            self.caveats.setdefault("AveragePool with count_include_pad=0 and asymmetric pads", []).append(
                self.name(node, index))
        inputs = self.zero_pad(node, index, data, rank, extra, -math.inf if kind == "Max" else 0.0) if extra \
            else data[:1]
        args: dict[str, Any] = {"kernel_size": _one(kernel), "stride": _one(strides)}
        if padding != [0] * rank:
            args["padding"] = _one(padding)
        if kind == "Max" and dilations != [1] * rank:
            args["dilation"] = _one(dilations)
        if a.get("ceil_mode", 0):
            args["ceil_mode"] = True
        if kind == "Avg" and not a.get("count_include_pad", 0) and padding != [0] * rank:
            args["count_include_pad"] = False
        self.add(node, index, f"{kind}Pool{rank}d", args, inputs)

    def op_AveragePool(self, node: Any, index: int, a: dict[str, Any], data: list[str]) -> None:
        self.op_MaxPool(node, index, a, data, "Avg")

    def op_GlobalAveragePool(self, node: Any, index: int, a: dict[str, Any], data: list[str],
                             kind: str = "Avg") -> None:
        dims = self.shape(node.input[0])
        rank = len(dims) - 2 if dims else 2
        self.add(node, index, f"Adaptive{kind}Pool{rank}d", {"output_size": [1] * rank}, data[:1])

    def op_GlobalMaxPool(self, node: Any, index: int, a: dict[str, Any], data: list[str]) -> None:
        self.op_GlobalAveragePool(node, index, a, data, "Max")

    def op_BatchNormalization(self, node: Any, index: int, a: dict[str, Any], data: list[str]) -> None:
        scale = self.const(node.input[1])
        if scale is None:
            raise _Refuse("a scale computed in the graph")
        dims = self.shape(node.input[0])
        rank = len(dims) - 2 if dims else 2
        if rank not in (1, 2, 3) and not (rank == 0):
            raise _Refuse(f"BatchNormalization of a {rank + 2}-d input")
        kind = f"BatchNorm{max(rank, 1)}d"
        args: dict[str, Any] = {"num_features": int(scale.shape[0])}
        if abs(float(a.get("epsilon", 1e-5)) - 1e-5) > 1e-12:
            args["eps"] = float(a["epsilon"])
        self.add(node, index, kind, args, data[:1])

    def op_Gemm(self, node: Any, index: int, a: dict[str, Any], data: list[str]) -> None:
        weight = self.const(node.input[1])
        if weight is None or a.get("transA", 0):
            raise _Refuse("Gemm with a computed or transposed first operand" if weight is not None else
                          "Gemm with a weight computed in the graph")
        out, cin = (weight.shape[0], weight.shape[1]) if a.get("transB", 0) else (weight.shape[1], weight.shape[0])
        args: dict[str, Any] = {"in_features": int(cin), "out_features": int(out)}
        bias = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if bias is None:
            args["bias"] = False
        elif bias.size != out:
            raise _Refuse(f"a Gemm bias of {bias.size} values for {out} outputs")
        self.add(node, index, "Linear", args, data[:1])

    def op_MatMul(self, node: Any, index: int, a: dict[str, Any], data: list[str]) -> None:
        weight = self.const(node.input[1])
        if weight is None:
            if len(data) == 2:
                raise _Refuse("a MatMul of two computed tensors (attention scores)")
            raise _Refuse("a MatMul whose weight is the first operand")
        if weight.ndim != 2:
            raise _Refuse(f"a MatMul with a {weight.ndim}-d weight")
        cin, out = int(weight.shape[0]), int(weight.shape[1])
        output = node.output[0]
        users = self.consumers.get(output, [])
        args: dict[str, Any] = {"in_features": cin, "out_features": out, "bias": False}
        if len(users) == 1 and users[0].op_type == "Add" and output not in {o.name for o in self.graph.output}:
            add = users[0]
            other = next((i for i in add.input if i != output), None)
            bias = self.const(other)
            if bias is not None and bias.size == out and bias.ndim <= 1:  # MatMul + Add(bias): one Linear
                del args["bias"]
                self.skip.add(list(self.graph.node).index(add))
                self.ref[output] = self.add(node, index, "Linear", args, data[:1], out=add.output[0])
                return
        self.add(node, index, "Linear", args, data[:1])

    def elementwise(self, node: Any, index: int, a: dict[str, Any], data: list[str]) -> None:
        kind = _ELEMENTWISE[node.op_type]
        args: dict[str, Any] = {}
        if node.op_type == "Clip":
            lo, hi = self.const(node.input[1]) if len(node.input) > 1 else None, \
                self.const(node.input[2]) if len(node.input) > 2 else None
            if lo is None or hi is None:
                kind = "Identity"
            else:
                args = {"min_val": float(lo), "max_val": float(hi)}
                if (args["min_val"], args["max_val"]) == (0.0, 6.0):
                    kind, args = "ReLU6", {}
        elif node.op_type in ("Softmax", "LogSoftmax"):
            args = {"dim": int(a.get("axis", -1))}
        elif node.op_type == "LeakyRelu":
            args = {"negative_slope": float(a.get("alpha", 0.01))}
        elif node.op_type == "Gelu" and a.get("approximate", b"none") in (b"tanh", "tanh"):
            args = {"approximate": "tanh"}
        elif node.op_type == "PRelu":
            slope = self.const(node.input[1])
            if slope is None:
                raise _Refuse("a PRelu slope computed in the graph")
            args = {"num_parameters": int(slope.size)}
        self.add(node, index, kind, args, data[:1])

    def merge(self, node: Any, index: int, data: list[str]) -> None:
        consts = [i for i in node.input if i in self.consts]
        if len(data) >= 2 and node.op_type != "Div":
            self.add(node, index, _MERGES[node.op_type], {}, data)
            return
        if len(data) == 1 and all(self.consts[c].size == 1 for c in consts):
            self.add(node, index, "Identity", {}, data)  # x * 0.5, x + 1: the shape is kept
            return
        raise _Refuse("arithmetic with a constant tensor (a learned parameter outside a layer)" if consts else
                      "a division of two tensors")

    def op_Concat(self, node: Any, index: int, a: dict[str, Any], data: list[str]) -> None:
        if len(data) != len([i for i in node.input if i]):
            raise _Refuse("a Concat with a constant tensor")
        if len(data) == 1:
            self.add(node, index, "Identity", {}, data)
            return
        self.add(node, index, "cat", {"dim": int(a.get("axis", 1))}, data)

    def op_Flatten(self, node: Any, index: int, a: dict[str, Any], data: list[str]) -> None:
        axis = int(a.get("axis", 1))
        if axis != 1:
            raise _Refuse(f"Flatten with axis={axis} (only axis=1 keeps the batch axis)")
        self.add(node, index, "Flatten", {}, data[:1])

    def op_Reshape(self, node: Any, index: int, a: dict[str, Any], data: list[str]) -> None:
        target = self.const(node.input[1])
        sizes: list[int] | None = [int(v) for v in target.reshape(-1)] if target is not None else None
        if sizes is None:  # a computed shape (x.view(x.size(0), -1)): read the shape computation
            sizes = self.computed_sizes(node.input[1], node.input[0])
        if sizes is None:  # else the inferred output shape
            dims = self.shape(node.output[0])
            if dims is None or not all(isinstance(d, int) and d > 0 for d in dims[1:]):
                raise _Refuse("a Reshape to a computed shape that shape inference cannot tell")
            sizes = [0, *[int(d) for d in dims[1:]]]
        in_dims = self.shape(node.input[0]) or []
        if sizes[0] not in (0, -1) and not (in_dims and sizes[0] == in_dims[0]):
            raise _Refuse("a Reshape that moves the batch axis")
        rest = []
        for k, s in enumerate(sizes[1:], start=1):
            if s == 0 and not a.get("allowzero", 0):  # copy the input's axis
                d = in_dims[k] if k < len(in_dims) else None
                if not isinstance(d, int):
                    raise _Refuse("a Reshape copying a symbolic axis")
                s = d
            rest.append(s)
        if sizes[0] == -1 and -1 in rest:
            raise _Refuse("a Reshape inferring the batch axis")
        whole = in_dims[1:] and all(isinstance(d, int) for d in in_dims[1:]) and rest == [math.prod(in_dims[1:])]
        if rest == [-1] or whole:  # x.view(n, -1): a Flatten, which also holds at other input sizes
            self.add(node, index, "Flatten", {}, data[:1])
            return
        self.add(node, index, "reshape", {"shape": rest}, data[:1])

    def computed_sizes(self, name: str, data: str) -> list[int] | None:
        """A Reshape's shape made of Shape/Gather/Unsqueeze/Concat of constants and input sizes: the batch
        size of `data` becomes 0 (copy), other sizes their values (when known)."""
        value = self.shape_value(name, 0)
        if value is None:
            return None
        out = []
        for k, v in enumerate(value):
            if isinstance(v, int):
                out.append(v)
            elif k == 0 and v[2] == 0:
                out.append(0)  # the batch axis of a tensor: kept
            else:
                dims = self.shape(v[1])
                d = dims[v[2]] if dims and v[2] < len(dims) else None
                if not isinstance(d, int):
                    return None
                out.append(d)
        return out

    def shape_value(self, name: str, depth: int) -> list | None:
        if depth > 50:
            return None
        if name in self.consts:
            return [int(v) for v in self.consts[name].reshape(-1)]
        node = next((n for n in self.graph.node if name in n.output), None)
        if node is None:
            return None
        a = self.attrs(node)
        ins = [i for i in node.input]
        if node.op_type == "Shape":
            dims = self.shape(ins[0])
            if dims is None:
                return None
            start, end = int(a.get("start", 0)), a.get("end")
            axes = list(range(len(dims)))[start:None if end is None else int(end)]
            return [("dim", ins[0], i) for i in axes]
        if node.op_type in ("Unsqueeze", "Squeeze", "Cast", "Identity"):
            return self.shape_value(ins[0], depth + 1)
        if node.op_type == "Concat":
            parts = [self.shape_value(i, depth + 1) for i in ins if i]
            return None if any(p is None for p in parts) else [x for p in parts for x in p]
        if node.op_type == "Gather" and int(a.get("axis", 0)) == 0:
            base, idx = self.shape_value(ins[0], depth + 1), self.consts.get(ins[1])
            if base is None or idx is None:
                return None
            try:
                return [base[int(i)] for i in idx.reshape(-1)]
            except IndexError:
                return None
        if node.op_type == "Slice":
            base = self.shape_value(ins[0], depth + 1)
            starts, ends = self.consts.get(ins[1]), self.consts.get(ins[2])
            if base is None or starts is None or ends is None:
                return None
            return base[int(starts.reshape(-1)[0]):int(min(ends.reshape(-1)[0], len(base)))]
        return None

    def op_Transpose(self, node: Any, index: int, a: dict[str, Any], data: list[str]) -> None:
        perm = [int(p) for p in a.get("perm", [])]
        if not perm or perm[0] != 0:
            raise _Refuse("a Transpose that moves the batch axis")
        self.add(node, index, "permute", {"dims": perm}, data[:1])

    def op_ReduceMean(self, node: Any, index: int, a: dict[str, Any], data: list[str]) -> None:
        axes = a.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            c = self.const(node.input[1])
            axes = [int(v) for v in c.reshape(-1)] if c is not None else None
        if not axes:
            raise _Refuse("a ReduceMean over every axis")
        keep = bool(a.get("keepdims", 1))
        dims = self.shape(node.input[0])
        if dims and keep and len(dims) >= 3 and sorted(x % len(dims) for x in axes) == list(range(2, len(dims))):
            self.add(node, index, f"AdaptiveAvgPool{len(dims) - 2}d", {"output_size": [1] * (len(dims) - 2)},
                     data[:1])
            return
        args: dict[str, Any] = {"dim": [int(x) for x in axes]}
        if keep:
            args["keepdim"] = True
        self.add(node, index, "mean", args, data[:1])

    def op_Resize(self, node: Any, index: int, a: dict[str, Any], data: list[str]) -> None:
        mode = a.get("mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        dims = self.shape(node.input[0])
        rank = len(dims) - 2 if dims else 2
        torch_mode = {"nearest": "nearest", "linear": {1: "linear", 2: "bilinear", 3: "trilinear"}.get(rank),
                      "cubic": "bicubic"}.get(mode)
        if torch_mode is None:
            raise _Refuse(f"Resize mode {mode!r}")
        if node.op_type == "Upsample":
            scales = self.const(node.input[1]) if len(node.input) > 1 else None
            sizes = None
        else:
            scales = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            sizes = self.const(node.input[3]) if len(node.input) > 3 and node.input[3] else None
        args: dict[str, Any] = {} if torch_mode == "nearest" else {"mode": torch_mode}
        if sizes is not None and sizes.size:
            args["size"] = [int(v) for v in sizes.reshape(-1)[2:]]
        elif scales is not None and scales.size:
            values = [float(v) for v in scales.reshape(-1)]
            if values[:2] != [1.0, 1.0]:
                raise _Refuse("a Resize that scales the batch or channel axis")
            spatial = [int(v) if float(v).is_integer() else v for v in values[2:]]
            args["scale_factor"] = spatial[0] if len(set(spatial)) == 1 else spatial
        else:
            raise _Refuse("a Resize to a computed size")
        self.add(node, index, "Upsample", args, data[:1])

    def op_Upsample(self, node: Any, index: int, a: dict[str, Any], data: list[str]) -> None:
        self.op_Resize(node, index, a, data)

    def op_Pad(self, node: Any, index: int, a: dict[str, Any], data: list[str]) -> None:
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        pads = a.get("pads")
        if pads is None and len(node.input) > 1:
            c = self.const(node.input[1])
            pads = [int(v) for v in c.reshape(-1)] if c is not None else None
        if pads is None:
            raise _Refuse("Pad amounts computed in the graph")
        n = len(pads) // 2
        begin, end = pads[:n], pads[n:]
        if begin[:2] != [0, 0] or end[:2] != [0, 0]:
            raise _Refuse("a Pad of the batch or channel axis")
        rank = n - 2
        torch_pads: list[int] = []
        for b, e in reversed(list(zip(begin[2:], end[2:], strict=True))):
            torch_pads += [int(b), int(e)]
        kind = {"constant": "ConstantPad", "reflect": "ReflectionPad", "edge": "ReplicationPad",
                "wrap": "CircularPad"}.get(mode)
        if kind is None or rank not in (1, 2, 3):
            raise _Refuse(f"Pad mode {mode!r} on {rank} spatial axes")
        args: dict[str, Any] = {"padding": torch_pads}
        if kind == "ConstantPad":
            value = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            args["value"] = float(value) if value is not None else 0.0
        self.add(node, index, f"{kind}{rank}d", args, data[:1])


_CAVEATS = {
    "SAME padding with stride > 1": "padded by a constant (k - 1) * d rows, which gives SAME's output size "
                                    "ceil(x / s) at every size, where SAME pads max((ceil(x/s) - 1) * s + "
                                    "(k - 1) * d + 1 - x, 0) rows",
    "AveragePool with count_include_pad=0 and asymmetric pads": "a ZeroPad before the pool, so the padded zeros "
                                                                "count in the average",
}


class _Refuse(Exception):
    """An op the importer knows but not in this form (the reason goes into the UnsupportedOpError)."""


def _one(values: Sequence[int]) -> Any:
    values = [int(v) for v in values]
    return values[0] if len(set(values)) == 1 else values


def from_onnx(model: Any, *, allow_opaque: bool = False) -> Imported:
    """An ONNX file (a path) or ``onnx.ModelProto`` -> an :class:`~symshape.importers.Imported` spec."""
    onnx = _onnx()
    source = "ONNX model"
    if isinstance(model, (str, os.PathLike)):
        source = str(model)
        try:
            model = onnx.load(os.fspath(model))
        except FileNotFoundError:
            raise SpecError(f"{source}: no such file") from None
        except Exception as err:  # noqa: BLE001 - a file that is not ONNX
            raise SpecError(f"{source}: not an ONNX model ({type(err).__name__}: {str(err)[:200]})") from None
    if not isinstance(model, onnx.ModelProto):
        raise SpecError(f"from_onnx takes a path or an onnx.ModelProto, got {type(model).__name__}")
    if model.graph.name and source == "ONNX model":
        source = f"ONNX graph '{model.graph.name}'"
    return _Importer(model, allow_opaque).run(source)
