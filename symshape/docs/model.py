"""A network's derivation document, built from a `Derivation` as format-neutral blocks.

Deep networks stay linear in size: each layer's new sizes get a name (x_1, x_2, ...) and layer k
is written in terms of the sizes before it, from the derivation's size atoms (`Derivation.defs`).
Only the network's output (and, when it is a constant, the last size the inputs reach) is shown in
closed form, with the merges of its floors (:mod:`symshape.docs.steps`), the first few of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import sympy
from sympy import Expr, Integer, Symbol

from ..algebra import Dim, as_expr
from ..derive import Derivation, LayerResult, NetCondition
from ..errors import LimitError, SymshapeError
from ..layers.base import Ctx
from ..layout import batch_layout
from ..printing import _Printer, to_latex
from ..render import batched, evaluated_batched
from ..views import count_text
from .blocks import Bullets, Code, Document, Heading, Line, Link, Math, MathBlock, Para, Table, line
from .conventions import notes
from .example import SEARCH_HI, Example, choose_example
from .formulas import General, general, mode, substituted_tex, substitutions
from .glossary import glossary
from .plots import NoPlotting, counts, graph, is_graph, staircase
from .steps import Steps, closed_form_steps, lhs, rhs

SHORT = 40  # expression nodes: a condition larger than this in the input symbols is shown in named sizes


class NamedPrinter(_Printer):
    """symshape's LaTeX printer, with size atoms printed as their names and symbols' LaTeX cached."""

    def __init__(self, names: dict[Expr, str]) -> None:
        super().__init__(True)
        self.names = names

    def paren(self, e: Expr, level: int) -> str:
        return self.names[e] if e in self.names else super().paren(e, level)  # a name needs no parentheses

    def node(self, e: Expr) -> str:
        named = self.names.get(e)
        if named is not None:
            return named
        return _symbol_tex(e) if isinstance(e, Symbol) else super().node(e)


@lru_cache(maxsize=1 << 16)
def _symbol_tex(s: Symbol) -> str:
    return sympy.latex(s)


class Namer:
    """x_1, x_2, ... for the derivation's size atoms, in the order the layers make them."""

    def __init__(self, d: Derivation) -> None:
        taken = set(d.symbols)
        prefix = "x"
        while any(n.startswith(prefix + "_") for n in taken):
            prefix += "x"
        self.prefix = prefix
        self.names: dict[Expr, Symbol] = {}
        self.first: dict[Expr, int] = {}  # atom -> the layer that makes it
        self.printer: NamedPrinter | None = None
        self.local_printer: NamedPrinter | None = None
        for ly in d.layers:
            for shape in ly.outputs:
                for s in shape:
                    if isinstance(s, Dim) and s not in self.names:
                        self.names[s] = Symbol(f"{prefix}_{len(self.names) + 1}", integer=True)
                        self.first[s] = ly.index

    def __call__(self, e: object) -> Expr:
        e = as_expr(e)
        return e.xreplace(self.names) if isinstance(e, sympy.Basic) else e  # type: ignore[return-value]

    def tex(self, e: object) -> str:
        """LaTeX of `e` with its size atoms as their names (printed without rebuilding `e`; one printer per
        document, so shared parts are printed once)."""
        if self.printer is None:
            self.printer = NamedPrinter({a: sympy.latex(n) for a, n in self.names.items()})
        return self.printer(as_expr(e))

    def local(self, d: Derivation, e: object) -> str:
        """LaTeX of `e` in named sizes, with every size's formula written as the name it defines (MACs read
        x_2^2, not the floor again; a downsampling branch's size as the main branch's name)."""
        if self.local_printer is None:
            names = {a: sympy.latex(n) for a, n in self.names.items()}
            for a in self.names:
                if a in d.defs and not d.defs[a].is_Atom:
                    names.setdefault(d.defs[a], names[a])
            self.local_printer = NamedPrinter(names)
        return self.local_printer(as_expr(e))


def _shape_tex(items: list[str]) -> str:
    return r"\left(" + ", ".join(items) + ("," if len(items) == 1 else "") + r"\right)"


def _count(v: object, tex: str) -> Line:
    if isinstance(v, (int, Integer)):
        return line(count_text(int(v)))
    return line(Math(tex))


