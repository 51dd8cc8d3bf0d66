"""The layer reference (`symshape docs --layers -o DIR`): one page per layer and framework, and an index.

Every page is generated from the rule object that computes networks (``reference_facts.facts``): the
output-size formula with every argument, a glossary (symbol, meaning, argument, domain), parameters split
into weights and bias, MACs, every validity condition with the framework's own error, the formula under
each mode an argument selects, the differences from the other framework, and a worked example (run on a
real tensor by the test suite). The pages are format-neutral documents (``symshape.docs.blocks``) rendered
as Markdown or HTML by the same renderers as a network's document.

    pages = reference_pages("markdown")          # {"index.md": ..., "torch/Conv2d.md": ...}
    write_reference(Path("docs/layers"), "markdown")
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape
from pathlib import Path

from sympy import Expr, Symbol

from ..layers.base import REQUIRED, AnyKind, LayerRule, rules
from ..layers.docmeta import mode_note
from ..printing import to_latex
from ..views import count_text
from .blocks import Bullets, Code, Document, Heading, Line, Math, MathBlock, Para, Table, Text, line
from .reference_facts import (
    ConditionFact,
    LayerFacts,
    Variant,
    equations,
    facts,
    meaning,
    page_symbols,
    staircase,
)

__all__ = ["FORMATS", "index_markdown", "layer_document", "runnable", "page_name", "reference_pages", "write_reference"]

FORMATS = ("markdown", "html")
SUFFIX = {"markdown": ".md", "html": ".html"}
REGENERATE = "symshape docs --layers -o docs/layers"


def page_name(rule: LayerRule, fmt: str = "markdown") -> str:
    """The page's path inside the reference directory: torch/Conv2d.md."""
    return f"{rule.framework}/{rule.name}{SUFFIX[fmt]}"


_WORD_SUBSCRIPT = re.compile(r"_\{([A-Za-z]{2,}\d*)\}")


def tex(e: object) -> str:
    """LaTeX with word subscripts upright, as in C_{\\mathrm{in}} (a word, not the product i·n)."""
    return _WORD_SUBSCRIPT.sub(r"_{\\mathrm{\1}}", to_latex(e))


def shape_tex(shape: Sequence[object]) -> str:
    return r"\left(" + ", ".join(tex(s) for s in shape) + ("," if len(shape) == 1 else "") + r"\right)"


def _layout(rule: LayerRule) -> str:
    if not rule.rank:
        return ""
    return "channels last, as keras" if rule.framework == "keras" else "channels first, as torch"


def _signature(rule: LayerRule) -> str:
    parts = []
    for a in rule.args:
        if isinstance(a.kind, AnyKind):
            continue
        parts.append(a.name if a.default is REQUIRED else f"{a.name}={a.default!r}")
    prefix = "keras.layers." if rule.framework == "keras" else \
        ("torch." if rule.name[:1].islower() else "torch.nn.")
    return f"{prefix}{rule.name}({', '.join(parts)})"


def _domain(f: LayerFacts, name: str) -> Line:
    domains = f.domains if name in f.domains or f.other is None else f.other.domains
    if name not in domains:
        return line("")
    lo, hi = domains[name]
    sym = tex(Symbol(name))
    if lo is not None and hi is not None:
        return line(Math(rf"{lo} \leq {sym} \leq {hi}"))
    if lo is not None:
        return line(Math(rf"{sym} \geq {lo}"))
    return line("any integer")


def _glossary(f: LayerFacts) -> Table:
    rows = []
    for name in page_symbols(f):
        role = f.roles.get(name, "")
        if not role and name.endswith("_out"):
            role = "output axis"
        if not role and f.other is not None and name in f.other.roles:
            role = f"{f.other.rule.framework}: {f.other.roles[name]}"
        rows.append((line(Math(tex(Symbol(name)))), line(meaning(f, name) or "see its argument"),
                     _role_line(role), _domain(f, name)))
    return Table(("Symbol", "Meaning", "Argument", "Domain"), tuple(rows), nowrap=(0,))


