"""The batch axis where torch really puts it, in every view that prints a batched shape.

torch's MultiheadAttention and RNN/LSTM/GRU with batch_first=False (their default) take and return (L, N, ...),
and so do the layers after them (Linear, LayerNorm, Dropout, add: nn.TransformerEncoderLayer with
batch_first=False); h_n and c_n are (D*num_layers, N, H) whatever batch_first says; attention weights (N, L, S).
Table-driven: for each layer with batch_first True and False, a real tensor of the printed input shape (B, L, E
bound) runs through the torch module, and every layer's outputs have the shapes the views print: the cost table
(numbers, and formulas with the symbols bound), `symshape derive` (table and to_dict), `symshape eval`, the
notebook view of an evaluation, the reprs.
The products do not move: saved bytes and memory are the same with the batch first or second.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sympy

import symshape
from symshape.cli import main
from symshape.layout import batch_layout
from symshape.report import derivation_report, evaluation_report
from symshape.views import evaluation_markdown

torch = pytest.importorskip("torch", reason="torch")
from torch import nn  # noqa: E402

VALUES = {"L": 5, "E": 16, "Hh": 4, "H": 6, "B": 3}  # B != any other size: the batch's place is unambiguous


def _rnn(kind: str, **extra: Any) -> tuple[Callable[[bool], list[dict]], Callable[[bool, dict], Any]]:
    """An RNN/LSTM/GRU, then a Linear on its output sequence (it keeps the RNN's layout)."""
    def spec(bf: bool) -> list[dict]:
        return [{kind: {"input_size": "E", "hidden_size": "H", "batch_first": bf, **extra}, "name": "rnn"},
                {"Linear": {"in_features": f"{2 if extra.get('bidirectional') else 1}*"
                            f"{extra.get('proj_size') or 'H'}", "out_features": 3}, "name": "head",
                 "inputs": ["rnn:0"]}]

    def run(bf: bool, v: dict) -> Any:
        rnn = getattr(nn, kind)(v["E"], v["H"], batch_first=bf, **extra)
        h_out = extra.get("proj_size") or v["H"]
        head = nn.Linear((2 if extra.get("bidirectional") else 1) * h_out, 3)

        def forward(x: torch.Tensor) -> dict[str, list]:
            out, states = rnn(x)
            states = states if isinstance(states, tuple) else (states,)
            return {"rnn": [out, *states], "head": [head(out)]}

        forward.modules = [rnn, head]  # type: ignore[attr-defined]
        return forward

    return spec, run


def _mha(need_weights: bool) -> tuple[Callable[[bool], list[dict]], Callable[[bool, dict], Any]]:
    """Self-attention, then a Linear on its output (keeps the layout)."""
    def spec(bf: bool) -> list[dict]:
        return [{"MultiheadAttention": {"embed_dim": "E", "num_heads": "Hh", "batch_first": bf,
                                        "need_weights": need_weights}, "name": "attn", "inputs": ["x", "x", "x"]},
                {"Linear": {"in_features": "E", "out_features": "2*E"}, "name": "proj", "inputs": ["attn:0"]}]

    def run(bf: bool, v: dict) -> Any:
        attn, proj = nn.MultiheadAttention(v["E"], v["Hh"], batch_first=bf), nn.Linear(v["E"], 2 * v["E"])

        def forward(x: torch.Tensor) -> dict[str, list]:
            out, weights = attn(x, x, x, need_weights=need_weights)
            return {"attn": [out] + ([weights] if need_weights else []), "proj": [proj(out)]}

        forward.modules = [attn, proj]  # type: ignore[attr-defined]
        return forward

    return spec, run


ENCODER_NAMES = ("self_attn", "dropout1", "norm1", "linear1", "dropout", "linear2", "dropout2", "norm2")


def _encoder() -> tuple[Callable[[bool], list[dict]], Callable[[bool, dict], Any]]:
    """nn.TransformerEncoderLayer(E, Hh, 4E) as a spec (its attention called with need_weights=False); in
    training (torch's fused fast path is for inference), every submodule's outputs recorded by hooks."""
    def spec(bf: bool) -> list[dict]:
        return [
            {"MultiheadAttention": {"embed_dim": "E", "num_heads": "Hh", "dropout": 0.1, "need_weights": False,
                                    "batch_first": bf}, "name": "self_attn", "inputs": ["x"]},
            {"Dropout": {"p": 0.1}, "name": "dropout1", "inputs": ["self_attn:0"]},
            {"add": {}, "name": "res1", "inputs": ["x", "dropout1"]},
            {"LayerNorm": {"normalized_shape": ["E"]}, "name": "norm1"},
            {"Linear": {"in_features": "E", "out_features": "4*E"}, "name": "linear1"},
            {"ReLU": {}, "name": "relu"}, {"Dropout": {"p": 0.1}, "name": "dropout"},
            {"Linear": {"in_features": "4*E", "out_features": "E"}, "name": "linear2"},
            {"Dropout": {"p": 0.1}, "name": "dropout2"},
            {"add": {}, "name": "res2", "inputs": ["norm1", "dropout2"]},
            {"LayerNorm": {"normalized_shape": ["E"]}, "name": "norm2"}]

    def run(bf: bool, v: dict) -> Any:
        layer = nn.TransformerEncoderLayer(v["E"], v["Hh"], dim_feedforward=4 * v["E"], dropout=0.1,
                                           batch_first=bf).train()
        seen: dict[str, list] = {}
        for name in ENCODER_NAMES:
            def record(_m: object, _i: object, out: object, name: str = name) -> None:
                seen[name] = [t for t in (out if isinstance(out, tuple) else (out,)) if isinstance(t, torch.Tensor)]
            getattr(layer, name).register_forward_hook(record)

        def forward(x: torch.Tensor) -> dict[str, list]:
            seen.clear()
            y = layer(x)
            assert [tuple(t.shape) for t in seen["norm2"]] == [tuple(y.shape)]
            return dict(seen)

        forward.modules = [layer]  # type: ignore[attr-defined]
        return forward

    return spec, run


CASES: dict[str, tuple[Callable[[bool], list[dict]], Callable[[bool, dict], Any]]] = {
    "MultiheadAttention": _mha(True),
    "MultiheadAttention-no-weights": _mha(False),
    "LSTM": _rnn("LSTM", num_layers=2, bidirectional=True),
    "LSTM-proj": _rnn("LSTM", proj_size=4),
    "GRU": _rnn("GRU", num_layers=2),
    "RNN": _rnn("RNN", bidirectional=True),
    "TransformerEncoderLayer": _encoder(),
}
TABLE = [(name, bf) for name in CASES for bf in (True, False)]

VOCAB = 50  # token ids 0..VOCAB-1 of the embedded cases


def _embedded(name: str) -> tuple[Callable[[bool], list[dict]], Callable[[bool, dict], Any]]:
    """nn.Embedding(VOCAB, E) on token ids `ids` of shape (L,) per sample, then case `name` on the embeddings:
    torch's usual NLP layout. The ids and the embeddings keep the batch where the layer after them wants it."""
    spec_of, run_of = CASES[name]

    def spec(bf: bool) -> list[dict]:
        layers = [{"Embedding": {"num_embeddings": VOCAB, "embedding_dim": "E"}, "name": "emb", "inputs": ["ids"]}]
        for ly in spec_of(bf):
            layers.append({**ly, **({"inputs": ["emb" if r == "x" else r for r in ly["inputs"]]}
                                    if "inputs" in ly else {})})
        return layers

    def run(bf: bool, v: dict) -> Any:
        emb, inner = nn.Embedding(VOCAB, v["E"]), run_of(bf, v)

        def forward(ids: torch.Tensor) -> dict[str, list]:
            e = emb(ids)
            return {"emb": [e], **inner(e)}

        forward.modules = [emb, *inner.modules]  # type: ignore[attr-defined]
        return forward

    return spec, run


EMBEDDED = {name: _embedded(name) for name in ("MultiheadAttention", "LSTM", "GRU", "TransformerEncoderLayer")}
EMBEDDED_TABLE = [(name, bf) for name in EMBEDDED for bf in (True, False)]


def derived(name: str, bf: bool, batch: object = "B") -> symshape.Derivation:
    spec: dict[str, Any] = {"framework": "torch", "inputs": {"x": ["L", "E"]}, "layers": CASES[name][0](bf)}
    if batch is not None:
        spec["batch"] = batch
    return symshape.derive(spec)


def bound(text: str, values: dict[str, int]) -> tuple[int, ...]:
    """A printed shape '(L, B, 2*H)' at the values (the test reads its own output: sympify is fine here)."""
    names = {k: sympy.Symbol(k) for k in values}
    cells = [c for c in text.strip().strip("()").split(",") if c.strip()]
    return tuple(int(sympy.sympify(c, locals=names).subs(values)) for c in cells)


def _batch_axis(printed: str) -> int:
    cells = [c.strip() for c in printed.strip("()").split(",") if c.strip()]
    return cells.index("B")


SHAPE = r"(\([^()]*(?:\([^()]*\)[^()]*)*\))"  # a printed tuple (one level of parentheses inside)


def table_shapes(table: str, names: list[str]) -> dict[str, str]:
    """Layer -> the Output Shape cell of `symshape cost`'s table (the first tuple after the layer's kind)."""
    out = {}
    for line in table.splitlines():
        first = line.split(" ", 1)[0]
        if first in names and first not in out:
            out[first] = re.search(SHAPE, line).group(1)
    return out


def derive_shapes(report: str, names: list[str]) -> dict[str, str]:
    """Layer -> its shape in the table of `symshape derive` or `symshape eval` ('3  norm1 (LayerNorm)  (L, B, E)')."""
    out = {}
    for line in report.splitlines():
        m = re.match(r"\s*\d+\s+(\S+) \([^)]*\)\s+" + SHAPE, line)
        if m and m.group(1) in names:
            out[m.group(1)] = m.group(2)
    return out


@pytest.mark.parametrize(("name", "batch_first"), TABLE, ids=[f"{n}-bf{b}" for n, b in TABLE])
def test_printed_shapes_run_in_torch(name: str, batch_first: bool) -> None:
    check_printed_shapes_run(derived(name, batch_first), "x", lambda v: CASES[name][1](batch_first, v),
                             lambda shape: torch.randn(*shape))


def check_printed_shapes_run(d: symshape.Derivation, input_name: str, make_run: Callable[[dict], Any],
                             make_input: Callable[[tuple[int, ...]], Any]) -> None:
    """A real tensor of the printed input shape runs through the torch modules (`make_run(values)`), every
    layer's outputs have the shapes every view prints, and sample 0 moves only along the printed batch axes."""
    torch.manual_seed(0)
    values = {k: v for k, v in VALUES.items() if k in d.free_symbols}
    names = [ly.name for ly in d.layers]
    c = d.cost()
    e = d.evaluate(values)
    assert e.valid, e.violations

    # the input as printed: `symshape derive`'s title, and the repr
    report = derivation_report(d, "table")
    printed_in = re.search(rf"input {input_name} " + SHAPE, report).group(1)
    assert f"input {input_name} {printed_in}" in repr(d)
    x = make_input(bound(printed_in, values))
    got = make_run(values)(x)
    assert got, "the torch module recorded no output"

    views = {
        "cost table (numbers)": table_shapes(c.table(c.evaluate(values)), names),
        "cost table (formulas, bound)": table_shapes(c.table(bindings=values), names),
        "cost table (formulas)": table_shapes(c.table(), names),
        "cost to_dict": {ly["name"]: "(" + ", ".join(ly["output_shape"]) + ")" for ly in c.to_dict()["layers"]},
        "derive": derive_shapes(report, names),
        "eval": derive_shapes(evaluation_report(d, e), names),
        "eval (notebook)": {m.group(1): m.group(2) for m in re.finditer(r"\| `([^`]+)` \| \w+ \| " + SHAPE,
                                                                         evaluation_markdown(e))},
    }
    dicts = {ly["name"]: ly["output_shapes"] for ly in d.to_dict()["layers"]}
    for layer, tensors in got.items():
        shapes = [tuple(t.shape) for t in tensors]
        for view, printed in views.items():
            assert bound(printed[layer], values) == shapes[0], f"{view}: {layer} printed {printed[layer]}"
        assert [bound("(" + ", ".join(s) + ")", values) for s in dicts[layer]] == shapes, f"to_dict: {layer}"
    # and the batch is where torch has its samples: a change to sample 0 of the input, along the printed batch
    # axis, changes sample 0 of every output along its printed batch axis and no other sample
    formulas = views["cost to_dict"]
    x2 = x.clone()
    sample = x2.select(_batch_axis(printed_in), 0)
    sample.copy_((sample + 1) % VOCAB if not x.is_floating_point() else sample + 1.0)  # token ids stay in range
    run = make_run(values)
    for module in run.modules:
        module.eval()  # no dropout; gradients on: torch's own layers, not their fused inference path
    y1, y2 = run(x), run(x2)
    for layer in y1:
        axes = [_batch_axis(formulas[layer])] + [_batch_axis("(" + ", ".join(s) + ")") for s in dicts[layer][1:]]
        for a, b, axis in zip(y1[layer], y2[layer], axes, strict=True):
            moved = (a - b).abs() > 1e-6
            assert moved.narrow(axis, 0, 1).any() and not moved.narrow(axis, 1, moved.shape[axis] - 1).any(), \
                f"{layer}: the batch is not at axis {axis} of {tuple(a.shape)}"
    last = d.layers[-1].name
    if last in got:
        closed = re.search(r"Output size \(closed form\): " + SHAPE, report).group(1)
        assert bound(closed, values) == tuple(got[last][0].shape)
        assert f"output {closed}" in repr(d)
        assert f"output {bound(closed, values)}".replace(" ", "") in repr(e).replace(" ", "")


@pytest.mark.parametrize(("name", "batch_first"), EMBEDDED_TABLE, ids=[f"{n}-bf{b}" for n, b in EMBEDDED_TABLE])
def test_embedded_token_ids_run_in_torch(name: str, batch_first: bool) -> None:
    """Embedding -> a sequence-first (batch_first=False) attention/LSTM/GRU: the ids are printed (L, B) and the
    embeddings (L, B, E), as torch needs them; with batch_first=True everything stays batch-first."""
    spec = {"framework": "torch", "batch": "B", "inputs": {"ids": ["L"]}, "layers": EMBEDDED[name][0](batch_first)}
    d = symshape.derive(spec)
    lay = batch_layout(d)
    first = 0 if batch_first else 1
    assert (lay.input("ids"), lay.output(0)) == (first, first)
    check_printed_shapes_run(d, "ids", lambda v: EMBEDDED[name][1](batch_first, v),
                             lambda shape: torch.randint(0, VOCAB, shape))


@pytest.mark.parametrize("name", list(CASES))
def test_saved_bytes_and_memory_do_not_move(name: str) -> None:
    """The products are the same wherever the batch is printed: per layer and in total, symbolic and at
    values; and each layer's printed output holds as many elements as the batch times its per-sample shape."""
    first, second = derived(name, True).cost(), derived(name, False).cost()
    for a, b in zip(first.layers, second.layers, strict=True):
        assert sympy.expand(a.saved_bytes - b.saved_bytes) == 0, a.name
        assert sympy.expand(sympy.Mul(*a.output_shape) - sympy.Mul(*b.output_shape)) == 0, a.name
        assert sorted(map(str, a.output_shape)) == sorted(map(str, b.output_shape)), a.name
    for key in ("params_bytes", "grads_bytes", "optimizer_bytes", "buffers_bytes", "activations_bytes",
                "total_bytes"):
        assert sympy.expand(first.totals[key] - second.totals[key]) == 0, key
    values = {k: v for k, v in VALUES.items() if k in first.symbols}
    x, y = first.evaluate(values), second.evaluate(values)
    assert [ly["saved_bytes"] for ly in x.layers] == [ly["saved_bytes"] for ly in y.layers]
    assert x.total_bytes == y.total_bytes and x.activations_bytes == y.activations_bytes


EXACT = [(n, bf, batch) for n in ("MultiheadAttention", "MultiheadAttention-no-weights", "TransformerEncoderLayer")
         for bf in (True, False) for batch in (1, 3)]


@pytest.mark.parametrize(("name", "batch_first", "batch"), EXACT, ids=[f"{n}-bf{b}-{k}" for n, b, k in EXACT])
def test_saved_bytes_match_torch_in_either_layout(name: str, batch_first: bool, batch: int) -> None:
    """What torch's autograd keeps (saved_tensors_hooks), in training, on the printed input shape: the
    figure symshape gives, whichever layout (the recurrent layers' are lower bounds: not compared)."""
    from .test_cost_memory import saved_bytes

    d = derived(name, batch_first, batch=None)
    c = d.cost(batch=batch)
    values = {k: v for k, v in VALUES.items() if k in c.symbols}
    torch.manual_seed(0)
    run = CASES[name][1](batch_first, values)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.parts = nn.ModuleList(run.modules)

        def forward(self, x: torch.Tensor) -> Any:
            return run(x)

    net = Net().train()
    shape = (batch, values["L"], values["E"]) if batch_first else (values["L"], batch, values["E"])
    assert saved_bytes(net, (torch.randn(*shape),)) == c.evaluate(values).activations_bytes


@pytest.mark.parametrize("name", ["MultiheadAttention", "TransformerEncoderLayer", "LSTM"])
def test_without_batch_shapes_stay_as_they_were(name: str) -> None:
    """A spec that names no batch prints no batch in `symshape derive`; the cost's output shapes hold the
    batch where torch puts it (the cost always has one), and the derivation's own axes do not move."""
    for bf in (True, False):
        d = derived(name, bf, batch=None)
        assert "batch axis excluded" in derivation_report(d, "markdown")
        assert all("B" not in s for ly in d.to_dict()["layers"] for s in ly["output_shape"])
        c = d.cost()
        for ly, lc in zip(d.layers, c.layers, strict=True):
            rest = list(lc.output_shape)
            rest.remove(c.batch)
            assert tuple(rest) == tuple(ly.outputs[0])


def test_markdown_says_where_the_batch_is() -> None:
    assert "batch B first" in derivation_report(derived("MultiheadAttention", True), "markdown")
    assert "batch B where each layer puts it" in derivation_report(derived("LSTM", False), "markdown")


# ---------------------------------------------------------------- golden views of a sequence-first network

GOLDEN = Path(__file__).parent / "golden"
SEQ_FIRST = """\
# nn.TransformerEncoderLayer(E, Hh, 4E) with batch_first=False (torch's default), an LSTM (batch_first=False)
# on its output, a Linear head on the LSTM's sequence: every tensor (L, B, ...); the LSTM's h_n and c_n
# (num_layers, B, H) whatever batch_first says
framework: torch
batch: B
inputs:
  x: [L, E]
layers:
""" + "".join(f"  - {json.dumps(ly)}\n" for ly in CASES["TransformerEncoderLayer"][0](False)) + """\
  - {LSTM: {input_size: E, hidden_size: H}, name: lstm}
  - {Linear: {in_features: H, out_features: 3}, name: head, inputs: ["lstm:0"]}
"""
SETS = [x for kv in ("L=5", "E=16", "Hh=4", "H=6", "B=3") for x in ("--set", kv)]
GOLDEN_CASES = [
    (["cost"], "cost.seq_first.txt"),
    (["cost", *SETS], "cost.seq_first.values.txt"),
    (["derive", "--columns", "flops,saved"], "derive.seq_first.cost.txt"),
    (["derive", "--format", "markdown"], "derive.seq_first.md"),
    (["eval", *SETS], "eval.seq_first.txt"),
]


@pytest.mark.parametrize(("argv", "golden"), GOLDEN_CASES, ids=[g for _, g in GOLDEN_CASES])
def test_golden_views(argv: list[str], golden: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    spec = tmp_path / "seq_first.yaml"
    spec.write_text(SEQ_FIRST)
    out = io.StringIO()
    assert main([argv[0], str(spec), *argv[1:]], out=out) == 0
    path = GOLDEN / golden
    if request.config.getoption("--overwrite"):
        path.write_text(out.getvalue())
    assert out.getvalue() == path.read_text(), f"{golden} differs from its golden file (pytest --overwrite)"