def _spec_args(d: Derivation, ly: LayerResult) -> str:
    """The layer's arguments as written in the spec (untrusted text: renderers escape it)."""
    raw = d.spec.layers[ly.index].args
    return ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in raw.items())


def _split(d: Derivation, ly: LayerResult) -> tuple[Expr, Expr] | None:
    """(weights, bias) of the layer's trainable parameters, when its rule has a bias switch that is on."""
    flag = next((f for f in ("use_bias", "bias") if getattr(ly.args, f, None) is True), None)
    wrapped = getattr(ly.args, "layer", None)
    if flag is None and isinstance(wrapped, tuple) and len(wrapped) == 2 and isinstance(wrapped[1], dict) and \
            wrapped[1].get("use_bias", True) is True:  # keras Bidirectional: the wrapped layer's bias switch
        args = SimpleNamespace(**{**vars(ly.args), "layer": (wrapped[0], {**wrapped[1], "use_bias": False})})
    elif flag is None:
        return None
    else:
        args = SimpleNamespace(**{**vars(ly.args), flag: False})
    from .reference_facts import _parser  # a wrapped layer's raw arguments (units: U), read as the spec does

    ctx = Ctx(ly.rule.framework, _parser({n: s.symbol for n, s in d.symbols.items()}), ly.name, ly.kind)
    try:
        out = ly.rule.apply(args, list(ly.input_shapes), ctx)
    except SymshapeError:
        return None
    weights = out.trainable
    bias = sympy.expand(ly.trainable - weights)
    return (weights, bias) if bias != 0 else None


def input_symbols(d: Derivation) -> list[str]:
    """The symbols the input shapes use, in the spec's order."""
    used = {s.name for shape in d.inputs.values() for e in shape for s in as_expr(e).free_symbols}
    return [s for s in d.symbols if s in used]


def fills(d: Derivation) -> dict[str, list[str]]:
    """symbol -> where it is used: input axes and layer arguments."""
    out: dict[str, list[str]] = {s: [] for s in d.symbols}
    for name, shape in d.inputs.items():
        for k, e in enumerate(shape):
            for s in as_expr(e).free_symbols:
                if s.name in out:
                    out[s.name].append(f"input '{name}' axis {k}")
    for s in as_expr(d.batch).free_symbols if d.batch is not None else ():
        if s.name in out:
            out[s.name].append("the batch size")
    known = set(out)
    for ly in d.layers:
        for arg in d.spec.layers[ly.index].args:
            value = getattr(ly.args, arg, None)
            wrapped = isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and \
                isinstance(value[1], dict)  # keras Bidirectional's layer: (kind, its raw arguments)
            for n in sorted(_symbols_in(value[0] if wrapped else value) & known):
                out[n].append(f"{ly.name}.{arg}")
            if wrapped:
                for key, raw in value[1].items():
                    for n in sorted(_names_in_raw(raw) & known):
                        out[n].append(f"{ly.name}.{arg}.{value[0]}.{key} ({key} of the wrapped {value[0]})")
    return out


def _walk(value: object) -> Iterator[object]:
    """Every leaf of a parsed or raw argument: nested tuples, lists, sets and dicts (keys and values) are
    opened (torch ZeroPad2d's padding is ((top, bottom), (left, right)), keras Cropping2D's cropping the
    same, Reshape's target shape a tuple). Iterative, and each container is read once (an argument is the
    spec's own bounded data)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, (tuple, list, set, frozenset)):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        else:
            yield v


def _symbols_in(value: object) -> set[str]:
    """The names of the symbols in a parsed argument, at any depth."""
    return {s.name for v in _walk(value) if isinstance(v, sympy.Basic) for s in v.free_symbols}


def _names_in_raw(raw: object) -> set[str]:
    """The names written in a raw (unparsed) argument at any depth: a wrapped layer's `units: 2*U`."""
    return {n for v in _walk(raw) if isinstance(v, str) for n in re.findall(r"[A-Za-z_]\w*", v)}


