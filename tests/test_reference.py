"""The layer reference (docs/layers/, `symshape docs --layers`): current, complete, and true to the frameworks.

- the committed Markdown is what the rules generate today (regenerate: symshape docs --layers -o docs/layers);
- every symbol a page shows is in that page's glossary, names print as names (C_in, not C·i·n), no page shows
  an output like (0) or a condition that can never hold;
- every page's worked example runs in real PyTorch or keras (output shapes, parameters, the bias split);
- every framework error quoted on a page is what the framework really says when that condition fails;
- a few HTML pages and the index as a real headless browser lays them out at phone width.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import pytest
import sympy

from symshape.cli import main
from symshape.docs.reference import page_name, reference_pages, runnable
from symshape.docs.reference_facts import facts, page_symbols, staircase
from symshape.layers import rules
from symshape.layers.base import REGISTRY
from symshape.layers.docmeta import FRAMEWORK_ERRORS, INFERRED_AXIS, framework_error

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs" / "layers"
ALL = rules()
IDS = [f"{r.framework}-{r.name}" for r in ALL]


# ---------------------------------------------------------------- current and complete


def test_committed_reference_is_current() -> None:
    pages = reference_pages("markdown")
    stale = [rel for rel, text in pages.items()
             if not (DOCS / rel).exists() or (DOCS / rel).read_text(encoding="utf-8") != text]
    extra = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if str(p.relative_to(DOCS)) not in pages)
    assert not stale and not extra, \
        f"docs/layers is stale ({stale[:5]}, extra {extra[:5]}): regenerate with symshape docs --layers -o docs/layers"


def test_one_page_per_rule_with_distinct_paths() -> None:
    paths = [page_name(r).lower() for r in ALL]
    assert len(set(paths)) == len(paths)  # distinct on a case-insensitive file system too
    index = (DOCS / "index.md").read_text()
    for r in ALL:
        assert f"]({page_name(r)})" in index


# ---------------------------------------------------------------- what a reader sees

_COMMANDS = re.compile(r"\\(left|right|lfloor|rfloor|lceil|rceil|frac|min|max|bmod|geq|leq|neq|mapsto|cdot|"
                       r"vert|quad|,)")
_SYMBOL = re.compile(r"[A-Za-z]_\{[A-Za-z0-9]+\}|[A-Za-z]+")


def _math(text: str) -> list[str]:
    """The math of a Markdown page: $$ blocks and $ spans."""
    blocks = re.findall(r"\$\$\n(.*?)\n\$\$", text, re.S)
    rest = re.sub(r"\$\$\n.*?\n\$\$", "", text, flags=re.S)
    return blocks + re.findall(r"(?<!\\)\$(.+?)(?<!\\)\$", rest)


def _symbols(tex: str) -> set[str]:
    tex = re.sub(r"_\{\\mathrm\{([A-Za-z0-9]+)\}\}", r"_{\1}", tex)  # C_{\mathrm{in}}: an upright word
    tex = re.sub(r"\\text\{[^}]*\}", " ", tex)
    tex = _COMMANDS.sub(" ", tex)
    return set(_SYMBOL.findall(tex))


def _glossary(text: str) -> set[str]:
    section = text.split("## Symbols", 1)[1].split("\n## ", 1)[0]
    return {sym for row in section.splitlines() if row.startswith("| $")
            for sym in _symbols(row.split("|")[1].strip().strip("$"))}


@pytest.mark.parametrize("rule", ALL, ids=IDS)
def test_page_symbols_are_in_its_glossary_and_print_as_names(rule: object) -> None:
    text = (DOCS / page_name(rule)).read_text()
    glossary = _glossary(text)
    shown = set().union(*(_symbols(m) for m in _math(text)))
    assert shown <= glossary, f"{page_name(rule)}: symbols not in the glossary: {sorted(shown - glossary)}"
    for sym in shown:  # one letter, optionally subscripted: never a run of letters read as a product
        assert re.fullmatch(r"[A-Za-z](_\{[A-Za-z0-9]+\})?", sym), f"{page_name(rule)}: {sym!r} prints as a product"
    f = facts(rule)
    for name in page_symbols(f):
        assert re.fullmatch(r"[A-Za-z](_[A-Za-z0-9]+)?", name), name
    rows = text.split("## Symbols", 1)[1].split("\n## ", 1)[0]
    assert "see its argument" not in rows, f"{page_name(rule)}: a symbol without a meaning"
    for row in rows.splitlines():  # every symbol but an output axis: the argument it fills and its domain
        cells = [c.strip() for c in row.split("|")[1:-1]]
        if row.startswith("| $") and "{out}" not in cells[0]:
            assert cells[2] and cells[3], f"{page_name(rule)}: {cells}"


def test_index_symbols_are_in_its_glossary() -> None:
    text = (DOCS / "index.md").read_text()
    glossary = _glossary(text)
    shown = set().union(*(_symbols(m) for m in _math(text.split("## Symbols")[0])))
    assert shown <= glossary, sorted(shown - glossary)
    rows = text.split("## Symbols", 1)[1]
    meanings = [row.split("|")[2].strip() for row in rows.splitlines() if row.startswith("| $")]
    assert meanings and all(meanings), "a symbol without a meaning"


@pytest.mark.parametrize("rule", ALL, ids=IDS)
def test_no_degenerate_output_or_impossible_condition(rule: object) -> None:
    f = facts(rule)
    for shape in [*f.outputs, *(s for v in f.variants for s in v.outputs)]:
        assert shape, "an empty output"
        for e in shape:
            assert not (isinstance(e, sympy.Integer) and e <= 0), f"output {shape}"
    for c in [*f.conditions, *(c for v in f.variants for c in v.conditions)]:
        assert c.relation is not sympy.false and c.relation != sympy.false, c
        assert c.relation.free_symbols, f"a constant condition {c}"
    assert f.example is not None and f.example.valid, (f.example_error, f.example and f.example.violations)


# ---------------------------------------------------------------- worked examples in the real frameworks

NO_FRAMEWORK_OP = {  # rules with no framework layer to run, and why
    ("keras", "Opaque"): "an imported graph's opaque operation: its shapes are declared, not computed",
    ("torch", "Opaque"): "an imported graph's opaque operation: its shapes are declared, not computed",
}


FORWARD_ARGS = {"MultiheadAttention": ("need_weights",)}  # spec arguments torch takes in the call, not the constructor


def _torch_run(kind: str, args: dict, shapes: list[tuple[int, ...]], batch: int = 2
               ) -> tuple[list[tuple[int, ...]], int, int, int]:
    """(output shapes without batch, parameters, buffers, bias parameters) from real PyTorch. (torch's error for
    a bad convolution depends on the batch: with 1 its own check speaks, with 2 oneDNN's.)"""
    import torch

    functional = {
        "add": lambda xs, a: xs[0] + xs[1], "sub": lambda xs, a: xs[0] - xs[1], "mul": lambda xs, a: xs[0] * xs[1],
        "cat": lambda xs, a: torch.cat(xs, dim=a.get("dim", 1)),
        "mean": lambda xs, a: xs[0].mean(dim=a["dim"], keepdim=a.get("keepdim", False)),
        "permute": lambda xs, a: xs[0].permute(*a["dims"]),
        "reshape": lambda xs, a: xs[0].reshape(xs[0].shape[0], *a["shape"]),
        "transpose": lambda xs, a: xs[0].transpose(a["dim0"], a["dim1"]),
    }
    unbatched = {"RNN", "LSTM", "GRU"}
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
    forward_kw = {k: kw.pop(k) for k in FORWARD_ARGS.get(kind, ()) if k in kw}  # arguments of the call
    if kind == "MultiheadAttention":
        kw["batch_first"] = True
    params = buffers = bias = 0
    if kind in functional:
        module = None
    else:
        module = getattr(torch.nn, kind)(**kw)
        params = sum(p.numel() for p in module.parameters())
        buffers = sum(b.numel() for b in module.buffers())
        bias = sum(p.numel() for n, p in module.named_parameters() if "bias" in n.split(".")[-1])
    if kind == "Embedding":
        xs = [torch.zeros(batch, *shapes[0], dtype=torch.long)]
    elif kind in unbatched:
        xs = [torch.zeros(*s) for s in shapes]
    else:
        xs = [torch.zeros(batch, *s) for s in shapes]
    if kind == "MultiheadAttention":
        xs = xs * 3
    with torch.no_grad():
        out = functional[kind](xs, args) if module is None else module(*xs, **forward_kw)
    flat = []
    stack = [out]
    while stack:
        o = stack.pop(0)
        if isinstance(o, (tuple, list)):
            stack = list(o) + stack
        elif o is not None:
            flat.append(o)
    got = [tuple(t.shape) if kind in unbatched else tuple(t.shape[1:]) for t in flat]
    return got, params, buffers, bias


def _keras_run(kind: str, args: dict, shapes: list[tuple[int, ...]]) -> tuple[list[tuple[int, ...]], int, int, int]:
    """(output shapes without batch, trainable, non-trainable, bias weights) from real keras 3."""
    import keras
    import numpy as np

    def value(v: object) -> object:
        return tuple(value(x) for x in v) if isinstance(v, list) else v

    kw = {k: value(v) for k, v in args.items()}
    if kind == "Bidirectional":
        (inner, inner_args), = args["layer"].items()
        kw["layer"] = getattr(keras.layers, inner)(**{k: value(v) for k, v in inner_args.items()})
    dtype = "int32" if kind == "Embedding" else "float32"
    xs = [np.zeros((1, *s), dtype=dtype) for s in shapes]
    layer = getattr(keras.layers, kind)(**kw)
    if kind in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"):
        out = layer(xs)
    elif kind == "MultiHeadAttention":
        out = layer(xs[0], xs[0])
    else:
        out = layer(xs[0])
    outs = out if isinstance(out, (list, tuple)) else [out]
    got = [tuple(int(d) for d in o.shape[1:]) for o in outs]
    trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights)
    bias = sum(int(np.prod(w.shape)) for w in layer.weights if "bias" in w.path.split("/")[-1])
    return got, trainable, non_trainable, bias


