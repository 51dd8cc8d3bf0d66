"""Human-readable views of derivations, evaluations and layer rules: rich tables, Markdown, LaTeX.

The table, Markdown and LaTeX views read the same collapsed expressions and constraints from the
derivation, so the three formats always say the same thing.
"""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from sympy import Integer

from .deep import run_deep
from .derive import Derivation
from .evaluate import Evaluation
from .layers.base import REQUIRED, AnyKind, LayerRule
from .layout import batch_layout
from .render import batched, evaluated_batched, latex, rule_formulas, text
from .views import count_text

__all__ = ["derivation_report", "evaluation_report", "layer_report", "layers_report"]


NO_WRAP = 100_000  # the console width when nothing should wrap (a pipe, a file, a notebook)


def _shape(items: list[str]) -> str:
    """A shape as Python writes a tuple: (64, 56, 56), (1000,)."""
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def count(v: object) -> str:
    """A count in text: 61,100,840 when it is a number, the expression otherwise."""
    if isinstance(v, (int, Integer)):
        return count_text(int(v))
    return "undefined" if v is None else text(v)


def tex_count(v: object) -> str:
    """A count in LaTeX: 61{,}100{,}840 when it is a number."""
    if isinstance(v, (int, Integer)):
        return count_text(int(v)).replace(",", "{,}")
    return latex(v)


def _console(width: int | None) -> tuple[Console, io.StringIO]:
    """A console writing to a buffer; width None: no wrapping (read the text back with `_text`)."""
    buf = io.StringIO()
    return Console(file=buf, width=width or NO_WRAP, no_color=True, highlight=False, emoji=False), buf


def _text(buf: io.StringIO) -> str:
    """The console's text without trailing spaces (rich pads table lines to the table's width)."""
    return "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())


def _never_valid(d: Derivation) -> tuple[str, ...]:
    """The reasons the spec is never valid (empty when some values of the symbols make it valid)."""
    reason = d.never_valid_reason()
    if not reason:
        return ()
    reasons = d.never_valid_reasons()
    return (reason, *reasons) if len(reasons) > 1 else (reason,)


def _never_valid_report(d: Derivation, reasons: tuple[str, ...], fmt: str) -> str:
    """A never-valid spec: the reasons first, and no sizes or counts (they would mean nothing)."""
    first, rest = reasons[0], reasons[1:]
    plain = first.removeprefix("never valid: ")
    if fmt == "markdown":
        return "\n".join([f"**Never valid**: {plain}", *(f"- {r}" for r in rest)]) + "\n"
    if fmt == "latex":
        return "\n".join([rf"\textbf{{Never valid}}: {_tex_escape(plain)}",
                          *(rf"\\ {_tex_escape(r)}" for r in rest)]) + "\n"
    return "\n".join([first, *(f"  {r}" for r in rest)]) + "\n"


def _tex_escape(s: str) -> str:
    from .docs.latex import escape  # every special and non-ASCII character, as the documents escape them

    return escape(s)


def network_rows(d: Derivation, closed_forms: bool = False) -> list[dict[str, Any]]:
    """Each layer's name, kind, output shape, parameters and MACs in closed form."""
    out = []
    def show(e: object) -> object:  # closed forms; named sizes in a deep network fed by many symbols (linear)
        return d.size_names.show(e, closed_forms)

    lay = batch_layout(d)
    for i, ly in enumerate(d.layers):
        params = show(ly.params)
        out.append({
            "name": ly.name, "kind": ly.kind,
            "shape": [show(s) for s in batched(d, ly.output_shape, lay.output(i))],
            "params": params, "macs": show(ly.macs),
        })
    return out


def _normal(d: Derivation, e: object, closed_forms: bool = False) -> object:
    """A count's one printed form: multiplied out when small (`Derivation.normal_form`); in named sizes
    in a deep network fed by many symbols."""
    names = d.size_names
    return d.normal_form(e) if closed_forms or names.closed(e) else names.named(e)


