"""Valid sets from symshape.solve against real PyTorch forward passes: U-Nets of depth 2 to 5, 'same'
and 'valid' 3x3 convolutions, transposed-convolution and nearest upsampling, skip concatenations.
A size is valid for symshape exactly when torch's forward does not raise (on the meta device)."""

import pytest

import symshape
from symshape.solve import solve

torch = pytest.importorskip("torch")
nn = torch.nn

W = 64  # the other axis, bound (a multiple of 32: valid at every depth with 'same' padding)


def unet(depth: int, pad: int, up: str):
    """The spec and the torch module of one U-Net."""
    layers = []
    mods = {}
    prev = "input"
    channels = 3
    skips = []
    for level in range(depth):
        width = 4 * (level + 1)
        for k in range(2):
            name = f"enc{level}_{k}"
            layers.append({"Conv2d": {"out_channels": width, "kernel_size": 3, "padding": pad}, "name": name,
                           "inputs": [prev]})
            mods[name] = nn.Conv2d(channels, width, 3, padding=pad, device="meta")
            channels, prev = width, name
        skips.append((prev, channels))
        name = f"pool{level}"
        layers.append({"MaxPool2d": {"kernel_size": 2}, "name": name, "inputs": [prev]})
        mods[name] = nn.MaxPool2d(2)
        prev = name
    for level in reversed(range(depth)):
        skip, skip_channels = skips[level]
        name = f"up{level}"
        if up == "transposed":
            layers.append({"ConvTranspose2d": {"out_channels": channels, "kernel_size": 2, "stride": 2},
                           "name": name, "inputs": [prev]})
            mods[name] = nn.ConvTranspose2d(channels, channels, 2, stride=2, device="meta")
        else:
            layers.append({"Upsample": {"scale_factor": 2, "mode": "nearest"}, "name": name, "inputs": [prev]})
            mods[name] = nn.Upsample(scale_factor=2, mode="nearest")
        cat = f"cat{level}"
        layers.append({"cat": {"dim": 1}, "name": cat, "inputs": [name, skip]})
        channels += skip_channels
        name = f"dec{level}"
        layers.append({"Conv2d": {"out_channels": skip_channels, "kernel_size": 3, "padding": pad}, "name": name,
                       "inputs": [cat]})
        mods[name] = nn.Conv2d(channels, skip_channels, 3, padding=pad, device="meta")
        channels, prev = skip_channels, name
    spec = {"framework": "torch", "input": [3, "H", "W"], "layers": layers}

    def forward(h: int) -> bool:
        values = {"input": torch.empty(1, 3, h, W, device="meta")}
        try:
            for entry in layers:
                name = entry["name"]
                args = [values[i] for i in entry["inputs"]]
                values[name] = torch.cat(args, dim=1) if "cat" in entry else mods[name](args[0])
                if 0 in values[name].shape:
                    return False  # torch returns an empty tensor here; symshape calls it invalid (sizes >= 1)
        except RuntimeError:
            return False
        return True

    return spec, forward


@pytest.mark.parametrize("up", ["transposed", "nearest"])
@pytest.mark.parametrize("pad", [1, 0], ids=["same", "valid"])
@pytest.mark.parametrize("depth", [2, 3, 4, 5])
def test_unet_valid_set_matches_torch(depth, pad, up):
    spec, forward = unet(depth, pad, up)
    d = symshape.derive(spec)
    answer = solve(d, "H", {"W": W})
    if pad == 1:  # 'same' convolutions: exactly the multiples of 2**depth
        assert answer.text() == f"H ≥ {2 ** depth} and H ≡ 0 (mod {2 ** depth})"
    window = (answer.start or 1) + 3 * answer.period + 8
    mismatches = [h for h in range(1, window) if answer.contains(h) != forward(h)]
    assert not mismatches, (answer.text(), mismatches[:10])


# ---------------------------------------------------------------- the ResNet family (torchvision's architecture)


class Block(nn.Module):
    def __init__(self, cin: int, width: int, stride: int, bottleneck: bool) -> None:
        super().__init__()
        out = width * (4 if bottleneck else 1)
        if bottleneck:
            self.body = nn.Sequential(nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                                      nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width),
                                      nn.ReLU(), nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out))
        else:
            self.body = nn.Sequential(nn.Conv2d(cin, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width),
                                      nn.ReLU(), nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width))
        self.down = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out)) \
            if stride != 1 or cin != out else nn.Identity()

    def forward(self, x):
        return torch.relu(self.body(x) + self.down(x))


def resnet(blocks: list[int], bottleneck: bool):
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for stage, count in enumerate(blocks):
        width = 64 * 2 ** stage
        for i in range(count):
            layers.append(Block(cin, width, 2 if i == 0 and stage > 0 else 1, bottleneck))
            cin = width * (4 if bottleneck else 1)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000)]
    return nn.Sequential(*layers).eval()


@pytest.mark.parametrize(("name", "blocks", "bottleneck"), [("resnet18.yaml", [2, 2, 2, 2], False),
                                                            ("resnet50.yaml", [3, 4, 6, 3], True)])
def test_resnet_valid_sizes_match_torch(name, blocks, bottleneck):
    from pathlib import Path

    d = symshape.derive(Path(__file__).parent.parent / "examples" / name)
    with torch.device("meta"):
        model = resnet(blocks, bottleneck)
    assert sum(p.numel() for p in model.parameters()) == d.params  # the same network
    for width in (224, 7):
        answer = solve(d, "H", {"W": width})
        assert answer.text() == "H ≥ 1"
        for h in [*range(1, 40), 63, 64, 65, 224, 511]:
            try:
                out = model(torch.empty(1, 3, h, width, device="meta"))
                ok = tuple(out.shape) == (1, 1000)
            except RuntimeError:
                ok = False
            assert ok == answer.contains(h), (name, h, width)
