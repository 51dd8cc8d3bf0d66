"""Short views of derivations and evaluations for the REPL and notebooks.

`repr` is one line (a ResNet-50 derivation's dataclass repr was 399,503 characters); `summary()`
prints the table of `symshape derive` / `symshape eval`; `_repr_html_` and `_repr_markdown_` are
what Jupyter shows. The text tables live in :mod:`symshape.report`.
"""

from __future__ import annotations

import html
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import SymshapeError

if TYPE_CHECKING:
    from .derive import Derivation
    from .evaluate import Evaluation

__all__ = ["derivation_html", "derivation_markdown", "derivation_repr", "derivation_summary", "evaluation_html",
           "evaluation_markdown", "evaluation_repr", "evaluation_summary"]

SHORT = 48  # characters of one expression in a repr
MANY = 6  # symbols or bindings named in a repr


def _short(s: str, limit: int = SHORT) -> str:
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _tuple(items: list[str]) -> str:
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _names(names: list[str]) -> str:
    return ", ".join(names[:MANY]) + (f", ... ({len(names)} in all)" if len(names) > MANY else "")


def _spec_name(d: Derivation) -> str:
    """'resnet50' for a spec read from examples/resnet50.yaml; '' for text and dicts."""
    source = d.spec.source or ""
    if source.endswith((".yaml", ".yml", ".json")):
        return f" '{Path(source).stem}'"
    return ""


def derivation_repr(d: Derivation) -> str:
    """<Derivation torch 'resnet50': 175 layers, input (3, H, W), output (1000,), symbols H, W>"""
    from .layout import batch_layout
    from .render import batched, text

    lay = batch_layout(d)
    inputs = "; ".join((f"{n} " if n != "input" else "")
                       + _tuple([_short(text(s), 24) for s in batched(d, shape, lay.input(n))])
                       for n, shape in d.inputs.items())
    parts = [f"{len(d.layers)} layer{'s' if len(d.layers) != 1 else ''}",
             f"input{'s' if len(d.inputs) > 1 else ''} {inputs}"]
    try:
        if d.never_valid:
            parts.append("never valid")
        else:
            parts.append("output " + _tuple([_short(text(s)) for s in batched(d, d.closed_form, lay.outputs[0])]))
    except SymshapeError:  # a repr never raises: a form over a limit is left out
        parts.append("output ...")
    if d.symbols:
        parts.append("symbols " + _names(list(d.symbols)))
    return f"<Derivation {d.framework}{_spec_name(d)}: {', '.join(parts)}>"


def evaluation_repr(e: Evaluation) -> str:
    """<Evaluation at H=224, W=224: valid, output (1000,), params 25,557,032, MACs 4,089,184,256>"""
    bound = [f"{k}={v}" for k, v in e.bindings.items()]
    at = f" at {_names(bound)}" if bound else ""
    verdict = "valid" if e.valid else f"INVALID ({len(e.violations)} violated condition" \
        f"{'s' if len(e.violations) > 1 else ''})"
    from .render import evaluated_batched

    full = evaluated_batched(e.batch, e.output_shape, e.batch_axes.outputs[0] if e.batch_axes else 0)
    n = len(full)
    shape = _tuple(["?" if s is None else _short(f"{s}", 24) for s in full[:8]]
                   + (["..."] if n > 8 else []))
    return (f"<Evaluation{at}: {verdict}, output {shape}, params {_count(e.params)}, "
            f"MACs {_count(e.macs)}>")


def _count(v: int | None) -> str:
    s = count_text(v)
    return s if len(s) <= SHORT else f"~{approximate(v)}"  # type: ignore[arg-type]


def count_text(v: int | None) -> str:
    """61,100,840; a number too long to print in full (Python refuses str() past 4,300 digits) as
    ~1.235e+5000 (its exact number of digits); None as 'undefined'."""
    if v is None:
        return "undefined"
    if v.bit_length() <= 10_000:  # about 3,000 digits
        return f"{v:,}"
    return f"~{approximate(v)} ({digits(v):,} digits)"


def approximate(v: int) -> str:
    """1.235e+5000 for any int, without converting it to a decimal string."""
    import math

    if v.bit_length() <= 1000:
        return f"{v:.3e}"
    shift = v.bit_length() - 64
    log = math.log10(abs(v) >> shift) + shift * math.log10(2)
    exponent = math.floor(log)
    return f"{'-' if v < 0 else ''}{10 ** (log - exponent):.3f}e+{exponent}"


