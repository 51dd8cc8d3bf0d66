"""`symshape cost SPEC`: FLOPs and memory to train, per layer and in total, at a batch size and precision."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

NAME = "cost"
ORDER = 45
HELP = "FLOPs (under a stated convention) and memory to train, per layer and in total"
DESCRIPTION = ("the cost of training a network: per layer output shape, parameters, FLOPs and the activation bytes "
               "kept for backward; totals forward and backward; memory for parameters, gradients, optimizer "
               "state, buffers and activations at the batch size and precision given; the largest batch (or input "
               "size) that fits a memory budget. Without values for the symbols the cells are formulas.")
EPILOG = """examples:
  symshape cost examples/resnet50.yaml --set H=224 --set W=224 --batch 32 --optimizer adamw
  symshape cost examples/resnet50.yaml --set H=224 --set W=224 --dtype bf16-mixed --flops fvcore --depth 1
  symshape cost examples/resnet50.yaml --set H=224 --set W=224 --optimizer adam --memory 24GiB --for B
  symshape cost examples/unet.yaml --set C=3 --set W=256 --set K=2 --batch 8 --memory 8GiB --for H
  symshape cost examples/transformer_block.yaml                 # formulas in B, L, E and Hh

FLOP conventions (--flops): symshape (MACs, the default), fvcore, flop_counter (torch FlopCounterMode),
thop, torchinfo, ptflops, ptflops_aten -- each reproduces its tool exactly; see symshape.cost.conventions."""


# the library's names (symshape.cost: PRESETS, DTYPES, OPTIMIZERS, table.COLUMNS), written here so that
# `symshape --help` imports neither sympy nor numpy; tests/test_cost.py checks they agree
PRESETS = ("symshape", "fvcore", "flop_counter", "thop", "torchinfo", "ptflops", "ptflops_aten")
DTYPES = ("fp32", "bf16", "fp16", "bf16-mixed", "fp16-mixed")
OPTIMIZERS = ("none", "sgd", "sgd-momentum", "adam", "adamw")
COLUMNS = ("kind", "output_shape", "params", "params_pct", "flops", "backward", "saved")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="a YAML or JSON spec file, or - for standard input")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a symbol's value (repeat)")
    p.add_argument("--batch", metavar="N|SYMBOL",
                   help="the batch size: an integer or a symbol name (default: the spec's batch:, else the symbol B)")
    p.add_argument("--dtype", default="fp32", choices=list(DTYPES), help="precision (default fp32)")
    p.add_argument("--optimizer", default="sgd", choices=list(OPTIMIZERS), help="optimizer state (default sgd)")
    p.add_argument("--flops", default="symshape", choices=list(PRESETS), help="FLOP convention (default symshape)")
    p.add_argument("--mode", choices=("train", "eval"), help="default: the spec's mode:, else train")
    p.add_argument("--checkpoint", action="store_true", help="activation checkpointing by top-level name prefix")
    p.add_argument("--memory", metavar="BYTES", help="a memory budget with --for: 24GiB = 24*2^30 bytes, 24GB or "
                   "24G = 24*10^9 (the table's units are decimal, kB/MB/GB, as torchinfo's)")
    p.add_argument("--for", dest="for_", metavar="SYMBOL", help="the symbol to maximise within --memory (B, H...)")
    p.add_argument("--depth", type=int, metavar="N", help="fold layers by the first N parts of their names")
    p.add_argument("--columns", metavar="COL,...",
                   help=f"columns to show, of {', '.join(COLUMNS)} (default: all but backward)")
    p.add_argument("--compare", action="store_true",
                   help="instead of the table: the forward FLOPs under every convention, side by side")
    p.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace, out: TextIO) -> int:
    from ..cli import UsageError, _bindings, _int, _read_spec
    from ..cost import cost, parse_bytes

    bindings = _bindings(args.set)
    d = _read_spec(args.spec)
    batch: int | str | None = args.batch
    if isinstance(batch, str) and batch.strip().lstrip("+-").isdigit():
        batch = _int(batch, "--batch")
    # validity at this batch and mode (a torch BatchNorm in training refuses a batch of one value per channel)
    never = cost(d, batch=batch, mode=args.mode).derivation.never_valid_reason() if not d.never_valid_reason() \
        or args.batch is not None or args.mode is not None else d.never_valid_reason()
    if never:  # no size, so no cost: the reason, and exit 1 as `derive` does
        import sys

        print(f"symshape: {never}", file=sys.stderr)
        return 1
    if args.depth is not None and args.depth < 1:
        raise UsageError(f"--depth is at least 1, got {args.depth}")
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    if args.compare:
        return _compare(d, batch, bindings, args, out)
    c = cost(d, batch=batch, dtype=args.dtype, optimizer=args.optimizer, flops=args.flops, mode=args.mode,
             checkpoint=args.checkpoint)
    if (args.memory is None) != (args.for_ is None):
        raise UsageError("--memory and --for go together: --memory 24GiB --for B")
    c.check_names(bindings)  # a typo (--set Q=2) is refused, whatever stays free
    status = 0
    lines: list[str] = []
    result: dict = {}
    if args.memory is not None:
        budget = parse_bytes(args.memory)
        best = c.largest(args.for_, budget, bindings)
        bound = ", ".join(f"{k}={v}" for k, v in bindings.items() if k != args.for_)
        where = f" ({bound})" if bound else ""
        if best is None:
            lines.append(f"nothing fits in {args.memory} ({budget:,} bytes){where}: "
                         f"even the smallest {args.for_} needs more")
            status = 1
        else:
            lines.append(f"largest {args.for_} within {args.memory} ({budget:,} bytes){where}: {args.for_} = {best:,}")
            bindings = {**bindings, args.for_: best}
        result["largest"] = {"symbol": args.for_, "budget": budget, "value": best}
    missing = [s for s in c.symbols if s not in bindings]
    values = None if missing else c.evaluate(bindings)
    if args.format == "json":
        payload = {**c.to_dict(), **result}
        if values is not None:
            payload["values"] = values.to_dict()
        out.write(json.dumps(payload, indent=2, default=str) + "\n")
    else:
        out.write(c.table(values, depth=args.depth, columns=columns, bindings=bindings) + "\n")
        if missing and values is None:
            out.write(f"(formulas: give --set for {', '.join(missing)} for numbers)\n")
        for line in lines:
            out.write(line + "\n")
    if values is not None and not values.valid:
        status = 1
    return status


def _compare(d: object, batch: int | str | None, bindings: dict[str, int], args: argparse.Namespace,
             out: TextIO) -> int:
    """`--compare`: each convention's forward FLOPs (a formula, or a number at the values given)."""
    from ..cost import PRESETS, cost
    from ..cost.table import human
    from ..errors import BindingError
    from ..render import text

    rows: list[tuple[str, str, str]] = []
    data: dict[str, object] = {}
    for name, conv in PRESETS.items():
        try:
            c = cost(d, batch=batch, flops=name, mode=args.mode)
        except BindingError as err:
            rows.append((name, "not reproduced", str(err)))
            data[name] = None
            continue
        missing = [s for s in c.symbols if s not in bindings]
        if missing:
            value = text(d.normal_form(c.forward_flops))
            rows.append((name, value if len(value) <= 60 else value[:57] + "...", conv.description))
            data[name] = value
        else:
            n = c.evaluate(bindings).forward_flops
            rows.append((name, f"{human(n)} ({n:,})" if n is not None else "undefined", conv.description))
            data[name] = n
    if args.format == "json":
        out.write(json.dumps({"forward_flops": data, "bindings": bindings}, indent=2) + "\n")
        return 0
    if getattr(d, "framework", "torch") != "torch":
        out.write(f"({d.framework} spec: the torch tools' presets count by their knobs (MACs; flop_counter 2 per MAC; "
                  "torchinfo and ptflops with bias), not by the tools' per-layer rules, which run on torch modules)\n")
    out.write(f"{'convention':<14}forward FLOPs\n")
    for name, value, what in rows:
        out.write(f"{name:<14}{value if value != 'not reproduced' else value + ': ' + what}\n")
    return 0