def build(d: Derivation, descriptions: Mapping[str, str], example: Mapping[str, int] | None = None,
          image: str = "model.svg", analysis: Analysis | None = None, source: str | None = None) -> Document:
    """The whole document; `example` binds the symbols for the worked example (None: chosen here).
    `analysis`: the derivation's reduced conditions, when computed beforehand (under their own time limit).
    `source`: where the spec was read, for the title (default: the derivation's own; a cached derivation
    of the same network may have been read from elsewhere)."""
    source = (source if source is not None else d.spec.source) or ""
    title = Path(source).name if source and not source.startswith("<") else f"{d.framework} network"
    doc = Document(f"Derivation of {title}")
    namer = Namer(d)
    doc.add(Heading(1, doc.title))
    if descriptions.get(""):
        doc.add(Para(line(descriptions[""])))
    lay = batch_layout(d)  # the batch where the framework puts it, as `symshape derive` and `cost` print it
    inputs = "; ".join((f"{n} " if n != "input" else "") + "(" + ", ".join(
        to_latex(s) for s in batched(d, shape, lay.input(n))) + ")" for n, shape in d.inputs.items())
    analysis = analysis or Analysis.of(d)
    never = analysis.never
    naming = () if never or not namer.names else (" Each layer's new sizes are named ", Math(namer.prefix + "_{k}"),
                               " and written in terms of the sizes before them; only the output is shown in "
                               "closed form.")
    where = "first" if lay.batch_first else "where each layer puts it"
    batch = (" (batch axis excluded).",) if d.batch is None else \
        (" (the batch ", Math(to_latex(d.batch)), f" {where}; {d.mode} mode).")
    doc.add(Para(line(f"Framework: {d.framework}. Input ", Math(inputs), *batch, *naming)))
    if never:  # no value of the symbols is valid: why, the spec's facts, and no sizes or counts
        doc.add(Heading(2, "Never valid", "never-valid"),
                Para(line("No value of the symbols makes this network valid, so it has no output shape, "
                          "parameter count or MACs to show. The conditions that always fail:")),
                Bullets(tuple(line(r) for r in d.never_valid_reasons())))
        _never_summary(doc, d)
        _glossary(doc, d, descriptions)
        _layers(doc, d, namer, results=False)
        return doc
    _summary(doc, d, namer)
    _glossary(doc, d, descriptions)
    _layers(doc, d, namer)
    ex = choose_example(d, example, input_symbols(d), bool(never))
    _closed_form(doc, d, namer, ex)
    _validity(doc, d, namer, ex, analysis)
    _example(doc, d, namer, ex)
    _cost(doc, d, namer, ex)
    _plot(doc, d, ex, image)
    _count_plots(doc, d, ex, image)
    _graph(doc, d, namer, image)
    _contents(doc)
    return doc


def _contents(doc: Document) -> None:
    """A line of links to the sections, after the introduction."""
    heads = [b for b in doc.blocks if isinstance(b, Heading) and b.level == 2 and b.anchor]
    if len(heads) < 3:
        return
    parts: list[Link | str] = ["Contents: "]
    for k, h in enumerate(heads):
        parts += ([" · "] if k else []) + [Link(h.text, h.anchor)]
    at = doc.blocks.index(heads[0])
    doc.blocks.insert(at, Para(line(*parts)))


def _summary(doc: Document, d: Derivation, namer: Namer) -> None:
    rows = []
    lay = batch_layout(d)
    for i, ly in enumerate(d.layers):
        shape = _shape_tex([namer.tex(s) for s in batched(d, ly.output_shape, lay.output(i))])
        rows.append((line(str(ly.index)), line(Code(ly.name)), line(ly.kind), line(Math(shape)),
                     _count(ly.params, namer.tex(ly.params)), _count(ly.macs, namer.local(d, ly.macs))))
    doc.add(Heading(2, "Summary", "summary"),
            Table(("#", "Layer", "Type", "Output shape", "Parameters", "MACs"), tuple(rows), numeric=(0, 4, 5)))
    total, trainable, non_trainable = d.normal_form(d.params), d.normal_form(d.trainable), \
        d.normal_form(d.non_trainable)
    macs = sympy.Add(*[ly.macs for ly in d.layers])
    items = [line("Parameters: ", *_count(total, to_latex(total)), " (trainable ", *_count(trainable, to_latex(
        trainable)), ", non-trainable ", *_count(non_trainable, to_latex(non_trainable)), ")"),
             line("MACs (multiply-adds, bias excluded): ", *_count(macs, namer.local(d, macs)))]
    if d.buffers != 0:
        buffers = d.normal_form(d.buffers)
        items.append(line("Buffers: ", *_count(buffers, to_latex(buffers))))
    doc.add(Bullets(tuple(items)))


