"""Notes on a framework's convention where a layer's arguments make it matter (the formulas are the
rules' own, in symshape.layers.formulas; these say in words what they encode)."""

from __future__ import annotations

from ..derive import LayerResult


def notes(ly: LayerResult) -> list[str]:
    fw, a = ly.rule.framework, ly.args
    out: list[str] = []
    padding = getattr(a, "padding", None)
    if padding == "same":
        if fw == "keras":
            out.append("keras 'same' padding: each output size is ceil(x/s) = floor((x − 1)/s) + 1, whatever the "
                       "kernel; the padding needed is split with the extra row or column at the end.")
        else:
            out.append("torch padding='same': the output keeps the input's size; torch accepts it only with "
                       "stride 1.")
    elif padding == "causal":
        out.append("keras 'causal' padding: (k − 1)·d zeros on the left only; the output length is ceil(x/s).")
    if getattr(a, "ceil_mode", False) is True:
        out.append("torch ceil_mode: the output size rounds up, floor((x + 2p − E + s − 1)/s) + 1 with E = d·(k − 1) "
                   "+ 1, except that the last window must start inside the input or the left padding: one fewer "
                   "when (out − 1)·s ≥ x + p.")
    if fw == "keras" and ly.kind.startswith(("MaxPooling", "AveragePooling")) and getattr(a, "strides", 1) is None:
        out.append("keras pooling: strides default to pool_size (torch's stride defaults to kernel_size too).")
    return out
