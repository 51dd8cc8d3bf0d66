"""How FLOPs are counted: one convention object, and the named presets that reproduce each tool.

Every tool that reports "FLOPs" counts something different. A `FlopConvention` says exactly what:

- ``multiply_add``: FLOPs per multiply-add (1: "MACs" as fvcore, thop and torchinfo report them; 2: the
  multiply and the add, as ``torch.utils.flop_counter.FlopCounterMode``);
- ``bias``: one FLOP per output element that receives a bias (convolutions, linear layers, attention);
- ``norm``, ``activations``, ``pooling``, ``softmax``, ``elementwise``: FLOPs per element for
  normalization (and its affine scale and shift), activations, pooling windows, softmax, and elementwise
  merges (add, mul) — 0 leaves them out;
- ``transposed``: how a transposed convolution is counted: ``"input"`` (each input position meets the
  kernel once: the real work) or ``"output"`` (every output position times the whole kernel, as torchinfo
  and thop do: stride² times too much for a stride-2 up-convolution);
- ``per_sample``: the count for one sample (ptflops runs a batch of one).

The presets carry a ``tool`` whose per-layer rules were read from the tool's source and are checked in
``tests/test_cost_flops.py`` by running the tool on real torch modules:

- ``symshape`` (default): multiply-adds only, transposed convolutions by their input — equal to fvcore's
  convolution + linear (+ attention matmul) subtotal;
- ``fvcore``: ``FlopCountAnalysis(...).total()``: multiply-adds, plus batch norm (eval: 1 per element, 2 with
  affine; train: 4, 5 with affine), layer/group/instance norm (4, 5 with affine) and adaptive average
  pooling in 2-d (1 per input element); no bias, no activations, no max pooling;
- ``flop_counter``: ``FlopCounterMode``: 2 per multiply-add (convolutions, matmuls, attention), nothing else;
  backward: the input gradient and the weight gradient of each such op, none for an input that needs no
  gradient;
- ``thop``: ``thop.profile``: multiply-adds without bias, transposed convolutions by their *output*; batch,
  instance and layer norms 2 per element (4 with affine), group norm not counted; PReLU 1 per element;
  softmax 3·n − 1 per row of n; upsampling per output element (nearest 1, bilinear 11); average pooling 1
  per output element, adaptive average pooling (kernel + 1) per output element; attention not counted (0);
  only modules count (a functional pooling is invisible to it);
- ``torchinfo``: ``summary(...).total_mult_adds``: for each parameter tensor of a module, its size times the
  batch and (convolutions only) the output positions: transposed convolutions by their output, a linear
  layer on a sequence counted once per sample (the sequence length is missed), norms 2·C per sample,
  attention 0;
- ``ptflops``: ``get_model_complexity_info`` (pytorch backend) on the batch given: it divides its module hooks'
  counts by the batch (one sample) but not its patched functionals' (the whole batch; ReLU's second count,
  pooling's, softmax, F.interpolate, attention's bmm), and its Upsample hook counts one sample's output, divided
  by the batch again (rounded down here per layer); multiply-adds plus biases;
  where both its module hook and its patched functional fire, twice: ReLU, ELU, PReLU, GELU, pooling (input
  elements) and upsampling (output elements); once: ReLU6, LeakyReLU, SiLU, softmax; norms 1 per element
  (2 with affine, except layer norm); attention by its own formula (scaling, projections, bias, and the
  heads' matmuls and softmax counted twice);
- ``ptflops_aten``: ptflops' aten backend (the whole batch given): multiply-adds of convolutions and matmuls
  plus one per bias addition (the knobs ``bias=1``), nothing else.

Attention (torch ``MultiheadAttention``) with ``need_weights=False`` runs ``scaled_dot_product_attention``:
fvcore and ptflops' aten backend do not count its matmuls, FlopCounterMode counts them only on its math path
(training with dropout; on CPU the fused kernel otherwise), ptflops counts the heads once (its module hook).

Recurrent layers: fvcore counts none; FlopCounterMode and ptflops' aten backend count CPU's GRU (it runs as
matmuls) but not its fused LSTM; for the other tools (and FlopCounterMode's GRU backward) the presets refuse
with a clear error rather than guess.

Each rule is tested layer by layer and on whole networks in ``tests/test_cost_flops.py``. Presets apply to
torch specs; on a keras spec they count by their knobs (MACs; ``flop_counter`` twice that).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import BindingError, did_you_mean

__all__ = ["PRESETS", "FlopConvention", "convention"]


@dataclass(frozen=True)
class FlopConvention:
    name: str = "custom"
    multiply_add: int = 1
    bias: int = 0
    norm: int = 0
    activations: int = 0
    pooling: int = 0
    softmax: int = 0
    elementwise: int = 0
    transposed: str = "input"
    per_sample: bool = False
    tool: str | None = None  # a preset's per-layer rules (None: the knobs above)
    description: str = ""

    def __post_init__(self) -> None:
        if self.multiply_add not in (1, 2):
            raise BindingError(f"multiply_add is 1 or 2 FLOPs, got {self.multiply_add!r}")
        if self.transposed not in ("input", "output"):
            raise BindingError(f"transposed is 'input' or 'output', got {self.transposed!r}")
        for knob in ("bias", "norm", "activations", "pooling", "softmax", "elementwise"):
            v = getattr(self, knob)
            if isinstance(v, bool):
                object.__setattr__(self, knob, int(v))
            elif not isinstance(v, int) or v < 0:
                raise BindingError(f"{knob} is a count of FLOPs per element (0 to leave it out), got {v!r}")

    def with_(self, **changes: object) -> FlopConvention:
        """A copy with some knobs changed (a preset's tool rules are dropped: the knobs decide)."""
        return replace(self, **{"name": "custom", "tool": None, **changes})

    def describe(self) -> str:
        if self.description:
            return self.description
        parts = [f"{self.multiply_add} FLOP{'s' if self.multiply_add > 1 else ''} per multiply-add"]
        for knob in ("bias", "norm", "activations", "pooling", "softmax", "elementwise"):
            v = getattr(self, knob)
            parts.append(f"{knob} {v}/element" if v else f"no {knob}")
        parts.append(f"transposed convolutions by their {self.transposed}")
        return ", ".join(parts)


PRESETS: dict[str, FlopConvention] = {
    "symshape": FlopConvention("symshape", description="multiply-adds (MACs) of convolutions, linear layers, "
                               "recurrences and attention matmuls; no bias, normalization, activation or pooling"),
    "fvcore": FlopConvention("fvcore", tool="fvcore", description="fvcore FlopCountAnalysis total: MACs + "
                             "normalization + 2-d adaptive average pooling"),
    "flop_counter": FlopConvention("flop_counter", multiply_add=2, tool="flop_counter",
                                   description="torch.utils.flop_counter.FlopCounterMode: 2 FLOPs per MAC, "
                                   "matmuls and convolutions only"),
    "thop": FlopConvention("thop", transposed="output", tool="thop",
                           description="thop.profile: MACs without bias, transposed convolutions by their output, "
                           "norms and average pooling; attention not counted"),
    "torchinfo": FlopConvention("torchinfo", bias=1, transposed="output", tool="torchinfo",
                                description="torchinfo total_mult_adds: parameter sizes times batch (and output "
                                "positions for convolutions); attention not counted"),
    "ptflops": FlopConvention("ptflops", bias=1, tool="ptflops",
                              description="ptflops get_model_complexity_info (pytorch backend) at the batch given: "
                              "module hooks count one sample, patched functionals the whole batch"),
    "ptflops_aten": FlopConvention("ptflops_aten", bias=1, tool="ptflops_aten",
                                   description="ptflops get_model_complexity_info(backend='aten') at the batch "
                                   "given: MACs of convolutions and matmuls plus their bias additions"),
}


def convention(spec: str | FlopConvention | None) -> FlopConvention:
    """A preset by name, or a convention as given (None: the default, 'symshape')."""
    if spec is None:
        return PRESETS["symshape"]
    if isinstance(spec, FlopConvention):
        return spec
    if isinstance(spec, str) and spec in PRESETS:
        return PRESETS[spec]
    name = spec if isinstance(spec, str) else repr(spec)
    raise BindingError(f"unknown FLOP convention '{name}'{did_you_mean(str(name), PRESETS)}; "
                       f"one of {', '.join(PRESETS)}, or a symshape.cost.FlopConvention")
