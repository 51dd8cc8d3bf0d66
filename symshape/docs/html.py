"""A document as one self-contained HTML page: MathML math, inline SVG and CSS, nothing fetched.

Every text from the spec is escaped; wide tables and long formulas scroll inside their own box, so
the page never overflows a phone-width screen.
"""

from __future__ import annotations

from html import escape

from .blocks import Bullets, Code, Document, Figure, Heading, Line, Link, Math, MathBlock, Para, Table, Text
from .math import mathml

CSS = """
:root { color-scheme: light; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; padding: 0 12px;
       max-width: 60rem; color: #1b1b1b; background: #fff; overflow-wrap: break-word; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.25rem; border-bottom: 1px solid #ddd; } h3 { font-size: 1.05rem; }
.scroll { overflow-x: auto; max-width: 100%; }
span.math { display: inline-block; vertical-align: middle; overflow-y: hidden; }
td span.math { max-width: none; overflow: visible; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .92rem; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top;
         overflow-wrap: normal; }
td code { white-space: nowrap; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.w { white-space: nowrap; }
a { color: #1f5fbf; }
code { font: .9em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f4f4f4;
       padding: 0 .2em; }
ul { padding-left: 1.2rem; }
li { margin: .2rem 0; }
.math-block { overflow-x: auto; max-width: 100%; padding: .25rem 0; }
figure { margin: .5rem 0; }
figure svg { max-width: 100%; height: auto; }
figcaption { font-size: .9rem; color: #555; }
""".strip()


def _inline(content: Line) -> str:
    parts = []
    for p in content:
        if isinstance(p, Math):
            parts.append(f'<span class="scroll math">{mathml(p.latex)}</span>')
        elif isinstance(p, Code):
            parts.append(f"<code>{escape(p.text)}</code>")
        elif isinstance(p, Link):
            parts.append(f'<a href="#{escape(p.anchor)}">{escape(p.text)}</a>')
        elif isinstance(p, Text):
            parts.append(escape(p.text))
    return "".join(parts)


def render(doc: Document, extra_head: str = "") -> str:
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{escape(doc.title)}</title>", f"<style>\n{CSS}\n</style>", extra_head, "</head>", "<body>"]
    for b in doc.blocks:
        if isinstance(b, Heading):
            anchor = f' id="{escape(b.anchor)}"' if b.anchor else ""
            out.append(f"<h{b.level}{anchor}>{escape(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            out.append(f"<p>{_inline(b.content)}</p>")
        elif isinstance(b, Bullets):
            out.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in b.items) + "</ul>")
        elif isinstance(b, MathBlock):
            out.append(f'<div class="math-block">{mathml(b.latex, display=True)}</div>')
        elif isinstance(b, Table):
            head = "".join(f"<th>{escape(h)}</th>" for h in b.header)
            cls = {k: " class=n" for k in b.numeric} | {k: " class=w" for k in b.nowrap}
            rows = "".join("<tr>" + "".join(f"<td{cls.get(k, '')}>{_inline(c)}</td>" for k, c in enumerate(row))
                           + "</tr>" for row in b.rows)
            out.append(f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>')
        elif isinstance(b, Figure):
            out.append(f"<figure>{b.svg}<figcaption>{escape(b.caption)}</figcaption></figure>")
    out += ["</body>", "</html>"]
    return "\n".join(x for x in out if x) + "\n"