def _role_line(role: str) -> Line:
    if role.startswith("`") and role.endswith("`"):
        return line(Code(role.strip("`")))
    if ": `" in role:
        head, arg = role.split(": `", 1)
        return line(f"{head}: ", Code(arg.rstrip("`")))
    return line(role)


def _output_blocks(outputs: tuple[tuple[Expr, ...], ...], names: tuple[tuple[str | None, ...], ...],
                   inputs: tuple[tuple[Expr, ...], ...]) -> list:
    blocks: list = []
    ins = "; ".join(shape_tex(s) for s in inputs)
    for k, shape in enumerate(outputs):
        lhs = ""
        shape_names = names[k] if k < len(names) else ()
        named = {n for n, _ in equations(outputs, names)}
        if shape_names and any(n in named for n in shape_names) and len(outputs) == 1:
            shown = [Symbol(n) if not isinstance(e, (Symbol,)) and n is not None else e
                     for e, n in zip(shape, shape_names, strict=True)]
            lhs = shape_tex(shown) + " = "
        label = "" if len(outputs) == 1 else rf"\text{{output {k}: }}"
        blocks.append(MathBlock(label + (ins + r" \mapsto " if k == 0 else "") + lhs + shape_tex(shape)))
    for n, e in equations(outputs, names):
        blocks.append(MathBlock(f"{tex(Symbol(n))} = {tex(e)}"))
    return blocks


def _condition_rows(conds: Sequence[ConditionFact]) -> tuple[tuple[Line, ...], ...]:
    rows = []
    for c in conds:
        words = c.label + (f": {c.note}" if c.note else "")
        rows.append((line(Math(tex(c.relation))), line(words), line(Code(c.error)) if c.error else line("—")))
    return tuple(rows)


def _count(v: object) -> Line:
    return line(Math(tex(v)))


def _variant_blocks(f: LayerFacts, v: Variant) -> list:
    head = line(Code(v.title), ": ")
    if v.refused:
        return [Para((*head, Text(f"refused with the documented arguments: {v.refused}")))]
    blocks: list = [Para((*head, Text("output" + (" (the input in this layout)" if v.inputs else ""))))]
    blocks += _output_blocks(v.outputs, v.output_names, v.inputs or f.inputs)
    items = []
    value = v.value.name if isinstance(v.value, Symbol) else \
        [x.name if isinstance(x, Symbol) else x for x in v.value] if isinstance(v.value, list) else v.value
    note = mode_note(f.rule.framework, v.argument, value, f.rule.name)
    if note:
        items.append(line(note))
    if v.params is not None:
        items.append(line("parameters ", Math(tex(v.params))))
    if v.buffers is not None:
        items.append(line("buffers ", Math(tex(v.buffers))))
    if v.macs is not None:
        items.append(line("MACs ", Math(tex(v.macs))))
    for c in v.conditions:
        items.append(line("valid only if ", Math(tex(c.relation)), f" ({c.label}"
                          + (f": {c.note}" if c.note else "") + ")"
                          + (f"; {f.rule.framework} says " if c.error else ""), *( [Code(c.error)] if c.error else [])))
    if items:
        blocks.append(Bullets(tuple(items)))
    return blocks