def _never_summary(doc: Document, d: Derivation) -> None:
    rows = tuple((line(str(ly.index)), line(Code(ly.name)), line(ly.kind)) for ly in d.layers)
    doc.add(Heading(2, "Summary", "summary"), Table(("#", "Layer", "Type"), rows, numeric=(0,)))


def _glossary(doc: Document, d: Derivation, descriptions: Mapping[str, str]) -> None:
    doc.add(*glossary(d, descriptions, fills(d) if d.symbols else {}))


def _layers(doc: Document, d: Derivation, namer: Namer, results: bool = True) -> None:
    """Each layer: its arguments and general formula; with `results`, also its sizes and counts."""
    doc.add(Heading(2, "Layers", "layers"))
    generic: dict[tuple[str, str], tuple[General | None, int]] = {}
    said: dict[str, int] = {}  # a convention note -> the layer that gave it in full
    for ly in d.layers:
        m = mode(ly.rule, ly.args)
        key = (ly.rule.framework, ly.rule.name, m.title if m is not None else "")
        doc.add(Heading(3, f"{ly.index}. {ly.name} ({ly.kind})", f"layer-{ly.index}"))
        items: list[Line] = []
        args = _spec_args(d, ly)
        if args:
            items.append(line("Arguments: ", Code(args)))
        if key not in generic:
            info = m.general if m is not None else general(ly.rule)
            generic[key] = (info, ly.index)
            which = f"{ly.rule.framework} {ly.rule.name}" + (f", {m.title}" if m is not None and m.title else "")
            if info is None:
                items.append(line(f"General formula: that of the wrapped layer ({ly.rule.framework} {ly.rule.name} "
                                  "has no form of its own)."))
            else:
                items.append(line(f"General formula ({which}): input ",
                                  Math(info.inputs), ", output ", Math(info.outputs), ", parameters ",
                                  Math(info.trainable), ", MACs ", Math(info.macs)))
        else:
            items.append(line(f"General formula: as in layer {generic[key][1]}."))
        if not results:
            doc.add(Bullets(tuple(items)))
            continue
        ins = "; ".join(_shape_tex([namer.tex(s) for s in shape]) for shape in ly.input_shapes)
        outs = "; ".join(_shape_tex([namer.tex(s) for s in shape]) for shape in ly.outputs)
        items.append(line("This layer: input ", Math(ins), ", output ", Math(outs)))
        new = [a for shape in ly.outputs for a in dict.fromkeys(shape) if namer.first.get(a) == ly.index]
        put = substitutions(m, ly.args, tuple(ly.input_shapes), {n: s.symbol for n, s in d.symbols.items()}) \
            if m is not None else {}
        where = {a: (o, j) for o, shape in enumerate(ly.outputs) for j, a in enumerate(shape)}
        for a in dict.fromkeys(new):
            simplified = namer.tex(d.defs[a])
            s = put.get(where[a])
            middle = substituted_tex(s, namer.tex) if s is not None else simplified
            eq = f"{namer.tex(a)} = " + (f"{middle} = " if middle != simplified else "") + simplified
            items.append(line(Math(eq)))
        for (o, j), s in put.items():  # a size that is no new name (H - 2): the formula put in, on its axis
            size = ly.outputs[o][j]
            if size in where and where[size] == (o, j) and namer.first.get(size) != ly.index and \
                    (middle := substituted_tex(s, namer.tex)) != namer.tex(size):
                axis = f"output {o + 1}, axis {j}" if len(ly.outputs) > 1 else f"axis {j}"
                items.append(line(f"Size on {axis}: ", Math(f"{middle} = {namer.tex(size)}")))
        for n in notes(ly):  # in full once; later layers point back to it
            first = said.setdefault(n, ly.index)
            again = f"as in layer {first} ({n.split(':')[0]})."
            items.append(line("Convention: " + (n if first == ly.index else again)))
        split = _split(d, ly)
        if split is not None:
            w, b = split
            items.append(line("Parameters: weights ", *_count(w, namer.tex(w)), ", bias ", *_count(b, namer.tex(b)),
                              ", total ", *_count(ly.trainable, namer.tex(ly.trainable))))
        elif ly.trainable != 0:
            items.append(line("Parameters: ", *_count(ly.trainable, namer.tex(ly.trainable))))
        if ly.non_trainable != 0:
            items.append(line("Non-trainable parameters: ", *_count(ly.non_trainable, namer.tex(ly.non_trainable))))
        if ly.macs != 0:
            items.append(line("MACs: ", *_count(ly.macs, namer.local(d, ly.macs))))
        doc.add(Bullets(tuple(items)))


