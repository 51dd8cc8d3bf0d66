"""torch MultiheadAttention as torch runs it: need_weights=True (bmm, softmax, bmm) or False (the fused
scaled_dot_product_attention, as nn.TransformerEncoderLayer calls it; on CPU its math path in training with
dropout). Each preset against its tool, FlopCounterMode forward and backward, and the bytes saved for backward
(saved_tensors_hooks), on torch's own TransformerEncoderLayer, tests/zoo.py's TransformerBlock, and a table of
attention configurations."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import symshape  # noqa: E402
from symshape.cost import cost  # noqa: E402

from .test_cost_flops import TOOLS, run_tool  # noqa: E402
from .test_cost_memory import saved_bytes  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def encoder_spec(dropout: float) -> dict:
    """nn.TransformerEncoderLayer(E, Hh, 4E, dropout, batch_first=True) as a spec: its attention gets the
    dropout too, and a third Dropout follows linear2."""
    return {"framework": "torch", "inputs": {"x": ["L", "E"]}, "layers": [
        {"MultiheadAttention": {"embed_dim": "E", "num_heads": "Hh", "dropout": dropout, "need_weights": False,
                                "batch_first": True},
         "name": "self_attn", "inputs": ["x"]},
        {"Dropout": {"p": dropout}, "name": "dropout1", "inputs": ["self_attn:0"]},
        {"add": {}, "name": "res1", "inputs": ["x", "dropout1"]},
        {"LayerNorm": {"normalized_shape": ["E"]}, "name": "norm1"},
        {"Linear": {"in_features": "E", "out_features": "4*E"}, "name": "linear1"},
        {"ReLU": {}, "name": "relu"}, {"Dropout": {"p": dropout}, "name": "dropout"},
        {"Linear": {"in_features": "4*E", "out_features": "E"}, "name": "linear2"},
        {"Dropout": {"p": dropout}, "name": "dropout2"},
        {"add": {}, "name": "res2", "inputs": ["norm1", "dropout2"]},
        {"LayerNorm": {"normalized_shape": ["E"]}, "name": "norm2"}]}


def torch_encoder(e: int, h: int, dropout: float) -> nn.Module:
    torch.manual_seed(0)
    return nn.TransformerEncoderLayer(e, h, dim_feedforward=4 * e, dropout=dropout, batch_first=True)


def zoo_block(e: int, h: int, dropout: float) -> nn.Module:
    from .zoo import TransformerBlock

    torch.manual_seed(0)
    return TransformerBlock(embed_dim=e, num_heads=h, dropout=dropout)


MODELS = {"encoder": (lambda: symshape.derive(encoder_spec(0.1)), lambda e, h: torch_encoder(e, h, 0.1)),
          "zoo": (lambda: symshape.derive(EXAMPLES / "transformer_block.yaml"), lambda e, h: zoo_block(e, h, 0.1))}
SIZES = {"L": 50, "E": 512, "Hh": 8}  # the reviewer's figures (batch 1)
CASES = [(m, t, mode) for m in MODELS for t in TOOLS for mode in ("eval", "train")]


@pytest.mark.parametrize(("model", "tool", "mode"), CASES, ids=[f"{m}-{t}-{mo}" for m, t, mo in CASES])
def test_presets_on_torchs_transformer_layers(model: str, tool: str, mode: str) -> None:
    spec, module = MODELS[model]
    b = SIZES if tool not in ("thop", "torchinfo") else {"L": 7, "E": 16, "Hh": 4}
    net = module(b["E"], b["Hh"])
    x = torch.randn(1, b["L"], b["E"])
    got = run_tool(tool, net, (x,), mode == "train")
    v = cost(spec(), batch=1, flops=tool, mode=mode).evaluate(b)
    want = v.forward_flops
    if model == "encoder" and tool == "ptflops":  # the layer's activation is F.relu, captured before ptflops
        want -= next(ly for ly in v.layers if ly["name"] == "relu")["forward_flops"]  # patches it: unseen
    assert want == got, f"{tool} on {model} ({mode}): symshape {want:,} vs tool {got:,}"


@pytest.mark.parametrize("model", list(MODELS))
def test_flop_counter_backward_and_saved_bytes_on_torchs_layers(model: str) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    spec, module = MODELS[model]
    b = {"L": 16, "E": 32, "Hh": 4}
    d = spec()
    for batch in (1, 3):
        net = module(b["E"], b["Hh"]).train()
        x = torch.randn(batch, b["L"], b["E"])
        with FlopCounterMode(display=False) as m:
            net(x).sum().backward()
        assert cost(d, batch=batch, flops="flop_counter").evaluate(b).train_flops == m.get_total_flops()
        for dtype in ("fp32", "bf16-mixed"):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16-mixed"):
                got = saved_bytes(net, (x,))
            want = cost(d, batch=batch, dtype=dtype).evaluate(b).activations_bytes
            assert want == got, f"{model} batch {batch} {dtype}: symshape {want:,} vs torch {got:,}"


class Attn(nn.Module):
    """A Linear (so the attention's input needs a gradient) then self-attention, as the spec below."""

    def __init__(self, e: int, h: int, dropout: float, need_weights: bool) -> None:
        super().__init__()
        self.lin = nn.Linear(e, e)
        self.attn = nn.MultiheadAttention(e, h, dropout=dropout, batch_first=True)
        self.need_weights = need_weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.lin(x)
        return self.attn(y, y, y, need_weights=self.need_weights)[0]


def attn_spec(dropout: float, need_weights: bool) -> dict:
    return {"framework": "torch", "input": [12, 16], "layers": [
        {"Linear": {"in_features": 16, "out_features": 16}, "name": "lin"},
        {"MultiheadAttention": {"embed_dim": 16, "num_heads": 4, "dropout": dropout, "need_weights": need_weights,
                                "batch_first": True},
         "name": "attn"}]}


ATTN = [(nw, p, dtype) for nw in (True, False) for p in (0.0, 0.2) for dtype in ("fp32", "bf16-mixed")]


@pytest.mark.parametrize(("need_weights", "dropout", "dtype"), ATTN, ids=[f"nw{n}-p{p}-{t}" for n, p, t in ATTN])
def test_attention_paths(need_weights: bool, dropout: float, dtype: str) -> None:
    """Each CPU path: saved bytes (fp32 and bf16 autocast), FlopCounterMode forward + backward in training,
    and every preset's forward in eval and training."""
    from torch.utils.flop_counter import FlopCounterMode

    d = symshape.derive(attn_spec(dropout, need_weights))
    assert len(d.layers[-1].outputs) == (2 if need_weights else 1)
    torch.manual_seed(0)
    net = Attn(16, 4, dropout, need_weights).train()
    x = torch.randn(3, 12, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16-mixed"):
        got = saved_bytes(net, (x,))
    assert cost(d, batch=3, dtype=dtype).evaluate({}).activations_bytes == got
    if dtype == "fp32":
        with FlopCounterMode(display=False) as m:
            copy.deepcopy(net)(x).sum().backward()
        assert cost(d, batch=3, flops="flop_counter").evaluate({}).train_flops == m.get_total_flops()
        for tool in TOOLS:
            for mode in ("eval", "train"):
                want = cost(d, batch=3, flops=tool, mode=mode).evaluate({}).forward_flops
                assert want == run_tool(tool, net, (x,), mode == "train"), (tool, mode)