def _example_blocks(f: LayerFacts) -> list:
    ex = f.example
    if ex is None:
        return [Para(line(f"No worked example: {f.example_error}"))]
    values = ", ".join(f"{k} = {v}" for k, v in ex.values.items())
    call = f"{f.rule.name}(" + ", ".join(f"{k}={v!r}" for k, v in ex.args.items()) + ")"
    blocks: list = [Para(line("With ", Math(", ".join(f"{tex(Symbol(k))} = {v}" for k, v in ex.values.items())),
                              ": ", Code(call), " on an input of shape ",
                              Code("; ".join(str(s) for s in ex.inputs)), " (batch axis excluded)."))]
    items = [line("output shape: ", Code("; ".join(str(s) for s in ex.outputs)))]
    for (n, _), value in zip(equations(f.outputs, f.output_names), _named_values(f), strict=False):
        items.append(line(Math(f"{tex(Symbol(n))} = {value}")))
    params = ex.trainable + ex.non_trainable
    split = f" (weights {count_text(ex.weights)}, bias {count_text(ex.bias)})" if ex.weights is not None else ""
    items.append(line(f"parameters: {count_text(params)}{split}"
                      + (f", of which non-trainable {count_text(ex.non_trainable)}" if ex.non_trainable else "")))
    if ex.buffers:
        items.append(line(f"buffers: {count_text(ex.buffers)}"))
    items.append(line(f"MACs: {count_text(ex.macs)}"))
    blocks.append(Bullets(tuple(items)))
    stairs = staircase(f)
    if stairs is not None:
        x, y, rows = stairs
        others = ", ".join(f"{k} = {v}" for k, v in ex.values.items() if k != x)
        blocks.append(Para(line(Math(tex(Symbol(y))), " against ", Math(tex(Symbol(x))), f" ({others}); — where a "
                                "condition fails:")))
        blocks.append(Table((x, *(str(v) for v, _ in rows)),
                            ((line(y), *(line("—" if out is None else str(out)) for _, out in rows)),),
                            numeric=tuple(range(1, len(rows) + 1))))
    blocks.append(Para(line(f"tests/test_reference.py runs this layer in {_where(f.rule)} on a tensor of this "
                            f"shape and checks these numbers ({values}).")))
    return blocks


def _named_values(f: LayerFacts) -> list[int]:
    """The example's value of each output axis that has an equation."""
    ex = f.example
    out = []
    for k, (shape, names) in enumerate(zip(f.outputs, f.output_names, strict=False)):
        for j, (e, n) in enumerate(zip(shape, names, strict=False)):
            if n is not None and not isinstance(e, (Symbol,)) and not e.is_Integer and ex is not None:
                out.append(ex.outputs[k][j])
    return out


def layer_document(rule: LayerRule) -> Document:
    f = facts(rule)
    fw = rule.framework
    doc = Document(f"{fw} {rule.name} — symshape layer reference")
    doc.add(Heading(1, f"{fw} {rule.name}"))
    layout = _layout(rule)
    doc.add(Para(line(rule.summary[:1].upper() + rule.summary[1:] + ".")),
            Para(line(Code(_signature(rule)))),
            Para(line("Input ", Math("; ".join(shape_tex(s) for s in f.inputs)), ", batch axis excluded"
                      + (f" ({layout})" if layout else "") + ". Every formula on this page is computed by the rule "
                      "symshape derives networks with, on the arguments below.")))
    doc.add(Heading(2, "Output size", "output"))
    for b in _output_blocks(f.outputs, f.output_names, f.inputs):
        doc.add(b)
    if rule.rank and any(a.name in f.args for a in rule.args if a.name in ("kernel_size", "stride", "strides",
                                                                         "pool_size", "padding", "dilation")):
        doc.add(Para(line("One symbol stands for the same value on every spatial axis; with a tuple each axis "
                          "uses its own entry in the same formula.")))
    fixed = {k: v for k, v in f.fixed.items()}
    if fixed:
        doc.add(Para(line("Documented with ", *_join_code([f"{k}={v!r}" for k, v in fixed.items()]), ".")))
    doc.add(Heading(2, "Symbols", "symbols"), _glossary(f))
    others = [a for a in rule.args if not isinstance(a.kind, AnyKind) and a.name not in f.args]
    if others:
        doc.add(Para(line("Other arguments, at their defaults here: ",
                          *_join_code([a.name + ("" if a.default is REQUIRED else f"={a.default!r}") for a in others]),
                          ".")))
    doc.add(Heading(2, "Parameters and MACs", "counts"))
    items = [line("parameters ", Math(tex(f.params)))]
    if f.weights is not None:
        items.append(line("weights ", Math(tex(f.weights)), ", bias ", Math(tex(f.bias))))
    if f.non_trainable != 0:
        items.append(line("of which non-trainable ", Math(tex(f.non_trainable))))
    if f.buffers != 0:
        items.append(line("buffers (not parameters) ", Math(tex(f.buffers))))
    items.append(line("MACs (one multiply-add each; bias, activation and pooling excluded) ", Math(tex(f.macs))))
    doc.add(Bullets(tuple(items)))
    doc.add(Heading(2, "Valid when", "valid"))
    if f.conditions:
        doc.add(Table(("Condition", "In words", "PyTorch says" if fw == "torch" else "keras 3 (torch backend) says"),
                      _condition_rows(f.conditions), nowrap=(0,)))
        if any(not c.error for c in f.conditions):
            doc.add(Para(line("—: no message of the framework's own is quoted; it may accept the value (torch "
                              "returns an empty tensor for some sizes of 0, where symshape requires every size to "
                              "be at least 1) or refuse it in words not checked here.")))
    else:
        doc.add(Para(line("Always, for every input size at least 1.")))
    if f.variants:
        doc.add(Heading(2, "Modes", "modes"),
                Para(line("The formula when one argument takes another value (the others as above):")))
        for v in f.variants:
            for b in _variant_blocks(f, v):
                doc.add(b)
    if f.other is not None or f.differences:
        other = f.other
        title = f"Differences from {other.rule.framework} {other.rule.name}" if other else \
            f"Differences from {'torch' if fw == 'keras' else 'keras'}"
        doc.add(Heading(2, title, "differences"))
        if other is not None:
            doc.add(Para(line(f"{other.rule.framework} {other.rule.name} on ",
                              Math("; ".join(shape_tex(s) for s in other.inputs)), ":")))
            for b in _output_blocks(other.outputs, other.output_names, other.inputs):
                doc.add(b)
            doc.add(Para(line("parameters ", Math(tex(other.params)))))
        if f.differences:
            doc.add(Bullets(tuple(line(t) for t in f.differences)))
    doc.add(Heading(2, "Worked example", "example"))
    for b in _example_blocks(f):
        doc.add(b)
    return doc