def _closed_form(doc: Document, d: Derivation, namer: Namer, ex: Example) -> None:
    doc.add(Heading(2, "Output in closed form", "closed-form"))
    doc.add(MathBlock(_shape_tex([to_latex(s) for s in batched(d, d.closed_form, batch_layout(d).outputs[0])])))
    steps = closed_form_steps(d)
    if not steps.total and ex.plot is not None and ex.plot[1] is not None:
        ly = d.layers[ex.plot[1]]  # the output does not depend on the input sizes: the last size that does
        doc.add(Para(line(f"The output does not depend on the input sizes; the last layer whose sizes do, "
                          f"layer {ly.index} '{ly.name}' ({ly.kind}), in closed form:")),
                MathBlock(_shape_tex([to_latex(d.collapse(s)) for s in ly.output_shape])))
        steps = layer_steps(d, ly)
    _steps(doc, namer, steps)


def layer_steps(d: Derivation, ly: LayerResult) -> Steps:
    return closed_form_steps(d, targets=ly.output_shape)


def _steps(doc: Document, namer: Namer, steps: Steps) -> None:
    if not steps.total:
        return
    doc.add(Heading(3, "How the floors merged", "closed-form-steps"),
            Para(line("Each layer's size is a floor of the size before it. Replacing a named size by its "
                      "definition (from its layer above) nests two floors, and they merge by the identity, "
                      "true for integers x, c and positive integers a, b:")),
            MathBlock(r"\left\lfloor \frac{\left\lfloor \frac{x}{a} \right\rfloor + c}{b} \right\rfloor = "
                      r"\left\lfloor \frac{x + a c}{a b} \right\rfloor"),
            Para(line(f"The merges, outermost first ({steps.total} in all" +
                      (f", the first {len(steps.merges)} shown" if steps.total > len(steps.merges) else "") +
                      "); each line is the identity with its x, a, c, b, given after it. A layer's size is "
                      "a floor plus 1, so c gathers the inner size's +1 with the outer layer's own offset "
                      "(for example +1 − 3 = −2):")))
    items: list[Line] = []
    for atom, m in steps.merges:
        where = [Math(namer.tex(atom)), f" (layer {namer.first[atom]}): "] if atom in namer.names else []
        values = ", ".join(f"{n} = {namer.tex(v)}" for n, v in (("x", m.x), ("a", m.a), ("c", m.c), ("b", m.b)))
        items.append(line(*where, Math(f"{to_latex(lhs(m, namer))} = {to_latex(rhs(m, namer))}"), " with ",
                          Math(values)))
    if steps.total > len(steps.merges):
        items.append(line(f"... and {steps.total - len(steps.merges)} more merges by the same identity (not shown: "
                          "the document stays linear in the network's depth)."))
    doc.add(Bullets(tuple(items)))


_OP_WORDS = {">=": "at least", ">": "more than", "<=": "at most", "<": "less than", "==": "equal to",
             "!=": "different from"}


def in_words(nc: NetCondition) -> str:
    """The condition as its layer states it: 'the output height is at least 1', 'axis 1 of the concatenated
    inputs is equal on both sides (all axes but the concatenation axis must agree)'."""
    c = nc.condition
    op = _OP_WORDS.get(c.op, c.op)
    rhs = as_expr(c.rhs)
    subject = f"the argument {c.label}" if " " not in c.label.strip() else f"the {c.label}"  # filters, units
    if isinstance(rhs, Integer):
        said = f"{subject} is {op} {count_text(int(rhs))}"
    elif c.op == "==":
        said = f"{c.label}: the two sides are equal"
    else:
        said = f"{subject} is {op} its bound"
    return said + (f" ({c.note})" if c.note else "")


