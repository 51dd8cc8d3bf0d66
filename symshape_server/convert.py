"""Proto messages to library values and back. No math: every number and formula comes from symshape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sympy

from symshape.algebra import as_expr
from symshape.deep import run_deep
from symshape.derive import Derivation
from symshape.errors import SpecError
from symshape.evaluate import Evaluation
from symshape.named import TOO_LARGE
from symshape.portable import expression_graph
from symshape.printing import printer
from symshape.render import latex, text
from symshape.solve import ValueSet

from .gen import shape_algebra_pb2 as pb
from .wire import _field, _text_field, _varint

INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1
OP_ENUM = {"integer": pb.OP_INTEGER, "symbol": pb.OP_SYMBOL, "add": pb.OP_ADD, "mul": pb.OP_MUL, "pow": pb.OP_POW,
           "floor_div": pb.OP_FLOOR_DIV, "ceil_div": pb.OP_CEIL_DIV, "max": pb.OP_MAX, "min": pb.OP_MIN,
           "mod": pb.OP_MOD, "eq": pb.OP_EQ, "ne": pb.OP_NE, "ge": pb.OP_GE, "gt": pb.OP_GT, "le": pb.OP_LE,
           "lt": pb.OP_LT, "and": pb.OP_AND, "or": pb.OP_OR, "not": pb.OP_NOT}


# ---------------------------------------------------------------- requests -> library


def spec_payload(spec: pb.Spec, field: str) -> tuple[Any, str]:
    """(what symshape.derive takes, the request field it came from).

    Over gRPC a spec is content, never a path: text goes to the library as a str, never a Path, and
    a one-line text gets a final newline so that no version of the library can take it for a file
    name (a trailing newline changes nothing in YAML or JSON)."""
    which = spec.WhichOneof("source")
    if which == "text":
        text = spec.text if "\n" in spec.text else spec.text + "\n"
        return text, f"{field}.text"
    if which == "structured":
        return structured_to_dict(spec.structured), f"{field}.structured"
    raise SpecError(f"{field}: give the spec as text or structured")


def structured_to_dict(s: pb.StructuredSpec) -> dict[str, Any]:
    doc: dict[str, Any] = {"framework": s.framework}
    if len(s.inputs) == 1 and s.inputs[0].name in ("", "input"):
        doc["input"] = [value(v) for v in s.inputs[0].shape]
    else:
        doc["inputs"] = {i.name: [value(v) for v in i.shape] for i in s.inputs}
    if s.symbols:
        doc["symbols"] = {d.name: {**({"min": d.min} if d.HasField("min") else {}),
                                   **({"max": d.max} if d.HasField("max") else {}),
                                   **({"default": d.default_value} if d.HasField("default_value") else {})}
                          for d in s.symbols}
    doc["layers"] = [layer(ly) for ly in s.layers]
    if s.outputs:
        doc["outputs"] = list(s.outputs)
    return doc


def layer(ly: pb.Layer) -> dict[str, Any]:
    out: dict[str, Any] = {ly.kind: {k: value(v) for k, v in ly.args.items()}}
    if ly.name:
        out["name"] = ly.name
    if ly.inputs:
        out["inputs"] = list(ly.inputs)
    return out


def value(v: pb.Value) -> Any:
    which = v.WhichOneof("kind")
    if which == "list":
        return [value(x) for x in v.list.items]
    if which == "null" or which is None:
        return None
    if which == "layer":
        return {v.layer.kind: {k: value(x) for k, x in v.layer.args.items()}}
    return getattr(v, which)


def spec_field(field: str, err: SpecError) -> str:
    """The request field a spec error points at: spec.structured.layers[3].args[kernel_size], ..."""
    loc = err.location
    if not field.endswith(".structured") or loc.layer_index is None:
        return field
    out = f"{field}.layers[{loc.layer_index}]"
    return f"{out}.args[{loc.argument}]" if loc.argument else out


# ---------------------------------------------------------------- library -> responses


def expression(e: Any, d: Derivation | None = None, graph: bool = True) -> pb.Expression:
    msg = pb.Expression(text=text(e), latex=latex(e))
    if graph:
        _graph(msg, e, d.defs if d is not None else None)
    return msg


def _graph(msg: pb.Expression, e: Any, defs: Any) -> None:
    for op, args, val in expression_graph(e, defs):
        node = msg.graph.add(op=OP_ENUM[op], args=args)
        if op == "integer":
            node.integer = val
        elif op == "symbol":
            node.symbol = val


class _Shown:
    """How the Derive reply writes expressions (see DeriveRequest): closed forms, or in a deep network fed by
    many symbols the named sizes x_1, x_2, ... (`symshape.named`), so that the reply stays linear in depth.

    The network's own expressions get text, LaTeX and a graph; per-layer ones text only, unless
    `layer_graphs` (then LaTeX and a graph). A graph of a named form has the names as symbols: the
    reply's `sizes` (always with graphs) define them in order. (Opening the names in every graph would
    repeat the whole chain in each condition: quadratic again.)"""

    def __init__(self, d: Derivation, closed_forms: bool, layer_graphs: bool) -> None:
        self.d, self.closed_forms, self.layer_graphs = d, closed_forms, layer_graphs
        self.names = d.size_names
        # one memo for the whole reply (the network's expressions and the layers' share large parts: printed
        # once), each printed exactly as render.text / render.latex print it alone (names: the size atoms')
        self.text, self.tex = printer(False, self.names.names), printer(True)
        self.memo: dict[tuple[Any, bool], pb.Expression] = {}  # (expression, count) -> its message
        self.layer_counts: dict[tuple, pb.Counts] = {}  # a layer's five counts -> their message
        self.shapes: dict[tuple, pb.Shape] = {}  # a layer's output shape -> its message
        self.tails: dict[tuple, tuple[bytes, bytes]] = {}  # a layer's outputs and counts -> encoded (layer_tail)
        self.normal: dict[Any, Any] = {}  # a count -> its normal form (Derivation.normal_form)

    def network(self, e: Any) -> pb.Expression:
        """A network-level expression already in its shown form (atoms or names kept where named)."""
        named = as_expr(self.names.named(e))  # (no atoms left: the names change nothing in its text)
        text = run_deep(self.text, as_expr(e) if self.names.deep else named)  # as to_dict
        msg = pb.Expression(text=text, latex=run_deep(self.tex, named))
        _graph(msg, named, None)
        return msg

    def layer(self, e: Any, shown: bool = False) -> pb.Expression:
        """A per-layer expression's message (`shown`: already in its shown form, see `params`)."""
        hit = self.memo.get((e, shown))  # layers repeat their sizes and counts (ResNet-50: 1,571 -> ~300)
        if hit is None:
            hit = self.memo[(e, shown)] = self._layer(e if shown else self.form(e))
        return hit

    def _layer(self, shown: Any) -> pb.Expression:
        msg = pb.Expression(text=self.text(as_expr(shown)))  # to_dict's text, term for term (names as printed)
        if self.layer_graphs:
            named = self.names.named(shown) if self.names.deep else as_expr(shown)
            msg.latex = run_deep(self.tex, as_expr(named))
            _graph(msg, named, None)
        return msg

    def closed(self, e: Any) -> bool:
        """Whether closed forms are asked for and `e`'s is small enough to give (`SizeNames.closable`)."""
        return self.closed_forms and self.names.closable(e)

    def form(self, e: Any) -> Any:
        """A size or count as to_dict shows it: closed form, or named where it must be."""
        return self.names.form(e, self.closed(e))

    def params(self, trainable: Any, non_trainable: Any) -> tuple[Any, Any, Any]:
        """(trainable, non_trainable, total) as to_dict shows them: closed forms multiplied out when small
        (one printed form), or as they are (named) when the total is named."""
        total = trainable + non_trainable
        if self.names.closed(total) or self.closed(total):
            return self.normal_form(trainable), self.normal_form(non_trainable), self.normal_form(total)
        return trainable, non_trainable, total

    def normal_form(self, e: Any) -> Any:
        hit = self.normal.get(e)  # layers repeat their counts
        if hit is None:
            hit = self.normal[e] = self.d.normal_form(e)
        return hit

    def too_large(self, ly: Any) -> bool:
        """Whether closed forms are asked for but this layer's are too large to give (it stays named)."""
        return self.closed_forms and not all(self.names.closable(e) for e in (
            *(s for shape in ly.outputs for s in shape), ly.macs, ly.trainable + ly.non_trainable, ly.buffers,
            ly.activations))

    def network_counts(self, msg: pb.Counts, d: Derivation) -> None:
        t, n, total = self.params(d.trainable, d.non_trainable)
        for name, e in (("trainable", t), ("non_trainable", n), ("total", total), ("buffers", self.form(d.buffers)),
                        ("macs", self.form(d.macs)), ("activations", self.form(d.activations))):
            getattr(msg, name).CopyFrom(self.network(e))

    def layer_counts_of(self, ly: Any) -> pb.Counts:
        """A layer's counts message (layers repeat their counts: one message each, copied into the reply)."""
        key = (ly.trainable, ly.non_trainable, ly.buffers, ly.macs, ly.activations)
        done = self.layer_counts.get(key)
        if done is None:  # (one constructor call: the six messages copied in at once)
            t, n, total = self.params(ly.trainable, ly.non_trainable)
            done = self.layer_counts[key] = pb.Counts(
                trainable=self.layer(t, True), non_trainable=self.layer(n, True), total=self.layer(total, True),
                buffers=self.layer(ly.buffers), macs=self.layer(ly.macs), activations=self.layer(ly.activations))
        return done

    def layer_tail(self, ly: Any) -> tuple[bytes, bytes]:
        """A layer's outputs and counts, encoded (LayerDerivation's fields 5 and 7): built once per distinct
        outputs and counts (layers repeat them: ResNet-50's 175 layers have ~50), written into each layer's
        bytes (`_layer_bytes`)."""
        key = (ly.outputs, ly.trainable, ly.non_trainable, ly.buffers, ly.macs, ly.activations)
        done = self.tails.get(key)
        if done is None:
            done = self.tails[key] = (
                b"".join([_field(5, self.shape(s).SerializeToString()) for s in ly.outputs]),
                _field(7, self.layer_counts_of(ly).SerializeToString()))
        return done

    def shape(self, shape: tuple) -> pb.Shape:
        """A layer's output shape message (layers repeat their shapes: one message each)."""
        done = self.shapes.get(shape)
        if done is None:
            done = self.shapes[shape] = pb.Shape(dims=[self.layer(s) for s in shape])
        return done