def sizes_lines(d: Derivation, fmt: str = "table") -> list[str]:
    """The named sizes of a deep network, one line each ('x_3 = floor((x_1 - F1 + 2*P1)/S1) + 1  [layer 1
    'conv2d_1' (Conv2d) height]'); none when every size is shown in closed form."""
    names = d.size_names
    out = []
    for s in names.definitions():
        ly = d.layers[s.layer]
        where = f"layer {ly.index} '{ly.name}' ({ly.kind}) output {s.output} axis {s.axis}"
        definition = names.named(s.definition)
        if fmt == "markdown":
            out.append(f"- ${latex(s.name)} = {latex(definition)}$ ({where})")
        elif fmt == "latex":
            out.append(rf"{latex(s.name)} &= {latex(definition)} \\")
        else:
            out.append(f"  {s.name} = {text(definition)}    [{where}]")
    return out


def derivation_report(d: Derivation, fmt: str = "table", width: int | None = None,
                      extra: dict[str, list[str]] | None = None, closed_forms: bool = False) -> str:
    """The symbolic summary in 'table', 'markdown' or 'latex' form (LaTeX: a standalone document); `extra`:
    more columns for the table and markdown, header -> one text per layer (`symshape derive --columns`).
    `closed_forms`: every layer in closed form, also in a deep network (quadratic in depth there)."""
    out = run_deep(_derivation_report, d, fmt, width, extra or {}, closed_forms)
    if fmt == "latex":
        from .docs.latex import standalone

        return standalone(out, f"{d.framework} network, input {_inputs(d)}")
    return out


def _inputs(d: Derivation) -> str:
    """The network's inputs as the summaries write them: `name (shape)`, the batch where the framework puts it."""
    lay = batch_layout(d)
    return ", ".join((f"{n} " if n != "input" else "") + _shape([text(s) for s in batched(d, shape, lay.input(n))])
                     for n, shape in d.inputs.items())


