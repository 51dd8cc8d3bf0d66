"""The Derive reply written as bytes (`convert.derive_reply`: layers encoded by hand, issue 13's cold Derive)
is byte for byte what protobuf's message API serializes for the same content, on every example, never-valid
specs, a deep chain, fuzzed specs and all four option sets; and parses to the same message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import symshape
from symshape.deep import run_deep
from symshape.named import TOO_LARGE
from symshape.render import recurrence_text
from symshape_server import convert
from symshape_server.gen import shape_algebra_pb2 as pb
from tests.fuzzgen import derivations

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
OPTIONS = [(False, False), (True, False), (False, True), (True, True)]

NEVER = "framework: torch\ninput: [3, H]\nlayers:\n  - Conv1d: {in_channels: 4, out_channels: 2, kernel_size: 3}\n"
ODD = ("framework: torch\ninput: [C, L]\nlayers:\n  - Conv1d: {out_channels: 8, kernel_size: K}\n"
       "  - Identity: {}\n  - Flatten: {}\n  - Linear: {out_features: 10}\n")


def _chain(n: int) -> str:
    layers = "".join(f"  - Conv2d: {{out_channels: C{i}, kernel_size: K{i}, stride: S{i}}}\n" for i in range(n))
    return f"framework: torch\ninput: [C, H, W]\nlayers:\n{layers}"


def reference(d: Any, closed_forms: bool, layer_graphs: bool) -> bytes:
    """The reply built entirely through the message API, as convert.derive_response built it before derive_reply (every
    field a message, nothing taken from derive_reply's bytes), serialized without its derivation_id."""
    msg = pb.DeriveResponse(framework=d.framework, free_symbols=list(convert.free_symbols(d)))
    for name, info in d.symbols.items():
        sym = msg.symbols.add(name=name)
        if info.min is not None:
            sym.min = info.min
        if info.max is not None:
            sym.max = info.max
        if info.default is not None and -convert.INT64_MAX - 1 <= info.default <= convert.INT64_MAX:
            sym.default_value = info.default
    never = tuple(d.never_valid)
    shown = convert._Shown(d, closed_forms, layer_graphs)
    large = {ly.index for ly in d.layers if shown.too_large(ly)} if closed_forms and not never else set()
    if never:
        msg.never_valid = True
        msg.never_valid_reasons.extend(convert._never_valid_reasons(d, never))
    else:
        msg.output_shape.dims.extend(convert.expression(s, d) for s in d.output_shape)
        msg.closed_form.dims.extend(convert.expression(s, d) for s in d.closed_form)
        shown.network_counts(msg.counts, d)
        if not closed_forms or large:
            for size in shown.names.definitions():
                item = msg.sizes.add(name=size.name.name, layer=size.layer, output=size.output, axis=size.axis)
                item.definition.CopyFrom(convert._definition(shown, size.definition))
    for ly in d.layers:
        out = msg.layers.add(index=ly.index, name=ly.name, kind=ly.kind, inputs=ly.inputs,
                             recurrence=recurrence_text(ly, d.framework),
                             closed_form_note=TOO_LARGE if ly.index in large else "")
        if not never:
            out.outputs.extend(shown.shape(s) for s in ly.outputs)
            out.counts.CopyFrom(shown.layer_counts_of(ly))
    for nc, rel in d.constraints(closed_forms):
        c = msg.constraints.add(layer_name=nc.layer.name if nc.layer else "", origin=nc.origin,
                                label=nc.condition.label, relation=shown.network(rel), note=nc.condition.note)
        if nc.layer is not None:
            c.layer = nc.layer.index
    return msg.SerializeToString()


def _check(d: Any) -> None:
    for closed_forms, layer_graphs in OPTIONS:
        got = run_deep(convert.derive_reply, d, closed_forms, layer_graphs)
        assert got == run_deep(reference, d, closed_forms, layer_graphs)
        # the message API's own serialization of what was parsed gives the same bytes (field order, presence)
        assert pb.DeriveResponse.FromString(got).SerializeToString() == got


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples(path: Path) -> None:
    _check(symshape.derive(path, cache=False))


@pytest.mark.parametrize("text", [NEVER, ODD, _chain(40)], ids=["never valid", "odd layers", "chain of 40"])
def test_specs(text: str) -> None:
    d = symshape.derive(text, cache=False)
    if text is NEVER:
        assert d.never_valid  # the never-valid branch: layers without outputs or counts
    _check(d)


def test_fuzzed() -> None:
    ds = derivations(7000, 200)
    assert len(ds) > 40
    for d in ds:
        _check(d)


def test_layer_fields() -> None:
    """What a client reads from a layer: every field, the empty and zero ones left out."""
    d = symshape.derive(ODD, cache=False)
    msg = pb.DeriveResponse.FromString(convert.derive_reply(d))
    assert msg.derivation_id == ""  # the server puts the id in front
    first, ident = msg.layers[0], msg.layers[1]
    assert (first.index, first.kind, list(first.inputs)) == (0, "Conv1d", ["input"])
    assert ident.index == 1 and ident.kind == "Identity" and list(ident.inputs) == [first.name]
    assert [e.text for e in first.outputs[0].dims] == ["8", "L - K + 1"]
    assert first.counts.trainable.text == "8*C*K + 8"
    assert list(first.recurrence) and not first.closed_form_note
