"""The torch writer: an ``nn.Module`` whose ``__init__`` builds each layer with its bound constructor arguments
(in an ``nn.ModuleDict`` keyed by the spec's names) and whose ``forward`` wires the graph."""

from __future__ import annotations

from typing import Any

from ..errors import SpecError
from . import Bound, BoundLayer, header, ident

# arguments inferred from the input shape when the spec leaves them out: (input, axis)
_INFERRED = {"in_channels": (0, 0), "num_features": (0, 0), "num_channels": (0, 0), "in_features": (0, -1),
             "input_size": (0, -1), "in1_features": (0, -1), "in2_features": (1, -1)}
_TUPLES = {"kernel_size", "stride", "padding", "dilation", "output_padding", "output_size", "normalized_shape",
           "unflattened_size", "size"}
_FUNCTIONS = {"add", "sub", "mul", "cat", "reshape", "permute", "transpose", "mean"}


def _literal(value: Any, key: str = "") -> str:
    if isinstance(value, list):
        inner = ", ".join(_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        return f"float({str(value)!r})"  # -inf: a max pool's padding (repr would write a bare name)
    return repr(value)


_FORWARD_ARGS = {"need_weights"}  # arguments of a module's call, not of its constructor


def _module(layer: BoundLayer) -> str:
    from ..layers import find_rule

    rule = find_rule("torch", layer.kind)
    args = {k: v for k, v in layer.args.items() if k not in _FORWARD_ARGS}
    for name, (k, axis) in _INFERRED.items():
        if rule.arg(name) is not None and name not in args:
            args[name] = layer.input_shapes[k][axis]
    names = [a.name for a in rule.args]
    ordered = sorted(args.items(), key=lambda kv: names.index(kv[0]) if kv[0] in names else len(names))
    shown = ", ".join(f"{k}={_literal(v, k)}" for k, v in ordered)
    return f"nn.{layer.kind}({shown})"


def _call(layer: BoundLayer, var: dict[str, str]) -> str:
    ins = [_ref(r, var) for r in layer.inputs]
    a = layer.args
    if layer.kind in ("add", "mul"):
        return (" + " if layer.kind == "add" else " * ").join(ins)
    if layer.kind == "sub":
        return f"{ins[0]} - {ins[1]}"
    if layer.kind == "cat":
        return f"torch.cat([{', '.join(ins)}], dim={a.get('dim', 1)!r})"
    if layer.kind == "reshape":
        return f"{ins[0]}.reshape({ins[0]}.shape[0], {', '.join(repr(v) for v in a['shape'])})"
    if layer.kind == "permute":
        return f"{ins[0]}.permute({', '.join(repr(v) for v in a['dims'])})"
    if layer.kind == "transpose":
        return f"{ins[0]}.transpose({a['dim0']!r}, {a['dim1']!r})"
    if layer.kind == "mean":
        dim = a["dim"]
        return f"{ins[0]}.mean(dim={_literal(dim) if isinstance(dim, list) else repr(dim)}, " \
               f"keepdim={bool(a.get('keepdim', False))!r})"
    fwd = [f"{k}={v!r}" for k, v in a.items() if k in _FORWARD_ARGS]
    call = f"m[{layer.name!r}]({', '.join(ins + fwd)})"
    return f"_flat({call})" if layer.n_outputs > 1 or a.get("return_indices") else call


def _ref(ref: str, var: dict[str, str]) -> str:
    name, _, k = ref.partition(":")
    return f"{var[name]}[{int(k)}]" if k else (f"{var[name]}[0]" if var[name].endswith("_all") else var[name])


def write_torch(b: Bound, class_name: str = "Model") -> str:
    opaque = [ly.name for ly in b.layers if ly.kind == "Opaque"]
    if opaque:
        raise SpecError(f"cannot export opaque layers (symshape does not know their code): {', '.join(opaque)}")
    var: dict[str, str] = {}
    used: set[str] = set()

    def fresh(name: str, suffix: str = "") -> str:
        base = ident(name, "x_") + suffix
        out, n = base, 1
        while out in used:
            out, n = f"{base}_{n}", n + 1
        used.add(out)
        return out

    params = []
    for name in b.inputs:
        var[name] = fresh(name)
        params.append(var[name])
    lines = [header(b, "PyTorch"), "import torch", "from torch import nn", "", "",
             "def _flat(out):", '    """A module\'s nested tuple output (LSTM: out, (h, c)) as a flat tuple."""',
             "    if isinstance(out, (tuple, list)):", "        return tuple(t for o in out for t in _flat(o))",
             "    return (out,)", "", "", f"class {class_name}(nn.Module):", "    def __init__(self) -> None:",
             "        super().__init__()", "        self.layers = nn.ModuleDict({"]
    for ly in b.layers:
        if ly.kind not in _FUNCTIONS:
            lines.append(f"            {ly.name!r}: {_module(ly)},")
    lines += ["        })", "", f"    def forward(self, {', '.join(params)}):", "        m = self.layers"]
    for ly in b.layers:
        multi = ly.kind not in _FUNCTIONS and (ly.n_outputs > 1 or ly.args.get("return_indices"))
        var[ly.name] = fresh(ly.name, "_all" if multi else "")
        lines.append(f"        {var[ly.name]} = {_call(ly, var)}")
    outs = [_ref(o, var) for o in b.outputs]
    lines.append(f"        return {outs[0] if len(outs) == 1 else '(' + ', '.join(outs) + ')'}")
    # the ModuleDict keys are the spec's names, which may hold dots: nn.ModuleDict refuses '.', so map them
    text = "\n".join(lines) + "\n"
    return _undot(text, [ly.name for ly in b.layers if ly.kind not in _FUNCTIONS])


def _undot(text: str, names: list[str]) -> str:
    for name in sorted(names, key=len, reverse=True):
        if "." in name:
            text = text.replace(repr(name), repr(name.replace(".", "_")))
    return text
