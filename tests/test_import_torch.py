"""Importing PyTorch modules (symshape.from_torch): the imported spec against torch itself.

Round trip: every module layer's output shape (forward hooks), parameters and buffers, and the network's output,
equal torch's at two input sizes. Lifted: with the input sizes as symbols, symshape's verdict and shapes agree
with torch's forward (on the meta device) at many sizes, valid and invalid. Unsupported ops give the clear error.
"""

from __future__ import annotations

import copy
import importlib.util
import warnings

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

import symshape  # noqa: E402
from symshape.errors import SpecError  # noqa: E402
from symshape.importers import UnsupportedOpError, from_torch  # noqa: E402
from symshape.lift import symbolize  # noqa: E402

# ---------------------------------------------------------------- models written here


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) \
            if stride != 1 or cin != cout else None

    def forward(self, x):
        identity = x if self.down is None else self.down(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)  # the same ReLU module called twice


class TinyResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 7, 2, 3)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(Block(8, 8, 1), Block(8, 16, 2))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.stem(x)))
        x = self.layer1(x)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = x.view(x.size(0), -1)
        return self.fc(x)


class Fire(nn.Module):  # SqueezeNet's, with torch.cat
    def __init__(self, cin: int, squeeze: int, e1: int, e3: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
        self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)

    def forward(self, x):
        x = F.relu(self.squeeze(x))
        return torch.cat([F.relu(self.expand1x1(x)), F.relu(self.expand3x3(x))], 1)


class Squeezy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(3, 2, ceil_mode=True), Fire(16, 4, 8, 8), Fire(16, 4, 8, 8))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(16, 5, 1), nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


