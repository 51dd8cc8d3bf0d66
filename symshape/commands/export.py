"""`symshape export SPEC --to torch|keras`: the model code for one binding of the spec's symbols."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

NAME = "export"
ORDER = 75
HELP = "write a spec as PyTorch or Keras model code for one binding"
DESCRIPTION = ("write a spec back as model code for one binding of its symbols: an nn.Module (--to torch) or a "
               "function building a keras functional model (--to keras). Symbols not set take their declared "
               "defaults (default:, an imported spec's original values); the binding must make the network valid.")
EPILOG = """examples:
  symshape export lifted.yaml --to torch --set H=64 --set W=64 --set width=32 -o model.py
  symshape export examples/resnet18.yaml --to torch --set H=224 --set W=224
  symshape export examples/transformer_block_keras.yaml --to keras --set T=16"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="a YAML or JSON spec file, or - for standard input")
    p.add_argument("--to", required=True, choices=("torch", "keras"), help="the framework of the code")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a symbol's value (repeatable)")
    p.add_argument("-o", "--output", help="write the code to this file (default: standard output)")


def run(args: argparse.Namespace, out: TextIO) -> int:
    from pathlib import Path

    from ..cli import UsageError, _bindings
    from ..export import export

    spec = sys.stdin.read() if args.spec == "-" else Path(args.spec)
    code = export(spec, args.to, _bindings(args.set))
    if args.output:
        try:
            Path(args.output).write_text(code, encoding="utf-8")
        except OSError as err:
            raise UsageError(f"-o {args.output}: {err.strerror}") from None
        print(f"symshape: wrote {args.output}", file=sys.stderr)
    else:
        out.write(code)
    return 0
