"""`symshape docs SPEC -o FILE`: one network's derivation document."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from ..errors import BindingError, SpecError, SymshapeError

NAME = "docs"
ORDER = 60
HELP = "write a network's derivation document (HTML, Markdown, LaTeX or PDF)"
DESCRIPTION = ("write a network's derivation document: summary, symbols, each layer's formulas, closed form, "
               "valid inputs, a worked example and plots; HTML, Markdown, LaTeX or PDF (needs symshape[docs])")
EPILOG = """examples:
  symshape docs examples/resnet50.yaml -o resnet50.html --example H=224,W=224
  symshape docs examples/unet.yaml -o unet.md      # and unet.svg beside it
  symshape docs examples/alexnet.yaml -o alexnet.pdf --example H=227,W=227   # needs pdflatex
  symshape docs --layers -o docs/layers             # the layer reference: one page per layer, index.md
  symshape docs --layers --framework torch --format html -o site/layers"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", help="a YAML or JSON spec file, or - for standard input")
    p.add_argument("--layers", action="store_true",
                   help="instead: the layer reference, one page per layer and framework, in the directory -o")
    p.add_argument("--framework", choices=("keras", "torch"), help="with --layers: one framework's layers only")
    p.add_argument("-o", "--output", required=True,
                   help="the document: .html, .md, .tex or .pdf (figures beside a .md or .tex); - for standard "
                   "output with --format (a .md's or .tex's figures are then written in the current directory)")
    p.add_argument("--format", choices=("html", "markdown", "latex", "pdf"), help="default: from the output's suffix")
    p.add_argument("--example", action="append", default=[], metavar="NAME=VALUE[,...]",
                   help="the worked example's values (default: the symbols' declared defaults, else minimums, "
                   "inputs at the smallest valid size)")


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


def run(args: argparse.Namespace, out: TextIO) -> int:
    import re
    from pathlib import Path

    from ..cli import UsageError, _bindings, _read_spec

    if args.layers:
        return _layer_reference(args, out)
    if args.spec is None:
        raise UsageError("give a spec file (or --layers for the layer reference)")
    to_stdout = args.output == "-"
    if to_stdout and args.format is None:
        raise UsageError("-o -: give --format html|markdown|latex|pdf for standard output")
    if to_stdout and args.format == "pdf" and _isatty(out):
        raise UsageError("-o - --format pdf: a PDF is not for a terminal; redirect it to a file or a pipe")
    target = Path("document") if to_stdout else Path(args.output)
    try:
        from ..docs import SUFFIXES, render_document
    except ImportError as err:
        raise UsageError(f"docs needs its extra: pip install 'symshape[docs]' ({err})") from None
    fmt = args.format or SUFFIXES.get(target.suffix.lower())
    if fmt is None:
        raise UsageError(f"-o {args.output}: give a .html, .md, .tex or .pdf file, or --format "
                         "html|markdown|latex|pdf")
    example = _bindings([p for item in args.example for p in item.split(",") if p.strip()])
    d = _read_spec(args.spec)
    try:
        image = re.sub(r"[^A-Za-z0-9._-]", "_", target.with_suffix(".svg").name).lstrip("._-") or "figure.svg"
        doc = render_document(d, fmt, example=example, image=image)
    except (SpecError, BindingError):
        raise
    except SymshapeError as err:
        raise UsageError(str(err)) from None
    try:
        if not to_stdout:
            target.write_bytes(doc.data)
        for name, data in doc.files.items():
            (target.parent / name).write_bytes(data)
    except OSError as err:
        raise UsageError(f"-o {args.output}: {err.strerror}") from None
    if to_stdout:
        if fmt == "pdf":
            out.flush()
            getattr(out, "buffer", sys.stdout.buffer).write(doc.data)
        else:
            out.write(doc.data.decode("utf-8"))
        if doc.files:
            print("symshape: wrote " + ", ".join(doc.files), file=sys.stderr)
    else:
        out.write(f"wrote {target}" + "".join(f", {target.parent / n}" for n in doc.files) + "\n")
    try:  # a never-valid network is documented (why, no sizes) and fails like `derive`
        never = d.never_valid_reason()
    except SymshapeError:  # its analysis hit a limit: the document says so
        never = None
    if never:
        print(f"symshape: {never}", file=sys.stderr)
    return 1 if never else 0


def _layer_reference(args: argparse.Namespace, out: TextIO) -> int:
    """`symshape docs --layers -o DIR`: the layer reference (index and one page per layer) under DIR."""
    from pathlib import Path

    from ..cli import UsageError

    if args.spec is not None:
        raise UsageError("--layers writes the layer reference and takes no spec file")
    fmt = args.format or "markdown"
    if fmt not in ("markdown", "html"):
        raise UsageError(f"--layers --format {fmt}: the reference is html or markdown")
    from ..docs.reference import write_reference

    target = Path(args.output)
    if target.exists() and not target.is_dir():
        raise UsageError(f"-o {args.output}: --layers writes a directory, and this is a file")
    try:
        written = write_reference(target, fmt, args.framework)
    except OSError as err:
        raise UsageError(f"-o {args.output}: {err.strerror}") from None
    out.write(f"wrote {len(written)} pages under {target} (index: {written[0]})\n")
    return 0
