"""FLOP presets against the real tools: each preset reproduces its tool exactly, per network and in total.

The networks are the examples' specs, built as real torch modules (tests/test_cost_net.py) at small sizes;
each tool runs on them as a user would, and `symshape.cost` evaluates its formulas at the same values.
FlopCounterMode is also checked backward (the first layer computes no input gradient).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import symshape  # noqa: E402
from symshape.cost import cost  # noqa: E402

from .test_cost_net import build, inputs  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
LONG = os.environ.get("SYMSHAPE_LONG") == "1"

# network, bindings (small sizes keep the tools quick), batch
NETS = [
    ("resnet18", {"H": 64, "W": 48}, 2),
    ("alexnet", {"H": 96, "W": 80}, 2),
    ("unet", {"C": 3, "H": 32, "W": 40, "K": 2}, 2),
    ("transformer_block", {"L": 7, "E": 16, "Hh": 4}, 3),
    ("vgg16", {"H": 32, "W": 32}, 2),
    ("resnet50", {"H": 64, "W": 64}, 2),
]
if LONG:
    NETS += [("resnet50", {"H": 224, "W": 224}, 2), ("vgg16", {"H": 224, "W": 224}, 1)]


def _quiet():  # noqa: ANN202
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    stack.callback(logging.disable, logging.NOTSET)
    return stack


def run_tool(tool: str, net: torch.nn.Module, xs: tuple, train: bool) -> int:
    net = copy.deepcopy(net)
    net.train(train)
    with _quiet():
        if tool == "fvcore":
            from fvcore.nn import FlopCountAnalysis

            fa = FlopCountAnalysis(net, xs)
            fa.unsupported_ops_warnings(False)
            fa.uncalled_modules_warnings(False)
            return int(fa.total())
        if tool == "flop_counter":
            from torch.utils.flop_counter import FlopCounterMode

            with FlopCounterMode(display=False) as m:
                net(*xs)
            return int(m.get_total_flops())
        if tool == "thop":
            import thop

            return int(thop.profile(net, inputs=xs, verbose=False)[0])
        if tool == "torchinfo":
            import torchinfo

            return int(torchinfo.summary(net, input_data=list(xs), verbose=0,
                                         mode="train" if train else "eval").total_mult_adds)
        if tool in ("ptflops", "ptflops_aten"):
            from ptflops import get_model_complexity_info

            whole = xs[0]  # the batch as given (all the example networks take one input)
            flops, _ = get_model_complexity_info(net, tuple(xs[0].shape[1:]), as_strings=False,
                                                 print_per_layer_stat=False,
                                                 backend="pytorch" if tool == "ptflops" else "aten",
                                                 input_constructor=lambda _: whole)
            return int(flops)
    raise AssertionError(tool)


TOOLS = ["fvcore", "flop_counter", "thop", "torchinfo", "ptflops", "ptflops_aten"]
_NETS: dict = {}


def _net(name: str, bindings: dict, batch: int):  # noqa: ANN202
    key = (name, tuple(sorted(bindings.items())), batch)
    if key not in _NETS:
        d = symshape.derive(EXAMPLES / f"{name}.yaml")
        b = {k: v for k, v in bindings.items() if k in d.free_symbols}
        torch.manual_seed(0)
        _NETS[key] = (d, b, build(d, b), inputs(d, b, batch))
    return _NETS[key]


# fvcore counts batch norm differently in training; the other tools count the same in both modes
# (checked in training too with SYMSHAPE_LONG=1)
RUNS = [(t, "eval") for t in TOOLS] + [(t, "train") for t in TOOLS if LONG or t == "fvcore"]
BIG = ("resnet50", "vgg16")  # by default checked with fvcore and flop_counter (all tools: SYMSHAPE_LONG=1)
CHECKS = [(t, m, net) for net in NETS for t, m in RUNS
          if LONG or net[0] not in BIG or (t in ("fvcore", "flop_counter") and m == "eval")]


@pytest.mark.parametrize(("tool", "mode", "net"), CHECKS, ids=[f"{n[0]}-{t}-{m}" for t, m, n in CHECKS])
def test_preset_reproduces_the_tool(tool: str, mode: str, net: tuple) -> None:
    name, bindings, batch = net
    d, b, net, xs = _net(name, bindings, batch)
    got = run_tool(tool, net, xs, mode == "train")
    c = cost(d, batch=batch, flops=tool, mode=mode)
    want = c.evaluate(b).forward_flops
    assert want == got, f"{tool} on {name} ({mode}): symshape {want:,} vs tool {got:,}"


@pytest.mark.parametrize(("name", "bindings", "batch"), NETS[:4], ids=[n[0] for n in NETS[:4]])
def test_flop_counter_forward_and_backward(name: str, bindings: dict, batch: int) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    d, b, net, xs = _net(name, bindings, batch)
    net = copy.deepcopy(net).train()
    with FlopCounterMode(display=False) as m:
        out = net(*xs)
        out = out[0] if isinstance(out, tuple) else out
        out.sum().backward()
    total = m.get_total_flops()
    v = cost(d, batch=batch, flops="flop_counter").evaluate(b)
    assert v.train_flops == total
    assert v.forward_flops + v.backward_flops == total


def test_symshape_default_is_fvcores_conv_and_linear_subtotal() -> None:
    """The README's claim, corrected: MACs equal fvcore's convolution + linear subtotal, not its total."""
    from fvcore.nn import FlopCountAnalysis

    d, b, net, xs = _net("resnet18", {"H": 64, "W": 48}, 2)
    with _quiet():
        fa = FlopCountAnalysis(copy.deepcopy(net).eval(), xs)
        fa.unsupported_ops_warnings(False)
        by_op = fa.by_operator()
    v = cost(d, batch=2).evaluate(b)
    assert v.forward_flops == by_op["conv"] + by_op["linear"]
    assert v.forward_flops < fa.total()


def test_convtranspose_overcount_in_thop_and_torchinfo() -> None:
    """A stride-2 up-convolution: thop and torchinfo count every output position with the whole kernel (4x)."""
    spec = {"framework": "torch", "input": [8, "H", "H"], "layers": [
        {"ConvTranspose2d": {"in_channels": 8, "out_channels": 4, "kernel_size": 2, "stride": 2, "bias": False}}]}
    d = symshape.derive(spec)
    real = cost(d, batch=1).evaluate({"H": 10}).forward_flops
    for tool in ("thop", "torchinfo"):
        assert cost(d, batch=1, flops=tool).evaluate({"H": 10}).forward_flops == 4 * real
    d2, b, net, xs = _net("unet", {"C": 3, "H": 32, "W": 40, "K": 2}, 2)
    assert run_tool("thop", net, xs, False) > cost(d2, batch=2, flops="fvcore").evaluate(b).forward_flops


def test_attention_missed_by_thop_and_torchinfo() -> None:
    d, b, net, xs = _net("transformer_block", {"L": 7, "E": 16, "Hh": 4}, 3)
    c = cost(d, batch=3)
    attn = c.evaluate(b).layers[0]
    assert attn["name"] == "attn" and attn["forward_flops"] > 0
    for tool in ("thop", "torchinfo"):
        assert cost(d, batch=3, flops=tool).evaluate(b).layers[0]["forward_flops"] == 0
    # torchinfo counts a Linear on a sequence once per sample: L times too little
    ti = cost(d, batch=3, flops="torchinfo").evaluate(b).layers[4]
    assert ti["name"] == "ff1" and ti["forward_flops"] * 7 > c.evaluate(b).layers[4]["forward_flops"]


# ---------------------------------------------------------------- torchvision's architectures (tests/zoo.py)

ZOO = ["mobilenet_v2", "resnet18", "alexnet"] + (["resnet50", "vgg16"] if LONG else [])


@pytest.mark.parametrize("arch", ZOO)
def test_presets_on_torchvision_architectures(arch: str) -> None:
    """The real architecture (tests/zoo.py, torchvision's code), imported as a spec by symshape.from_torch, and
    every tool run on the real module. One stated exception: MobileNetV2 pools with the functional
    F.adaptive_avg_pool2d, not a module; the spec has it as a layer, which thop (module hooks only) never
    sees and ptflops counts by its functional patch only (the whole batch), not its module hook (one sample)."""
    from symshape.importers import from_torch

    from . import zoo

    torch.manual_seed(0)
    m = getattr(zoo, arch)().eval()
    x = torch.randn(2, 3, 64, 64)
    d = from_torch(m, x).derive()
    for tool in TOOLS:
        got = run_tool(tool, m, (x,), False)
        c = cost(d, batch=2, flops=tool, mode="eval")
        v = c.evaluate({})
        want = v.forward_flops
        if arch == "mobilenet_v2" and tool in ("thop", "ptflops"):
            pool = next(ly for ly in v.layers if ly["kind"] == "AdaptiveAvgPool2d")
            want -= pool["forward_flops"] if tool == "thop" else pool["forward_flops"] // 3  # module 1, batch 2
        assert want == got, f"{tool} on {arch}: symshape {want:,} vs tool {got:,}"


# ---------------------------------------------------------------- layer by layer (after a 1x1 convolution)

SINGLE = [
    ("GELU", {}, lambda nn: nn.GELU()), ("SiLU", {}, lambda nn: nn.SiLU()), ("Sigmoid", {}, lambda nn: nn.Sigmoid()),
    ("Tanh", {}, lambda nn: nn.Tanh()), ("LeakyReLU", {}, lambda nn: nn.LeakyReLU()), ("ELU", {}, lambda nn: nn.ELU()),
    ("Hardswish", {}, lambda nn: nn.Hardswish()), ("ReLU6", {}, lambda nn: nn.ReLU6()),
    ("ReLU", {}, lambda nn: nn.ReLU()),
    ("Softmax", {"dim": 1}, lambda nn: nn.Softmax(dim=1)), ("PReLU", {}, lambda nn: nn.PReLU()),
    ("Dropout2d", {"p": 0.2}, lambda nn: nn.Dropout2d(0.2)),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, lambda nn: nn.AvgPool2d(3, 2, 1)),
    ("MaxPool2d", {"kernel_size": 2}, lambda nn: nn.MaxPool2d(2)),
    ("AdaptiveAvgPool2d", {"output_size": [2, 3]}, lambda nn: nn.AdaptiveAvgPool2d((2, 3))),
    ("AdaptiveMaxPool2d", {"output_size": [2, 3]}, lambda nn: nn.AdaptiveMaxPool2d((2, 3))),
    ("GroupNorm", {"num_groups": 2, "num_channels": 4}, lambda nn: nn.GroupNorm(2, 4)),
    ("InstanceNorm2d", {"num_features": 4}, lambda nn: nn.InstanceNorm2d(4)),
    ("InstanceNorm2d", {"num_features": 4, "affine": True}, lambda nn: nn.InstanceNorm2d(4, affine=True)),
    ("BatchNorm2d", {"affine": False}, lambda nn: nn.BatchNorm2d(4, affine=False)),
    ("LayerNorm", {"normalized_shape": [6]}, lambda nn: nn.LayerNorm(6)),
    ("Upsample", {"scale_factor": 2}, lambda nn: nn.Upsample(scale_factor=2)),
    ("Upsample", {"scale_factor": 2, "mode": "bilinear"}, lambda nn: nn.Upsample(scale_factor=2, mode="bilinear")),
    ("ZeroPad2d", {"padding": 1}, lambda nn: nn.ZeroPad2d(1)),
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "groups": 2},
     lambda nn: nn.ConvTranspose2d(4, 4, 3, stride=2, groups=2)),
    ("Conv2d", {"out_channels": 6, "kernel_size": 3, "groups": 2, "padding": 1, "dilation": 1},
     lambda nn: nn.Conv2d(4, 6, 3, groups=2, padding=1)),
]


@pytest.mark.parametrize(("kind", "args", "module"), SINGLE, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(SINGLE)])
def test_each_layer_as_each_tool_counts_it(kind: str, args: dict, module: object) -> None:
    from torch import nn

    spec = {"framework": "torch", "input": [4, 6, 6],
            "layers": [{"Conv2d": {"out_channels": 4, "kernel_size": 1}}, {kind: args}]}
    d = symshape.derive(spec)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(4, 4, 1), module(nn))
    x = torch.randn(2, 4, 6, 6)
    for tool in TOOLS:
        want = cost(d, batch=2, flops=tool, mode="eval").evaluate({}).forward_flops
        assert run_tool(tool, net, (x,), False) == want, (kind, args, tool)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_recurrent_layers_where_the_tools_are_known(kind: str) -> None:
    """fvcore counts no recurrent op; FlopCounterMode and ptflops' aten backend count CPU's GRU (its matmuls)
    but not the fused LSTM; the other presets refuse rather than guess."""
    from torch import nn

    from symshape.errors import BindingError

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(5, 6)
            self.rnn = getattr(nn, kind)(6, 7, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.rnn(self.lin(x))[0]

    rnn = {kind: {"input_size": 6, "hidden_size": 7, "batch_first": True}}
    spec = {"framework": "torch", "input": [4, 5], "layers": [{"Linear": {"out_features": 6}}, rnn]}
    d = symshape.derive(spec)
    torch.manual_seed(0)
    net = Net()
    x = torch.randn(2, 4, 5)
    for tool in ("fvcore", "flop_counter", "ptflops_aten"):
        assert cost(d, batch=2, flops=tool, mode="eval").evaluate({}).forward_flops == run_tool(tool, net, (x,), False)
    if kind == "LSTM":
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as m:
            net.train()(x).sum().backward()
        assert cost(d, batch=2, flops="flop_counter").evaluate({}).train_flops == m.get_total_flops()
    for tool in ("thop", "torchinfo", "ptflops"):
        with pytest.raises(BindingError, match=f"does not reproduce {tool}"):
            cost(d, batch=2, flops=tool)
