"""Memory to train against real torch: saved activations counted with saved_tensors_hooks, parameters,
gradients, optimizer state and buffers counted on the real module and optimizer after a step."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import symshape  # noqa: E402
from symshape.cost import cost  # noqa: E402

from .test_cost_net import build, inputs  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

NETS = [
    ("resnet18", {"H": 64, "W": 48}),
    ("alexnet", {"H": 96, "W": 80}),
    ("unet", {"C": 3, "H": 32, "W": 40, "K": 2}),
    ("transformer_block", {"L": 7, "E": 16, "Hh": 4}),
    ("vgg16", {"H": 32, "W": 32}),
    ("resnet50", {"H": 64, "W": 64}),
]


def saved_bytes(net: torch.nn.Module, xs: tuple) -> int:
    """Bytes of the tensors autograd keeps for backward: each storage once, parameters and buffers not."""
    own = {t.untyped_storage().data_ptr() for t in (*net.parameters(), *net.buffers())}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        if s.data_ptr() not in own:
            seen[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        net(*xs)
    return sum(seen.values())


# every network at two batch sizes in fp32 and one in bf16 autocast; the two largest at one batch each (time)
SAVED = [(n, b, batch, dtype) for n, b in NETS
         for batch, dtype in (((1, "fp32"), (3, "fp32"), (3, "bf16-mixed")) if n not in ("resnet50", "vgg16")
                              else ((2, "fp32"), (2, "bf16-mixed")))]


@pytest.mark.parametrize(("name", "bindings", "batch", "dtype"), SAVED, ids=[f"{n}-{k}-{t}" for n, _, k, t in SAVED])
def test_saved_activations_match_torch(name: str, bindings: dict, batch: int, dtype: str) -> None:
    """fp32, and bf16 mixed precision as torch.autocast('cpu', torch.bfloat16) runs it."""
    d = symshape.derive(EXAMPLES / f"{name}.yaml")
    b = {k: v for k, v in bindings.items() if k in d.free_symbols}
    torch.manual_seed(0)
    seq_first = name.startswith("transformer")
    net = build(d, b, seq_first=seq_first).train()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16-mixed"):
        got = saved_bytes(net, inputs(d, b, batch))
    v = cost(d, batch=batch, dtype=dtype).evaluate(b)
    assert v.activations_bytes == got, f"{name} batch {batch}: symshape {v.activations_bytes:,} vs torch {got:,}"


OPTIMIZERS = {"sgd": lambda p: torch.optim.SGD(p, lr=0.1), "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.1,
              momentum=0.9), "adam": lambda p: torch.optim.Adam(p), "adamw": lambda p: torch.optim.AdamW(p)}


TRACKED = [("resnet18", {"H": 64, "W": 48}, 2, "sgd-momentum"), ("resnet18", {"H": 64, "W": 48}, 2, "adamw"),
           ("transformer_block", {"L": 7, "E": 16, "Hh": 4}, 3, "sgd"),
           ("transformer_block", {"L": 7, "E": 16, "Hh": 4}, 3, "adam")]


@pytest.mark.parametrize(("name", "bindings", "batch", "optimizer"), TRACKED, ids=[f"{t[0]}-{t[3]}" for t in TRACKED])
def test_params_grads_optimizer_buffers_match_memtracker(optimizer: str, name: str, bindings: dict,
                                                         batch: int) -> None:
    """torch's MemTracker after one step: parameters, buffers, gradients and optimizer state (its current
    snapshot; its peak also holds the optimizer's temporaries during the step, which symshape does not model)."""
    from torch.distributed._tools.mem_tracker import MemTracker

    d = symshape.derive(EXAMPLES / f"{name}.yaml")
    b = {k: v for k, v in bindings.items() if k in d.free_symbols}
    torch.manual_seed(0)
    net = build(d, b).train()
    opt = OPTIMIZERS[optimizer](net.parameters())
    mt = MemTracker()
    mt.track_external(net, opt)
    xs = inputs(d, b, batch)
    with mt:
        out = net(*xs)
        out = out[0] if isinstance(out, tuple) else out
        out.sum().backward()
        opt.step()
    (snap,) = mt.get_tracker_snapshot("current").values()
    got = {str(k).rsplit(".", 1)[-1]: v for k, v in snap.items()}
    v = cost(d, batch=batch, optimizer=optimizer).evaluate(b)
    assert (v.params_bytes, v.buffers_bytes, v.grads_bytes, v.optimizer_bytes) == \
        (got["PARAM"], got["BUFFER"], got["GRAD"], got["OPT"])