class SE(nn.Module):  # MobileNetV3 / EfficientNet squeeze-excitation: mean, mul with broadcasting
    def __init__(self, c: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // 4, 1)
        self.fc2 = nn.Conv2d(c // 4, c, 1)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        s = F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))
        return s * x


class Mobile(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.act = nn.Hardswish()
        self.dw = nn.Conv2d(16, 16, 3, 2, 1, groups=16, bias=False)
        self.se = SE(16)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        x = self.act(self.bn(self.conv(x)))
        x = self.se(self.dw(x))
        x = self.up(x)
        x = x.permute(0, 2, 3, 1)  # channels last
        x = x.reshape(x.shape[0], -1, 16)
        return self.head(x).transpose(1, 2)


class Tokens(nn.Module):  # a transformer block: LayerNorm, MultiheadAttention (tuple output), GELU
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(32)
        self.attn = nn.MultiheadAttention(32, 4, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 32))

    def forward(self, x):
        h = self.norm(x)
        a, _ = self.attn(h, h, h)
        x = x + a
        return x + self.mlp(x)


class WithLSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Linear(6, 12)
        self.lstm = nn.LSTM(12, 20, batch_first=True, bidirectional=True)
        self.out = nn.Linear(40, 3)

    def forward(self, x):
        y, (h, c) = self.lstm(self.emb(x))
        return self.out(y)


class Unet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.mid = nn.Conv2d(8, 8, 3, padding=1)
        self.up = nn.ConvTranspose2d(8, 8, 2, stride=2)
        self.dec = nn.Conv2d(16, 4, 3, padding=1)

    def forward(self, x):
        e = F.relu(self.enc(x))
        m = F.relu(self.mid(self.pool(e)))
        return self.dec(torch.cat([self.up(m), e], dim=1))


class Padded(nn.Module):  # F.pad in its modes: the padding layers
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        x = F.pad(x, (1, 2, 0, 1))
        x = F.pad(self.conv(x), (1, 1, 1, 1), mode="reflect")
        return F.pad(x, (1, 1), value=2.0)


class ShapeBranch(nn.Module):  # control flow on a size: torch.fx cannot trace it, torch.export can
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        if x.shape[2] > 10:
            x = F.max_pool2d(x, 2)
        y = self.bn(self.conv(x))
        y = torch.relu(y) + y
        return self.fc(y.mean(dim=(2, 3)))


class Odd(nn.Module):  # a tensor slice
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(x)[:, :2]


def _zoo() -> object | None:
    """tests/zoo.py (torchvision's architectures written in torch), when it has landed."""
    if importlib.util.find_spec("tests.zoo") is None:
        return None
    from tests import zoo

    return zoo


def _on_meta(factory):
    """The zoo's models built on the meta device: shapes and counts without the weights' memory and init time
    (torch's meta kernels are the shape functions its CPU kernels check too)."""
    def build():
        with torch.device("meta"):
            return factory()
    build.__name__ = factory.__name__
    return build


def _zoo_models() -> list:
    zoo = _zoo()
    if zoo is None:
        return []
    other = {"transformer_block": (20, 512), "unet": (3, 64, 96)}
    return [pytest.param(_on_meta(factory), (3, 224, 224) if len(shape) == 3 else shape, other.get(name, (3, 97, 131)),
                         id=f"zoo.{name}") for name, (factory, shape) in zoo.MODELS.items()]


def _zoo_symbolic() -> list:
    zoo = _zoo()
    if zoo is None:
        return []
    some_invalid = {"vgg16", "alexnet", "densenet121", "unet", "squeezenet1_1"}
    sizes = {"unet": range(8, 140, 4)}  # valid at multiples of 8 only: sizes where both axes are, and others
    return [pytest.param(_on_meta(factory), (3, 224, 224), ["H", "W"], sizes.get(name, range(1, 140, 9)),
                         name in some_invalid,
                         id=f"zoo.{name}") for name, (factory, shape) in zoo.MODELS.items() if len(shape) == 3]


MODELS = [  # factory, example shape, a second size (batch axis excluded)
    pytest.param(TinyResNet, (3, 64, 64), (3, 45, 71), id="tiny-resnet"),
    pytest.param(Squeezy, (3, 64, 64), (3, 51, 77), id="squeezenet-fire"),
    pytest.param(Mobile, (3, 32, 32), (3, 32, 32), id="mobilenet-se-permute"),
    pytest.param(Tokens, (10, 32), (7, 32), id="transformer-block"),
    pytest.param(WithLSTM, (9, 6), (4, 6), id="lstm"),
    pytest.param(Unet, (3, 32, 48), (3, 16, 8), id="unet"),
    pytest.param(ShapeBranch, (3, 32, 32), (3, 32, 20), id="torch.export-fallback"),
    pytest.param(Padded, (3, 8, 8), (3, 5, 9), id="functional-pad"),
    *_zoo_models(),
]

# ---------------------------------------------------------------- what torch says


def torch_record(model: nn.Module, shape: tuple[int, ...]) -> tuple[dict[str, list[tuple]], tuple]:
    """Every leaf module call's output shapes (forward hooks; a module called twice: name, name_1) and the
    network's output shape, batch axis excluded."""
    seen: dict[str, list[tuple]] = {}
    calls: dict[str, int] = {}
    hooks = []

    def flat(out):
        if isinstance(out, (tuple, list)):
            return [t for o in out for t in flat(o)]
        return [out] if isinstance(out, torch.Tensor) else []

    for name, module in model.named_modules():
        if name and not list(module.children()) and type(module).__module__.startswith("torch.nn"):
            def hook(mod, inp, out, name=name):
                n = calls.get(name, 0)
                calls[name] = n + 1
                seen[name if n == 0 else f"{name}_{n}"] = [tuple(t.shape[1:]) for t in flat(out)]
            hooks.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, *shape, device=_device(model)))
    finally:
        for h in hooks:
            h.remove()
    return seen, tuple(flat(out)[0].shape[1:])


def _device(model: nn.Module) -> torch.device:
    return next(iter(model.parameters()), torch.zeros(0)).device