def derive_reply(d: Derivation, closed_forms: bool = False, layer_graphs: bool = False) -> bytes:
    """The Derive reply's bytes (see DeriveRequest for the options) without its derivation_id: the server puts the
    id first (fields concatenate).

    The network's part goes through the message API; each layer is written straight to bytes (index,
    name, kind, inputs and recurrence around its outputs and counts, which layers repeat: encoded once),
    since building 175 layer messages costs more than the rest of a ResNet-50's reply. Fields are
    written in number order, as protobuf serializes them (tests/test_derive_reply.py compares the bytes
    with the message API's)."""
    from symshape.render import recurrence_text

    head = pb.DeriveResponse(framework=d.framework, free_symbols=list(free_symbols(d)))  # fields 2-7
    for name, info in d.symbols.items():
        sym = head.symbols.add(name=name)
        if info.min is not None:
            sym.min = info.min
        if info.max is not None:
            sym.max = info.max
        if info.default is not None and -INT64_MAX - 1 <= info.default <= INT64_MAX:  # an example: none past int64
            sym.default_value = info.default
    rest = pb.DeriveResponse()  # fields 9-12, after the layers (8)
    never = tuple(getattr(d, "never_valid", ()) or ())  # Derivation.never_valid: conditions false for every value
    shown = _Shown(d, closed_forms, layer_graphs)
    large = {ly.index for ly in d.layers if shown.too_large(ly)} if closed_forms and not never else set()
    if never:  # no value of the symbols is valid: no sizes or counts (they would describe no network)
        rest.never_valid = True
        rest.never_valid_reasons.extend(_never_valid_reasons(d, never))
    else:
        head.output_shape.dims.extend(expression(s, d) for s in d.output_shape)
        head.closed_form.dims.extend(expression(s, d) for s in d.closed_form)
        shown.network_counts(head.counts, d)
        if not closed_forms or large:  # the names the layers are written in
            for size in shown.names.definitions():
                item = rest.sizes.add(name=size.name.name, layer=size.layer, output=size.output, axis=size.axis)
                item.definition.CopyFrom(_definition(shown, size.definition))
    framework = d.framework
    layers: list[bytes] = []
    recurrences: dict[tuple[str, ...], bytes] = {}
    texts: dict[str, bytes] = {}
    for ly in d.layers:
        # layers repeat their shapes, counts and recurrences: encoded once
        outputs, counts = (b"", b"") if never else shown.layer_tail(ly)
        layers.append(_layer_bytes(ly, outputs, _recurrence(recurrence_text(ly, framework), recurrences), counts,
                                   TOO_LARGE if ly.index in large else "", texts))
    for nc, rel in d.constraints(closed_forms):
        c = rest.constraints.add(layer_name=nc.layer.name if nc.layer else "", origin=nc.origin,
                                 label=nc.condition.label, relation=shown.network(rel), note=nc.condition.note)
        if nc.layer is not None:
            c.layer = nc.layer.index
    return b"".join([head.SerializeToString(), *layers, rest.SerializeToString()])


