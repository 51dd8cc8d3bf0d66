"""The size formulas, each written once; every rule of both frameworks calls these.

x is an input size, k a kernel size, s a stride, d a dilation, E = d*(k - 1) + 1 the effective
kernel, p a padding on each side (or ``lo``/``hi`` for asymmetric padding).
"""

from __future__ import annotations

from functools import lru_cache

from sympy import Expr, Integer, Mod

from ..algebra import ONE, ZERO, FloorDiv, smax, smin


@lru_cache(maxsize=8192)
def effective_kernel(k: Expr, d: Expr) -> Expr:
    """E = d*(k - 1) + 1: the span of a dilated kernel."""
    return d * (k - 1) + 1


def window_count(x: Expr, span: Expr, s: Expr) -> Expr:
    """floor((x - span)/s) + 1: windows of a given span at stride s over x (padding included in x)."""
    return FloorDiv(x - span, s) + 1


@lru_cache(maxsize=8192)
def _conv_offset(k: Expr, pad: Expr, d: Expr) -> Expr:
    return pad - effective_kernel(k, d)


def conv_size(x: Expr, k: Expr, s: Expr, pad: Expr, d: Expr = ONE) -> Expr:
    """floor((x + pad - d*(k - 1) - 1)/s) + 1, with pad the total padding of the axis."""
    return FloorDiv(x + _conv_offset(k, pad, d), s) + 1


def same_size(x: Expr, s: Expr) -> Expr:
    """ceil(x/s) = floor((x - 1)/s) + 1: keras/TF 'same' (and 'causal') padding."""
    return FloorDiv(x - 1, s) + 1


def torch_pool_size(x: Expr, k: Expr, s: Expr, p: Expr, d: Expr, ceil_mode: bool) -> Expr:
    """torch pooling; in ceil mode the last window must start inside the input or the left padding.

    floor((x + 2p - E + s - 1)/s) + 1, minus one when (out - 1)*s >= x + p; both cases are
    floor((x + min(2p - E + s - 1, p - 1))/s) + 1 (exact under torch's own limit p <= k/2).
    """
    if not ceil_mode:
        return conv_size(x, k, s, 2 * p, d)
    e = effective_kernel(k, d)
    return FloorDiv(x + smin(2 * p - e + s - 1, p - 1), s) + 1


def torch_transpose_size(x: Expr, k: Expr, s: Expr, p: Expr, d: Expr, output_padding: Expr) -> Expr:
    """(x - 1)*s - 2p + d*(k - 1) + output_padding + 1."""
    return (x - 1) * s - 2 * p + d * (k - 1) + output_padding + 1


def keras_transpose_size(x: Expr, k: Expr, s: Expr, padding: str, d: Expr, output_padding: Expr | None) -> Expr:
    """keras' deconvolution length (keras.src.backend.common.backend_utils)."""
    e = effective_kernel(k, d)
    if padding == "valid":
        if output_padding is None:
            return (x - 1) * s + smax(e, s)
        return (x - 1) * s + e + output_padding
    if output_padding is None:
        return x * s
    return (x - 1) * s + (Mod(e, 2) if not isinstance(e, Integer) else Integer(e.p % 2)) + output_padding


def upsample_size(x: Expr, num: int, den: int = 1) -> Expr:
    """floor(x * num/den): an integer or exact rational scale factor."""
    return FloorDiv(x * num, den) if den != 1 else x * num


def dropped_rows(x: Expr, y: Expr, s: Expr, e: Expr, pad_lo: Expr = ZERO) -> Expr:
    """Input rows no window reads: max(x + pad_lo - (y - 1)*s - E, 0) for an output of y windows of
    span E at stride s starting pad_lo rows before the input (what a valid convolution or a floor-mode
    pooling leaves at the end: pooling 11 rows by 2 gives 5 and ignores the last one)."""
    return smax(x + pad_lo - (y - 1) * s - e, ZERO)