def check_round_trip(model: nn.Module, imported, shape: tuple[int, ...]) -> None:
    seen, out_shape = torch_record(model, shape)
    spec = copy.deepcopy(imported.spec)
    key = "input" if "input" in spec else None
    if key:
        spec["input"] = list(shape)
    e = symshape.derive(spec).evaluate()
    assert e.valid, e.violations
    by_name = {ly.name: ly for ly in e.layers}
    modules = dict(model.named_modules())
    checked = 0
    for name, shapes in seen.items():
        assert name in by_name, f"module call {name} missing from the spec"
        layer = by_name[name]
        got = [tuple(s) for s in layer.output_shapes]
        assert got[:len(shapes)] == shapes, (name, got, shapes)
        module = modules[name.rsplit("_", 1)[0] if name not in modules else name]
        if name in modules:  # parameters and buffers counted once per module
            assert layer.params == sum(p.numel() for p in module.parameters()), name
            assert layer.buffers == sum(b.numel() for b in module.buffers()), name
        checked += 1
    assert checked
    assert tuple(e.output_shape) == out_shape
    assert e.params == sum(p.numel() for p in model.parameters())
    assert e.buffers == sum(b.numel() for b in model.buffers())


@pytest.mark.parametrize(("factory", "shape", "other"), MODELS)
def test_round_trip_at_two_sizes(factory, shape, other) -> None:
    torch.manual_seed(0)
    model = factory().eval()
    imported = from_torch(model, torch.zeros(2, *shape, device=_device(model)))
    check_round_trip(model, imported, shape)
    check_round_trip(model, imported, other)  # the same spec with the input changed


