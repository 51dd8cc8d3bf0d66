"""`symshape import torch|keras|onnx MODEL`: a model as an editable spec, optionally lifted to symbols."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

NAME = "import"
ORDER = 70
HELP = "import a PyTorch module, Keras model or ONNX file as a spec (and lift numbers to symbols)"
DESCRIPTION = ("import a real model as a spec: PyTorch (torch.fx, torch.export where fx fails), Keras "
               "(get_config graph, nested models) or ONNX (dim_param names become symbols); then optionally turn "
               "input sizes and hyperparameters into symbols. Prints the spec (YAML) or writes it with -o.")
EPILOG = """examples:
  symshape import torch tests.zoo:resnet18 --input-shape 3,224,224 -o resnet18.yaml
  symshape import torch mypkg.models:make_net --args 10 --args width=32 --symbolize input=H,W
  symshape import keras model.keras --symbolize input=H,W --symbolize kernel_size,strides
  symshape import onnx model.onnx --tie out_channels=width -o family.yaml
  symshape import torch mypkg.models:odd --allow-opaque      # keep unknown ops as opaque layers

--symbolize input=H,W makes the input's spatial sizes symbols; --symbolize kernel_size,stride,out_channels
gives each layer's value its own symbol (K_layer1_0_conv1, S_..., C_...); --tie out_channels=width shares
one symbol (each value a multiple of it). The original values are kept as each symbol's default."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("framework", choices=("torch", "keras", "onnx"), help="what the model is")
    p.add_argument("model", help="torch: pkg.module:factory (a module or a function returning one); "
                                 "keras: a .keras or .json file; onnx: a .onnx file")
    p.add_argument("--args", action="append", default=[], metavar="VALUE|NAME=VALUE",
                   help="torch: an argument of the factory (a Python literal; repeat for several)")
    p.add_argument("--input-shape", default="3,224,224", metavar="C,H,W",
                   help="torch: the example input's shape, batch axis excluded (default 3,224,224); "
                        "';' separates several inputs")
    p.add_argument("--symbolize", action="append", default=[], metavar="input=H,W|ARG[,ARG...]",
                   help="input sizes or hyperparameters to turn into symbols (repeatable)")
    p.add_argument("--tie", action="append", default=[], metavar="ARG=SYMBOL",
                   help="one shared symbol for a hyperparameter across layers, e.g. out_channels=width")
    p.add_argument("--allow-opaque", action="store_true",
                   help="keep ops symshape cannot map as opaque layers (shapes recorded at this size only)")
    p.add_argument("--format", choices=("yaml", "json"), default="yaml")
    p.add_argument("-o", "--output", help="write the spec to this file (default: standard output)")


def _shape(text: str) -> list[int]:
    from ..cli import UsageError, _int

    parts = [t for t in text.replace("x", ",").split(",") if t.strip()]
    if not parts:
        raise UsageError(f"--input-shape: expected sizes such as 3,224,224, got {text!r}")
    sizes = [_int(t, "--input-shape") for t in parts]
    if any(s < 1 for s in sizes):
        raise UsageError("--input-shape: sizes are at least 1")
    return sizes


def _import(args: argparse.Namespace) -> object:
    from pathlib import Path

    from ..cli import UsageError
    from ..errors import SpecError

    if args.framework == "torch":
        try:
            import torch
        except ImportError:
            raise UsageError("import torch needs PyTorch installed (pip install torch)") from None
        from ..importers.torch import from_torch, load_factory

        sys.path.insert(0, ".")  # pkg.module:factory from the current directory, as python -m does
        try:
            model = load_factory(args.model, args.args)
        finally:
            sys.path.pop(0)
        if not isinstance(model, torch.nn.Module):
            raise SpecError(f"{args.model} gave a {type(model).__name__}, not a torch.nn.Module")
        shapes = [_shape(s) for s in args.input_shape.split(";")]
        example = tuple(torch.zeros(2, *s) for s in shapes)
        return from_torch(model, example if len(example) > 1 else example[0], allow_opaque=args.allow_opaque)
    path = Path(args.model)
    if not path.exists():
        raise UsageError(f"{args.model}: no such file")
    if args.args:
        raise UsageError("--args is for torch factories")
    if args.framework == "keras":
        from ..importers.keras import from_keras

        return from_keras(path, allow_opaque=args.allow_opaque)
    from ..importers.onnx import from_onnx

    return from_onnx(path, allow_opaque=args.allow_opaque)


def run(args: argparse.Namespace, out: TextIO) -> int:
    import json

    from ..cli import UsageError
    from ..derive import derive
    from ..lift import parse_symbolize, symbolize

    imported = _import(args)
    spec, text = imported.spec, None
    inputs, hyper, tie = parse_symbolize(args.symbolize, args.tie)
    if inputs or hyper or tie:
        lifted = symbolize(imported, inputs=inputs, hyper=hyper, tie=tie)
        spec = lifted.spec
        text = lifted.to_yaml(imported.header())
    d = derive(spec)  # the spec must derive: a check before it is written
    if args.format == "json":
        text = json.dumps(spec, indent=2) + "\n"
    elif text is None:
        text = imported.to_yaml()
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as err:
            raise UsageError(f"-o {args.output}: {err.strerror}") from None
    else:
        out.write(text)
    opaque = f", {len(imported.opaque)} OPAQUE ({', '.join(imported.opaque)})" if imported.opaque else ""
    symbols = f"; symbols: {', '.join(d.free_symbols)}" if d.free_symbols else ""
    count = f"{len(d.layers)} layer{'s' if len(d.layers) != 1 else ''}"
    print(f"symshape: imported {count} from {args.model}{opaque}{symbols}"
          f"{' -> ' + args.output if args.output else ''}", file=sys.stderr)
    return 0
