"""Recurrent layers: keras SimpleRNN/LSTM/GRU/Bidirectional, torch RNN/LSTM/GRU.

Gates per cell: SimpleRNN/RNN 1, GRU 3, LSTM 4. Parameter counts differ between frameworks:
keras has one bias per gate (GRU with reset_after=True: two), torch always two (b_ih and b_hh).
"""

from __future__ import annotations

from types import SimpleNamespace

from sympy import Expr, Integer

from ..errors import SpecError
from .base import (
    ANY,
    BOOL,
    INT,
    NUMBER,
    OPT_INT,
    Arg,
    BatchAxes,
    ChoiceKind,
    Condition,
    Ctx,
    LayerKind,
    LayerOut,
    Shape,
    equal,
    find_rule,
    nonnegative,
    positive,
    register,
)
from .conv import keras_ignored

GATES = {"SimpleRNN": 1, "RNN": 1, "GRU": 3, "LSTM": 4}
STATES = {"SimpleRNN": 1, "RNN": 1, "GRU": 1, "LSTM": 2}
KERAS_RNN_IGNORED = ("activation", "recurrent_activation", "kernel_initializer", "recurrent_initializer",
                     "bias_initializer", "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                     "activity_regularizer", "kernel_constraint", "recurrent_constraint", "bias_constraint",
                     "dropout", "recurrent_dropout", "seed", "go_backwards", "stateful", "unroll", "use_cudnn",
                     "unit_forget_bias", "name", "dtype")


def _sequence(shape: Shape, kind: str) -> tuple[Expr, Expr]:
    if len(shape) != 2:
        raise SpecError(f"{kind} expects a 2-d input (timesteps, features), batch axis excluded; got {len(shape)}-d")
    return shape[0], shape[1]


def keras_rnn_counts(kind: str, a: SimpleNamespace, features: Expr) -> tuple[Expr, Expr]:
    """(parameters, MACs per timestep) of one keras recurrent layer."""
    g, u = GATES[kind], a.units
    bias: Expr = Integer(0)
    if a.use_bias:
        bias = 2 * g * u if kind == "GRU" and a.reset_after else g * u
    return g * u * (features + u) + bias, g * u * (features + u)


def _keras_rnn(kind: str):  # noqa: ANN202
    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        t, f = _sequence(inputs[0], kind)
        params, step = keras_rnn_counts(kind, a, f)
        main = (t, a.units) if a.return_sequences else (a.units,)
        outputs = [main] + ([(a.units,)] * STATES[kind] if a.return_state else [])
        out = LayerOut(outputs, macs=t * step, conditions=[positive("units", a.units)])
        if a.trainable:
            out.trainable = params
        else:
            out.non_trainable = params
        return out

    return apply