def torch_verdict(model: nn.Module, shape: tuple[int, ...]) -> tuple | None:
    """The output shape of a forward on the meta device, or None when torch refuses (or makes an empty axis)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with torch.no_grad():
                out = model(torch.empty(1, *shape, device="meta"))
        except (RuntimeError, ValueError, IndexError):
            return None
    out = out[0] if isinstance(out, tuple) else out
    return None if 0 in out.shape else tuple(out.shape[1:])


SYMBOLIC = [  # factory, example, input symbols, sizes swept for each symbol, some of them invalid
    pytest.param(TinyResNet, (3, 64, 64), ["H", "W"], range(1, 70, 3), False, id="tiny-resnet"),  # valid at all
    pytest.param(Squeezy, (3, 64, 64), ["H", "W"], range(1, 60, 2), True, id="squeezenet-fire"),
    pytest.param(Unet, (3, 32, 48), ["H", "W"], range(1, 40), True, id="unet"),
    pytest.param(Tokens, (10, 32), ["T", "E"], range(1, 40), True, id="transformer-block"),
    pytest.param(Mobile, (3, 32, 32), ["H", "W"], range(1, 40, 2), False, id="mobilenet-se-permute"),
    pytest.param(Padded, (3, 8, 8), ["H", "W"], range(1, 12), True, id="functional-pad"),
    *_zoo_symbolic(),
]


@pytest.mark.parametrize(("factory", "shape", "names", "sizes", "some_invalid"), SYMBOLIC)
def test_symbolic_input_agrees_with_torch_at_many_sizes(factory, shape, names, sizes, some_invalid) -> None:
    model = factory().eval()
    lifted = symbolize(from_torch(model, torch.zeros(2, *shape, device=_device(model))).spec,
                       inputs={"input": names})
    d = symshape.derive(lifted.spec)
    assert set(names) <= set(d.free_symbols)
    meta = model if _device(model).type == "meta" else copy.deepcopy(model).to("meta")
    verdicts = {True: 0, False: 0}
    for i, a in enumerate(sizes):
        b = list(sizes)[(i * 7) % len(sizes)]
        concrete = list(shape)
        concrete[-len(names):] = [a, b]
        expected = torch_verdict(meta, tuple(concrete))
        e = d.evaluate(dict(zip(names, (a, b))))
        assert e.valid is (expected is not None), (a, b, expected, e.violations[:2])
        if expected is not None:
            assert tuple(e.output_shape) == expected
        verdicts[e.valid] += 1
    assert verdicts[True] and bool(verdicts[False]) is some_invalid  # both sides exercised where there are two


def test_names_and_arguments_are_torchs() -> None:
    imported = from_torch(TinyResNet(), torch.zeros(2, 3, 64, 64))
    names = [next(v for k, v in e.items() if k == "name") for e in imported.spec["layers"]]
    assert names[:4] == ["stem", "relu", "pool", "layer1.0.conv1"]
    assert "layer1.0.relu_1" in names and "layer1.0.add" in names and "layer1.1.down.0" in names
    conv = next(e for e in imported.spec["layers"] if e["name"] == "layer1.1.conv1")
    assert conv["Conv2d"] == {"in_channels": 8, "out_channels": 16, "kernel_size": 3, "stride": 2, "padding": 1,
                              "bias": False}
    flat = next(e for e in imported.spec["layers"] if e["name"] == "view")
    assert "Flatten" in flat  # x.view(x.size(0), -1)


def test_unsupported_layer_is_a_clear_error() -> None:
    with pytest.raises(UnsupportedOpError) as info:
        from_torch(Odd(), torch.zeros(2, 3, 8, 8))
    text = str(info.value)
    assert "getitem" in text and "indexing or slicing" in text
    assert "test_import_torch.py:" in text  # the source line of the op
    assert "Supported:" in text and "Conv2d" in text and "--allow-opaque" in text
    assert isinstance(info.value, SpecError)


class FoldOnly(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 1)
        self.fold = nn.Fold(output_size=(4, 4), kernel_size=2, stride=2)

    def forward(self, x):
        return self.fold(self.conv(x).flatten(2))


def test_unknown_module_names_its_class_and_opaque_keeps_it() -> None:
    with pytest.raises(UnsupportedOpError) as info:
        from_torch(FoldOnly(), torch.zeros(2, 4, 2, 2))
    text = str(info.value)
    assert "node 'fold'" in text and "torch.nn.modules.fold.Fold" in text and "test_import_torch.py:" in text
    imported = from_torch(FoldOnly(), torch.zeros(2, 4, 2, 2), allow_opaque=True)
    assert imported.opaque == ["fold"]
    assert "OPAQUE" in imported.to_yaml()
    d = imported.derive()
    assert d.layers[-1].kind == "Opaque"
    e = d.evaluate()
    assert e.valid and tuple(e.output_shape) == (2, 4, 4)
    lifted = symbolize(imported.spec, inputs={"input": ["H", "W"]})
    d = symshape.derive(lifted.spec)
    assert d.evaluate(H=2, W=2).valid
    assert not d.evaluate(H=4, W=2).valid  # the opaque layer's shape was measured at 2x2 only


def test_a_model_that_fails_on_its_example_says_so() -> None:
    with pytest.raises(SpecError, match="could not run the model on the example input"):
        from_torch(TinyResNet(), torch.zeros(2, 5, 8, 8))  # 5 channels into a 3-channel stem


def test_the_example_must_match_the_inputs() -> None:
    with pytest.raises(SpecError, match="give as many example inputs"):
        from_torch(TinyResNet(), (torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8)))
    with pytest.raises(SpecError, match="torch.nn.Module"):
        from_torch("resnet", torch.zeros(1))


class Tied(nn.Module):  # one Linear called twice: its weights are shared
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return self.fc(torch.relu(self.fc(x)))


def test_a_module_called_twice_with_weights_is_not_counted_twice() -> None:
    with pytest.raises(UnsupportedOpError, match="a second call of 'fc', which shares its weights"):
        from_torch(Tied(), torch.zeros(2, 8))
    imported = from_torch(Tied(), torch.zeros(2, 8), allow_opaque=True)
    assert imported.opaque == ["fc_1"]
    assert imported.derive().evaluate().params == sum(p.numel() for p in Tied().parameters()) == 72
