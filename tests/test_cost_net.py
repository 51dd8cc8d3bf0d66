"""A torch spec as a real torch module (the graph the spec names), for the cost tests; and its own check.

`build(d, bindings)` instantiates every layer with the spec's arguments at the given symbol values (omitted
in_channels / in_features / num_features filled from the derived input shapes, as torch's lazy modules
would), and `forward` follows the spec's inputs. Tensors keep the batch first; torch MultiheadAttention
runs with batch_first=True (the same work as the sequence-first layout the spec describes).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import symshape  # noqa: E402

FILLED = {"in_channels": 0, "in_features": -1, "num_features": 0}  # argument -> input axis it defaults to
SKIP_ARGS = {"device", "dtype"}


def _value(v: object, bindings: dict) -> object:
    if hasattr(v, "free_symbols"):
        return _number(v, bindings)
    if isinstance(v, tuple):
        return tuple(_value(x, bindings) for x in v)
    return v


class SpecNet(nn.Module):
    def __init__(self, d: symshape.Derivation, bindings: dict[str, int], seq_first: bool = False) -> None:
        super().__init__()
        self.seq_first = seq_first  # tensors (L, N, E) and attention as the spec says (batch_first False)

        self.layer_names: list[str] = []
        self.mods = nn.ModuleDict()
        self.input_names = list(d.inputs)
        self.need_weights: dict[str, bool] = {}  # MultiheadAttention's forward argument, by layer name
        for ly in d.layers:
            key = ly.name.replace(".", "_")
            self.layer_names.append(ly.name)
            kind = ly.kind
            if kind in ("add", "sub", "mul", "cat"):
                self.mods[key] = Merge(kind, getattr(ly.args, "dim", 1))
                continue
            args = {k: v for k, v in vars(ly.args).items() if k not in SKIP_ARGS and v is not None}
            args = {k: _value(v, bindings) for k, v in args.items()}
            shape_in = [_exact(d, s, bindings) for s in ly.input_shapes[0]]
            for arg, axis in FILLED.items():
                if ly.rule.arg(arg) is not None and getattr(ly.args, arg) is None:
                    args[arg] = shape_in[axis]
            if kind == "MultiheadAttention":
                self.need_weights[ly.name] = bool(args.pop("need_weights", True))
                args["batch_first"] = not seq_first  # the tensors' layout here, whatever the spec says
            if "inplace" in args and args["inplace"] is None:
                del args["inplace"]
            self.mods[key] = getattr(nn, kind)(**args)
        self.inputs_of = {ly.name: list(ly.inputs) for ly in d.layers}
        self.outputs = [name for name, _ in d.outputs]
        self.output_names = [ly.name for ly in d.layers][-1:] if d.spec.outputs is None else list(d.spec.outputs)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.seq_first:
            xs = tuple(x.transpose(0, 1).contiguous() for x in xs)  # (L, N, E) as a user holds it
        env: dict[str, object] = dict(zip(self.input_names, xs, strict=True))
        for name in self.layer_names:
            refs = [_ref(env, r) for r in self.inputs_of[name]]
            mod = self.mods[name.replace(".", "_")]
            if isinstance(mod, nn.MultiheadAttention):
                q = refs[0]
                k = refs[1] if len(refs) > 1 else q
                v = refs[2] if len(refs) > 2 else k
                env[name] = mod(q, k, v, need_weights=self.need_weights[name])
            elif isinstance(mod, Merge):
                env[name] = mod(*refs)
            else:
                env[name] = mod(refs[0])
        out = [_ref(env, r) for r in self.output_names]
        if self.seq_first:
            out = [o.transpose(0, 1) for o in out]
        return out[0] if len(out) == 1 else tuple(out)


def _ref(env: dict, ref: str) -> torch.Tensor:
    name, _, k = ref.partition(":")
    value = env[name]
    if isinstance(value, tuple):
        return value[int(k or 0)]
    return value


def _number(e: object, bindings: dict) -> int:
    import sympy

    return int(sympy.sympify(e).xreplace({s: sympy.Integer(bindings[s.name]) for s in e.free_symbols}))


def _exact(d: symshape.Derivation, size: object, bindings: dict) -> int:
    return _number(d.expand(size), bindings)


class Merge(nn.Module):
    def __init__(self, kind: str, dim: int) -> None:
        super().__init__()
        self.kind = kind
        self.dim = int(dim)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.kind == "cat":
            return torch.cat(xs, dim=self.dim)
        out = xs[0]
        for x in xs[1:]:
            out = out + x if self.kind == "add" else out - x if self.kind == "sub" else out * x
        return out


def build(d: symshape.Derivation, bindings: dict[str, int], seq_first: bool = False) -> SpecNet:
    return SpecNet(d, bindings, seq_first)


def inputs(d: symshape.Derivation, bindings: dict[str, int], batch: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(batch, *[_exact(d, s, bindings) for s in shape], generator=g)
                 for shape in d.inputs.values())


# ---------------------------------------------------------------- the builder's own check

NETS = [("examples/resnet18.yaml", {"H": 64, "W": 48}), ("examples/unet.yaml", {"C": 3, "H": 32, "W": 40, "K": 2}),
        ("examples/transformer_block.yaml", {"L": 7, "E": 16, "Hh": 4}),
        ("examples/alexnet.yaml", {}), ("examples/vgg16.yaml", {})]


@pytest.mark.parametrize(("path", "bindings"), NETS[:3])
def test_spec_net_matches_the_derivation(path: str, bindings: dict) -> None:
    from pathlib import Path

    d = symshape.derive(Path(path))
    bindings = {k: v for k, v in bindings.items() if k in d.free_symbols}
    net = build(d, bindings)
    out = net(*inputs(d, bindings, 2))
    out = out[0] if isinstance(out, tuple) else out
    ev = d.evaluate(bindings)
    assert list(out.shape[1:]) == list(ev.output_shape)
    assert sum(p.numel() for p in net.parameters()) == ev.params