def _join_code(items: list[str]) -> list:
    out: list = []
    for i, item in enumerate(items):
        if i:
            out.append(Text(", "))
        out.append(Code(item))
    return out


# ---------------------------------------------------------------- the index and the files


def _index_markdown(selected: list[LayerRule]) -> str:
    return index_markdown(selected)


def index_markdown(selected: Sequence[LayerRule], link_prefix: str = "") -> str:
    """The reference's index as Markdown: one row per layer, linked to its page (under `link_prefix`)."""
    from .markdown import _escape, _inline

    lines = ["# Layer reference", "",
             f"One page per layer and framework, generated from the rules symshape computes with (regenerate: "
             f"`{REGENERATE}`; `tests/test_reference.py` fails when a page is stale). Symbols: inputs carry "
             f"`_in` (C_in, H_in), outputs `_out`; k kernel, s stride, p padding, d dilation, g groups.", "",
             "| Framework | Layer | Input | Output | Parameters | Summary |", "|---|---|---|---|---|---|"]
    for r in selected:
        f = facts(r)
        ins = "; ".join(shape_tex(s) for s in f.inputs)
        outs = "; ".join(shape_tex(s) for s in f.outputs)
        lines.append(f"| {r.framework} | [`{r.name}`]({link_prefix}{page_name(r)}) | {_inline((Math(ins),))} | "
                     f"{_inline((Math(outs),))} | {_inline((Math(tex(f.params)),))} | {_escape(r.summary)} |")
    lines += ["", "## Symbols", "", "| Symbol | Meaning |", "|---|---|"]
    lines += [f"| {_inline((Math(tex(Symbol(n))),))} | {_escape(m)} |" for n, m in index_symbols(selected)]
    return "\n".join(lines) + "\n"


def index_symbols(selected: Sequence[LayerRule]) -> list[tuple[str, str]]:
    """(symbol, meaning) of every symbol the index's table shows."""
    names: dict[str, dict[str, None]] = {}
    for r in selected:
        f = facts(r)
        for e in [*(s for shape in (*f.inputs, *f.outputs) for s in shape), f.params]:
            for sym in getattr(e, "free_symbols", ()):
                names.setdefault(sym.name, {})[meaning(f, sym.name)] = None
    return sorted(((n, "; ".join(m)) for n, m in names.items()), key=lambda item: (item[0].lower(), item[0]))


