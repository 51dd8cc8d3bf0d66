"""What the layer reference documents of each rule: its generic instance, written once, read by the docs.

A rule's documented instance is an ordinary spec: the rule's arguments as symbols (one vocabulary for both
frameworks: ``k`` kernel, ``s`` stride, ``p`` padding, ``d`` dilation, ``g`` groups, ``C_out`` filters...),
its input axes as subscripted symbols (``C_in``, ``H_in``, ``W_in``). The same rule object that computes a
network's sizes computes the documented formulas from it, so a formula is written once
(:mod:`symshape.layers.formulas`) and its documentation reads the same object.

- ``VOCAB``: argument -> (symbol, meaning); every argument of an integer kind named here is documented as
  that symbol. A rule's ``doc_args`` override it (``DEFAULT``: keep the framework's default; a value: that
  value) and give the arguments outside the vocabulary.
- ``INFERRED``: arguments torch infers from the input (``in_channels``...): documented as inferred.
- ``AXES``: the meaning of an input axis letter; ``input_names(rule)`` the documented input shapes.
- ``EXAMPLE``: the worked example's value of every symbol (per framework where they differ); the test
  suite runs each page's example on a real tensor in PyTorch or keras.
- ``FRAMEWORK_ERRORS``: the framework's own error for a violated condition (by condition label), collected
  from real torch 2.13 and keras 3 by ``tests/test_reference.py``.
- ``COUNTERPART`` and ``DIFFERENCES``: the other framework's layer and what differs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import LayerRule

__all__ = ["AXES", "COUNTERPART", "DEFAULT", "DIFFERENCES", "EXAMPLE", "EXTRA_VARIANTS", "FRAMEWORK_ERRORS", "INFERRED",
           "INFERRED_AXIS", "MODE_NOTES", "SYMBOLS", "VOCAB", "counterpart", "documented_arguments", "example_value",
           "extra_variants", "framework_error", "input_names", "mode_note", "symbol_meaning"]


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT = _Default()  # in doc_args: document the framework's default value, not a symbol

VOCAB: dict[str, tuple[str, str]] = {
    "filters": ("C_out", "output channels (filters)"),
    "out_channels": ("C_out", "output channels"),
    "kernel_size": ("k", "kernel size"),
    "pool_size": ("k", "pooling window"),
    "stride": ("s", "stride"),
    "strides": ("s", "stride"),
    "padding": ("p", "padding, on each side"),
    "cropping": ("c", "rows cropped on each side"),
    "dilation": ("d", "dilation: spacing of the kernel taps (1: adjacent)"),
    "dilation_rate": ("d", "dilation: spacing of the kernel taps (1: adjacent)"),
    "groups": ("g", "groups: the channels split into g independent groups"),
    "num_groups": ("g", "groups the channels are split into"),
    "output_padding": ("p_out", "extra rows added at the end of each output axis"),
    "depth_multiplier": ("m", "depth multiplier: output channels per input channel"),
    "units": ("U", "units: output features"),
    "out_features": ("N_out", "output features"),
    "hidden_size": ("U", "hidden size: features of the hidden state"),
    "num_layers": ("n", "stacked recurrent layers"),
    "input_dim": ("V", "vocabulary size (rows of the embedding table)"),
    "num_embeddings": ("V", "vocabulary size (rows of the embedding table)"),
    "output_dim": ("E", "embedding size (columns of the table)"),
    "embedding_dim": ("E", "embedding size (columns of the table)"),
    "embed_dim": ("E", "model width: features of query, key and value"),
    "num_heads": ("h", "attention heads"),
    "key_dim": ("d_k", "features per head of query and key"),
    "n": ("n", "repetitions"),
    "size": ("u", "upsampling factor (one value for every axis)"),
    "upscale_factor": ("r", "upscale factor"),
    "downscale_factor": ("r", "downscale factor"),
    "output_size": ("o", "output size of every spatial axis"),
}

INFERRED = {  # torch arguments that default to the input's size (given, they must equal it)
    "in_channels": "input channels C_in", "num_features": "input channels C_in",
    "num_channels": "input channels C_in", "in_features": "input features N_in", "input_size": "input features N_in",
    "in1_features": "features of the first input", "in2_features": "features of the second input",
    "kdim": "features of the key", "vdim": "features of the value",
}

INFERRED_AXIS = {  # the inferred argument's value: (input, axis) of the documented input
    "in_channels": (0, 0), "num_features": (0, 0), "num_channels": (0, 0), "in_features": (0, -1),
    "input_size": (0, -1), "in1_features": (0, -1), "in2_features": (1, -1),
}

AXES = {  # input axis letter -> what it is
    "C": "channels", "H": "height", "W": "width", "D": "depth", "L": "length", "T": "time steps (sequence length)",
    "N": "features (the last axis)", "M": "leading axis (in general any number of leading axes)",
}

EXAMPLE: dict[str, int] = {  # the worked example's value of each symbol
    "C_in": 4, "H_in": 8, "W_in": 6, "D_in": 5, "L_in": 10, "T_in": 5, "N_in": 4, "M_in": 3,
    "M_1": 3, "N_1": 4, "M_2": 3, "N_2": 4, "T_1": 5, "N_1q": 4,
    "C_out": 6, "k": 3, "s": 2, "p": 1, "c": 1, "d": 2, "g": 2, "p_out": 1, "m": 2, "U": 5, "N_out": 7, "n": 2,
    "V": 10, "E": 8, "h": 2, "d_k": 4, "u": 2, "r": 2, "o": 2, "t": 2, "q": 3, "d_v": 3, "i": 1,
}
EXAMPLE_BY_FRAMEWORK: dict[str, dict[str, int]] = {
    "keras": {"d": 1},  # keras refuses strides > 1 with dilation_rate > 1 (its own page says so)
}


def example_value(framework: str, symbol: str) -> int | None:
    return EXAMPLE_BY_FRAMEWORK.get(framework, {}).get(symbol, EXAMPLE.get(symbol))


def symbol_meaning(name: str) -> str:
    """What a documented symbol stands for ('' when it is not one of the reference's symbols)."""
    for sym, meaning in VOCAB.values():
        if sym == name:
            return meaning
    m = re.fullmatch(r"([A-Z])_(in|out|\d)", name)
    if m and m.group(1) in AXES:
        which = {"in": "input", "out": "output"}.get(m.group(2), f"input {m.group(2)}")
        return f"{which} {AXES[m.group(1)]}"
    if name in SYMBOLS:
        return SYMBOLS[name]
    return {"t": "a target size (the other is inferred)"}.get(name, "")


def input_names(rule: LayerRule) -> list[list[str]]:
    """The documented input shapes as symbol names: [[C_in, H_in, W_in]] or, for several inputs, [[M_1, N_1], ...]."""
    if rule.rank:
        spatial = {1: ["L"], 2: ["H", "W"], 3: ["D", "H", "W"]}.get(rule.rank, [f"X{i}" for i in range(rule.rank)])
        letters = [*spatial, "C"] if rule.framework == "keras" else ["C", *spatial]
    elif rule.doc_input:
        letters = list(rule.doc_input)
    else:
        letters = ["M", "N"]
    n = max(rule.n_inputs[0], 1)
    if n == 1:
        return [[f"{x}_in" for x in letters]]
    return [[f"{x}_{i + 1}" for x in letters] for i in range(n)]


def documented_arguments(rule: LayerRule) -> dict[str, object]:
    """The raw spec arguments of the documented instance: vocabulary symbols, doc_args overrides, defaults."""
    from .base import AnyKind, IntKind, IntsKind, OptionalKind, PairsKind, ShapeKind
    from .conv import PaddingKind

    overrides = dict(rule.doc_args)
    letters = {x.split("_")[0]: x for shape in input_names(rule) for x in shape} if max(rule.n_inputs[0], 1) == 1 \
        else {}
    out: dict[str, object] = {}
    for arg in rule.args:
        if arg.name in overrides:
            value = overrides[arg.name]
            if value is not DEFAULT:
                out[arg.name] = _axis_names(value, letters)
            continue
        if isinstance(arg.kind, AnyKind) or arg.name in INFERRED:
            continue
        kind = arg.kind.inner if isinstance(arg.kind, OptionalKind) else arg.kind
        symbolic = isinstance(kind, (IntKind, IntsKind, PairsKind)) or type(kind).__name__ == "TorchPadKind" or \
            (isinstance(kind, ShapeKind) and arg.name == "output_size") or \
            (isinstance(kind, PaddingKind) and kind.numbers and rule.framework == "torch")
        symbol = VOCAB.get(arg.name, ("", ""))[0]
        if symbolic and symbol:
            out[arg.name] = symbol
        elif arg.required:  # undocumented: a symbol named after it (tests/test_reference.py asks for a meaning)
            out[arg.name] = f"{arg.name[0]}_{arg.name.replace('_', '')}"
    return out


def _axis_names(value: object, letters: dict[str, str]) -> object:
    """doc_args may name the input's axes by their letters ("C"): the documented symbol is C_in."""
    if isinstance(value, str):
        return letters.get(value, value)
    if isinstance(value, list):
        return [_axis_names(v, letters) for v in value]
    if isinstance(value, dict):
        return {k: _axis_names(v, letters) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- the framework's own errors

# (framework, rule-name pattern, condition-label pattern, what the framework says). The first match wins;
# tests/test_reference.py violates each condition in the real framework and finds this text in its error.
FRAMEWORK_ERRORS: list[tuple[str, str, str, str]] = [
    ("torch", r"Conv\dd", r"output ", "Kernel size can't be greater than actual input size"),
    ("torch", r"ConvTranspose\dd", r"output ", "Output size is too small"),
    ("torch", r"^Conv\dd$", r"^out_channels$", "expected weight to be at least 1 at dimension 0"),
    ("torch", r"^ConvTranspose\dd$", r"^out_channels$", "tensor expected"),
    ("torch", r"Conv", r"in_channels % groups", "in_channels must be divisible by groups"),
    ("torch", r"Conv", r"out_channels % groups", "out_channels must be divisible by groups"),
    ("torch", r"Conv", r"^groups$", "groups must be a positive integer"),
    ("torch", r"Conv", r"kernel ", "kernel size should be greater than zero"),
    ("torch", r"Conv", r"stride ", "non-positive stride is not supported"),
    ("torch", r"Conv", r"dilation ", "dilation should be greater than zero"),
    ("torch", r"Conv", r"^padding ", "negative padding is not supported"),
    ("torch", r"Conv", r"max\(stride\)", "padding='same' is not supported for strided convolutions"),
    ("torch", r"Conv", r"in_channels vs", "channels, but got"),
    ("torch", r"ConvTranspose", r"^max\(stride, dilation\) - output_padding",
     "output padding must be smaller than either stride or dilation"),
    ("torch", r"ConvTranspose", r"^output_padding", "negative output_padding is not supported"),
    ("torch", r"Conv\dd", r"input .* - padding", "Padding size should be less than the corresponding input dimension"),
    ("torch", r"(Max|Avg)Pool", r"kernel - 2\*padding", "pad should be at most half of effective kernel size"),
    ("torch", r"AvgPool3d", r"input .* - kernel", "smaller than kernel size"),
    ("torch", r"(Max|Avg)Pool", r"output ", "Output size is too small"),
    ("torch", r"(Max|Avg)Pool", r"^padding ", "pad must be non-negative"),
    ("torch", r"(Max|Avg)Pool", r"dilation ", "dilation should be greater than zero"),
    ("torch", r"(Max|Avg)Pool", r"kernel ", "kernel size should be greater than zero"),  # (stride given)
    ("torch", r"(Max|Avg)Pool", r"stride ", "stride should not be zero"),
    ("torch", r"GroupNorm", r"%", "must be divisible by num_groups"),
    ("torch", r"^GroupNorm$", r"^num_groups$", "integer modulo by zero"),
    ("torch", r"^reshape$", r"shape entry|elements % product|inferred size", "is invalid for input of size"),
    ("torch", r"BatchNorm", r"^num_features", "running_mean should contain"),
    ("torch", r"InstanceNorm", r"spatial elements", "Expected more than 1 spatial element when training"),
    ("torch", r"MultiheadAttention", r"^num_heads$", "embed_dim and num_heads must be greater than 0"),
    ("torch", r"^(RNN|LSTM|GRU)$", r"^hidden_size$", "hidden_size must be greater than zero"),
    ("torch", r"^(RNN|LSTM|GRU)$", r"^num_layers$", "num_layers must be greater than zero"),
    ("torch", r"^LSTM$", r"^hidden_size - proj_size$", "proj_size has to be smaller than hidden_size"),
    ("torch", r"^LSTM$", r"^proj_size$", "proj_size should be a positive integer or zero"),
    ("torch", r"^Embedding$", r"^num_embeddings$", "self indexing axis dim should be positive"),
    ("torch", r"^Bilinear$", r"leading axis", "input batch dimensions do not match"),
    ("torch", r"^Pixel(Un)?[Ss]huffle$", r"^factor$", "expects a positive"),
    ("torch", r"^(Zero|Constant)Pad\dd$", r"^output ", "narrow(): length must be non-negative"),
    ("torch", r"^CircularPad\dd$", r"^output ", "Negative padding value is resulting in an empty dimension"),
    ("torch", r"^Upsampl", r"^output ", "Input and output sizes should be greater than 0"),
    ("torch", r"MultiheadAttention", r"%", "embed_dim must be divisible by num_heads"),
    ("torch", r"PixelShuffle", r"%", "to be divisible by the square of upscale_factor"),
    ("torch", r"PixelUnshuffle", r"%", "to be divisible by downscale_factor"),
    ("torch", r"GLU", r"", "Halving dimension must be even"),
    ("torch", r"(Reflection|Circular)Pad|Conv", r"input .* - padding", "Padding"),
    ("torch", r"Unflatten", r"", "don't multiply up to the size of dim"),
    ("torch", r"cat", r"", "Sizes of tensors must match except in dimension"),
    ("torch", r"add|sub|mul", r"", "must match the size of tensor"),
    ("torch", r"Embedding", r"padding_idx", "Padding_idx must be within num_embeddings"),
    ("keras", r"Conv\dDTranspose", r"output_padding", "`output_padding` must be strictly less than `strides`"),
    ("keras", r"Conv\dD$|Conv\dDTranspose|DepthwiseConv|SeparableConv", r"^filters$",
     "Expected a strictly positive value. Received filters"),
    ("keras", r"DepthwiseConv|SeparableConv", r"depth_multiplier", "Received depth_multiplier"),
    ("keras", r"Conv", r"min\(max\(strides\)", "`strides > 1` not supported in conjunction with `dilation_rate > 1`"),
    ("keras", r"^Conv\dD$", r"^groups$", "The number of groups must be a positive integer"),
    ("keras", r"Conv", r"filters % groups", "The number of filters must be evenly divisible by the number of groups"),
    ("keras", r"Conv", r"input channels % groups",
     "The number of input channels must be evenly divisible by the number of groups"),
    ("keras", r"Conv", r"kernel ", "The `kernel_size` argument must be a tuple of"),
    ("keras", r"Conv", r"stride ", "The `strides` argument must be a tuple of"),
    ("keras", r"Conv", r"dilation ", "The `dilation_rate` argument must be a tuple of"),
    ("keras", r"Conv\dD$|DepthwiseConv|SeparableConv", r"output ", "Computed output size would be zero or negative"),
    ("keras", r"Pooling\dD", r"pool_size", "The `pool_size` argument must be a tuple of"),
    ("keras", r"MaxPooling1D", r"output ", "Invalid computed output size"),  # (keras 3's torch backend)
    ("keras", r"Pooling\dD", r"output ", "Output size is too small"),
    ("keras", r"Cropping[23]D", r"output ", "should be smaller than the corresponding spatial dimension of the input"),
    ("keras", r"Cropping1D", r"output ", "must be smaller than the input length"),
    ("keras", r"^Reshape$", r"elements % product|inferred size|target_shape entry",
     "the input size cannot by divided by the specified dimensions"),
    ("keras", r"^Reshape$", r"^product of target_shape", "The total size of the tensor must be unchanged"),
    ("keras", r"^Dense$", r"units", "expected a positive integer. Received: units"),
    ("keras", r"Embedding", r"input_dim", "`input_dim` must be a positive integer"),
    ("keras", r"Embedding", r"output_dim", "`output_dim` must be a positive integer"),
    ("keras", r"GroupNormalization", r"%", "must be a multiple of the number of channels"),
    ("keras", r"GroupNormalization", r"^groups$", "Received an invalid value for argument `groups`"),
    ("keras", r"GroupNormalization", r"^channels .* - groups$", "cannot be more than the number of channels"),
    ("keras", r"MultiHeadAttention", r"^key_dim$", "Received an invalid value for argument `key_dim`"),
    ("keras", r"Pooling\dD", r"^strides ", "The `strides` argument must be a tuple of"),
    ("keras", r"MultiHeadAttention", r"num_heads", "Received an invalid value for argument `num_heads`"),
    ("keras", r"Cropping", r"\(before\)|\(after\)", "`cropping` cannot be negative"),
    ("keras", r"ZeroPadding", r"\(before\)|\(after\)", "that do not satisfy `value >= 0`"),  # (a 2-D/3-D int: crops)
    ("keras", r"UpSampling", r"size", "The `size` argument must be a tuple of"),
    ("keras", r"RepeatVector", r"", "Argument `n` should be a positive integer"),
    ("keras", r"LSTM|GRU|SimpleRNN|Bidirectional", r"units", "expected a positive integer, got"),
    ("keras", r"Concatenate", r"", "requires inputs with matching shapes except for the concatenation axis"),
    ("keras", r"Add|Subtract|Multiply|Average|Maximum|Minimum", r"", "Inputs have incompatible shapes"),
]


def framework_error(framework: str, rule_name: str, label: str) -> str:
    """The framework's own words when a condition fails ('' when it has none of its own)."""
    for fw, rule_pat, label_pat, message in FRAMEWORK_ERRORS:
        if fw == framework and re.search(rule_pat, rule_name) and re.search(label_pat, label):
            return message
    return ""


# ---------------------------------------------------------------- the other framework

_PAIRS = [
    *[(f"Conv{r}D", f"Conv{r}d") for r in (1, 2, 3)],
    *[(f"Conv{r}DTranspose", f"ConvTranspose{r}d") for r in (1, 2, 3)],
    *[(f"MaxPooling{r}D", f"MaxPool{r}d") for r in (1, 2, 3)],
    *[(f"AveragePooling{r}D", f"AvgPool{r}d") for r in (1, 2, 3)],
    *[(f"GlobalAveragePooling{r}D", f"AdaptiveAvgPool{r}d") for r in (1, 2, 3)],
    *[(f"GlobalMaxPooling{r}D", f"AdaptiveMaxPool{r}d") for r in (1, 2, 3)],
    *[(f"ZeroPadding{r}D", f"ZeroPad{r}d") for r in (1, 2, 3)],
    ("Dense", "Linear"), ("Embedding", "Embedding"), ("SimpleRNN", "RNN"), ("LSTM", "LSTM"), ("GRU", "GRU"),
    ("BatchNormalization", "BatchNorm2d"), ("LayerNormalization", "LayerNorm"), ("GroupNormalization", "GroupNorm"),
    ("MultiHeadAttention", "MultiheadAttention"), ("Concatenate", "cat"), ("Add", "add"), ("Subtract", "sub"),
    ("Multiply", "mul"), ("Flatten", "Flatten"), ("UpSampling2D", "UpsamplingNearest2d"), ("PReLU", "PReLU"),
    ("Dropout", "Dropout"), ("ReLU", "ReLU"), ("Softmax", "Softmax"), ("ELU", "ELU"), ("LeakyReLU", "LeakyReLU"),
    ("Identity", "Identity"), ("AlphaDropout", "AlphaDropout"),
]
COUNTERPART: dict[tuple[str, str], tuple[str, str]] = {
    **{("keras", k): ("torch", t) for k, t in _PAIRS}, **{("torch", t): ("keras", k) for k, t in _PAIRS},
    ("torch", "BatchNorm1d"): ("keras", "BatchNormalization"),
    ("torch", "BatchNorm3d"): ("keras", "BatchNormalization"),
}


def counterpart(rule: LayerRule) -> tuple[str, str] | None:
    return COUNTERPART.get((rule.framework, rule.name))


# (rule-name pattern, a difference in words); shown on both frameworks' pages of a pair
DIFFERENCES: list[tuple[str, str]] = [
    (r"^Conv\d[Dd]$", "Layout: keras is channels-last (H, W, C), torch channels-first (C, H, W)."),
    (r"^Conv\d[Dd]$", "Padding: keras takes 'valid' or 'same' (and 'causal' in 1-D), with 'same' giving "
     "ceil(x/s) at any stride; torch takes explicit zeros p per side, or 'same' (stride 1 only) and 'valid'."),
    (r"^Conv\d[Dd]$", "Dilation with stride: keras refuses strides > 1 together with dilation_rate > 1; "
     "torch accepts both."),
    (r"^Conv\d[Dd]$", "Parameters: the same count; keras' kernel has the shape (k, …, C_in/g, C_out), torch's "
     "weight (C_out, C_in/g, k, …)."),
    (r"ConvTranspose|Conv\dDTranspose", "Parameters: keras' kernel has the shape (k, …, C_out, C_in) and keras has no "
     "groups for transposed convolutions; torch's weight is (C_in, C_out/g, k, …)."),
    (r"^(Dense|Linear)$", "Parameters: the same count; keras' kernel has the shape (N_in, N_out), torch's weight "
     "(N_out, N_in)."),
    (r"ConvTranspose|Conv\dDTranspose", "Output size: torch (x − 1)·s − 2p + d·(k − 1) + p_out + 1; keras "
     "computes its own padding from 'valid'/'same' and, without output_padding, 'valid' gives "
     "(x − 1)·s + max(k, s)."),
    (r"^(MaxPool|AvgPool|MaxPooling|AveragePooling)\d", "Strides default to the window in both frameworks; torch "
     "adds explicit padding (at most half the window), dilation (max pooling) and ceil_mode, keras 'same' "
     "padding (ceil(x/s))."),
    (r"^(LSTM|GRU|RNN|SimpleRNN)$", "Biases: torch has two bias vectors per gate (b_ih and b_hh), keras one "
     "(GRU with reset_after=True: two), so torch counts more parameters for the same sizes."),
    (r"^(LSTM|GRU|RNN|SimpleRNN)$", "Outputs: torch returns the whole sequence and the final states; keras the "
     "last step unless return_sequences, the states only with return_state."),
    (r"BatchNorm", "Statistics: keras counts the moving mean and variance as non-trainable weights; torch "
     "keeps running mean, variance and num_batches_tracked as buffers, not parameters."),
    (r"GlobalAveragePooling|GlobalMaxPooling|Adaptive", "keras' global pooling drops the spatial axes "
     "(keepdims keeps them as 1); torch's adaptive pooling to output_size 1 keeps them as 1."),
    (r"^(Embedding)$", "Both map token ids to rows of a V × E table; torch adds padding_idx, a row kept at zero."),
    (r"MultiHeadAttention|MultiheadAttention", "keras sets the per-head size key_dim; torch splits embed_dim "
     "into num_heads heads (embed_dim must be divisible by num_heads)."),
    (r"^(Concatenate|cat)$", "keras' axis excludes the batch axis (-1: the last), torch's dim counts it."),
    (r"^(Flatten)$", "keras flattens every axis after the batch; torch from start_dim (1) to end_dim (-1), "
     "the same by default."),
    (r"^Bidirectional$", "torch has no wrapper: its RNN, LSTM and GRU take bidirectional=True, and the output's "
     "features are 2·hidden_size, both directions concatenated (as merge_mode='concat' here); torch has no "
     "sum, mul or ave merge."),
    (r"^Bidirectional$", "torch returns every time step (as return_sequences=True here) and the final states "
     "of both directions stacked, (2·num_layers, hidden_size); keras the last step unless return_sequences, "
     "the states only with return_state."),
    (r"^Bidirectional$", "Parameters: twice the wrapped layer's, in both frameworks; torch's LSTM and GRU "
     "have two bias vectors per gate (b_ih and b_hh), so torch counts more for the same sizes."),
]


# (framework, argument, value) -> what the mode means, in words
MODE_NOTES: list[tuple[str, str, str, object, str]] = [  # (framework, rule pattern, argument, value, the note)
    ("keras", r"Transpose", "padding", "same", "keras 'same' for a transposed convolution: x·s without "
     "output_padding, else (x − 1)·s + (E mod 2) + output_padding with E = d·(k − 1) + 1."),
    ("keras", r"", "padding", "same", "keras 'same': each output size is ceil(x/s) = floor((x − 1)/s) + 1, whatever "
     "the kernel; the padding needed is split with the extra row at the end."),
    ("keras", r"", "padding", "causal", "keras 'causal': (k − 1)·d zeros on the left only; the output length is "
     "ceil(x/s)."),
    ("keras", r"", "padding", "p", "symshape's extension for keras convolutions: p zeros on each side, written as in "
     "torch (keras itself takes only 'valid', 'same' and 'causal')."),
    ("torch", r"", "padding", "same", "torch 'same': the output keeps the input's size; torch accepts it only with "
     "stride 1 and pads d·(k − 1) in total, the extra row at the end."),
    ("torch", r"", "ceil_mode", True, "torch ceil_mode: the size rounds up, floor((x + 2p − E + s − 1)/s) + 1 with "
     "E = d·(k − 1) + 1, except that the last window must start inside the input or the left padding: one fewer "
     "when (out − 1)·s ≥ x + p. Both cases are the single floor above."),
    ("keras", r"", "return_sequences", True, "every time step's output, not only the last."),
    ("keras", r"", "return_state", True, "the final states too (LSTM: h and c; GRU, SimpleRNN: h)."),
    ("torch", r"", "bidirectional", True, "a forward and a backward pass: output features and state rows double."),
    ("keras", r"", "keepdims", True, "the pooled axes stay, each of size 1."),
    ("keras", r"", "output_padding", None, "keras' default: no output_padding, and then 'valid' gives "
     "(x − 1)·s + max(E, s) with E = d·(k − 1) + 1, 'same' gives x·s."),
    ("torch", r"", "proj_size", "q", "LSTM with projections (q ≥ 1; 0, the default, is the formula above): "
     "the hidden state (and the output's features) have q "
     "entries, the cell state U; q < U."),
    ("torch", r"", "size", "o", "an output size instead of a scale factor: each spatial axis becomes o."),
]


# (framework, rule-name pattern, title argument, the arguments it sets): modes beyond the switches and choices
# (those are found from the rules' argument kinds): an optional argument given, another way to say a size
EXTRA_VARIANTS: list[tuple[str, str, str, dict[str, object]]] = [
    ("keras", r"^Conv\dDTranspose$", "output_padding", {"output_padding": None}),
    ("torch", r"^LSTM$", "proj_size", {"proj_size": "q"}),
    ("keras", r"^MultiHeadAttention$", "value_dim", {"value_dim": "d_v"}),
    ("keras", r"^MultiHeadAttention$", "output_shape", {"output_shape": "N_out"}),
    ("torch", r"^Embedding$", "padding_idx", {"padding_idx": "i"}),
    ("torch", r"^Upsample$", "size", {"size": ["o", "o"], "scale_factor": None}),
    ("keras", r"^Bidirectional$", "layer", {"layer": {"LSTM": {"units": "U", "return_sequences": True}}}),
]
SYMBOLS = {  # the symbols only a mode uses: what they stand for
    "q": "projection size of the hidden state (proj_size)", "d_v": "features per head of value (value_dim)",
    "i": "the padding row's index (padding_idx)",
}


def extra_variants(rule: LayerRule) -> list[tuple[str, dict[str, object]]]:
    return [(title, changes) for fw, pat, title, changes in EXTRA_VARIANTS
            if fw == rule.framework and re.search(pat, rule.name)]


def mode_note(framework: str, argument: str, value: object, rule_name: str = "") -> str:
    if isinstance(value, list):
        value = value[0] if value else None
    for fw, pat, arg, val, text in MODE_NOTES:
        if fw == framework and arg == argument and val == value and type(val) is type(value) and \
                re.search(pat, rule_name):
            return text
    return ""


def differences(rule: LayerRule) -> list[str]:
    return [text for pat, text in DIFFERENCES if re.search(pat, rule.name)]