@pytest.mark.parametrize("rule", ALL, ids=IDS)
def test_worked_example_matches_the_framework(rule: object) -> None:
    if (rule.framework, rule.name) in NO_FRAMEWORK_OP:
        return  # nothing to run (NO_FRAMEWORK_OP says why); the page says its example is symshape's own
    if rule.framework == "torch":
        pytest.importorskip("torch")
    else:
        pytest.importorskip("keras")
    ex = facts(rule).example
    assert ex is not None and ex.valid
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if rule.framework == "torch":
            got, params, buffers, bias = _torch_run(rule.name, ex.args, list(ex.inputs))
            assert (params, buffers) == (ex.trainable + ex.non_trainable, ex.buffers)
        else:
            got, trainable, non_trainable, bias = _keras_run(rule.name, ex.args, list(ex.inputs))
            assert (trainable, non_trainable) == (ex.trainable, ex.non_trainable)
    assert got == list(ex.outputs)
    if ex.bias is not None:
        assert bias == ex.bias, f"bias {bias} != {ex.bias}"
    text = (DOCS / page_name(rule)).read_text()
    assert "output shape: `" + "; ".join(str(s) for s in ex.outputs) + "`" in text


def _mode_cases() -> list[tuple[object, object]]:
    out = []
    for r in ALL:
        if (r.framework, r.name) in NO_FRAMEWORK_OP:
            continue
        for v in facts(r).variants:
            if not (v.argument == "padding" and isinstance(v.value, sympy.Symbol)):
                out.append((r, v))  # (keras padding=p is symshape's own extension: nothing to compare)
    return out


