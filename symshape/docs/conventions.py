"""Notes on a framework's convention where a layer's arguments make it matter (the formulas are the
rules' own, in symshape.layers.formulas; these say in words what they encode, and how the other
framework differs). tests/test_docs_conventions.py checks what each note states against real torch
and keras."""

from __future__ import annotations

from ..derive import LayerResult


def _not_one(value: object) -> bool:
    values = value if isinstance(value, (tuple, list)) else (value,)
    return any(v is not None and v != 1 for v in values)


def notes(ly: LayerResult) -> list[str]:  # noqa: C901 - one branch per convention
    fw, a, name = ly.rule.framework, ly.args, ly.rule.name
    out: list[str] = []
    padding = getattr(a, "padding", None)
    transposed = "Transpose" in name
    if padding == "same" and not transposed:
        if fw == "keras":
            out.append("keras 'same' padding: each output size is ceil(x/s) = floor((x − 1)/s) + 1, whatever the "
                       "kernel; the padding needed is split with the extra row or column at the end. torch's "
                       "padding='same' keeps the size and is refused with a stride above 1.")
        else:
            out.append("torch padding='same': the output keeps the input's size (d·(k − 1) zeros in all, the extra "
                       "one at the end); torch accepts it only with stride 1, where keras' 'same' gives ceil(x/s).")
    elif padding == "causal":
        out.append("keras 'causal' padding: (k − 1)·d zeros on the left only; the output length is ceil(x/s).")
    if getattr(a, "ceil_mode", False) is True:
        out.append("torch ceil_mode: the output size rounds up, floor((x + 2p − E + s − 1)/s) + 1 with E = d·(k − 1) "
                   "+ 1, except that the last window must start inside the input or the left padding: one fewer "
                   "when (out − 1)·s ≥ x + p. keras pooling has no ceil mode ('same' gives ceil(x/s)).")
    if fw == "keras" and name.startswith(("MaxPooling", "AveragePooling")) and getattr(a, "strides", 1) is None:
        out.append("keras pooling: strides default to pool_size (torch's stride defaults to kernel_size too).")
    dilation = getattr(a, "dilation", getattr(a, "dilation_rate", 1))
    if _not_one(dilation) and name not in ("LSTM", "GRU"):
        out.append("Dilation: a kernel of k taps spaced d apart spans E = d·(k − 1) + 1 inputs, and the size formula "
                   "uses E where an undilated one uses k (the same in keras and torch).")
    if _not_one(getattr(a, "groups", 1)):
        out.append("Groups: each of the g groups maps C_in/g channels to C_out/g, so the weights are "
                   "C_out·(C_in/g) per kernel tap; C_in and C_out must both be multiples of g.")
    if transposed:
        if fw == "torch":
            out.append("torch transposed convolution: out = (x − 1)·s − 2p + d·(k − 1) + output_padding + 1. "
                       "keras' Conv2DTranspose without output_padding gives x·s + max(E − s, 0) ('valid') or x·s "
                       "('same').")
        else:
            out.append("keras transposed convolution without output_padding: x·s + max(E − s, 0) for 'valid', x·s "
                       "for 'same' (E = d·(k − 1) + 1); with output_padding: (x − 1)·s + E − 2q + output_padding, "
                       "q = 0 ('valid') or floor(E/2) ('same'); torch: (x − 1)·s − 2p + d·(k − 1) + output_padding "
                       "+ 1.")
    if name.startswith("BatchNorm"):
        if fw == "keras":
            out.append("keras BatchNormalization: gamma and beta are trainable, the moving mean and variance (2·C) "
                       "non-trainable parameters; torch keeps its running statistics (and num_batches_tracked) as "
                       "buffers, not parameters.")
        else:
            out.append("torch BatchNorm: weight and bias are parameters; running_mean, running_var and "
                       "num_batches_tracked are buffers (keras counts its moving statistics as non-trainable "
                       "parameters).")
    if name == "LSTM":
        out.append("LSTM biases: torch has two per gate (b_ih and b_hh: 8·H), keras one (4·U); the weights are the "
                   "same, 4·U·(input + U).")
    elif name == "GRU":
        if fw == "keras" and getattr(a, "reset_after", True) is False:
            out.append("keras GRU with reset_after=False: one bias per gate (3·U); torch's GRU always has two "
                       "(b_ih, b_hh: 6·H) and applies the reset gate after the matrix product.")
        else:
            out.append("GRU biases: two per gate (6·U), as torch and keras' default reset_after=True "
                       "(reset_after=False: 3·U).")
    if name == "Flatten" and len(ly.input_shapes[0]) >= 3:
        layout = "channels-last (H, W, C)" if fw == "keras" else "channels-first (C, H, W)"
        other = "torch flattens (C, H, W)" if fw == "keras" else "keras flattens (H, W, C)"
        out.append(f"Flatten: {fw} flattens {layout}, {other}: the same size in another order, so the next "
                   "dense layer's weights do not carry over between the frameworks without a permutation.")
    return out
