"""tests/zoo.py against torchvision and against symshape: torchvision's published parameter counts, a forward pass at
224 and at an odd non-square size, torchvision's state_dict names and shapes, and, where examples/ has a spec, the
derived parameters, buffers and shapes (whole network and every layer that names a module) equal the module's."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is needed to build the zoo's modules")

import symshape  # noqa: E402
from tests import zoo  # noqa: E402

CLASSIFIERS = sorted(zoo.TORCHVISION_PARAMS)
ODD = (3, 97, 131)  # not a multiple of any stride product, and not square

_built: dict[tuple[str, tuple[tuple[str, int], ...]], torch.nn.Module] = {}


def model(name: str, **kwargs: int) -> torch.nn.Module:
    """Builds each (model, arguments) once per session: VGG-16 alone takes seconds to initialize."""
    key = (name, tuple(sorted(kwargs.items())))
    if key not in _built:
        _built[key] = zoo.MODELS[name][0](**kwargs).eval()
    return _built[key]


def count(tensors: object) -> int:
    return sum(t.numel() for t in tensors)


def test_tables_agree() -> None:
    assert set(zoo.TORCHVISION_PARAMS) | {"unet", "transformer_block"} == set(zoo.MODELS)
    assert set(zoo.EXAMPLES) <= set(zoo.MODELS)
    assert all(path.is_file() for path, _ in zoo.EXAMPLES.values())


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_parameter_count_is_torchvisions(name: str) -> None:
    assert count(model(name).parameters()) == zoo.TORCHVISION_PARAMS[name]


@pytest.mark.parametrize("name", CLASSIFIERS)
@pytest.mark.parametrize("shape", [(3, 224, 224), ODD], ids=["224", "97x131"])
def test_forward_gives_1000_classes(name: str, shape: tuple[int, ...]) -> None:
    assert zoo.MODELS[name][1] == (3, 224, 224)
    with torch.no_grad():
        assert tuple(model(name)(torch.zeros(1, *shape)).shape) == (1, 1000)


# the zoo's variants outside MODELS, with torchvision's published counts
EXTRAS = [(zoo.resnet34, 21_797_672), (zoo.vgg16_bn, 138_365_992), (zoo.squeezenet1_0, 1_248_424)]


@pytest.mark.parametrize(("factory", "params"), EXTRAS, ids=[f.__name__ for f, _ in EXTRAS])
def test_variants_parameter_count_is_torchvisions(factory: object, params: int) -> None:
    m = factory().eval()
    assert count(m.parameters()) == params
    with torch.no_grad():
        assert tuple(m(torch.zeros(1, *ODD)).shape) == (1, 1000)


def test_num_classes() -> None:
    for name in ("resnet18", "mobilenet_v3_small"):
        m = zoo.MODELS[name][0](num_classes=10).eval()
        with torch.no_grad():
            assert tuple(m(torch.zeros(2, 3, 64, 64)).shape) == (2, 10)


# torchvision's state_dict: a few keys of each model with their shapes, and the number of keys
STATE_DICT = {
    "resnet18": (122, {"conv1.weight": (64, 3, 7, 7), "layer2.0.downsample.0.weight": (128, 64, 1, 1),
                       "layer4.1.bn2.running_var": (512,), "fc.weight": (1000, 512)}),
    "resnet50": (320, {"layer1.0.conv3.weight": (256, 64, 1, 1), "layer3.5.conv2.weight": (256, 256, 3, 3),
                       "layer4.0.downsample.1.num_batches_tracked": (), "fc.weight": (1000, 2048)}),
    "vgg16": (32, {"features.0.weight": (64, 3, 3, 3), "features.28.weight": (512, 512, 3, 3),
                   "classifier.0.weight": (4096, 25088), "classifier.6.bias": (1000,)}),
    "alexnet": (16, {"features.0.weight": (64, 3, 11, 11), "features.10.weight": (256, 256, 3, 3),
                     "classifier.1.weight": (4096, 9216), "classifier.6.weight": (1000, 4096)}),
    "mobilenet_v2": (314, {"features.0.0.weight": (32, 3, 3, 3), "features.1.conv.0.0.weight": (32, 1, 3, 3),
                           "features.1.conv.1.weight": (16, 32, 1, 1), "features.2.conv.3.running_mean": (24,),
                           "features.18.0.weight": (1280, 320, 1, 1), "classifier.1.weight": (1000, 1280)}),
    "mobilenet_v3_small": (None, {"features.0.0.weight": (16, 3, 3, 3), "features.1.block.1.fc1.weight": (8, 16, 1, 1),
                                  "features.12.0.weight": (576, 96, 1, 1), "classifier.0.weight": (1024, 576),
                                  "classifier.3.weight": (1000, 1024)}),
    "mobilenet_v3_large": (None, {"features.4.block.2.fc2.weight": (72, 24, 1, 1),
                                  "features.16.0.weight": (960, 160, 1, 1), "classifier.0.weight": (1280, 960)}),
    "squeezenet1_1": (52, {"features.0.weight": (64, 3, 3, 3), "features.3.squeeze.weight": (16, 64, 1, 1),
                           "features.12.expand3x3.weight": (256, 64, 3, 3), "classifier.1.weight": (1000, 512, 1, 1)}),
    "densenet121": (None, {"features.conv0.weight": (64, 3, 7, 7),
                           "features.denseblock1.denselayer1.conv1.weight": (128, 64, 1, 1),
                           "features.transition3.conv.weight": (512, 1024, 1, 1),
                           "features.denseblock4.denselayer16.conv2.weight": (32, 128, 3, 3),
                           "features.norm5.running_var": (1024,), "classifier.weight": (1000, 1024)}),
    "efficientnet_b0": (None, {"features.0.0.weight": (32, 3, 3, 3), "features.1.0.block.1.fc1.weight": (8, 32, 1, 1),
                               "features.2.0.block.2.fc1.weight": (4, 96, 1, 1),
                               "features.6.3.block.3.1.running_mean": (192,),
                               "features.8.0.weight": (1280, 320, 1, 1), "classifier.1.weight": (1000, 1280)}),
}


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_state_dict_names_are_torchvisions(name: str) -> None:
    keys, samples = STATE_DICT[name]
    state = model(name).state_dict()
    if keys is not None:
        assert len(state) == keys
    assert {k: tuple(state[k].shape) for k in samples if k in state} == samples


# spec cases: (model, bindings, factory arguments, input shape without the batch axis)
SPEC_CASES = [(name, bindings, {}, zoo.MODELS[name][1]) for name, (_, bindings) in zoo.EXAMPLES.items()] + [
    ("resnet18", {"H": 97, "W": 131}, {}, ODD),
    ("resnet50", {"H": 97, "W": 131}, {}, ODD),
    ("vgg16", {"H": 97, "W": 131}, {}, ODD),
    ("alexnet", {"H": 97, "W": 131}, {}, ODD),
    ("alexnet", {"H": 63, "W": 63}, {}, (3, 63, 63)),  # the smallest valid input
    ("unet", {"C": 1, "H": 64, "W": 96, "K": 5}, {"in_channels": 1, "num_classes": 5}, (1, 64, 96)),
    ("transformer_block", {"L": 7, "E": 96, "Hh": 3}, {"embed_dim": 96, "num_heads": 3}, (7, 96)),
]


@pytest.mark.parametrize(("name", "bindings", "kwargs", "shape"), SPEC_CASES,
                         ids=[f"{c[0]}-" + ",".join(f"{k}={v}" for k, v in c[1].items()) for c in SPEC_CASES])
def test_spec_agrees_with_module(name: str, bindings: dict[str, int], kwargs: dict[str, int],
                                 shape: tuple[int, ...]) -> None:
    got = symshape.derive(zoo.EXAMPLES[name][0]).evaluate(bindings)
    assert got.valid, got.violations
    m = model(name, **kwargs)
    assert got.params == got.trainable == count(m.parameters())
    assert got.buffers == count(m.buffers())

    outputs: dict[str, list[tuple[int, ...]]] = {}

    def record(qualified: str) -> object:
        def hook(_module: torch.nn.Module, _args: object, out: object) -> None:
            out = out[0] if isinstance(out, tuple) else out
            outputs.setdefault(qualified, []).append(tuple(out.shape[1:]))
        return hook

    modules = dict(m.named_modules())
    handles = [modules[q].register_forward_hook(record(q)) for q in modules if q]
    try:
        with torch.no_grad():
            out = m(torch.zeros(1, *shape))
    finally:
        for h in handles:
            h.remove()
    assert got.output_shape == tuple(out.shape[1:])

    matched = 0
    for layer in got.layers:  # every spec layer named after a module called once: same output, same counts
        if layer.name in modules and len(outputs.get(layer.name, [])) == 1:
            matched += 1
            assert layer.output_shapes[0] == outputs[layer.name][0], layer.name
            assert layer.trainable == count(modules[layer.name].parameters()), layer.name
            assert layer.buffers == count(modules[layer.name].buffers()), layer.name
    assert matched == MATCHED.get(name, 0)


# spec layers named after a module: ResNet's convolutions, norms, pools and fc; the U-Net's named convolutions and
# poolings; the Transformer block's attention, dropout, norms and linears
MATCHED = {"resnet18": 44, "resnet50": 110, "unet": 9, "transformer_block": 6}


@pytest.mark.parametrize(("name", "bindings", "shape"), [
    ("unet", {"C": 3, "H": 60, "W": 64, "K": 2}, (3, 60, 64)),  # 60 is not a multiple of 8: the skips disagree
    ("alexnet", {"H": 62, "W": 62}, (3, 62, 62)),  # one below AlexNet's smallest input
])
def test_invalid_where_torch_fails(name: str, bindings: dict[str, int], shape: tuple[int, ...]) -> None:
    assert not symshape.derive(zoo.EXAMPLES[name][0]).evaluate(bindings).valid
    with torch.no_grad(), pytest.raises(RuntimeError):
        model(name)(torch.zeros(1, *shape))


def test_transformer_block_computes_torchs_encoder_layer() -> None:
    """Same weights, same outputs as torch.nn.TransformerEncoderLayer (post-norm, ReLU, eval mode)."""
    block = zoo.TransformerBlock(embed_dim=96, num_heads=3).eval()
    layer = torch.nn.TransformerEncoderLayer(d_model=96, nhead=3, dim_feedforward=384, batch_first=True).eval()
    names = {"self_attn": "attn", "linear1": "ff1", "linear2": "ff2", "norm1": "norm1", "norm2": "norm2"}
    state = {k.replace(k.split(".")[0], names[k.split(".")[0]], 1): v for k, v in layer.state_dict().items()}
    block.load_state_dict(state)
    x = torch.randn(2, 7, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(block(x), layer(x))