def _validity(doc: Document, d: Derivation, namer: Namer, ex: Example, analysis: Analysis) -> None:
    doc.add(Heading(2, "Valid inputs", "validity"))
    shown = analysis.shown
    if shown is None:  # the reduction gave up: every condition, each in its layer's named sizes
        rows = []
        for nc in d.conditions:
            rel = nc.relation()
            if rel is sympy.true or (isinstance(rel, sympy.Basic) and not rel.free_symbols):
                continue
            tex = to_latex(rel) if nc.layer is None else namer.local(d, rel)
            rows.append((line(Math(tex)), line(nc.origin), line(in_words(nc))))
        doc.add(Para(line(f"Reducing the conditions to the tightest ones gave up ({analysis.why}); the network is "
                          "valid exactly when all of these hold, each in its layer's sizes:")),
                Table(("Condition", "From", "In words"), tuple(rows)))
    elif shown:
        doc.add(Para(line("The network is valid exactly when all of these hold (the tightest conditions, "
                          "each with the layer it comes from):")),
                Table(("Condition", "From", "In words"),
                      tuple((line(Math(_condition_tex(d, namer, nc, rel))), line(nc.origin), line(in_words(nc)))
                            for nc, rel in shown)))
    else:
        doc.add(Para(line("Valid for every value of the symbols." if d.symbols else "Valid.")))
    for sym, vs in ex.solved:
        others = ", ".join(f"{k} = {v}" for k, v in vs.bindings.items())
        said = f"With {others}, the exact set of valid {sym}: " if others else f"The exact set of valid {sym}: "
        doc.add(Para(line(said, Code(vs.text()))))
        if vs.explanation:
            doc.add(Bullets(tuple(line(e) for e in vs.explanation)))


@dataclass(frozen=True)
class Analysis:
    """The derivation's reduced conditions, or why they are missing (its analysis hit a limit)."""

    never: str | None
    shown: list[tuple[NetCondition, sympy.Basic]] | None
    why: str = ""

    @classmethod
    def of(cls, d: Derivation) -> Analysis:
        try:
            return cls(d.never_valid_reason(), d.constraints())
        except LimitError as err:
            return cls(None, None, str(err).split(":")[0])


def _condition_tex(d: Derivation, namer: Namer, nc: NetCondition, rel: sympy.Basic) -> str:
    """A condition in the input symbols when that is short, else in the named sizes (linear in depth)."""
    if nc.layer is None or _small(rel):
        return to_latex(rel)
    return namer.local(d, nc.relation())


def _small(e: sympy.Basic) -> bool:
    """At most SHORT nodes (counted up to SHORT + 1: constant time however deep `e` is)."""
    for k, _ in enumerate(sympy.preorder_traversal(e)):
        if k > SHORT:
            return False
    return True


def _example(doc: Document, d: Derivation, namer: Namer, ex: Example) -> None:
    doc.add(Heading(2, "Worked example", "example"))
    if ex.evaluation is None:
        doc.add(Para(line(ex.why)))
        return
    e = ex.evaluation
    doc.add(Para(line(ex.why + ": ", Code(", ".join(f"{k}={v}" for k, v in e.bindings.items())))))
    rows = []
    lay = e.batch_axes or batch_layout(d)  # where each tensor holds the batch (first unless the layer says)
    for i, (ly, lv) in enumerate(zip(d.layers, e.layers, strict=True)):
        sizes = []
        for atom, value in zip(ly.output_shape, lv.output_shape, strict=True):
            if namer.first.get(atom) == ly.index and value is not None:
                sizes.append(f"{namer.tex(atom)} = {value}")
        shape = "(" + ", ".join("?" if v is None else str(v)
                                for v in evaluated_batched(e.batch, lv.output_shape, lay.output(i))) + ")"
        rows.append((line(str(ly.index)), line(Code(ly.name)), _joined([Math(m) for m in dict.fromkeys(sizes)]),
                     line(shape), line(_num(lv.params)), line(_num(lv.macs))))
    doc.add(Table(("#", "Layer", "New sizes", "Output shape", "Parameters", "MACs"), tuple(rows), numeric=(0, 4, 5),
                  nowrap=(2, 3)))
    out = evaluated_batched(e.batch, e.output_shape, lay.outputs[0])
    doc.add(Bullets((line("Output shape: " + "(" + ", ".join(str(v) for v in out) + ")"),
                     line(f"Parameters: {_num(e.params)}; MACs: {_num(e.macs)}"),
                     line("Valid." if e.valid else _invalid_because(e)),
                     *(line(v.message) for v in e.violations))))
    if e.valid:
        _dropped(doc, d, ex)


