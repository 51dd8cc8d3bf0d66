"""The keras writer: a function that builds the keras functional model, one ``keras.layers`` call per layer with
its bound constructor arguments and the spec's names."""

from __future__ import annotations

import re
from typing import Any

from ..errors import SpecError
from . import Bound, BoundLayer, header, ident

_MERGES = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"}
_CONVS = {f"{k}{r}D" for k in ("Conv", "SeparableConv", "DepthwiseConv") for r in (1, 2, 3)}


def _literal(value: Any) -> str:
    if isinstance(value, list):
        inner = ", ".join(_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")


class _Names:
    """Keras layer names from spec names: keras 3 refuses '.' and '/' in names (its variables' paths, under the
    torch backend a parameter name), so a nested model's 'block.conv2d' is written 'block_conv2d', kept unique."""

    def __init__(self) -> None:
        self.given: dict[str, str] = {}
        self.used: set[str] = set()

    def __call__(self, name: str) -> str:
        if name not in self.given:
            base = _UNSAFE.sub("_", name) or "layer"
            out, n = base, 1
            while out in self.used:
                out, n = f"{base}_{n}", n + 1
            self.used.add(out)
            self.given[name] = out
        return self.given[name]


def _layer(ly: BoundLayer, args: dict[str, Any], name: str) -> str:
    shown = ", ".join(f"{k}={_literal(v)}" for k, v in args.items())
    sep = ", " if shown else ""
    return f"layers.{ly.kind}({shown}{sep}name={name!r})"


def write_keras(b: Bound, function_name: str = "build_model") -> str:
    opaque = [ly.name for ly in b.layers if ly.kind == "Opaque"]
    if opaque:
        raise SpecError(f"cannot export opaque layers (symshape does not know their code): {', '.join(opaque)}")
    var: dict[str, str] = {}
    used: set[str] = set()
    _name = _Names()

    def fresh(name: str) -> str:
        base = ident(name, "x_")
        out, n = base, 1
        while out in used:
            out, n = f"{base}_{n}", n + 1
        used.add(out)
        return out

    def ref(r: str) -> str:
        name, _, k = r.partition(":")
        return f"{var[name]}[{int(k)}]" if k else (f"{var[name]}[0]" if var[name].endswith("_all") else var[name])

    lines = [header(b, "Keras"), "import keras", "from keras import layers", "", "",
             f"def {function_name}() -> keras.Model:"]
    inputs = []
    for name, shape in b.inputs.items():
        var[name] = fresh(name)
        inputs.append(var[name])
        lines.append(f"    {var[name]} = keras.Input(shape={_literal(list(shape))}, name={_name(name)!r})")
    for ly in b.layers:
        args = dict(ly.args)
        ins = [ref(r) for r in ly.inputs]
        if ly.kind in _CONVS and not isinstance(args.get("padding", "valid"), str):
            # symshape's numeric padding for keras convolutions: keras' own ZeroPadding first, then 'valid'
            rank = int(ly.kind[-2])
            pad_var = fresh(ly.name + "_pad")
            lines.append(f"    {pad_var} = layers.ZeroPadding{rank}D(padding={_literal(args['padding'])}, "
                         f"name={_name(ly.name) + '_pad'!r})({ins[0]})")
            args["padding"] = "valid"
            ins = [pad_var]
        multi = ly.n_outputs > 1 and (args.get("return_state") or ly.kind == "MultiHeadAttention" and
                                      args.get("return_attention_scores"))
        var[ly.name] = fresh(ly.name + ("_all" if multi else ""))
        call = f"[{', '.join(ins)}]" if ly.kind in _MERGES else ", ".join(ins)
        lines.append(f"    {var[ly.name]} = {_layer(ly, args, _name(ly.name))}({call})")
    outs = [ref(o) for o in b.outputs]
    lines.append(f"    return keras.Model(inputs={inputs[0] if len(inputs) == 1 else '[' + ', '.join(inputs) + ']'}, "
                 f"outputs={outs[0] if len(outs) == 1 else '[' + ', '.join(outs) + ']'})")
    return "\n".join(lines) + "\n"
