"""The `symshape` command line: derive, eval, sweep, solve, layers, serve.

Exit status: 0 success (eval: valid), 1 eval of a configuration that violates a condition (solve: no value),
2 a bad spec, bad values or bad usage; every error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__
from .errors import BindingError, SpecError, SymshapeError, did_you_mean

if TYPE_CHECKING:  # the heavy modules (SymPy, numpy) are imported by the commands that use them
    from .derive import Derivation

__all__ = ["main"]

EXAMPLES = {
    "derive": """examples:
  symshape derive examples/classic_symbolic.yaml
  symshape derive model.yaml --format markdown > model.md
  cat model.yaml | symshape derive - --format json""",
    "eval": """examples:
  symshape eval examples/classic_symbolic.yaml --set I=32 --set F=3 --set S=1 --set P=0 --set D=5
  symshape eval examples/resnet50.yaml --set H=224 --set W=224 --format json""",
    "sweep": """examples:
  symshape sweep examples/classic_symbolic.yaml --grid I=32:257:32 --grid F=1,3,5 --grid S=1,2 \\
      --grid P=0,1 --grid D=16,32,64 --where "params <= 2000"
  symshape sweep examples/automl_space.yaml --grid I=64,128 --grid F1=3,5,7 ... --format json -o out.json
  symshape sweep examples/classic_symbolic.yaml --grid I=1:10001 --grid F=1:11 ... --format parquet -o rows.parquet
  symshape sweep examples/classic_symbolic.yaml --grid I=1:10001 --grid F=1:11 ... --ray auto -o rows/