def _invalid_because(e: object) -> str:
    """'Invalid: 3 violated conditions, failing at H = 63 (the values they name)': the example values that
    make the worked example invalid, from the violations' own 'at H=63' (each names the values it fails at)."""
    violations = list(getattr(e, "violations", ()))
    named: dict[str, str] = {}
    for v in violations:
        tail = v.message.rsplit(" at ", 1)[-1] if " at " in v.message else ""
        for m in re.finditer(r"([A-Za-z_]\w*)=(-?\d+)", tail.split(" (")[0]):
            named.setdefault(m.group(1), m.group(2))
    n = len(violations)
    said = f"Invalid: {n} violated condition{'s' if n != 1 else ''}"
    if named:
        said += ", failing at " + ", ".join(f"{k} = {v}" for k, v in named.items()) + \
            " (give other example values for a valid network)"
    return said + ":" if n else said + "."


def _cost(doc: Document, d: Derivation, namer: Namer, ex: Example) -> None:
    """The cost of training (symshape.cost.docs): FLOPs and memory as formulas in the named sizes, as the
    summary's MACs (linear in depth), and the numbers at the worked example."""
    from ..cost.docs import cost_blocks

    valid = ex.evaluation is not None and ex.evaluation.valid
    by_name = {str(a): a for a in d.defs}

    def cost_tex(e: object) -> str:  # a cost may hold size atoms no layer shows: write them as their definitions
        e = as_expr(e)
        if isinstance(e, sympy.Basic):  # the cost's own derivation (its batch and mode) has atoms of the same names
            e = e.xreplace({a: by_name[str(a)] for a in e.atoms(Dim) if a not in d.defs and str(a) in by_name})
        for _ in range(8):
            hidden = {a: d.defs[a] for a in e.atoms(Dim) if a not in namer.names and a in d.defs} \
                if isinstance(e, sympy.Basic) else {}
            if not hidden:
                break
            e = e.xreplace(hidden)
        return namer.local(d, e)

    doc.add(*cost_blocks(d, ex.bindings if valid else None, tex=cost_tex))


def _dropped(doc: Document, d: Derivation, ex: Example) -> None:
    """The rows the windows never read at the example (a stride grid that does not end at the input's end:
    AlexNet's 11x11/4 convolution at 224, where 227 reads every row) and the nearest sizes that read all."""
    from ..solve import dropped_at

    try:
        dropped = dropped_at(d, ex.bindings)
    except SymshapeError:
        return
    if not dropped:
        return
    items = [line(x.text()) for x in dropped]
    for sym in [s for s, _ in ex.solved]:
        near = _nearest_lossless(d, ex.bindings, sym)
        if near:
            items.append(line(f"Nearest {sym} where no layer drops a row along it (the others as here): "
                              + " or ".join(f"{sym} = {v}" for v in near) + "."))
    doc.add(Para(line("At these sizes some windows stop before the end of their input, so rows are never read:")),
            Bullets(tuple(items)))


def _nearest_lossless(d: Derivation, bindings: Mapping[str, int], sym: str, span: int = 256) -> list[int]:
    """The valid values of `sym` nearest its example value (others as bound), below and above, where no
    layer leaves a row unread along the axes `sym` reaches (exact int64 evaluation of the rows each layer
    drops, over a window of 2·span values)."""
    from ..program import ProgramBuilder

    b = ProgramBuilder(d.defs)
    regs = [b.add(as_expr(rows)) for ly in d.layers for _, rows in ly.dropped if sym in reached(d, [rows])]
    if not regs:
        return []
    program = b.build()
    v = bindings[sym]
    if abs(v) > 1 << 40 or any(abs(x) > 1 << 40 for x in bindings.values()):
        return []  # beyond int64 sweeps (the example itself is evaluated exactly)
    lo = d.symbols[sym].min if d.symbols[sym].min is not None else 1
    xs = np.arange(max(lo, v - span), v + span + 1, dtype=np.int64)
    cols = {**{k: x for k, x in bindings.items() if k != sym}, sym: xs}
    valid = np.asarray(d.evaluate_batch(cols, outputs=("output_shape",)).valid, dtype=bool)
    overflow = np.zeros(len(xs), dtype=bool)
    got = program.run_numpy({k: cols[k] for k in program.symbols}, regs, len(xs), overflow=overflow)
    whole = valid & ~overflow
    for r in regs:
        whole &= np.asarray(got[r]) == 0
    below, above = xs[whole & (xs < v)], xs[whole & (xs > v)]
    return [int(x) for x in (below[-1:].tolist() + above[:1].tolist())]


