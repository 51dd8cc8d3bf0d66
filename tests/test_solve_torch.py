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


# ---------------------------------------------------------------- the classic valid-convolution U-Net


def classic_unet(width: int = 572):
    """Ronneberger et al.'s U-Net: two valid 3x3 convolutions per level, 4 poolings, 2x2 up-convolutions,
    and the skip centre-cropped to the upsampled size: the spec (crops as ZeroPad2d with negative
    amounts, written in H) and the torch module (crops by slicing the real tensors)."""
    def sizes(x):  # every size along one axis, as expressions (str) or numbers
        def floor2(e):
            return f"floor(({e})/2)" if isinstance(e, str) else e // 2

        def sub(e, k):
            return f"({e} - {k})" if isinstance(e, str) else e - k

        def dbl(e):
            return f"2*({e})" if isinstance(e, str) else 2 * e

        enc, cur = [], x
        for _ in range(4):
            cur = sub(cur, 4)
            enc.append(cur)
            cur = floor2(cur)
        cur = sub(cur, 4)
        ups = []
        for level in reversed(range(4)):
            up = dbl(cur)
            ups.append((level, up))
            cur = sub(up, 4)
        return enc, dict(ups)

    enc_h, up_h = sizes("H")
    enc_w, up_w = sizes(width)

    def crop(e, u):  # (before, after) as negative pads
        if isinstance(e, str):
            return f"-floor(({e} - {u})/2)", f"-(({e} - {u}) - floor(({e} - {u})/2))"
        return -((e - u) // 2), -((e - u) - (e - u) // 2)

    layers, mods, prev, ch = [], {}, "input", 1
    for level in range(4):
        out = 8 * 2 ** level
        for k in range(2):
            name = f"e{level}{k}"
            layers.append({"Conv2d": {"out_channels": out, "kernel_size": 3}, "name": name, "inputs": [prev]})
            mods[name] = nn.Conv2d(ch, out, 3, device="meta")
            prev, ch = name, out
        layers.append({"MaxPool2d": {"kernel_size": 2}, "name": f"p{level}", "inputs": [prev]})
        mods[f"p{level}"] = nn.MaxPool2d(2)
        prev = f"p{level}"
    for k in range(2):
        name = f"b{k}"
        layers.append({"Conv2d": {"out_channels": 128, "kernel_size": 3}, "name": name, "inputs": [prev]})
        mods[name] = nn.Conv2d(ch, 128, 3, device="meta")
        prev, ch = name, 128
    for level in reversed(range(4)):
        out = 8 * 2 ** level
        layers.append({"ConvTranspose2d": {"out_channels": out, "kernel_size": 2, "stride": 2}, "name": f"u{level}",
                       "inputs": [prev]})
        mods[f"u{level}"] = nn.ConvTranspose2d(ch, out, 2, stride=2, device="meta")
        top, bottom = crop(enc_h[level], up_h[level])
        left, right = crop(enc_w[level], up_w[level])
        layers.append({"ZeroPad2d": {"padding": [left, right, top, bottom]}, "name": f"c{level}",
                       "inputs": [f"e{level}1"]})
        layers.append({"cat": {"dim": 1}, "name": f"m{level}", "inputs": [f"c{level}", f"u{level}"]})
        prev, ch = f"m{level}", 2 * out
        for k in range(2):
            name = f"d{level}{k}"
            layers.append({"Conv2d": {"out_channels": out, "kernel_size": 3}, "name": name, "inputs": [prev]})
            mods[name] = nn.Conv2d(ch, out, 3, device="meta")
            prev, ch = name, out
    spec = {"framework": "torch", "input": [1, "H", width], "layers": layers}

    def forward(h: int) -> bool:
        values = {"input": torch.empty(1, 1, h, width, device="meta")}
        try:
            for entry in layers:
                name = entry["name"]
                args = [values[i] for i in entry["inputs"]]
                if "cat" in entry:
                    values[name] = torch.cat(args, dim=1)
                elif "ZeroPad2d" in entry:  # centre crop of the skip to the upsampled size
                    skip, up = args[0], values[f"u{name[1:]}"]
                    dh, dw = skip.shape[2] - up.shape[2], skip.shape[3] - up.shape[3]
                    if dh < 0 or dw < 0:
                        return False
                    values[name] = skip[:, :, dh // 2:dh // 2 + up.shape[2], dw // 2:dw // 2 + up.shape[3]]
                else:
                    values[name] = mods[name](args[0])
                if 0 in values[name].shape:
                    return False
        except RuntimeError:
            return False
        return True

    return spec, forward


def test_classic_unet_valid_from_188_lossless_12_mod_16_against_torch():
    from symshape.solve import lossless

    spec, forward = classic_unet()
    d = symshape.derive(spec)
    valid, kept = solve(d, "H", {}), lossless(d, "H", {})
    assert valid.text() == "H ≥ 188"
    assert kept.text() == "H ≥ 188 and H ≡ 12 (mod 16)"
    assert kept.contains(572) and d.evaluate(H=572).output_shape == (8, 388, 388)  # the paper's 572 -> 388
    mismatches = [h for h in [*range(1, 260), 571, 572, 573] if valid.contains(h) != forward(h)]
    assert not mismatches, mismatches[:10]