def _layer_bytes(ly: Any, outputs: bytes, recurrence: bytes, counts: bytes, note: str,
                 memo: dict[str, bytes]) -> bytes:
    """DeriveResponse.layers' entry (field 8) for one layer: LayerDerivation's fields in number order, each
    singular string left out when empty (proto3), every entry of a repeated one written; `memo` holds the
    kinds' fields (layers repeat them)."""
    parts = [b"\x08" + _varint(ly.index)] if ly.index else []
    if ly.name:
        parts.append(_text_field(b"\x12", ly.name))
    if ly.kind:
        kind = memo.get(ly.kind)
        if kind is None:
            kind = memo[ly.kind] = _text_field(b"\x1a", ly.kind)
        parts.append(kind)
    parts += [_text_field(b"\x22", i) for i in ly.inputs]
    parts += (outputs, recurrence, counts)
    if note:
        parts.append(_text_field(b"\x42", note))
    body = b"".join(parts)
    return b"\x42" + _varint(len(body)) + body


def _recurrence(texts: list[str], memo: dict[tuple[str, ...], bytes]) -> bytes:
    """LayerDerivation.recurrence (field 6) encoded, once per distinct recurrence."""
    key = tuple(texts)
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = b"".join([_text_field(b"\x32", t) for t in texts])
    return hit