def _index_html(selected: list[LayerRule]) -> str:
    from .html import CSS
    from .math import mathml

    rows = []
    for r in selected:
        f = facts(r)
        ins = "; ".join(shape_tex(s) for s in f.inputs)
        outs = "; ".join(shape_tex(s) for s in f.outputs)
        rows.append(f'<tr><td>{r.framework}</td><td><a href="{escape(page_name(r, "html"))}"><code>{escape(r.name)}'
                    f'</code></a></td><td class=w><span class="scroll math">{mathml(ins)}</span></td>'
                    f'<td class=w><span class="scroll math">{mathml(outs)}</span></td>'
                    f'<td class=w><span class="scroll math">{mathml(tex(f.params))}</span></td>'
                    f"<td>{escape(r.summary)}</td></tr>")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">', "<title>Layer reference</title>",
        f"<style>\n{CSS}\n</style>", "</head>", "<body>", "<h1>Layer reference</h1>",
        f"<p>One page per layer and framework, generated from the rules symshape computes with (regenerate: "
        f"<code>{escape(REGENERATE)}</code>).</p>",
        '<div class="scroll"><table><thead><tr><th>Framework</th><th>Layer</th><th>Input</th><th>Output</th>'
        "<th>Parameters</th><th>Summary</th></tr></thead><tbody>", *rows, "</tbody></table></div>",
        "<h2>Symbols</h2>", '<div class="scroll"><table><thead><tr><th>Symbol</th><th>Meaning</th></tr></thead><tbody>',
        *(f'<tr><td><span class="scroll math">{mathml(tex(Symbol(n)))}</span></td><td>{escape(m)}</td></tr>'
          for n, m in index_symbols(selected)), "</tbody></table></div>",
        "</body>", "</html>"]) + "\n"