def _keras_bidirectional(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
    kind, raw = a.layer
    rule = find_rule("keras", kind)
    if kind not in ("SimpleRNN", "LSTM", "GRU"):
        raise SpecError(f"Bidirectional wraps SimpleRNN, LSTM or GRU, not {kind}")
    inner_args: dict = {}
    for arg in rule.args:
        value = raw.get(arg.name, arg.default)
        inner_args[arg.name] = None if value is None and arg.default is None else arg.kind.parse(value, ctx, rule)
    unknown = [k for k in raw if rule.arg(k) is None]
    if unknown:
        raise SpecError(f"unknown argument '{unknown[0]}' for the wrapped {kind}")
    inner = rule.apply(SimpleNamespace(**inner_args), inputs, ctx)
    main = inner.outputs[0]
    u = main[-1]
    mode = a.merge_mode
    if mode == "concat":
        outputs = [(*main[:-1], 2 * u)]
    elif mode is None:
        outputs = [main, main]
    else:
        outputs = [main]
    outputs += inner.outputs[1:] * 2  # forward states, then backward states
    return LayerOut(outputs, trainable=2 * inner.trainable, non_trainable=2 * inner.non_trainable,
                    macs=2 * inner.macs, conditions=inner.conditions)


def torch_rnn_counts(kind: str, a: SimpleNamespace, features: Expr) -> tuple[Expr, Expr, Expr]:
    """(parameters, MACs per timestep, output features) of a torch recurrent module."""
    g, h, layers = GATES[kind], a.hidden_size, a.num_layers
    proj = getattr(a, "proj_size", Integer(0))
    h_out = h if proj == 0 else proj
    dirs = 2 if a.bidirectional else 1

    def layer(inp: Expr) -> tuple[Expr, Expr]:
        weights = g * h * inp + g * h * h_out + proj * h
        return weights + (2 * g * h if a.bias else 0), weights

    first_p, first_m = layer(features)
    rest_p, rest_m = layer(dirs * h_out)
    params = dirs * (first_p + (layers - 1) * rest_p)
    macs = dirs * (first_m + (layers - 1) * rest_m)
    return params, macs, h_out


def _torch_rnn(kind: str):  # noqa: ANN202
    def apply(a: SimpleNamespace, inputs: list[Shape], ctx: Ctx) -> LayerOut:
        t, f = _sequence(inputs[0], kind)
        conds: list[Condition] = [positive("hidden_size", a.hidden_size), positive("num_layers", a.num_layers)]
        if a.input_size is not None:
            conds.append(equal("input_size vs incoming features", a.input_size, f))
        proj = getattr(a, "proj_size", Integer(0))
        if proj != 0:
            conds += [nonnegative("proj_size", proj),
                      Condition("hidden_size - proj_size", a.hidden_size - proj, ">=", 1,
                                "torch: proj_size has to be smaller than hidden_size")]
        declared = f if a.input_size is None else a.input_size  # torch builds the module as declared
        params, step, h_out = torch_rnn_counts(kind, a, declared)
        dirs = 2 if a.bidirectional else 1
        states = [(dirs * a.num_layers, h_out)]
        if kind == "LSTM":
            states.append((dirs * a.num_layers, a.hidden_size))
        return LayerOut([(t, dirs * h_out), *states], trainable=params, macs=t * step, conditions=conds)

    return apply


def _torch_rnn_batch(a: SimpleNamespace) -> BatchAxes:
    """input and output (L, N, H) unless batch_first; h_n and c_n (D*num_layers, N, H) either way."""
    seq = 0 if a.batch_first else 1
    return BatchAxes(seq, (seq, 1, 1))


def _register() -> None:
    for kind in ("SimpleRNN", "LSTM", "GRU"):
        extra = [Arg("reset_after", BOOL, True)] if kind == "GRU" else []
        register("keras", kind,
                 [Arg("units", INT), Arg("use_bias", BOOL, True), Arg("return_sequences", BOOL, False),
                  Arg("return_state", BOOL, False), Arg("trainable", BOOL, True), *extra,
                  *keras_ignored(*KERAS_RNN_IGNORED)],
                 _keras_rnn(kind), f"{kind}: (T, N) -> (T, U) or (U), {GATES[kind]} gate(s)",
                 n_outputs=1 + STATES[kind], doc_input=("T", "N"))
    register("keras", "Bidirectional",
             [Arg("layer", LayerKind()), Arg("merge_mode", ChoiceKind("concat", "sum", "mul", "ave"), "concat"),
              Arg("backward_layer", ANY, None), *keras_ignored("weights", "name", "dtype")],
             _keras_bidirectional, "the wrapped RNN forwards and backwards, outputs merged", doc_input=("T", "N"),
             doc_args=(("layer", {"LSTM": {"units": "U"}}),))
    for kind in ("RNN", "LSTM", "GRU"):
        extra = [Arg("nonlinearity", ChoiceKind("tanh", "relu"), "tanh")] if kind == "RNN" else []
        if kind == "LSTM":
            extra.append(Arg("proj_size", INT, 0))
        register("torch", kind,
                 [Arg("input_size", OPT_INT, None), Arg("hidden_size", INT), Arg("num_layers", INT, 1), *extra,
                  Arg("bias", BOOL, True), Arg("batch_first", BOOL, False), Arg("dropout", NUMBER, 0.0),
                  Arg("bidirectional", BOOL, False), Arg("device", ANY, None), Arg("dtype", ANY, None)],
                 _torch_rnn(kind), f"{kind}: (L, N) -> output (L, D*H), h_n{', c_n' if kind == 'LSTM' else ''}",
                 n_outputs=3 if kind == "LSTM" else 2, doc_input=("T", "N"), batch_axes=_torch_rnn_batch)


_register()