def _derivation_report(d: Derivation, fmt: str, width: int | None, extra: dict[str, list[str]] | None = None,
                       closed_forms: bool = False) -> str:
    extra = extra or {}
    never = _never_valid(d)
    if never:
        return _never_valid_report(d, never, fmt)
    rows = network_rows(d, closed_forms)
    constraints = d.constraints(closed_forms)
    lay = batch_layout(d)
    closed = list(batched(d, d.closed_form, lay.outputs[0]))
    total = _normal(d, d.params, closed_forms)  # one printed form for the three counts
    trainable, non_trainable = _normal(d, d.trainable, closed_forms), _normal(d, d.non_trainable, closed_forms)
    buffers, macs = d.size_names.show(d.buffers, closed_forms), d.size_names.show(d.macs, closed_forms)
    sizes = [] if closed_forms else sizes_lines(d, fmt)
    inputs = _inputs(d)
    if fmt == "markdown":
        lines = [f"**Input**: {inputs} ({d.framework}, {batch_note(d)})", "",
                 "| # | Layer | Kind | Output shape | Parameters |" + "".join(f" {h} |" for h in extra),
                 "|---|---|---|---|---|" + "---|" * len(extra)]
        for i, r in enumerate(rows):
            shape = _shape([latex(s) for s in r["shape"]])[1:-1]
            more = "".join(f" `{cells[i]}` |" for cells in extra.values())
            lines.append(f"| {i} | `{r['name']}` | {r['kind']} | $({shape})$ | ${tex_count(r['params'])}$ |{more}")
        if sizes:
            lines += ["", "**Sizes** (each layer's, in terms of the sizes before it):", "", *sizes]
        lines += ["", "**Output size (closed form)**: $" + _shape([latex(s) for s in closed]) + "$", "",
                  f"**Parameters**: ${tex_count(total)}$ (trainable ${tex_count(trainable)}$, "
                  f"non-trainable ${tex_count(non_trainable)}$"
                  + (f"; buffers ${tex_count(buffers)}$)" if buffers != 0 else ")"),
                  "", f"**MACs** (multiply-adds, bias excluded): ${tex_count(macs)}$", "", "**Valid when**:", ""]
        lines += [f"- ${latex(rel)}$ ({nc.origin}: {nc.condition.label})" for nc, rel in constraints] or \
            ["- always" if d.symbols else "- yes (no symbols)"]
        exact = valid_set(d)
        if exact is not None:
            lines += ["", f"**Valid inputs, exactly**: {exact}"]
        return "\n".join(lines) + "\n"
    if fmt == "latex":  # wrapped in a standalone document by derivation_report
        from .docs.blocks import Code, Math, line
        from .docs.blocks import Table as Tabular
        from .docs.latex import display, longtable

        table = Tabular(("#", "Layer", "Output shape", "Parameters"), tuple(
            (line(str(i)), line(Code(r["name"]), f" ({r['kind']})"), line(Math(_shape([latex(s) for s in r["shape"]]))),
             line(Math(tex_count(r["params"])))) for i, r in enumerate(rows)), numeric=(0,))
        lines = longtable(table)
        if sizes:
            lines += ["", r"\begin{align*}", *sizes, r"\end{align*}"]
        lines += ["", *display(r"\text{output} = " + _shape([latex(s) for s in closed])),
                  *display(rf"\text{{parameters}} = {tex_count(total)}"),
                  *display(rf"\text{{MACs}} = {tex_count(macs)}")]
        if constraints:  # a table: conditions break across lines and pages
            lines += ["", *longtable(Tabular(("Valid when", "From"), tuple(
                (line(Math(latex(rel))), line(f"{nc.origin}: {nc.condition.label}")) for nc, rel in constraints)))]
        exact = valid_set(d)
        if exact is not None:
            lines += ["", rf"\textbf{{Valid inputs, exactly}}: {_tex_escape(exact)}"]
        return "\n".join(lines) + "\n"
    console, buf = _console(width)
    table = Table(title=f"{d.framework} network, input {inputs}", box=box.SIMPLE_HEAVY, title_justify="left")
    for col, just in (("#", "right"), ("Layer (type)", "left"), ("Output shape", "left"), ("Param #", "right"),
                      *((h, "right") for h in extra)):
        table.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
    for i, r in enumerate(rows):
        table.add_row(str(i), f"{r['name']} ({r['kind']})", _shape([text(s) for s in r["shape"]]), count(r["params"]),
                      *(cells[i] for cells in extra.values()))
    console.print(table, markup=False)
    return _text(buf) + "".join(line + "\n" for line in totals_lines(d, closed_forms))  # never wrapped


def totals_lines(d: Derivation, closed_forms: bool = False) -> list[str]:
    """The lines under the table: closed form, counts and the conditions, as text."""
    total, trainable, non_trainable = (_normal(d, e, closed_forms) for e in (d.params, d.trainable, d.non_trainable))
    buffers, macs = d.size_names.show(d.buffers, closed_forms), d.size_names.show(d.macs, closed_forms)
    sizes = [] if closed_forms else sizes_lines(d)
    lines = [*(["Sizes (each layer's, in terms of the sizes before it):", *sizes] if sizes else []),
             f"Output size (closed form): "
             f"{_shape([text(s) for s in batched(d, d.closed_form, batch_layout(d).outputs[0])])}",
             f"Total params: {count(total)}",
             f"Trainable params: {count(trainable)}", f"Non-trainable params: {count(non_trainable)}",
             *([f"Buffers: {count(buffers)}"] if buffers != 0 else []), f"MACs: {count(macs)}"]
    constraints = d.constraints(closed_forms)
    if constraints:
        lines += ["Valid when:", *(f"  {text(rel)}    [{nc.origin}: {nc.condition.label}]" for nc, rel in constraints)]
    else:
        lines.append("Valid for every value of the symbols." if d.symbols else "Valid.")
    exact = valid_set(d)
    if exact is not None:
        lines.append(f"Valid inputs, exactly: {exact}")
    return lines