def _py(value: object, framework: str) -> str:
    """A Python literal of an argument (lists as tuples; keras' nested layer as its constructor call)."""
    if isinstance(value, dict) and len(value) == 1 and framework == "keras":
        (kind, args), = value.items()
        return f"keras.layers.{kind}(" + ", ".join(f"{k}={_py(v, framework)}" for k, v in args.items()) + ")"
    if isinstance(value, list):
        return "(" + ", ".join(_py(v, framework) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


KERAS_LIST_INPUT = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate")
TORCH_FUNCTIONAL = {"add": "torch.add({0}, {1})", "sub": "torch.sub({0}, {1})", "mul": "torch.mul({0}, {1})",
                    "cat": "torch.cat([{0}, {1}], dim={dim})"}


def runnable(f: LayerFacts) -> str | None:
    """The worked example as a program a reader can run in the framework, its output in comments (the test
    suite runs every one); None when the layer has no framework call of that shape (an imported op)."""
    ex, rule = f.example, f.rule
    if ex is None or rule.name == "Opaque" or (rule.framework == "torch" and rule.name.islower()
                                               and rule.name not in TORCH_FUNCTIONAL):
        return None
    args = ", ".join(f"{k}={_py(v, rule.framework)}" for k, v in ex.args.items())
    first = ex.outputs[0]
    params = ex.trainable + ex.non_trainable
    several = len(ex.outputs) > 1 or (rule.framework == "torch" and rule.name in ("RNN", "LSTM", "GRU",
                                                                                  "MultiheadAttention"))
    if rule.framework == "keras":
        dtype = "int32" if rule.name == "Embedding" else "float32"
        arrays = [f'np.zeros((1, {", ".join(map(str, s))}), dtype="{dtype}")' for s in ex.inputs]
        call = (f"[{', '.join(arrays)}]" if rule.name in KERAS_LIST_INPUT else
                f"{arrays[0]}, {arrays[0]}" if rule.name == "MultiHeadAttention" else arrays[0])
        return "\n".join([
            "import numpy as np", "import keras", "",
            f"layer = keras.layers.{rule.name}({args})",
            f"y = layer({call})  # a batch of 1", *(["y = y[0]  # the first output"] if several else []),
            f"print(tuple(y.shape[1:]))  # {first}", f"print(layer.count_params())  # {params}", ""])
    unbatched = rule.name in ("RNN", "LSTM", "GRU")
    if rule.name == "Embedding":
        tensors = [f"torch.zeros(1, {', '.join(map(str, s))}, dtype=torch.long)" for s in ex.inputs]
    elif unbatched:
        tensors = [f"torch.zeros({', '.join(map(str, s))})" for s in ex.inputs]
    else:
        tensors = [f"torch.zeros(1, {', '.join(map(str, s))})" for s in ex.inputs]
    if rule.name in TORCH_FUNCTIONAL:
        expr = TORCH_FUNCTIONAL[rule.name].format(*tensors, dim=ex.args.get("dim", 1))
        return "\n".join(["import torch", "", f"y = {expr}  # a batch of 1",
                          f"print(tuple(y.shape[1:]))  # {first}", ""])
    if rule.name == "MultiheadAttention":
        args += ", batch_first=True"
        tensors = [tensors[0]] * 3
    shape = "y.shape" if unbatched else "y.shape[1:]"
    return "\n".join([
        "import torch", "", f"layer = torch.nn.{rule.name}({args})",
        f"y = layer({', '.join(tensors)})" + ("  # one unbatched sequence" if unbatched else "  # a batch of 1"),
        *(["y = y[0]  # the first output"] if several else []),
        f"print(tuple({shape}))  # {first}", f"print(sum(p.numel() for p in layer.parameters()))  # {params}", ""])


def _page_text(rule: LayerRule, fmt: str) -> str:
    doc = layer_document(rule)
    code = runnable(facts(rule))
    if fmt == "markdown":
        from .markdown import render

        text = f"[Layer reference](../index.md) › {rule.framework}\n\n" + render(doc)
        if code:
            text += f"\nThe same in {_where(rule)}, to run:\n\n```python\n{code}```\n"
        return text
    from .html import render as html

    back = '<p><a href="../index.html">Layer reference</a> › ' + escape(rule.framework) + "</p>"
    page = html(doc).replace("<body>\n", "<body>\n" + back + "\n", 1)
    if code:
        block = (f"<p>The same in {escape(_where(rule))}, to run:</p>\n"
                 f'<pre style="overflow-x:auto;max-width:100%"><code>{escape(code)}</code></pre>\n')
        page = page.replace("</body>", block + "</body>", 1)
    return page


def _generated(path: Path, fmt: str) -> bool:
    try:
        head = path.read_text(encoding="utf-8")[:400]
    except (OSError, UnicodeDecodeError):
        return False
    return head.startswith("[Layer reference](../index.md)") if fmt == "markdown" else \
        '<a href="../index.html">Layer reference</a>' in head


def _where(rule: LayerRule) -> str:
    return "PyTorch" if rule.framework == "torch" else "keras 3"


def reference_pages(fmt: str = "markdown", framework: str | None = None,
                    names: Sequence[str] | None = None) -> dict[str, str]:
    """{relative path: text} of the reference: the index and one page per rule."""
    if fmt not in FORMATS:
        from ..errors import SymshapeError

        raise SymshapeError(f"unknown reference format '{fmt}': one of {', '.join(FORMATS)}")
    selected = [r for r in rules(framework) if names is None or r.name in names]
    pages = {("index" + SUFFIX[fmt]): _index_markdown(selected) if fmt == "markdown" else _index_html(selected)}
    for r in selected:
        pages[page_name(r, fmt)] = _page_text(r, fmt)
    return pages


def write_reference(directory: Path, fmt: str = "markdown", framework: str | None = None) -> list[Path]:
    """Write the reference under `directory`. A page of a rule that no longer exists is removed (only a file this
    function wrote: one that starts with the reference's back link); other files are left alone."""
    pages = reference_pages(fmt, framework)
    written = []
    for rel, text in pages.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    for fw in ("keras", "torch"):
        if framework not in (None, fw):
            continue
        for stale in (directory / fw).glob("*" + SUFFIX[fmt]):
            if stale not in written and _generated(stale, fmt):
                stale.unlink()
    return written