grid values: a list (16,32,64), a range start:stop[:step] (stop excluded, as in Python), or one value.
The grid is never held in memory: rows are written as they are found (CSV lines, a JSON object
whose "rows" array is streamed, or Parquet row groups), with a progress bar on stderr when it is a
terminal. --ray splits the grid's numbers into blocks run as Ray tasks (symshape[ray]; no ADDRESS:
a local Ray), each writing DIR/part-NNNNN.parquet; in file order the rows are a local sweep's. Tasks write
where they run: on several machines DIR must be a filesystem every node sees (a shared path, or a URI
pyarrow opens: s3://bucket/rows, gs://..., hdfs://...); tasks create the directory.
--where: comparisons (<, <=, >, >=, ==, !=) of integer expressions of the symbols and results, joined
by 'and', 'or', 'not' and parentheses, e.g. "params <= 2000 and (out0 >= 4 or not S == 1)";
result names: params, trainable, non_trainable, buffers, macs, activations, out0, out1, ... (output axes).""",
    "solve": """examples:
  symshape solve examples/unet.yaml --for H --set C=3 --set W=64 --set K=2 --near 570
  symshape solve examples/resnet18.yaml --for H --set W=224 --target out0=1000
  symshape solve examples/classic_symbolic.yaml --for I --set F=5 --set S=2 --set P=0 --set D=8 --target out0=10
  symshape solve examples/classic_symbolic.yaml --for I --set F=2 --set S=2 --set P=0 --set D=8 --lossless
  symshape solve examples/resnet50.yaml --for H --set W=224 --budget macs=4e9
  symshape solve net.yaml --for F,S --range F=1:11 --range S=1:8 --target out0=7

prints the exact set of values of the symbol (the others set) where the network is valid -- in closed
form, e.g. "H ≥ 8 and H ≡ 0 (mod 8)", then its first values and the conditions that decide it. With
--target outK=N, where output axis K also equals N; with --lossless, where no layer drops a row; with
--near V, the nearest members around V and the rows each layer drops at V; with --budget, the largest
valid value whose costs stay within the budgets. --range LO:HI limits the values (default: the
symbol's declared range, unbounded above unless declared). With several symbols (--for F,S), every
combination in their ranges (--range F=1:11, or the declared ranges) is evaluated, and the number of
combinations searched is printed with the matches.""",
    "layers": """examples:
  symshape layers --framework torch
  symshape layers Conv2d
  symshape layers --framework keras --format markdown > keras-layers.md""",
}


class UsageError(SymshapeError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: exit 2 with one line, as argparse does
        self.print_usage(sys.stderr)
        raise UsageError(message)


def _command_modules() -> list[Any]:
    """The commands that live in modules of their own (symshape/commands/), found by name; each has NAME, HELP,
    add_arguments(parser) and run(args, out) -> exit status, and imports its heavy parts inside run."""
    import importlib
    import pkgutil

    from . import commands

    found = [importlib.import_module(f"{commands.__name__}.{m.name}") for m in pkgutil.iter_modules(commands.__path__)
             if not m.name.startswith("_")]
    return sorted(found, key=lambda m: getattr(m, "ORDER", 50))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="symshape", description="Symbolic shape algebra for neural networks: closed-form "
                     "sizes, parameters, MACs and validity conditions for keras and torch specs.",
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog="run 'symshape COMMAND --help' for a command's options and examples")
    parser.add_argument("--version", action="version", version=f"symshape {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES.get(name),
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    p = command("derive", "derive a spec symbolically: shapes, parameters, MACs, closed form, conditions")
    p.add_argument("spec", help="a YAML or JSON spec file, or - for standard input")
    p.add_argument("--format", choices=("table", "markdown", "latex", "json"), default="table")
    p.add_argument("--closed-forms", action="store_true", help="every layer in closed form in the inputs, also "
                   "in a deep network fed by many symbols (by default named sizes x_1, x_2, ... keep the output "
                   "linear in depth)")
    p.add_argument("--columns", metavar="COL,...", help="cost columns to add, as formulas (table and markdown): "
                   "flops, backward, saved (see `symshape cost`; with --batch, --flops, --dtype, --optimizer)")
    p.add_argument("--batch", metavar="N|SYMBOL", help="with --columns: the batch size (default B)")
    p.add_argument("--flops", default="symshape", metavar="CONVENTION", help="with --columns: the FLOP convention")
    p.add_argument("--dtype", default="fp32", help="with --columns: the precision of the saved activations")
    p.add_argument("--optimizer", default="sgd", help=argparse.SUPPRESS)

    p = command("eval", "evaluate a spec at integer values of its symbols")
    p.add_argument("spec", help="a YAML or JSON spec file, or - for standard input")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a symbol's value (repeat)")
    p.add_argument("--defaults", action="store_true",
                   help="symbols not set take their declared defaults (symbols: {H: {default: 224}}; a lifted "
                   "spec's are the imported values)")
    p.add_argument("--format", choices=("table", "json"), default="table")

    p = command("sweep", "evaluate every combination of a grid, vectorized; keep the valid ones")
    p.add_argument("spec", help="a YAML or JSON spec file, or - for standard input")
    p.add_argument("--grid", action="append", default=[], metavar="NAME=VALUES", help="values of a symbol (repeat)")
    p.add_argument("--where", action="append", default=[], metavar="CONDITION", help="keep rows satisfying it")
    p.add_argument("--format", choices=("csv", "json", "parquet"), default=None,
                   help="csv (default), json, or parquet (a file: needs -o; with --ray always parquet)")
    p.add_argument("-o", "--output", help="write the rows to this file instead of standard output "
                   "(with --ray: a directory of part-*.parquet files, on a filesystem every node sees: a shared path "
                   "or a URI such as s3://bucket/rows)")
    p.add_argument("--all", action="store_true", help="keep invalid combinations too (with valid=0)")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run on a Ray cluster (symshape[ray]): 'auto', ray://host:10001, or none for a local "
                   "instance; the grid is split into blocks, each task writes its rows as Parquet to -o DIR")
    p.add_argument("--ray-workers", type=int, default=None, metavar="N",
                   help="tasks at once on Ray (default: the cluster's CPUs)")

    p = command("solve", "which values of one symbol make the network valid (and hit a target output size)")
    p.add_argument("spec", help="a YAML or JSON spec file, or - for standard input")
    p.add_argument("--for", dest="symbol", required=True, metavar="NAME[,NAME...]",
                   help="the symbol to solve for; several (F,S): every combination in their ranges is searched")
    p.add_argument("--range", action="append", default=[], metavar="[NAME=]LO:HI",
                   help="the values to consider, both included (default: the symbol's domain; repeat per symbol)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="the other symbols (repeat)")
    p.add_argument("--target", action="append", default=[], metavar="outK=N", help="output axis K must be N")
    p.add_argument("--lossless", action="store_true", help="only values where no layer drops a row")
    p.add_argument("--near", metavar="VALUE", help="the nearest members below and above VALUE, "
                   "and the rows each layer drops there")
    p.add_argument("--budget", action="append", default=[], metavar="QUANTITY=N",
                   help="instead: the largest value within a budget (params, macs, activations; repeat)")
    p.add_argument("--format", choices=("text", "json"), default="text")

    p = command("layers", "list the supported layers, or show one layer's formulas")
    p.add_argument("name", nargs="?", help="a layer class name, e.g. Conv2d or MaxPooling2D")
    p.add_argument("--framework", choices=("keras", "torch"))
    p.add_argument("--format", choices=("table", "markdown", "json"), default="table")

    for module in _command_modules():  # symshape/commands/*.py: one module a command
        p = sub.add_parser(module.NAME, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
                           epilog=getattr(module, "EPILOG", None), formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
    serve_help = "run the gRPC service (ShapeAlgebraService, health, reflection)"
    serve_examples = """examples:
  symshape serve                                    # 127.0.0.1:50051, this machine only
  symshape serve --port 0                           # any free port (printed on stderr)
  SYMSHAPE_TOKEN=... symshape serve --host 0.0.0.0 --token-env SYMSHAPE_TOKEN \\
      --tls-cert server.pem --tls-key server.key    # reachable from other machines: token and TLS
  symshape serve --workers 4 --port 50051           # 4 serving processes sharing the port
  SYMSHAPE_ID_KEY=... symshape serve --id-key-env SYMSHAPE_ID_KEY   # replicas that take only their fleet's ids

Listening on another interface than loopback (--host 0.0.0.0 or [::]) exposes the service to the
network: use it with --token-env and TLS. Health checks (grpc.health.v1) are never refused, neither
by the token nor by --max-concurrent-rpcs. SIGTERM: NOT_SERVING at once in every serving process,
exit within --grace seconds (plus one second at most)."""

    class ServeFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
        pass

    p = sub.add_parser("serve", help=serve_help, description=serve_help, epilog=serve_examples,
                       formatter_class=ServeFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 or [::] for every "
                   "interface (then use --token-env and TLS)")
    p.add_argument("--port", type=int, default=50051, help="port; 0 for any free port")
    p.add_argument("--workers", type=int, default=1, help="serving processes sharing the port (SO_REUSEPORT)")
    p.add_argument("--derive-workers", type=int, default=2, help="derivation processes per serving process")
    p.add_argument("--call-threads", type=int, default=2, help="unary calls that run at once per serving process "
                   "(one more per call that waits on a derivation worker); few threads contend less for the GIL")
    p.add_argument("--threads", type=int, default=16, help="threads of streams (EvaluateBatch), health and "
                   "reflection per serving process (at least --max-concurrent-rpcs + 4 are started)")
    p.add_argument("--max-concurrent-rpcs", type=int, default=64, help="service calls at once per serving "
                   "process; more get RESOURCE_EXHAUSTED (health checks are not counted)")
    p.add_argument("--max-derive-seconds", type=float, default=60.0, help="a derivation is stopped after this "
                   "long, whatever the caller's deadline")
    p.add_argument("--token-env", metavar="VAR", help="require 'authorization: Bearer <token>', the token "
                   "read from this environment variable (health checks are exempt)")
    p.add_argument("--id-key-env", metavar="VAR", help="sign derivation ids with an HMAC key read from this "
                   "environment variable; give every replica the same key: they then take only ids of their fleet "
                   "(without it an id carries a checksum: any replica takes any well-formed id)")
    p.add_argument("--tls-cert", help="PEM certificate chain (enables TLS)")
    p.add_argument("--tls-key", help="PEM private key")
    p.add_argument("--client-ca", help="PEM roots: require client certificates signed by them (mutual TLS)")
    p.add_argument("--grace", type=float, default=10.0, help="seconds for calls in flight at shutdown; the "
                   "process exits within this (plus one second at most)")
    return parser


def _serve(args: argparse.Namespace) -> int:
    try:
        from symshape_server.main import serve_forever
        from symshape_server.service import ServerConfig
    except ImportError as err:  # pragma: no cover - the server ships with the package
        raise UsageError(f"the gRPC server cannot start: {err}") from None

    def read(path: str | None, what: str) -> bytes | None:
        if path is None:
            return None
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as err:
            raise UsageError(f"{what} {path}: {err.strerror}") from None

    token = None
    if args.token_env:
        token = os.environ.get(args.token_env)
        if not token:
            raise UsageError(f"--token-env {args.token_env}: the variable is empty or not set")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    if args.client_ca and not args.tls_cert:
        raise UsageError("--client-ca needs --tls-cert and --tls-key")
    cert, key = read(args.tls_cert, "--tls-cert"), read(args.tls_key, "--tls-key")
    id_key = None
    if args.id_key_env:
        id_key = os.environ.get(args.id_key_env, "").encode()
        if len(id_key) < 16:
            raise UsageError(f"--id-key-env {args.id_key_env}: the variable is not set or shorter than 16 "
                             "characters (use a random key, e.g. openssl rand -hex 32)")
    for name in ("workers", "derive_workers", "call_threads", "threads", "max_concurrent_rpcs"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if args.grace < 0 or args.max_derive_seconds <= 0:
        raise UsageError("--grace must be >= 0 and --max-derive-seconds > 0")
    config = ServerConfig(derive_workers=args.derive_workers, call_threads=args.call_threads, threads=args.threads,
                          max_concurrent_rpcs=args.max_concurrent_rpcs, token=token,
                          max_derive_seconds=args.max_derive_seconds, id_key=id_key,
                          tls=(cert, key) if cert and key else None, client_ca=read(args.client_ca, "--client-ca"))
    if args.host not in ("127.0.0.1", "::1", "[::1]", "localhost") and not (token and config.tls):
        missing = " and ".join(w for w, on in (("--token-env", token), ("TLS (--tls-cert/--tls-key)", config.tls))
                               if not on)
        print(f"symshape: warning: listening on {args.host} without {missing}: anyone who can reach this port "
              "can use the service" + ("" if config.tls else " and read its traffic"), file=sys.stderr)
    return serve_forever(args.host, args.port, args.workers, config, grace=args.grace)


def _read_spec(path: str) -> Derivation:
    """A spec file (read as a file: a Path, never guessed from the string), or '-' for standard input;
    the derivation's warnings go to stderr."""
    from pathlib import Path

    from .derive import derive

    d = derive(sys.stdin.read(), source="<stdin>") if path == "-" else derive(Path(path))
    for warning in d.warnings:
        print(f"symshape: warning: {warning}", file=sys.stderr)
    return d


def _shown(text: str, limit: int = 40) -> str:
    """A value echoed in an error message, cut to a readable length."""
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _int(text: str, what: str) -> int:
    """An integer from the command line: digits only (and '_'), at most the literal digit limit."""
    from .limits import current

    raw = text.strip().replace("_", "")
    digits = raw.lstrip("+-")
    if not digits.isdigit() or not digits.isascii():
        raise UsageError(f"{what}: {_shown(text)} is not an integer")
    if len(digits) > current().max_digits:
        raise UsageError(f"{what}: {_shown(text)} has {len(digits):,} digits; integers have at most "
                         f"{current().max_digits} (symshape.limits: max_digits)")
    return int(raw)


def _bindings(pairs: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set takes NAME=VALUE, got {_shown(pair)}")
        out[name.strip()] = _int(value, f"--set {name.strip()}")
    return out


def _derive(args: argparse.Namespace, out: TextIO) -> int:
    d = _read_spec(args.spec)
    never = d.never_valid_reason()
    extra = None
    cost_options = [f"--{k}" for k, default in (("batch", None), ("flops", "symshape"), ("dtype", "fp32"),
                                                 ("optimizer", "sgd")) if getattr(args, k) != default]
    if cost_options and not args.columns:
        verb = "goes" if len(cost_options) == 1 else "go"
        raise UsageError(f"{', '.join(cost_options)} {verb} with --columns (the cost columns: flops, backward, "
                         "saved); without them the derive table has no cost (see `symshape cost`)")
    if args.columns:
        if args.format not in ("table", "markdown"):
            raise UsageError(f"--columns adds cost columns to the table and markdown formats, not {args.format}")
        if not never:
            from .cost.table import derive_columns

            batch = _int(args.batch, "--batch") if args.batch and args.batch.strip().lstrip("+-").isdigit() \
                else args.batch
            extra = derive_columns(d, [c.strip() for c in args.columns.split(",") if c.strip()], batch=batch,
                                   flops=args.flops, dtype=args.dtype, optimizer=args.optimizer)
    if args.format == "json":
        out.write(json.dumps(d.to_dict(closed_forms=args.closed_forms), indent=2) + "\n")
    else:
        from .report import derivation_report

        out.write(derivation_report(d, args.format, width=_width(out), extra=extra, closed_forms=args.closed_forms))
    return 1 if never else 0


def _sweep(args: argparse.Namespace, out: TextIO) -> int:
    from .sweep import Sweep, parse_axis

    d = _read_spec(args.spec)
    opaque = [ly.name for ly in d.layers if ly.kind == "Opaque"]
    if opaque:  # every output marks them (an imported op symshape does not model)
        print(f"symshape: OPAQUE layers (shapes recorded at one input size; rows are valid only where their inputs "
              f"have those shapes): {', '.join(opaque)}", file=sys.stderr)
    axes = []
    for item in args.grid:
        name, sep, values = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--grid takes NAME=VALUES, got {item!r}")
        axes.append(parse_axis(name.strip(), values))
    where = None
    if args.where:
        from .where import parse_where

        try:
            where = parse_where(args.where, Sweep.names(d, [a.name for a in axes]))
        except SpecError as err:
            raise UsageError(f"--where: {err}") from None
    sweep = Sweep(d, axes, where, keep_invalid=args.all)
    if args.ray is not None or args.format == "parquet":
        return _sweep_parquet(args, sweep, where)
    args.format = args.format or "csv"
    if not args.output:
        with _Progress(sweep.total, out) as progress:
            sweep.write(out, args.format, progress)
        return 0
    try:
        target = open(args.output, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as err:
        raise UsageError(f"--output {args.output}: {err.strerror}") from None
    with target, _Progress(sweep.total) as progress:
        kept = sweep.write(target, args.format, progress)
    print(f"{kept:,} of {sweep.total:,} combinations kept -> {args.output}", file=sys.stderr)
    return 0


def _sweep_parquet(args: argparse.Namespace, sweep: Any, where: Any) -> int:
    """--format parquet (one file, written as rows are found) or --ray (part files in a directory)."""
    from pathlib import Path

    if args.format not in (None, "parquet"):
        raise UsageError(f"--ray writes Parquet files, not {args.format}")
    if not args.output:
        raise UsageError("Parquet is written to a file: give -o FILE (with --ray: -o DIR)")
    if args.ray is None:
        try:
            with _Progress(sweep.total) as progress:
                kept = sweep.write_parquet(args.output, progress)
        except OSError as err:
            raise UsageError(f"--output {args.output}: {err.strerror or err}") from None
        print(f"{kept:,} of {sweep.total:,} combinations kept -> {args.output}", file=sys.stderr)
        return 0
    if args.spec == "-":
        raise UsageError("--ray reads the spec from a file, not standard input")
    if args.ray_workers is not None and args.ray_workers < 1:
        raise UsageError("--ray-workers takes a positive number")
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UsageError("--ray needs Ray: pip install 'symshape[ray]'") from None
    from .integrations.ray import sweep_on_ray

    try:
        with _Progress(sweep.total) as progress:
            done = sweep_on_ray(Path(args.spec), sweep.axes, args.output, where=where, keep_invalid=args.all,
                                address=args.ray, workers=args.ray_workers, progress=progress)
    except (ConnectionError, TimeoutError) as err:
        raise UsageError(f"--ray {args.ray}: cannot reach the cluster ({str(err)[:200]})") from None
    print(f"{done.kept:,} of {done.combinations:,} combinations kept -> {args.output}/ ({len(done.files)} "
          f"Parquet file{'' if len(done.files) == 1 else 's'}, "
          f"{done.workers} Ray worker{'' if done.workers == 1 else 's'}, "
          f"{done.rows_per_second:,.0f} combinations/s)", file=sys.stderr)
    return 0


class _Progress:
    """A progress bar on stderr when it is a terminal (and the rows do not go to that terminal):
    combinations done, rows/s, rows kept and time left. It shows once a sweep has run half a second."""

    DELAY = 0.5

    def __init__(self, total: int, out: TextIO | None = None) -> None:
        self.total = total
        self.bar: Any = None
        self.task: Any = None
        self.shown = _isatty(sys.stderr) and not (out is not None and _isatty(out))
        self.started = 0.0

    def __enter__(self) -> Any:
        if not self.shown:
            return None
        import time

        self.started = time.monotonic()
        return self.update

    def update(self, done: int, kept: int) -> None:
        if self.bar is None:
            import time

            if time.monotonic() - self.started < self.DELAY or done >= self.total:
                return
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("sweeping"), BarColumn(), TaskProgressColumn(),
                                TextColumn("{task.fields[rate]} rows/s, {task.fields[kept]} kept"),
                                TimeRemainingColumn(), console=Console(stderr=True), transient=True,
                                refresh_per_second=8, redirect_stdout=False, redirect_stderr=False)
            self.task = self.bar.add_task("sweep", total=self.total, rate="-", kept="0")
            self.bar.start()
        speed = self.bar.tasks[0].speed
        self.bar.update(self.task, completed=done, kept=f"{kept:,}", rate=f"{speed:,.0f}" if speed else "-")

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


def _solve(args: argparse.Namespace, out: TextIO) -> int:
    from .solve import dropped_at, largest_within, search, target_formula

    d = _read_spec(args.spec)
    symbols = [name.strip() for name in args.symbol.split(",") if name.strip()]
    ranges: dict[str, tuple[int, int]] = {}
    for item in args.range:
        name, sep, span = item.rpartition("=")
        name = name.strip() if sep else (symbols[0] if len(symbols) == 1 else "")
        if span.count(":") != 1:
            raise UsageError(f"--range takes LO:HI (both included), or NAME=LO:HI with several --for symbols, "
                             f"got {_shown(item)}")
        lo_text, hi_text = span.split(":")
        ranges[name] = (_int(lo_text, "--range"), _int(hi_text, "--range"))
        if name not in symbols:
            raise UsageError(f"--range {_shown(item)}: name one of the --for symbols ({', '.join(symbols)})")
    for name in symbols:
        if name not in d.symbols:
            raise BindingError(f"unknown symbol '{name}'{did_you_mean(name, d.symbols)}")
    lo, hi = ranges.get(symbols[0], (None, None)) if symbols else (None, None)
    target: dict[int, int] = {}
    for item in args.target:
        name, sep, value = item.partition("=")
        if not (sep and name.startswith("out") and name[3:].isdigit() and value.strip().lstrip("-").isdigit()):
            raise UsageError(f"--target takes outK=N (output axis K), got {item!r}")
        axis = int(name[3:])
        if axis >= len(d.output_shape):
            raise UsageError(f"--target {name}: the output has {len(d.output_shape)} axes (out0..out"
                             f"{len(d.output_shape) - 1})")
        target[axis] = int(value)
    bindings = _bindings(args.set)
    if len(symbols) > 1:  # several symbols at once: every combination, evaluated
        found = search(d, {n: ranges.get(n) for n in symbols}, bindings, target=target or None)
        out.write((json.dumps(found.to_dict()) if args.format == "json" else found.text()) + "\n")
        return 0 if found.count else 1
    if args.budget:
        budgets = {}
        for item in args.budget:
            name, sep, value = item.partition("=")
            if not sep:
                raise UsageError(f"--budget takes QUANTITY=N (e.g. macs=4e9), got {_shown(item)}")
            mantissa, e, exponent = value.strip().lower().partition("e")
            if e:  # 4e9, exactly: an integer mantissa and a small exponent
                power = _int(exponent, f"--budget {name.strip()}")
                if not 0 <= power <= 60:
                    raise UsageError(f"--budget {name.strip()}: the exponent must be 0 to 60, got {power}")
                budgets[name.strip()] = _int(mantissa, f"--budget {name.strip()}") * 10**power
            else:
                budgets[name.strip()] = _int(value, f"--budget {name.strip()}")
        largest = largest_within(d, args.symbol, budgets, bindings, lo=lo, hi=hi)
        out.write((json.dumps(largest.to_dict()) if args.format == "json" else largest.text()) + "\n")
        return 0 if largest.value is not None or largest.unbounded else 1
    answer = d.solve(args.symbol, bindings, target=target or None, lo=lo, hi=hi, lossless=args.lossless)
    near = None
    if args.near is not None:
        args.near = _int(args.near, "--near")
        near = answer.nearest(args.near)
    lowest = d.symbols[args.symbol].min
    in_domain = args.near is not None and (lowest is None or args.near >= lowest)
    if args.format == "json":
        doc = answer.to_dict()
        if near is not None:
            doc["near"] = {"value": args.near, "below": near[0], "above": near[1]}
        if args.lossless is False and in_domain:
            doc["dropped"] = [x.__dict__ for x in dropped_at(d, {**bindings, args.symbol: args.near})]
        out.write(json.dumps(doc) + "\n")
        return 0 if answer.pieces else 1
    what = "loses no row" if args.lossless else "is valid"
    if target:
        what += " and gives " + ", ".join(f"out{k} = {v}" for k, v in target.items())
    out.write(f"{answer.text()}\n")
    if answer.pieces:
        count = answer.count()
        firsts = answer.first(12)
        more = ", ..." if count is None or count > len(firsts) else ""
        total = "infinitely many" if count is None else f"{count:,} value{'s' if count != 1 else ''}"
        out.write(f"  the network {what} for {args.symbol} in {', '.join(f'{v:,}' for v in firsts)}{more} "
                  f"({total})\n")
    else:
        out.write(f"  no value of {args.symbol} for which the network {what}\n")
    for axis in target if not args.lossless else ():
        formula = target_formula(d, args.symbol, bindings, axis)
        if formula is not None:
            out.write(f"  in general: {formula}\n")
    for line in answer.explanation:
        out.write(f"  because {line}\n")
    if near is not None:
        below, above = near
        if answer.contains(args.near):
            out.write(f"  {args.near:,} is a member\n")
        else:
            options = []
            if above is not None:
                options.append(f"pad to {above:,}")
            if below is not None:
                options.append(f"crop to {below:,}")
            out.write(f"  {args.near:,} is not; " + (" or ".join(options) if options else "no member nearby") + "\n")
        for x in dropped_at(d, {**bindings, args.symbol: args.near}) if in_domain else ():
            out.write(f"  at {args.symbol} = {args.near:,}: {x.text()}\n")
    return 0 if answer.pieces else 1


def _layers(args: argparse.Namespace, out: TextIO) -> int:
    from .layers import REGISTRY, rules
    from .report import layer_info, layer_report, layers_report

    if args.name:
        matches = [r for (fw, n), r in sorted(REGISTRY.items()) if n == args.name and args.framework in (None, fw)]
        if not matches:
            names = sorted({n for (fw, n) in REGISTRY if args.framework in (None, fw)})
            raise UsageError(f"unknown layer '{args.name}'{did_you_mean(args.name, names)}")
        for rule in matches:
            if args.format == "json":
                out.write(json.dumps(layer_info(rule), indent=2, default=str) + "\n")
            else:
                out.write(layer_report(rule, args.format) + ("\n" if rule is not matches[-1] else ""))
        return 0
    selected = rules(args.framework)
    if args.format == "json":
        out.write(json.dumps([{"framework": r.framework, "name": r.name, "summary": r.summary} for r in selected],
                             indent=2) + "\n")
    else:
        out.write(layers_report(selected, args.format))
    return 0


def run(argv: Sequence[str] | None, out: TextIO) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help(out)
        return 2
    if args.command == "derive":
        return _derive(args, out)
    if args.command == "eval":
        d = _read_spec(args.spec)
        bindings = _bindings(args.set)
        if args.defaults:
            bindings = {**d.defaults(), **bindings}  # values given with --set win
        e = d.evaluate(bindings)
        if args.format == "json":
            out.write(json.dumps(e.to_dict(), indent=2) + "\n")
        else:
            from .report import evaluation_report

            out.write(evaluation_report(d, e, width=_width(out)))
        return 0 if e.valid else 1
    if args.command == "sweep":
        return _sweep(args, out)
    if args.command == "layers":
        return _layers(args, out)
    if args.command == "solve":
        return _solve(args, out)
    if args.command == "serve":
        return _serve(args)
    for module in _command_modules():
        if args.command == module.NAME:
            return module.run(args, out)
    raise UsageError(f"unknown command {args.command}")


def _width(out: TextIO) -> int | None:
    """The terminal's width when writing to one (COLUMNS wins); None (no wrapping) in a pipe or a file."""
    try:
        if not out.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        try:
            return os.get_terminal_size(out.fileno()).columns
        except (OSError, ValueError, AttributeError):
            return None


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point; returns the exit status (the console script exits with it)."""
    out = out or sys.stdout
    try:
        code = run(argv, out)
        out.flush()  # a full disk or a closed file shows here, as an error, not at exit
        return code
    except UsageError as err:
        print(f"symshape: error: {err}", file=sys.stderr)
        return 2
    except (SpecError, BindingError) as err:
        print(f"symshape: error: {err}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # argparse's --help and --version
        return int(exit_.code or 0) if isinstance(exit_.code, int) else 0
    except KeyboardInterrupt:
        print("symshape: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except OSError as err:  # writing the output failed (a full disk, /dev/full, a vanished directory)
        print(f"symshape: error: cannot write the output: {err.strerror or err}", file=sys.stderr)
        _quiet_stdout()
        return 2
    except Exception as err:  # noqa: BLE001 - the one place that turns a bug into a message, not a traceback
        if os.environ.get("SYMSHAPE_DEBUG"):
            raise
        print(f"symshape: internal error: {type(err).__name__}: {err} (set SYMSHAPE_DEBUG=1 for a traceback, "
              "and please report it)", file=sys.stderr)
        return 3


def _quiet_stdout() -> None:
    """After a closed pipe (symshape sweep ... | head), keep Python's exit flush from complaining."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
