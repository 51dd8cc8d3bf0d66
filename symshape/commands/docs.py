"""`symshape docs SPEC -o FILE`: one network's derivation document."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from ..errors import BindingError, SpecError, SymshapeError

NAME = "docs"
ORDER = 60
HELP = "write a network's derivation document (HTML or Markdown)"
DESCRIPTION = ("write a network's derivation document: summary, symbols, each layer's formulas, closed form, "
               "valid inputs, a worked example and a plot (needs symshape[docs])")
EPILOG = """examples:
  symshape docs examples/resnet50.yaml -o resnet50.html --example H=224,W=224
  symshape docs examples/unet.yaml -o unet.md      # and unet.svg beside it"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="a YAML or JSON spec file, or - for standard input")
    p.add_argument("-o", "--output", required=True, help="the document: .html or .md (figures beside a .md)")
    p.add_argument("--format", choices=("html", "markdown"), help="default: from the output's suffix")
    p.add_argument("--example", action="append", default=[], metavar="NAME=VALUE[,...]",
                   help="the worked example's values (default: minimums, inputs at the smallest valid size)")


def run(args: argparse.Namespace, out: TextIO) -> int:
    from pathlib import Path

    from ..cli import UsageError, _bindings, _read_spec

    target = Path(args.output)
    fmt = args.format or {".html": "html", ".htm": "html", ".md": "markdown"}.get(target.suffix.lower())
    if fmt is None:
        raise UsageError(f"-o {args.output}: give a .html or .md file, or --format html|markdown")
    try:
        from ..docs import render_document
    except ImportError as err:
        raise UsageError(f"docs needs its extra: pip install 'symshape[docs]' ({err})") from None
    example = _bindings([p for item in args.example for p in item.split(",") if p.strip()])
    d = _read_spec(args.spec)
    try:
        doc = render_document(d, fmt, example=example, image=target.with_suffix(".svg").name)
    except (SpecError, BindingError):
        raise
    except SymshapeError as err:
        raise UsageError(str(err)) from None
    try:
        target.write_text(doc.text, encoding="utf-8")
        for name, data in doc.files.items():
            (target.parent / name).write_bytes(data)
    except OSError as err:
        raise UsageError(f"-o {args.output}: {err.strerror}") from None
    out.write(f"wrote {target}" + "".join(f", {target.parent / n}" for n in doc.files) + "\n")
    try:  # a never-valid network is documented (why, no sizes) and fails like `derive`
        never = d.never_valid_reason()
    except SymshapeError:  # its analysis hit a limit: the document says so
        never = None
    if never:
        print(f"symshape: {never}", file=sys.stderr)
    return 1 if never else 0