MODE_CASES = _mode_cases()


NEGATIVE_PADDING = [  # torch pads crop with negative amounts in every mode (found while documenting them)
    ("ReflectionPad2d", -1, [1, 4, 4]), ("ReplicationPad2d", [-1, 1, 0, 2], [1, 4, 4]),
    ("CircularPad2d", -1, [1, 4, 4]), ("CircularPad2d", -2, [1, 4, 4]), ("ReflectionPad1d", -2, [1, 4]),
    ("ReplicationPad3d", -1, [1, 4, 4, 4]), ("ZeroPad2d", [-1, 0, 2, -3], [1, 4, 4]),
]


@pytest.mark.parametrize(("kind", "padding", "shape"), NEGATIVE_PADDING)
def test_negative_torch_padding_crops(kind: str, padding: object, shape: list[int]) -> None:
    import symshape

    pytest.importorskip("torch")
    e = symshape.derive({"framework": "torch", "input": shape, "layers": [{kind: {"padding": padding}}]},
                        cache=False).evaluate()
    try:
        got, _, _, _ = _torch_run(kind, {"padding": padding}, [tuple(shape)], batch=1)
    except RuntimeError:  # "input (W: 4) is too small"
        got = [(0,)]
    empty = any(d < 1 for s in got for d in s)
    assert e.valid == (not empty) and (empty or got == [tuple(s) for s in e.layers[0].output_shapes]), (got, e)


@pytest.mark.parametrize(("rule", "variant"), MODE_CASES,
                         ids=[f"{r.framework}-{r.name}-{v.title}" for r, v in MODE_CASES])
def test_every_mode_at_the_example_matches_the_framework(rule: object, variant: object) -> None:
    """Each mode a page documents ('same', ceil_mode, channels_first, return_sequences...), at the worked
    example's numbers: symshape and the framework agree on valid-or-not, the shapes and the parameters."""
    import symshape

    pytest.importorskip("torch" if rule.framework == "torch" else "keras")
    ex = facts(rule).example
    args = {**ex.args, **variant.example_changes(rule.framework)}
    args = {k: v for k, v in args.items() if v is not None}  # None: the framework's default
    argument, value = variant.argument, variant.value
    inputs = [list(s) for s in ex.inputs]
    if argument == "data_format":  # the documented input in the other layout
        inputs = [[s[-1], *s[:-1]] if value == "channels_first" else [*s[1:], s[0]] for s in inputs]
    names = [f"x{i + 1}" for i in range(len(inputs))]
    spec = {"framework": rule.framework, "inputs": dict(zip(names, inputs, strict=True)),
            "layers": [{rule.name: args, "inputs": names}]}
    try:
        e = symshape.derive(spec, cache=False).evaluate()
    except symshape.SymshapeError:  # refused outright (the page says so): the framework must refuse it too
        assert variant.refused
        e = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if rule.framework == "torch":
                got, params, buffers, _ = _torch_run(rule.name, args, [tuple(s) for s in inputs], batch=1)
                counts = (params, buffers)
            else:
                got, trainable, non_trainable, _ = _keras_run(rule.name, args, [tuple(s) for s in inputs])
                counts = (trainable, non_trainable)
    except Exception as err:  # noqa: BLE001 - the framework refuses: symshape must too
        assert e is None or not e.valid, f"{rule.name}({args}) refused by {rule.framework}: {err}"
        return
    assert e is not None, f"symshape refuses {rule.name}({args}), {rule.framework} accepts it"
    ly = e.layers[0]
    ours = (ly.params, ly.buffers) if rule.framework == "torch" else (ly.trainable, ly.non_trainable)
    assert e.valid and got == [tuple(s) for s in ly.output_shapes] and counts == ours, (got, ly.output_shapes)