COUNTS = ("trainable", "non_trainable", "buffers", "macs", "activations")


def _roots(d: Derivation) -> Iterator[Any]:
    """What `symshape.evaluate.Compiled` compiles, one expression at a time."""
    for nc in d.conditions:
        c = nc.condition
        yield from (c.lhs,) if c.op == "holds" else (c.lhs, c.rhs)
    for ly in d.layers:
        for shape in ly.outputs:
            yield from shape
        yield from (getattr(ly, name) for name in COUNTS)
    for _, shape in d.outputs:
        yield from shape
    yield d.batch


def free_symbols(d: Derivation) -> tuple[str, ...]:
    """`d.free_symbols` without compiling the evaluation program (a derivation worker builds that after
    sending the reply): the spec's symbols in what `symshape.evaluate.Compiled` compiles (conditions,
    each layer's sizes and counts, the outputs, the batch), size atoms opened through their definitions.
    tests/test_server_cold_derive.py checks it against `d.free_symbols` on every example."""
    if "compiled" in d.__dict__:  # compiled already: the library's answer costs nothing
        return d.free_symbols
    defs, seen, names, wanted = d.defs, set(), set(), len(d.symbols)
    for root in _roots(d):  # the conditions first: they name nearly every symbol, so the walk ends early
        if root is None or isinstance(root, bool):
            continue
        stack = [as_expr(root)]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if node in defs:  # a size atom stands for its definition
                stack.append(defs[node])
            elif isinstance(node, sympy.Symbol):
                if node.name in d.symbols:
                    names.add(node.name)
            else:
                stack.extend(node.args)
        if len(names) == wanted:  # every declared symbol found: nothing more to learn
            break
    return tuple(s for s in d.symbols if s in names)


def _definition(shown: _Shown, definition: Any) -> pb.Expression:
    """A named size's definition, as written (in the names before it), with a graph over the names (always:
    the graphs of named forms need them) and LaTeX with layer_graphs."""
    named = as_expr(shown.names.named(definition))
    msg = pb.Expression(text=run_deep(shown.text, named),
                        latex=run_deep(shown.tex, named) if shown.layer_graphs else "")
    _graph(msg, named, None)
    return msg


def _never_valid_reasons(d: Derivation, never: tuple) -> list[str]:
    """One line per condition that no value of the symbols satisfies."""
    if hasattr(d, "never_valid_reasons"):
        return list(d.never_valid_reasons())
    reason = d.never_valid_reason() if hasattr(d, "never_valid_reason") else None
    if reason:
        return [reason]
    return [f"{nc.origin}: {nc.condition.label} is false for every value of the symbols" for nc in never]


def _ints(values: list[int | None]) -> list[int]:
    """int64 values for a reply: undefined (None, a division by zero) is 0, and the violations say so."""
    out = [0 if v is None else v for v in values]
    if out and (max(out) > INT64_MAX or min(out) < -INT64_MAX - 1):
        big = next(v for v in out if not -INT64_MAX - 1 <= v <= INT64_MAX)
        raise OverflowError(f"a result ({big}) does not fit in int64")
    return out