def digits(v: int) -> int:
    """The number of decimal digits of v (exact, without converting it to a string)."""
    import math

    v = abs(v)
    if v == 0:
        return 1
    n = int(v.bit_length() * math.log10(2))  # n or n + 1 digits
    return n + 1 if v >= 10 ** n else n


def derivation_summary(d: Derivation) -> None:
    """Print the table of `symshape derive` (wrapped at the terminal's width when printing to one)."""
    from .report import derivation_report

    sys.stdout.write(derivation_report(d, "table", width=_terminal_width()))


def evaluation_summary(e: Evaluation) -> None:
    """Print the table of `symshape eval`."""
    from .report import evaluation_report

    sys.stdout.write(evaluation_report(None, e, width=_terminal_width()))


def _terminal_width() -> int | None:
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns if sys.stdout.isatty() else None
    except (OSError, ValueError, AttributeError):
        return None


# ---------------------------------------------------------------- notebooks


def _table(caption: str, head: list[str], rows: list[list[str]], right: set[int], footer: list[str]) -> str:
    e = html.escape
    out = ['<table class="symshape">', f"<caption style=\"text-align: left\">{e(caption)}</caption>", "<thead><tr>"]
    out += [f"<th style=\"text-align: {'right' if i in right else 'left'}\">{e(h)}</th>" for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td style=\"text-align: {'right' if i in right else 'left'}\">{e(c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    if footer:
        out.append("<pre>" + "\n".join(e(f) for f in footer) + "</pre>")
    return "\n".join(out)


def derivation_html(d: Derivation) -> str:
    from .render import text
    from .report import count, derivation_report, network_rows, totals_lines

    if d.never_valid:
        return "<p><strong>" + html.escape(derivation_report(d, "table").strip()).replace("\n", "<br>") + \
            "</strong></p>"
    rows = [[str(i), r["name"], r["kind"], _tuple([text(s) for s in r["shape"]]), count(r["params"])]
            for i, r in enumerate(network_rows(d))]
    footer = totals_lines(d)
    return _table(f"{d.framework} network{_spec_name(d)}", ["#", "Layer", "Type", "Output shape", "Param #"], rows,
                  {0, 4}, footer)


def derivation_markdown(d: Derivation) -> str:
    from .report import derivation_report

    return derivation_report(d, "markdown")


def evaluation_html(e: Evaluation) -> str:
    from .report import count, eval_shape

    lay = e.batch_axes
    rows = [[str(ly.index), ly.name, ly.kind, eval_shape(ly.output_shape, e.batch, lay.output(i) if lay else 0),
             count(ly.params), count(ly.macs)] for i, ly in enumerate(e.layers)]
    bound = ", ".join(f"{k}={v}" for k, v in e.bindings.items())
    footer = [f"Output shape: {eval_shape(e.output_shape, e.batch, lay.outputs[0] if lay else 0)}",
              f"Total params: {count(e.params)}",
              f"MACs: {count(e.macs)}",
              f"Activations: {count(e.activations)}" + (" elements" if e.activations is not None else "")]
    footer += ["Valid."] if e.valid else [f"INVALID: {v.message}" for v in e.violations]
    return _table("network" + (f" at {bound}" if bound else ""), ["#", "Layer", "Type", "Output shape", "Param #",
                                                                   "MACs"], rows, {0, 4, 5}, footer)


def evaluation_markdown(e: Evaluation) -> str:
    from .report import count, eval_shape

    def cell(s: str) -> str:
        return s.replace("|", "\\|")

    bound = ", ".join(f"{k}={v}" for k, v in e.bindings.items())
    lines = [f"**Network**{f' at {bound}' if bound else ''}", "",
             "| # | Layer | Kind | Output shape | Parameters | MACs |", "|---:|---|---|---|---:|---:|"]
    lay = e.batch_axes
    lines += [f"| {ly.index} | `{cell(ly.name)}` | {ly.kind} | "
              f"{eval_shape(ly.output_shape, e.batch, lay.output(i) if lay else 0)} | "
              f"{count(ly.params)} | {count(ly.macs)} |" for i, ly in enumerate(e.layers)]
    lines += ["", f"**Output shape**: {eval_shape(e.output_shape, e.batch, lay.outputs[0] if lay else 0)}", "",
              f"**Parameters**: {count(e.params)} (trainable {count(e.trainable)}, non-trainable "
              f"{count(e.non_trainable)}" + (f"; buffers {count(e.buffers)})" if e.buffers else ")"), "",
              f"**MACs**: {count(e.macs)}", ""]
    lines += ["**Valid.**"] if e.valid else ["**INVALID**:", ""] + [f"- {cell(v.message)}" for v in e.violations]
    return "\n".join(lines) + "\n"