def valid_set(d: Derivation) -> str | None:
    """With one free symbol, the exact set of its valid values in closed form ("H ≥ 8 and H ≡ 0 (mod 8)");
    None otherwise (or when it has no closed form within the limits)."""
    free = d.free_symbols
    if len(free) != 1 or not d.constraints():
        return None
    from .errors import SymshapeError
    from .solve import solve

    try:
        return solve(d, free[0]).text()
    except SymshapeError:
        return None


def batch_note(d: Derivation) -> str:
    """'batch axis excluded', or 'batch B first' when the spec names its batch (`batch: B`), 'batch B where each
    layer puts it' when some tensor has it elsewhere (torch's batch_first=False: (L, B, E))."""
    if d.batch is None:
        return "batch axis excluded"
    return f"batch {text(d.batch)} " + ("first" if batch_layout(d).batch_first else "where each layer puts it")


def eval_shape(shape: tuple[int | None, ...], batch: int | None = None, axis: int = 0) -> str:
    """An evaluated shape; `batch` (the spec's `batch:` at the bindings), when given, at `axis` (first by
    default; `symshape.layout.batch_layout(d)` says where, per tensor)."""
    return _shape(["?" if s is None else count_text(s).replace(",", "") for s in evaluated_batched(batch, shape,
                                                                                                   axis)])


def evaluation_report(d: Derivation | None, e: Evaluation, width: int | None = None) -> str:
    """One evaluation as a table (`d`, when given, names the framework)."""
    console, buf = _console(width)
    bound = ", ".join(f"{k}={v}" for k, v in e.bindings.items())
    title = (f"{d.framework} network" if d is not None else "network") + (f" at {bound}" if bound else "")
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
    for col, just in (("#", "right"), ("Layer (type)", "left"), ("Output shape", "left"), ("Param #", "right"),
                      ("MACs", "right")):
        table.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
    lay = e.batch_axes or (batch_layout(d) if d is not None and e.batch is not None else None)
    for i, ly in enumerate(e.layers):
        table.add_row(str(ly.index), f"{ly.name} ({ly.kind})",
                      eval_shape(ly.output_shape, e.batch, lay.output(i) if lay else 0), count(ly.params),
                      count(ly.macs))
    console.print(table, markup=False)
    out = eval_shape(e.output_shape, e.batch, lay.outputs[0] if lay else 0)
    for label, value in (("Output shape", out), ("Total params", count(e.params)),
                         ("Trainable params", count(e.trainable)), ("Non-trainable params", count(e.non_trainable)),
                         *((("Buffers", count(e.buffers)),) if e.buffers else ()), ("MACs", count(e.macs)),
                         ("Activations", count(e.activations) + (" elements" if e.activations is not None else ""))):
        console.print(f"{label}: {value}", soft_wrap=True, markup=False)
    if e.violations:
        console.print(f"INVALID: {len(e.violations)} violated condition(s):")
        for v in e.violations:
            console.print(f"  {v.message}", soft_wrap=True, markup=False)
    else:
        console.print("Valid.")
    return _text(buf)


# ---------------------------------------------------------------- layer rules
# Every layer view reads the layer reference's facts (symshape.docs.reference_facts): the rule applied to
# its documented instance (symshape.layers.docmeta), the same object that computes networks.


def generic_instance(rule: LayerRule) -> tuple[SimpleNamespace, list[tuple]]:
    """The rule's documented instance: its parsed arguments (symbols k, s, p...) and input shapes (C_in...)."""
    from .docs.reference_facts import facts

    f = facts(rule)
    return f.namespace, [tuple(s) for s in f.inputs]


