"""Memory to train against real torch: saved activations counted with saved_tensors_hooks, parameters,
gradients, optimizer state and buffers counted on the real module and optimizer after a step."""

from __future__ import annotations

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


@pytest.mark.parametrize(("name", "bindings"), NETS, ids=[n for n, _ in NETS])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("dtype", ["fp32", "bf16-mixed"])
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


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize(("name", "bindings", "batch"), [("resnet18", {"H": 64, "W": 48}, 2),
                                                         ("transformer_block", {"L": 7, "E": 16, "Hh": 4}, 3)])
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