def evaluate_response(key: str, e: Evaluation) -> pb.EvaluateResponse:
    msg = pb.EvaluateResponse(derivation_id=key, valid=e.valid)
    _fill_counts(msg.counts, e)
    msg.output_shape.dims.extend(_ints(list(e.output_shape)))
    for ly in e.layers:  # add() fills in place: building sub-messages first would copy them
        out = msg.layers.add(index=ly.index, name=ly.name, kind=ly.kind)
        _fill_counts(out.counts, ly)
        for shape in ly.output_shapes:
            out.outputs.add().dims.extend(_ints(list(shape)))
    for v in e.violations:
        viol = msg.violations.add(message=v.message)
        if v.layer is not None:
            viol.layer = v.layer
    return msg


def _fill_counts(msg: pb.IntCounts, o: Any) -> None:
    (msg.trainable, msg.non_trainable, msg.total, msg.buffers, msg.macs,
     msg.activations) = _ints([o.trainable, o.non_trainable, o.params, o.buffers, o.macs, o.activations])


def layer_info(info: dict[str, Any]) -> pb.LayerInfo:
    msg = pb.LayerInfo(framework=info["framework"], name=info["name"], summary=info["summary"],
                       conditions=info["conditions"])
    for a in info["arguments"]:
        msg.arguments.add(name=a["name"], required=a["required"], kind=a["kind"],
                          default="" if a["required"] else repr(a["default"]))
    for shape in info["inputs"]:
        msg.inputs.add().dims.extend(pb.Expression(text=s) for s in shape)
    for shape, tex in zip(info["outputs"], info["outputs_latex"], strict=True):
        msg.outputs.add().dims.extend(pb.Expression(text=s, latex=t) for s, t in zip(shape, tex, strict=True))
    msg.counts.CopyFrom(pb.Counts(trainable=pb.Expression(text=info["trainable"]),
                                  non_trainable=pb.Expression(text=info["non_trainable"]),
                                  buffers=pb.Expression(text=info["buffers"]), macs=pb.Expression(text=info["macs"])))
    return msg


def condition(answer: ValueSet) -> sympy.Basic:
    """The set as a SymPy boolean in the symbol alone, built from the pieces (never from text):
    Or over pieces of And(H >= lo, H <= hi, Eq(Mod(H - r, m), 0)), trivial parts left out."""
    h = sympy.Symbol(answer.symbol, integer=True)  # no sign assumption: H >= 1 stays a condition
    terms = []
    for p in answer.pieces:
        if p.hi is not None and p.lo == p.hi:
            parts = [sympy.Eq(h, p.lo, evaluate=False)]
        else:
            parts = [sympy.Ge(h, p.lo, evaluate=False)]
            if p.hi is not None:
                parts.append(sympy.Le(h, p.hi, evaluate=False))
            if p.modulus != 1:
                parts.append(sympy.Eq(sympy.Mod(h - p.residue, p.modulus), 0, evaluate=False))
        terms.append(parts[0] if len(parts) == 1 else sympy.And(*parts, evaluate=False))
    if not terms:
        return sympy.false
    return terms[0] if len(terms) == 1 else sympy.Or(*terms, evaluate=False)


def _int64(value: int, what: str) -> int:
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise OverflowError(f"{what} ({value}) does not fit in int64")
    return value


def solve_response(key: str, answer: ValueSet, near: int | None = None) -> pb.SolveResponse:
    msg = pb.SolveResponse(derivation_id=key, symbol=answer.symbol, lo=_int64(answer.lo, "lo"),
                           bindings=answer.bindings, text=answer.text(),
                           first=_ints(answer.first(20)), explanation=list(answer.explanation),
                           method=answer.method)
    if answer.hi is not None:
        msg.hi = _int64(answer.hi, "hi")
    for p in answer.pieces:
        piece = msg.pieces.add(lo=_int64(p.lo, "a piece's lo"), modulus=_int64(p.modulus, "a modulus"),
                               residue=p.residue)
        if p.hi is not None:
            piece.hi = _int64(p.hi, "a piece's hi")
    count = answer.count()
    msg.finite = count is not None  # ValueSet.finite is False for a periodic tail cut at hi: still finite
    if count is not None:
        if count > UINT64_MAX:
            raise OverflowError(f"the count ({count}) does not fit in uint64")
        msg.count = count
    if answer.start is not None and answer.residues:
        msg.periodic.start = _int64(answer.start, "the start")  # type: ignore[arg-type]
        msg.periodic.period = _int64(answer.period, "the period")
        msg.periodic.residues.extend(answer.residues)
    if near is not None:
        below, above = answer.nearest(near)
        if below is not None:
            msg.nearest_below = _int64(below, "the nearest member below")
        if above is not None:
            msg.nearest_above = _int64(above, "the nearest member above")
    msg.condition.CopyFrom(expression(condition(answer)))
    return msg