STAIRS = [r for r in ALL if staircase(facts(r)) is not None and (r.framework, r.name) not in NO_FRAMEWORK_OP]


@pytest.mark.parametrize("rule", STAIRS, ids=[f"{r.framework}-{r.name}" for r in STAIRS])
def test_staircase_matches_the_framework(rule: object) -> None:
    """The page's table of output size against input size: each entry run in the framework."""
    pytest.importorskip("torch" if rule.framework == "torch" else "keras")
    f = facts(rule)
    x, y, rows = staircase(f)
    axis_in = [s.name for s in f.inputs[0]].index(x)
    axis_out = list(f.output_names[0]).index(y)
    for value, size in rows:
        shape = list(f.example.inputs[0])
        shape[axis_in] = value
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run = _torch_run if rule.framework == "torch" else _keras_run
                got = run(rule.name, f.example.args, [tuple(shape), *f.example.inputs[1:]])[0][0][axis_out]
        except Exception:  # noqa: BLE001 - refused
            got = None
        if got is not None and got < 1:
            got = None  # an empty axis: symshape requires every size to be at least 1
        assert got == size, f"{x} = {value}: {rule.framework} gives {got}, the page {size}"


RUNNABLE = [r for r in ALL if runnable(facts(r)) is not None]


@pytest.mark.parametrize("rule", RUNNABLE, ids=[f"{r.framework}-{r.name}" for r in RUNNABLE])
def test_runnable_example_prints_what_it_says(rule: object) -> None:
    """The page's program, run as written: it prints what its comments say."""
    import contextlib

    pytest.importorskip("torch" if rule.framework == "torch" else "keras")
    code = runnable(facts(rule))
    expected = [line.split("  # ", 1)[1] for line in code.splitlines() if line.startswith("print(")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(code, f"<{page_name(rule)}>", "exec"), {})  # noqa: S102 - our own generated program
    assert out.getvalue().splitlines() == expected
    assert f"```python\n{code}```" in (DOCS / page_name(rule)).read_text()


NOT_COUNTED = {  # torch layers with MACs that torch's FlopCounterMode does not count, and why
    "Bilinear": "FlopCounterMode has no formula for aten.bilinear / _trilinear",
    "LSTM": "torch runs LSTM as one fused kernel that FlopCounterMode does not count",
}