def _segment(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else parts[0]


@pytest.mark.parametrize(("name", "bindings"), [NETS[0], NETS[2], NETS[3]], ids=["resnet18", "unet", "transformer"])
def test_checkpointing_parts_match_torch(name: str, bindings: dict) -> None:
    """Checkpointed segments (the top-level name prefixes): what the forward keeps (torch's reentrant
    checkpoint saves each segment's inputs, counted with saved_tensors_hooks) and what each segment keeps
    when it is recomputed alone (its inputs aside) equal symshape's parts; the peak is their stated sum."""
    from torch.utils.checkpoint import checkpoint

    d = symshape.derive(EXAMPLES / f"{name}.yaml")
    b = {k: v for k, v in bindings.items() if k in d.free_symbols}
    batch = 2
    torch.manual_seed(0)
    net = build(d, b, seq_first=name.startswith("transformer")).train()
    xs = inputs(d, b, batch)
    c = cost(d, batch=batch, checkpoint=True)
    values = {**b}

    def number(e: object) -> int:
        e = c.derivation.collapse(e)
        return int(e.xreplace({s: sympy.Integer(values[s.name]) for s in e.free_symbols}))

    import sympy

    segments: dict[str, list[str]] = {}
    for ly in d.layers:
        segments.setdefault(_segment(ly.name), []).append(ly.name)
    with torch.no_grad():  # every tensor of a plain forward: the segments' inputs
        net_env = _forward_env(net, xs)
    own = {t.untyped_storage().data_ptr() for t in (*net.parameters(), *net.buffers())}
    kept_total = 0
    seen_inputs: set[int] = set()
    for (seg, kept_e, inner_e), members in zip(c.segments, segments.values(), strict=True):
        assert seg == _segment(members[0])
        ext = [r.partition(":")[0] for m in members for r in net.inputs_of[m] if r.partition(":")[0] not in members]
        ext = list(dict.fromkeys(ext))
        tensors = [_tensor(net_env[e]) for e in ext]
        grads = [e not in d.inputs for e in ext]  # after the first layer everything needs a gradient
        tensors = [t.detach().requires_grad_(g) for t, g in zip(tensors, grads, strict=True)]
        stored = {t.untyped_storage().data_ptr() for t in tensors}
        got = {}

        def pack(t: torch.Tensor, got: dict = got, stored: set = stored) -> torch.Tensor:
            s = t.untyped_storage()
            if s.data_ptr() not in own and s.data_ptr() not in stored:
                got[s.data_ptr()] = s.nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            _run(net, members, dict(zip(ext, tensors, strict=True)))
        assert number(inner_e) == sum(got.values()), seg
        saved: dict[int, int] = {}

        def pack_kept(t: torch.Tensor, saved: dict = saved) -> torch.Tensor:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        if any(grads):
            with torch.autograd.graph.saved_tensors_hooks(pack_kept, lambda t: t):
                checkpoint(lambda *ts, members=members, ext=ext: _flat(_run(net, members, dict(zip(ext, ts,
                           strict=True)))), *tensors, use_reentrant=True)
        else:  # reentrant checkpoint keeps nothing (and loses the weights' gradients) when no input needs a
            # gradient; the non-reentrant one keeps its inputs alive, which is what symshape counts
            saved = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
        assert number(kept_e) == sum(saved.values()), seg
        kept_total += sum(v for k, v in saved.items() if k not in seen_inputs)
        seen_inputs |= set(saved)
    peak = max(number(p[2]) for p in c.segments)
    assert c.evaluate({**b}).activations_bytes == kept_total + peak


def _tensor(v: object) -> torch.Tensor:
    return v[0] if isinstance(v, tuple) else v


def _flat(out: dict) -> tuple:
    flat = []
    for v in out.values():
        flat.extend(v if isinstance(v, tuple) else [v])
    return tuple(t for t in flat if isinstance(t, torch.Tensor) and t.requires_grad) or (flat[0],)


def _forward_env(net: torch.nn.Module, xs: tuple) -> dict:
    if net.seq_first:
        xs = tuple(x.transpose(0, 1).contiguous() for x in xs)  # (L, N, E) as a user holds it
    env = dict(zip(net.input_names, xs, strict=True))
    env.update(_run(net, net.layer_names, env))
    return env


def _run(net: torch.nn.Module, names: list[str], env: dict) -> dict:
    from .test_cost_net import Merge, _ref

    env = dict(env)
    out = {}
    for name in names:
        refs = [_ref(env, r) for r in net.inputs_of[name]]
        mod = net.mods[name.replace(".", "_")]
        if isinstance(mod, torch.nn.MultiheadAttention):
            q = refs[0]
            k = refs[1] if len(refs) > 1 else q
            v = refs[2] if len(refs) > 2 else k
            env[name] = mod(q, k, v, need_weights=net.need_weights[name])
        elif isinstance(mod, Merge):
            env[name] = mod(*refs)
        else:
            env[name] = mod(refs[0])
        out[name] = env[name]
    return out


KERAS_SPEC = {"framework": "keras", "input": [32, 32, 3], "layers": [
    {"Conv2D": {"filters": 5, "kernel_size": 3}}, {"BatchNormalization": {}}, {"MaxPooling2D": {"pool_size": 2}},
    {"Flatten": {}}, {"Dense": {"units": 10}}]}


@pytest.mark.parametrize("optimizer", ["sgd", "sgd-momentum", "adam", "adamw"])
def test_keras_optimizer_variables(optimizer: str) -> None:
    """keras: parameters (trainable and not), gradients and the optimizer's variables, as keras builds them."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    import numpy as np

    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(5, 3), keras.layers.BatchNormalization(),
                              keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(10)])
    opt = {"sgd": lambda: keras.optimizers.SGD(), "sgd-momentum": lambda: keras.optimizers.SGD(momentum=0.9),
           "adam": lambda: keras.optimizers.Adam(), "adamw": lambda: keras.optimizers.AdamW()}[optimizer]()
    opt.build(model.trainable_variables)

    def nbytes(vs: list) -> int:
        return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in vs)

    v = cost(symshape.derive(KERAS_SPEC), batch=4, optimizer=optimizer).evaluate({})
    assert v.params_bytes == nbytes(model.weights)
    assert v.grads_bytes == nbytes(model.trainable_variables)
    assert v.optimizer_bytes == nbytes(opt.variables)


SINGLE = [  # a layer after a 1x1 convolution (so its input needs a gradient): spec arguments, the torch module
    ("GELU", {}, lambda nn: nn.GELU()), ("SiLU", {}, lambda nn: nn.SiLU()), ("Sigmoid", {}, lambda nn: nn.Sigmoid()),
    ("Tanh", {}, lambda nn: nn.Tanh()), ("LeakyReLU", {}, lambda nn: nn.LeakyReLU()), ("ELU", {}, lambda nn: nn.ELU()),
    ("Hardswish", {}, lambda nn: nn.Hardswish()), ("ReLU6", {}, lambda nn: nn.ReLU6()),
    ("Softmax", {"dim": 1}, lambda nn: nn.Softmax(dim=1)), ("PReLU", {}, lambda nn: nn.PReLU()),
    ("Dropout", {"p": 0.2}, lambda nn: nn.Dropout(0.2)), ("Dropout2d", {"p": 0.2}, lambda nn: nn.Dropout2d(0.2)),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, lambda nn: nn.AvgPool2d(3, 2, 1)),
    ("MaxPool2d", {"kernel_size": 2}, lambda nn: nn.MaxPool2d(2)),
    ("AdaptiveAvgPool2d", {"output_size": [2, 3]}, lambda nn: nn.AdaptiveAvgPool2d((2, 3))),
    ("AdaptiveAvgPool2d", {"output_size": 1}, lambda nn: nn.AdaptiveAvgPool2d(1)),
    ("AdaptiveMaxPool2d", {"output_size": [2, 3]}, lambda nn: nn.AdaptiveMaxPool2d((2, 3))),
    ("GroupNorm", {"num_groups": 2, "num_channels": 4}, lambda nn: nn.GroupNorm(2, 4)),
    ("InstanceNorm2d", {"num_features": 4}, lambda nn: nn.InstanceNorm2d(4)),
    ("InstanceNorm2d", {"num_features": 4, "affine": True}, lambda nn: nn.InstanceNorm2d(4, affine=True)),
    ("BatchNorm2d", {}, lambda nn: nn.BatchNorm2d(4)), ("LayerNorm", {"normalized_shape": [6]},
                                                        lambda nn: nn.LayerNorm(6)),
    ("Upsample", {"scale_factor": 2}, lambda nn: nn.Upsample(scale_factor=2)),
    ("Upsample", {"scale_factor": 2, "mode": "bilinear"}, lambda nn: nn.Upsample(scale_factor=2, mode="bilinear")),
    ("ZeroPad2d", {"padding": 1}, lambda nn: nn.ZeroPad2d(1)),
    ("ReflectionPad2d", {"padding": 1}, lambda nn: nn.ReflectionPad2d(1)),
    ("ReplicationPad2d", {"padding": 1}, lambda nn: nn.ReplicationPad2d(1)),
    ("PixelShuffle", {"upscale_factor": 2}, lambda nn: nn.PixelShuffle(2)), ("Flatten", {}, lambda nn: nn.Flatten()),
    ("ConvTranspose2d", {"out_channels": 3, "kernel_size": 2, "stride": 2},
     lambda nn: nn.ConvTranspose2d(4, 3, 2, stride=2)),
]


@pytest.mark.parametrize(("kind", "args", "module"), SINGLE, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(SINGLE)])
def test_what_each_layer_keeps(kind: str, args: dict, module: object) -> None:
    from torch import nn

    spec = {"framework": "torch", "input": [4, 6, 6],
            "layers": [{"Conv2d": {"out_channels": 4, "kernel_size": 1}}, {kind: args}]}
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(4, 4, 1), module(nn)).train()
    for batch in (1, 3):
        got = saved_bytes(net, (torch.randn(batch, 4, 6, 6),))
        assert cost(symshape.derive(spec), batch=batch).evaluate({}).activations_bytes == got, (kind, batch)


ZOO = ["mobilenet_v2", "resnet18"] + (["alexnet", "vgg16", "resnet50"] if os.environ.get("SYMSHAPE_LONG") == "1"
                                       else [])


@pytest.mark.parametrize("arch", ZOO)
@pytest.mark.parametrize("dtype", ["fp32", "bf16-mixed"])
def test_saved_activations_on_torchvision_architectures(arch: str, dtype: str) -> None:
    """torchvision's real architectures (tests/zoo.py: in-place ReLUs, MobileNetV2's inverted residuals),
    imported by symshape.from_torch: the bytes they keep for backward, fp32 and bf16 autocast."""
    from symshape.importers import from_torch

    from . import zoo

    torch.manual_seed(0)
    m = getattr(zoo, arch)()
    x = torch.randn(2, 3, 64, 64)
    d = from_torch(m, x).derive()
    m.train()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype != "fp32"):
        got = saved_bytes(m, (x,))
    assert cost(d, batch=2, dtype=dtype).evaluate({}).activations_bytes == got


def test_embedding_keeps_its_indices() -> None:
    spec = {"framework": "torch", "input": ["T"], "layers": [{"Embedding": {"num_embeddings": 50, "embedding_dim": 8}},
                                                              {"Linear": {"out_features": 3}}]}
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.Linear(8, 3)).train()
    for batch, t in ((3, 7), (2, 11)):
        got = saved_bytes(net, (torch.randint(0, 50, (batch, t)),))
        assert cost(symshape.derive(spec), batch=batch).evaluate(T=t).activations_bytes == got


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_recurrent_layers_are_stated_lower_bounds(kind: str) -> None:
    spec = {"framework": "torch", "input": [4, 5], "layers": [{"Linear": {"out_features": 6}},
                                                          {kind: {"input_size": 6, "hidden_size": 7}}]}
    d = symshape.derive(spec)
    c = cost(d, batch=2)
    assert any("lower bounds" in n for n in c.notes) and "lower bounds" in c.table()

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(5, 6)
            self.rnn = getattr(torch.nn, kind)(6, 7)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.rnn(self.lin(x).transpose(0, 1))[0]

    got = saved_bytes(Net().train(), (torch.randn(2, 4, 5),))
    assert c.evaluate({}).activations_bytes <= got  # a lower bound indeed


def test_keras_activations_are_a_stated_estimate() -> None:
    """keras' saved activations are the torch counterpart's rule, said so in the notes; keras 3 on the torch
    backend keeps more for MultiHeadAttention (measured with saved_tensors_hooks): a lower estimate, not 0."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("keras was imported with another backend than torch in this process (run with KERAS_BACKEND=torch)")
    d = symshape.derive(EXAMPLES / "transformer_block_keras.yaml")
    c = cost(d, batch=2)
    assert any("estimate" in n and "not exact" in n for n in c.notes)
    est = c.evaluate({"L": 16, "E": 32, "Hh": 4}).layers[0]["saved_bytes"]
    mha = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8)
    x = torch.randn(2, 16, 32)
    mha(x, x)
    own = {v.value.untyped_storage().data_ptr() for v in mha.weights}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.untyped_storage().data_ptr() not in own:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        mha(x, x, training=True)
    assert 0 < est <= sum(seen.values())