def layer_info(rule: LayerRule) -> dict[str, Any]:
    from .docs.reference import page_name

    return {
        "framework": rule.framework, "name": rule.name, "summary": rule.summary,
        "arguments": [{"name": a.name, "default": None if a.default is REQUIRED else a.default,
                       "required": a.required, "kind": a.kind.label} for a in rule.args
                      if not isinstance(a.kind, AnyKind)],
        "accepted": [a.name for a in rule.args if isinstance(a.kind, AnyKind)],
        **rule_formulas(rule),
        "reference": f"docs/layers/{page_name(rule)}",
    }


def layers_report(rules: list[LayerRule], fmt: str = "table", width: int | None = None) -> str:
    if fmt == "markdown":
        from .docs.reference import index_markdown

        return index_markdown(rules, link_prefix="docs/layers/")
    console, buf = _console(width)
    table = Table(box=box.SIMPLE_HEAVY)
    for col in ("Framework", "Layer", "Input", "Output", "Parameters"):
        table.add_column(col, overflow="fold")
    for rule in rules:
        info = run_deep(layer_info, rule)
        table.add_row(rule.framework, rule.name, "; ".join(_shape(s) for s in info["inputs"]),
                      "; ".join(_shape(s) for s in info["outputs"]), _params_text(info))
    console.print(table, markup=False)
    return _text(buf)


def _params_text(info: dict[str, Any]) -> str:
    total = info["trainable"] if info["non_trainable"] == "0" else \
        f"{info['trainable']} trainable + {info['non_trainable']} non-trainable"
    return total


def layer_report(rule: LayerRule, fmt: str = "table", width: int | None = None) -> str:
    if fmt == "markdown":
        from .docs.markdown import render
        from .docs.reference import layer_document

        return run_deep(lambda: render(layer_document(rule)))
    info = run_deep(layer_info, rule)
    console, buf = _console(width)

    def say(text_: str) -> None:
        console.print(text_, markup=False, soft_wrap=True)

    say(f"{rule.framework} {rule.name}: {rule.summary}")
    say("arguments: " + ", ".join(a["name"] + ("" if a["required"] else f"={a['default']!r}")
                                  for a in info["arguments"]))
    if info["accepted"]:
        say("also accepted (no effect on shapes or counts): " + ", ".join(info["accepted"]))
    documented = ", ".join(f"{k}={v}" if isinstance(v, str) else f"{k}={v!r}"
                           for k, v in info["documented_arguments"].items())
    say("documented as: " + (documented or "the defaults"))
    say("input:   " + "; ".join(_shape(s) for s in info["inputs"]))
    say("output:  " + "; ".join(_shape(s) for s in info["outputs"]))
    for eq in info["equations"]:
        say(f"  {eq['symbol']} = {eq['text']}")
    params = f"params:  {info['trainable']} trainable, {info['non_trainable']} non-trainable, {info['buffers']} buffers"
    if info["weights"] is not None:
        params += f" (weights {info['weights']}, bias {info['bias']})"
    say(params)
    say(f"MACs:    {info['macs']}")
    if info["symbols"]:
        say("symbols:")
        wide = max(len(s["symbol"]) for s in info["symbols"])
        for s in info["symbols"]:
            domain = "" if s["min"] is None else f"  (>= {s['min']})"
            say(f"  {s['symbol'].ljust(wide)}  {s['meaning'] or 'see its argument'}; {s['role'].strip('`')}{domain}")
    if info["modes"]:
        say("modes:")
        for m in info["modes"]:
            shown = m["refused"] and f"refused: {m['refused']}" or "; ".join(_shape(s) for s in m["outputs"])
            value = m["value"] if m["argument"] == "padding" and m["value"] == "p" else repr(m["value"])
            say(f"  {m['argument']}={value}: {shown}")
    if info["condition_details"]:
        say("valid when:")
        for c in info["condition_details"]:
            why = c["label"] + (f"; {rule.framework}: {c['framework_error']}" if c["framework_error"] else "")
            say(f"  {c['relation']}    [{why}]")
    say(f"reference: {info['reference']}")
    return _text(buf)