@pytest.mark.parametrize("rule", rules("torch"), ids=[r.name for r in rules("torch")])
def test_worked_example_macs_match_torch_flop_counter(rule: object) -> None:
    """MACs: torch.utils.flop_counter counts 2 FLOPs per multiply-add; its count of one sample is the page's."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    ex = facts(rule).example
    if ex is None or ex.macs == 0 or rule.name in NOT_COUNTED or (rule.framework, rule.name) in NO_FRAMEWORK_OP:
        return
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in ex.args.items()}
    forward_kw = {k: kw.pop(k) for k in FORWARD_ARGS.get(rule.name, ()) if k in kw}
    if rule.name == "MultiheadAttention":
        kw["batch_first"] = True
    module = getattr(torch.nn, rule.name)(**kw)
    unbatched = rule.name in ("RNN", "GRU")
    xs = [torch.zeros(*s) if unbatched else torch.zeros(1, *s) for s in ex.inputs]
    if rule.name == "MultiheadAttention":
        xs = xs * 3
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(*xs, **forward_kw)
    assert counter.get_total_flops() == 2 * ex.macs


WEIGHT_SHAPES = [  # a layer, its input, the kernel's shape a "Differences" section states (the 2-D case)
    ("torch", "Conv2d", {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "groups": 2}, (6, 2, 3, 3),
     "torch's weight (C_out, C_in/g, k, …)"),
    ("keras", "Conv2D", {"filters": 6, "kernel_size": 3, "groups": 2}, (3, 3, 2, 6),
     "keras' kernel has the shape (k, …, C_in/g, C_out)"),
    ("torch", "ConvTranspose2d", {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "groups": 2}, (4, 3, 3, 3),
     "torch's weight is (C_in, C_out/g, k, …)"),
    ("keras", "Conv2DTranspose", {"filters": 6, "kernel_size": 3}, (3, 3, 6, 4),
     "keras' kernel has the shape (k, …, C_out, C_in)"),
    ("torch", "Linear", {"in_features": 4, "out_features": 7}, (7, 4), "torch's weight (N_out, N_in)"),
    ("keras", "Dense", {"units": 7}, (4, 7), "keras' kernel has the shape (N_in, N_out)"),
]


@pytest.mark.parametrize(("framework", "kind", "args", "shape", "statement"), WEIGHT_SHAPES)
def test_stated_weight_shapes(framework: str, kind: str, args: dict, shape: tuple, statement: str) -> None:
    """What a page's "Differences" says of the weights' layout is what the framework builds."""
    if framework == "torch":
        torch = pytest.importorskip("torch")
        got = tuple(getattr(torch.nn, kind)(**args).weight.shape)
    else:
        keras = pytest.importorskip("keras")
        import numpy as np

        layer = getattr(keras.layers, kind)(**args)
        layer(np.zeros((1, 8, 8, 4) if kind.startswith("Conv") else (1, 4), dtype="float32"))
        got = tuple(layer.kernel.shape)
    assert got == shape
    page = (DOCS / page_name(REGISTRY[(framework, kind)])).read_text()
    assert statement in page.replace("\\_", "_")


# ---------------------------------------------------------------- the frameworks' own errors

ERROR_CASES = [  # framework, layer, arguments, input (batch excluded); the condition it violates is found by symshape
    ("torch", "Conv2d", {"out_channels": 4, "kernel_size": 5}, [3, 3, 3]),
    ("torch", "Conv2d", {"out_channels": 4, "kernel_size": 3, "groups": 2}, [3, 5, 5]),
    ("torch", "Conv2d", {"out_channels": 3, "kernel_size": 3, "groups": 2}, [4, 5, 5]),
    ("torch", "Conv2d", {"out_channels": 4, "kernel_size": 3, "groups": 0}, [4, 5, 5]),
    ("torch", "Conv2d", {"out_channels": 4, "kernel_size": 0}, [4, 5, 5]),
    ("torch", "Conv2d", {"out_channels": 4, "kernel_size": 3, "stride": 0}, [4, 5, 5]),
    ("torch", "Conv2d", {"out_channels": 4, "kernel_size": 3, "dilation": 0}, [4, 5, 5]),
    ("torch", "Conv2d", {"out_channels": 4, "kernel_size": 1, "padding": -1}, [4, 5, 5]),
    ("torch", "Conv2d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": "same"}, [4, 5, 5]),
    ("torch", "Conv2d", {"in_channels": 5, "out_channels": 4, "kernel_size": 3}, [4, 5, 5]),
    ("torch", "Conv2d", {"out_channels": 4, "kernel_size": 1, "padding": 3, "padding_mode": "reflect"}, [4, 3, 3]),
    ("torch", "ConvTranspose2d", {"out_channels": 4, "kernel_size": 1, "padding": 3}, [4, 2, 2]),
    ("torch", "ConvTranspose2d", {"out_channels": 4, "kernel_size": 3, "output_padding": 1}, [4, 5, 5]),
    ("torch", "ConvTranspose2d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "output_padding": -1}, [4, 5, 5]),
    ("torch", "MaxPool2d", {"kernel_size": 2, "padding": 2}, [4, 5, 5]),
    ("torch", "MaxPool2d", {"kernel_size": 4}, [4, 3, 3]),
    ("torch", "MaxPool2d", {"kernel_size": 2, "padding": -1}, [4, 5, 5]),
    ("torch", "MaxPool2d", {"kernel_size": 2, "dilation": 0}, [4, 5, 5]),
    ("torch", "MaxPool2d", {"kernel_size": 2, "stride": 0}, [4, 5, 5]),
    ("torch", "AvgPool2d", {"kernel_size": 0, "stride": 1}, [4, 5, 5]),
    ("torch", "AvgPool2d", {"kernel_size": 4}, [4, 3, 3]),
    ("torch", "AvgPool3d", {"kernel_size": 4, "padding": 2}, [4, 3, 3, 3]),
    ("torch", "GroupNorm", {"num_groups": 3}, [4, 3, 3]),
    ("torch", "MultiheadAttention", {"embed_dim": 6, "num_heads": 4}, [3, 6]),
    ("torch", "PixelShuffle", {"upscale_factor": 2}, [3, 2, 2]),
    ("torch", "PixelUnshuffle", {"downscale_factor": 2}, [4, 3, 3]),
    ("torch", "GLU", {}, [3]),
    ("torch", "ReflectionPad2d", {"padding": 3}, [1, 3, 3]),
    ("torch", "CircularPad2d", {"padding": 4}, [1, 3, 3]),
    ("torch", "Unflatten", {"dim": 1, "unflattened_size": [4, -1]}, [6]),
    ("torch", "Embedding", {"num_embeddings": 4, "embedding_dim": 4, "padding_idx": 5}, [3]),
    ("torch", "cat", {}, [[2, 3], [2, 4]]),
    ("torch", "Conv2d", {"out_channels": 0, "kernel_size": 3}, [4, 5, 5]),
    ("torch", "ConvTranspose2d", {"out_channels": 0, "kernel_size": 3}, [4, 5, 5]),
    ("torch", "ConvTranspose1d", {"out_channels": 0, "kernel_size": 3}, [4, 5]),
    ("torch", "ConvTranspose3d", {"out_channels": 0, "kernel_size": 3}, [4, 5, 5, 5]),
    ("torch", "GroupNorm", {"num_groups": 0}, [4, 3, 3]),
    ("torch", "reshape", {"shape": [4, -1]}, [6]),
    ("torch", "BatchNorm2d", {"num_features": 5}, [4, 3, 3]),
    ("torch", "InstanceNorm2d", {}, [4, 1, 1]),
    ("torch", "MultiheadAttention", {"embed_dim": 4, "num_heads": 0}, [3, 4]),
    ("torch", "LSTM", {"hidden_size": 0}, [3, 4]),
    ("torch", "GRU", {"hidden_size": 3, "num_layers": 0}, [3, 4]),
    ("torch", "LSTM", {"hidden_size": 3, "proj_size": 3}, [3, 4]),
    ("torch", "LSTM", {"hidden_size": 3, "proj_size": -1}, [3, 4]),
    ("torch", "Embedding", {"num_embeddings": 0, "embedding_dim": 4}, [3]),
    ("torch", "Bilinear", {"out_features": 2}, [[3, 4], [2, 4]]),
    ("torch", "PixelShuffle", {"upscale_factor": 0}, [4, 2, 2]),
    ("torch", "PixelUnshuffle", {"downscale_factor": 0}, [4, 2, 2]),
    ("torch", "ZeroPad2d", {"padding": -2}, [1, 3, 3]),
    ("torch", "ConstantPad2d", {"padding": -2, "value": 0.0}, [1, 3, 3]),
    ("torch", "CircularPad2d", {"padding": -2}, [1, 3, 3]),
    ("torch", "Upsample", {"size": [0, 0]}, [1, 3, 3]),
    ("torch", "add", {}, [[2, 3], [2, 4]]),
    ("keras", "Conv2D", {"filters": 4, "kernel_size": 5}, [3, 3, 3]),
    ("keras", "Conv2D", {"filters": 4, "kernel_size": 3, "groups": 2}, [5, 5, 3]),
    ("keras", "Conv2D", {"filters": 3, "kernel_size": 3, "groups": 2}, [5, 5, 4]),
    ("keras", "Conv2D", {"filters": 4, "kernel_size": 0}, [5, 5, 4]),
    ("keras", "Conv2D", {"filters": 4, "kernel_size": 3, "strides": 0}, [5, 5, 4]),
    ("keras", "Conv2D", {"filters": 4, "kernel_size": 3, "dilation_rate": 0}, [5, 5, 4]),
    ("keras", "Conv2D", {"filters": 0, "kernel_size": 3}, [5, 5, 4]),
    ("keras", "Conv2D", {"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, [9, 9, 4]),
    ("keras", "Conv2DTranspose", {"filters": 4, "kernel_size": 3, "output_padding": 1}, [5, 5, 4]),
    ("keras", "DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 0}, [5, 5, 4]),
    ("keras", "SeparableConv2D", {"filters": 0, "kernel_size": 3}, [5, 5, 4]),
    ("keras", "MaxPooling2D", {"pool_size": 0}, [3, 3, 4]),
    ("keras", "MaxPooling2D", {"pool_size": 4}, [3, 3, 4]),
    ("keras", "AveragePooling1D", {"pool_size": 4}, [3, 4]),
    ("keras", "MaxPooling1D", {"pool_size": 4}, [3, 4]),
    ("keras", "Cropping2D", {"cropping": 2}, [3, 3, 1]),
    ("keras", "Cropping1D", {"cropping": 2}, [3, 4]),
    ("keras", "Reshape", {"target_shape": [4, -1]}, [6]),
    ("keras", "Reshape", {"target_shape": [4, 2]}, [6]),
    ("keras", "Dense", {"units": 0}, [4]),
    ("keras", "Embedding", {"input_dim": 0, "output_dim": 4}, [3]),
    ("keras", "Embedding", {"input_dim": 4, "output_dim": 0}, [3]),
    ("keras", "GroupNormalization", {"groups": 3}, [3, 4]),
    ("keras", "MultiHeadAttention", {"num_heads": 0, "key_dim": 4}, [3, 4]),
    ("keras", "Cropping2D", {"cropping": -1}, [3, 3, 1]),
    ("keras", "ZeroPadding2D", {"padding": [-1, -1]}, [4, 4, 1]),
    ("keras", "ZeroPadding1D", {"padding": -1}, [4, 1]),
    ("keras", "UpSampling2D", {"size": 0}, [3, 3, 1]),
    ("keras", "RepeatVector", {"n": 0}, [3]),
    ("keras", "LSTM", {"units": 0}, [3, 4]),
    ("keras", "Bidirectional", {"layer": {"LSTM": {"units": 0}}}, [3, 4]),
    ("keras", "Concatenate", {}, [[2, 3], [3, 3]]),
    ("keras", "Conv2D", {"filters": 4, "kernel_size": 3, "groups": 0}, [5, 5, 4]),
    ("keras", "GroupNormalization", {"groups": 0}, [3, 4]),
    ("keras", "GroupNormalization", {"groups": 8}, [3, 4]),
    ("keras", "MultiHeadAttention", {"num_heads": 2, "key_dim": 0}, [3, 4]),
    ("keras", "MaxPooling2D", {"pool_size": 2, "strides": 0}, [3, 3, 4]),
    ("keras", "Reshape", {"target_shape": [12, -1]}, [6]),
    ("keras", "Add", {}, [[2, 3], [2, 4]]),
]


def _violated(framework: str, kind: str, args: dict, shapes: list) -> list[str]:
    """The labels of the conditions symshape finds violated (condition labels, as the pages show them)."""
    import symshape

    shapes = shapes if isinstance(shapes[0], list) else [shapes]
    names = [f"x{i + 1}" for i in range(len(shapes))]
    spec = {"framework": framework, "inputs": dict(zip(names, shapes, strict=True)),
            "layers": [{kind: args, "inputs": names}]}
    try:
        d = symshape.derive(spec, cache=False)
    except symshape.SymshapeError:
        return []
    out = []
    for c in d.layers[0].conditions:
        rel = c.relation()
        try:
            if not getattr(rel, "free_symbols", True) and not bool(rel.doit()):
                out.append(c.label)
        except (ZeroDivisionError, TypeError):  # undefined at these values (a division by a zero stride)
            continue
    return out


def _framework_error(framework: str, kind: str, args: dict, shapes: list) -> str:
    shapes = shapes if isinstance(shapes[0], list) else [shapes]
    rule = REGISTRY[(framework, kind)]
    for name, (k, axis) in INFERRED_AXIS.items():  # the call as written in torch: inferred sizes given
        if rule.arg(name) is not None and name not in args and k < len(shapes):
            args = {**args, name: shapes[k][axis]}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if framework == "torch":
                _torch_run(kind, args, [tuple(s) for s in shapes], batch=1)
            else:
                _keras_run(kind, args, [tuple(s) for s in shapes])
    except Exception as err:  # noqa: BLE001 - any refusal: its text is what we compare
        return str(err)
    return ""


@pytest.mark.parametrize(("framework", "kind", "args", "shapes"), ERROR_CASES,
                         ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(ERROR_CASES)])
def test_quoted_framework_error_is_the_frameworks(framework: str, kind: str, args: dict, shapes: list) -> None:
    pytest.importorskip("torch" if framework == "torch" else "keras")
    labels = _violated(framework, kind, args, shapes)
    quoted = [framework_error(framework, kind, label) for label in labels]
    quoted = [q for q in quoted if q]
    assert quoted, f"symshape finds {labels} violated, and no page quotes {framework}'s error for them"
    actual = _framework_error(framework, kind, args, shapes)
    assert actual, f"{framework} accepts {kind}({args}) on {shapes}"
    assert any(q in actual for q in quoted), (quoted, actual)


def test_every_quoted_error_is_checked() -> None:
    """Each FRAMEWORK_ERRORS entry is the quote of at least one ERROR_CASES case (none is unverified)."""
    used = set()
    for framework, kind, args, shapes in ERROR_CASES:
        for label in _violated(framework, kind, args, shapes):
            for i, (fw, rule_pat, label_pat, _) in enumerate(FRAMEWORK_ERRORS):
                if fw == framework and re.search(rule_pat, kind) and re.search(label_pat, label):
                    used.add(i)
                    break
    unchecked = [FRAMEWORK_ERRORS[i] for i in range(len(FRAMEWORK_ERRORS)) if i not in used]
    assert not unchecked, unchecked


# ---------------------------------------------------------------- the command and the HTML


def _cli(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue()


def test_cli_writes_the_reference(tmp_path: Path) -> None:
    code, out = _cli(["docs", "--layers", "--framework", "torch", "--format", "html", "-o", str(tmp_path / "ref")])
    assert code == 0 and "index.html" in out
    torch_rules = rules("torch")
    assert len(list((tmp_path / "ref" / "torch").glob("*.html"))) == len(torch_rules)
    assert not (tmp_path / "ref" / "keras").exists()
    html = (tmp_path / "ref" / "torch" / "Conv2d.html").read_text()
    assert "<math" in html and 'href="../index.html"' in html and not re.findall(r"https?://(?!www\.w3\.org/)", html)


def test_rewriting_removes_only_its_own_stale_pages(tmp_path: Path) -> None:
    from symshape.docs.reference import write_reference

    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "Gone.md").write_text("[Layer reference](../index.md) › torch\n\n# torch Gone\n")
    (tmp_path / "torch" / "notes.md").write_text("# my own notes\n")
    write_reference(tmp_path, "markdown", "torch")
    assert not (tmp_path / "torch" / "Gone.md").exists() and (tmp_path / "torch" / "notes.md").exists()
    assert (tmp_path / "torch" / "Conv2d.md").exists() and not (tmp_path / "keras").exists()


def test_cli_reference_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "file").write_text("x")
    for argv in (["docs", "--layers", "-o", str(tmp_path / "file")],
                 ["docs", "--layers", "examples/classic.yaml", "-o", str(tmp_path / "d")]):
        assert main(argv, out=io.StringIO()) == 2
        err = capsys.readouterr().err
        assert err.startswith("symshape:") and "Traceback" not in err


def test_facts_come_from_the_rule_that_computes() -> None:
    """The documented formula, evaluated at the example, is what a derivation of that layer gives."""
    f = facts(REGISTRY[("torch", "Conv2d")])
    values = {sympy.Symbol(n): v for n, v in f.example.values.items()}
    got = tuple(int(e.subs({s: values[sympy.Symbol(s.name)] for s in e.free_symbols})) for e in f.outputs[0])
    assert got == f.example.outputs[0] == (6, 3, 2)
    assert str(f.weights) == "C_out*k**2*floor(C_in/g)" and str(f.bias) == "C_out"


BROWSER_PAGES = [("torch", "Conv2d"), ("keras", "LSTM"), ("torch", "MaxPool2d"), ("keras", "Conv2DTranspose")]


@pytest.mark.parametrize(("framework", "name"), BROWSER_PAGES)
def test_html_page_in_headless_browser(framework: str, name: str, tmp_path: Path) -> None:
    from tests.test_docs import PHONE, browse

    html = reference_pages("html", framework, [name])[f"{framework}/{name}.html"]
    probe, _ = browse(html, tmp_path, f"{framework}-{name}")
    assert probe["innerWidth"] == PHONE and probe["fits"], f"horizontal overflow at phone width: {probe}"
    assert probe["maths"] > 10 and probe["emptyMaths"] == 0, probe
    assert probe["text"] > 1000


def test_html_index_in_headless_browser(tmp_path: Path) -> None:
    from tests.test_docs import PHONE, browse

    html = reference_pages("html", "torch")["index.html"]
    probe, _ = browse(html, tmp_path, "index")
    assert probe["innerWidth"] == PHONE and probe["fits"], probe
    assert probe["maths"] > 100 and probe["emptyMaths"] == 0, probe


# ---------------------------------------------------------------- `symshape layers` reads the same facts

LAYER_GOLDEN = [  # argv, golden file (regenerate: pytest tests/test_reference.py --overwrite -k golden)
    (["layers", "MaxPool2d"], "layer.MaxPool2d.txt"),
    (["layers", "LSTM", "--framework", "keras"], "layer.keras.LSTM.txt"),
    (["layers", "Bidirectional"], "layer.Bidirectional.txt"),
]


@pytest.mark.parametrize(("argv", "golden"), LAYER_GOLDEN)
def test_layers_golden(argv: list[str], golden: str, request: pytest.FixtureRequest) -> None:
    code, out = _cli(argv)
    assert code == 0
    path = ROOT / "tests" / "golden" / golden
    if request.config.getoption("--overwrite"):
        path.write_text(out)
    assert out == path.read_text(), f"{golden} differs (pytest tests/test_reference.py --overwrite -k golden)"


def test_layers_json_has_the_reference_facts() -> None:
    import json

    code, out = _cli(["layers", "Conv2d", "--format", "json"])
    info = json.loads(out)
    assert code == 0 and info["weights"] == "C_out*k**2*floor(C_in/g)" and info["bias"] == "C_out"
    assert info["equations"][0] == {"symbol": "H_out", "text": "floor((H_in + 2*p - d*(k - 1) - 1)/s) + 1",
                                    "latex": info["equations"][0]["latex"]}
    assert {s["symbol"] for s in info["symbols"]} >= {"C_in", "H_in", "k", "s", "p", "d", "g", "C_out"}
    assert any(m["argument"] == "padding" and m["value"] == "same" for m in info["modes"])
    errors = {c["label"]: c["framework_error"] for c in info["condition_details"]}
    assert errors["in_channels % groups"] == "in_channels must be divisible by groups"
    assert info["reference"] == "docs/layers/torch/Conv2d.md"