def _joined(parts: list[Math]) -> Line:
    out: list[Math | str] = []
    for k, p in enumerate(parts):
        out += [", ", p] if k else [p]
    return line(*out)


def _num(v: int | None) -> str:
    return "undefined" if v is None else count_text(v)


def _plot(doc: Document, d: Derivation, ex: Example, image: str) -> None:
    doc.add(Heading(2, "Output size against input size", "plot"))
    if ex.plot is None:
        doc.add(Para(line(ex.plot_why)))
        return
    sym, layer, axis = ex.plot
    try:
        fig = staircase(d, sym, axis, ex.bindings, image, SEARCH_HI, layer)
    except NoPlotting as err:
        doc.add(Para(line(f"No plot: {err}.")))
        return
    note = "" if layer is None else " (the last size it reaches: the output does not depend on it)"
    doc.add(Para(line(f"{fig.caption}{note}, the other symbols as in the worked example; invalid values shaded.")),
            fig)


MAX_COUNT_PLOTS = 6  # symbols plotted against parameters and MACs


def reached(d: Derivation, exprs: list[Expr]) -> set[str]:
    """The names of the symbols `exprs` depend on, through the size atoms' definitions (no closed form is
    built: linear in the number of atoms)."""
    seen: set[Expr] = set()
    names: set[str] = set()
    stack = [a for e in exprs for a in as_expr(e).free_symbols]
    while stack:
        a = stack.pop()
        if a in seen:
            continue
        seen.add(a)
        if a in d.defs:
            stack.extend(d.defs[a].free_symbols)
        elif not isinstance(a, Dim):
            names.add(a.name)
    return names


def _count_plots(doc: Document, d: Derivation, ex: Example, image: str) -> None:
    """Parameters and MACs against each symbol they depend on (the others as in the worked example)."""
    if not ex.bindings or ex.evaluation is None:
        return
    stem = Path(image).stem
    count_symbols = reached(d, [d.params, d.macs])
    symbols = [s for s in d.free_symbols if s in count_symbols]
    if not symbols:
        return
    doc.add(Heading(2, "Parameters and MACs against each symbol", "count-plots"))
    shown = symbols[:MAX_COUNT_PLOTS]
    first = f"the first {len(shown)} of the {len(symbols)} symbols" if len(symbols) > len(shown) else "each symbol"
    doc.add(Para(line(f"The counts against {first} they depend on, the other symbols as in the worked example; "
                      "values where the network is invalid shaded.")))
    for sym in shown:
        try:
            fig = counts(d, sym, ex.bindings, f"{stem}-counts-{sym}.svg", SEARCH_HI)
        except NoPlotting as err:
            doc.add(Para(line(f"No plot: {err}.")))
            return
        if fig is None:
            doc.add(Para(line(f"{sym}: fewer than two valid values near the example, or neither count changes "
                              "with it there; no plot.")))
            continue
        doc.add(fig)


MAX_GRAPH = 400  # layers drawn in a graph: past this a drawing is not legible (and Graphviz is slow)


def _graph(doc: Document, d: Derivation, namer: Namer, image: str) -> None:
    if not is_graph(d):
        return
    doc.add(Heading(2, "The graph", "graph"))
    if len(d.layers) > MAX_GRAPH:
        doc.add(Para(line(f"No drawing: {len(d.layers):,} layers are more than a drawing shows legibly "
                          f"(at most {MAX_GRAPH}); the layers above name each one's inputs.")))
        return
    sub = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
    named = re.compile(rf"\b{namer.prefix}_(\d+)")

    def size(s: object) -> str:
        return named.sub(lambda m: namer.prefix + m.group(1).translate(sub), str(namer(s)))

    shapes = {ly.index: "(" + ", ".join(size(s) for s in ly.output_shape) + ")" for ly in d.layers}
    try:
        fig = graph(d, shapes, f"{Path(image).stem}-graph.svg")
    except NoPlotting as err:
        doc.add(Para(line(f"No drawing: {err}.")))
        return
    doc.add(Para(line(f"{fig.caption} (sizes named as in the layers above).")), fig)
