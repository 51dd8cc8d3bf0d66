"""A seeded generator of nasty inputs over symshape's spec grammar, and one runner for them.

`case(seed)` gives one reproducible case: a spec (YAML text, JSON text or a dict) of random layers
from the registry with random or nasty arguments (expressions, huge numbers, deep nesting, YAML
oddities, aliases, unicode), bindings and batch columns (int64 edges, uint64, floats, objects).
`run(case)` feeds it to every public entry point (derive, to_dict, the text views, evaluate,
evaluate_batch, the CLI in-process) and reports what escaped symshape's error family and how long
it took. The gRPC server's fuzz test imports this module to send the same inputs through every RPC.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

__all__ = ["Case", "Outcome", "case", "cases", "run"]

SYMBOLS = ["H", "W", "C", "D", "F", "S", "P", "K", "I", "N", "E", "Hh", "L", "M", "J", "x_1", "é", "B0"]
I64 = 2**63 - 1


@dataclass
class Case:
    seed: int
    spec: Any  # YAML/JSON text or a dict
    bindings: dict[str, Any]
    columns: dict[str, Any]
    kind: str  # which family of oddity made it (for the slowest-classes table)

    def describe(self) -> str:
        return f"seed {self.seed} ({self.kind}): {_repr(self.spec)[:400]} bindings={_repr(self.bindings)[:200]}"


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except ValueError:  # ints over Python's digit limit for str()
        return f"<{type(value).__name__} holding a huge int>"


@dataclass
class Outcome:
    seed: int
    kind: str
    seconds: float
    crashes: list[str] = field(default_factory=list)  # 'stage: ExcType: message' outside SymshapeError
    stages: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------- values


def _expr(r: random.Random, depth: int = 0) -> str:
    """A random expression text in (mostly) our grammar, sometimes deep or huge."""
    roll = r.random()
    if depth > 3 or roll < 0.3:
        return r.choice([str(r.randint(0, 9)), str(r.randint(1, 512)), r.choice(SYMBOLS), r.choice(SYMBOLS)])
    if roll < 0.45:
        op = r.choice(["+", "-", "*", "//", "%", "/"])
        return f"{_expr(r, depth + 1)} {op} {_expr(r, depth + 1)}"
    if roll < 0.55:
        return f"({_expr(r, depth + 1)})**{r.choice([0, 1, 2, 3, 8, 16, 64, 65, 999])}"
    if roll < 0.65:
        fn = r.choice(["floor", "ceil", "max", "min", "flor", "sqrt"])
        args = ", ".join(_expr(r, depth + 1) for _ in range(r.randint(1, 3)))
        return f"{fn}({args})"
    if roll < 0.7:
        return "(" * r.randint(1, 80) + r.choice(SYMBOLS) + ")" * r.randint(0, 80)
    if roll < 0.75:
        return "((((" + r.choice(["2", "I", "9" * 60]) + "**64)**64)**64)**64)"
    if roll < 0.8:
        return "(" + "+".join(r.sample(SYMBOLS[:12], r.randint(2, 6))) + f")**{r.randint(2, 64)}"
    if roll < 0.85:
        return r.choice(["", " ", "+", "2 +", "1.5", "1e3", "0x10", "I I", "I**", "I**I", "-", "--I", "_", "√I",
                         "I\x00", "floor()", "max(I)", "1/0", "I % 0", "I // 0", "I/2", "floor(I/0)"])
    return "*".join(r.choice(SYMBOLS[:10]) for _ in range(r.randint(2, 40)))


def _number(r: random.Random) -> Any:
    return r.choice([0, 1, 2, 3, -1, -7, 16, 255, 2**31, 2**62, I64, 2**63, 2**64, -(2**63), 10**59, 10**60,
                     10**61, 10**4400, 7**6000, 0.5, 2.0, 1e300, -0.0, float("inf"), float("nan"), 1e-300])


def _value(r: random.Random, depth: int = 0) -> Any:
    """An argument value: usually plausible, often nasty."""
    roll = r.random()
    if roll < 0.35:
        return r.choice([1, 2, 3, 4, 8, 16, 32, 64, r.randint(0, 5)])
    if roll < 0.5:
        return r.choice(SYMBOLS[:10])
    if roll < 0.62:
        return _expr(r)
    if roll < 0.72:
        return _number(r)
    if roll < 0.8:
        return [_value(r, depth + 1) for _ in range(r.randint(0, 4))] if depth < 3 else 1
    if roll < 0.84:
        return r.choice(["same", "valid", "causal", "full", "none", "reflect", "zeros", "channels_first", "relu",
                         "nonsense", "nearest", "bilinear", "sum", "mul", "concat", "ave", "1e-99999999", "1e5000",
                         "1/3", "0/0", "3/0", "-2/3", "1.5", "2.000000000000000000001", "max", "True", "null"])
    if roll < 0.88:
        return r.choice([True, False, None, {}, {3: 4}, {"a": 1}, {"LSTM": {"units": 4}}, {"Dense": None},
                         {None: 1}, {1.5: 2}, {(1, 2): 3}])
    if roll < 0.9:
        deep: Any = 1
        for _ in range(r.choice([10, 63, 64, 65, 300])):
            deep = [deep]
        return deep
    if roll < 0.93:
        return "".join(r.choice("Iab_é√\u202e\ud7ff\x7f \t") for _ in range(r.randint(0, 12)))
    return r.choice([1, 2, 3])


def _plausible(r: random.Random, kind: Any, rule: Any) -> Any:
    """A value of the right form for an argument's kind (small sizes, symbols, simple expressions)."""
    name = type(kind).__name__
    if name == "OptionalKind":
        return None if r.random() < 0.2 else _plausible(r, kind.inner, rule)
    if name == "IntKind":
        if r.random() < 0.05:  # big but legal: products across layers grow past int64 and the bit limit
            return r.choice([10**59, 2**190, "9" * 59, "I**64", "(I*J)**32", "2**64 * I", "(H+1)**8"])
        return r.choice([1, 2, 3, 4, 8, 16, r.choice(SYMBOLS[:8]), "2*D", "D + 1", "floor(H/2)", "E**2", "(I+J)**3"])
    if name == "IntsKind":
        n = kind.n or rule.rank or 1
        one = r.choice([1, 2, 3, "S", "F", "K"])
        return one if r.random() < 0.6 else [r.choice([1, 2, 3, "P", "S"]) for _ in range(n)]
    if name == "ChoiceKind":
        return r.choice(kind.choices)
    if name == "PaddingKind":
        return r.choice([*kind.modes, 0, 1, "P"] if kind.numbers else list(kind.modes))
    if name == "BoolKind":
        return r.random() < 0.5
    if name in ("NumberKind",):
        return r.choice([0.0, 0.1, 0.5, 1e-5])
    if name in ("RatioKind", "ScaleKind"):
        return r.choice([2, 1, "3/2", 0.5, "1.5", [2, 2]])
    if name == "ActivationKind":
        return r.choice(["relu", "linear", None, "softmax"])
    if name == "LayerKind":
        return r.choice([{"LSTM": {"units": 4}}, {"GRU": {"units": "U", "return_sequences": True}}])
    if name == "ShapeKind":
        return r.choice([[-1], [2, -1], ["D", -1], [4, 4, -1]])
    if name in ("PairsKind", "TorchPadKind"):
        return r.choice([1, 0, "P", [1, 1], [[1, 1], [2, 2]], [1, 1, 1, 1]])
    return r.choice([1, 2, -1, "relu", None, True])


def _shape(r: random.Random, framework: str, nasty: float, spatial: int) -> list:
    rank = r.choice([1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 0, 9] if r.random() < nasty else [spatial + 1])
    out = []
    for _ in range(rank):
        roll = r.random()
        out.append(r.choice([1, 3, 4, 8, 16, 32, 28, 224, 10**59 if r.random() < 0.05 else 7]) if roll < 0.55 else
                   r.choice(SYMBOLS[:8]) if roll < 1 - 0.15 * nasty else _value(r))
    return out


# ---------------------------------------------------------------- specs


def _layers_of(framework: str) -> list[Any]:
    from symshape.layers import REGISTRY

    return [rule for (fw, _), rule in sorted(REGISTRY.items()) if fw == framework]


_RULES: dict[str, list[Any]] = {}


def _layer(r: random.Random, framework: str, index: int, names: list[str], nasty: float, rank: int) -> dict:
    rules = _RULES.setdefault(framework, _layers_of(framework))
    fitting = [rule for rule in rules if rule.rank in (0, rank)]  # most rules keep a spatial rank
    rule = r.choice(fitting if r.random() > nasty else rules)
    args: dict[str, Any] = {}
    for arg in rule.args:
        if arg.name in ("name", "inputs", "dtype") and r.random() > nasty:
            continue
        if arg.required or r.random() < 0.3:
            args[arg.name] = _value(r) if r.random() < nasty else _plausible(r, arg.kind, rule)
    if r.random() < 0.08 * nasty:
        args[r.choice(["kernal_size", "unitz", "3", "inputs", "name", "é"])] = _value(r)
    entry: dict[str, Any] = {rule.name: args}
    if r.random() < 0.1:
        entry = {"kind": rule.name, **args}
    if r.random() < 0.5:
        entry["name"] = r.choice([f"l{index}", f"l{index}", "dup", 3, None, "l0"] if r.random() < nasty else
                                 [f"l{index}"])
    lo, hi = rule.n_inputs
    if lo > 1 or r.random() < 0.15:
        count = lo if r.random() < 0.7 else r.randint(1, max(lo + 2, 4))
        if r.random() < 0.02:
            count = r.choice([500, 3000])
        entry["inputs"] = [r.choice(names) if names and r.random() > 0.1 * nasty else
                           r.choice(["nope", "x:1", "input:7"]) for _ in range(count)]
    if r.random() < 0.02 * nasty:
        return r.choice(["Flatten", "Dense", 3, None, [], {"Dense": {"units": 4}, "Flatten": {}}])
    return entry


def _spec_dict(r: random.Random, nasty: float) -> dict:
    framework = r.choice(["keras", "torch"])
    spec: dict[str, Any] = {"framework": framework}
    rank = r.choice([1, 2, 2, 3])
    if r.random() < 0.15:
        spec["inputs"] = {"a": _shape(r, framework, nasty, rank), "b": _shape(r, framework, nasty, rank)}
        names = ["a", "b"]
    else:
        spec["input"] = _shape(r, framework, nasty, rank)
        names = ["input"]
    if r.random() < 0.4:
        used = r.sample(SYMBOLS[:10], r.randint(1, 4))
        spec["symbols"] = {s: r.choice([{"min": 0}, {"min": 1}, {"min": 1, "max": 64}, {"min": _number(r)},
                                        {"max": 0}, {"min": 5, "max": 2}, None, {"mn": 1}, 3])
                           if r.random() < nasty else r.choice([{"min": 0}, {"min": 1}, {"min": 2, "max": 64}, None])
                           for s in used}
    n = r.choice([1, 1, 2, 3, 4, 6, 10, 10, 30]) if r.random() > 0.02 else r.choice([60, 120])
    layers = []
    for i in range(n):
        layer = _layer(r, framework, i, names, nasty, rank)
        layers.append(layer)
        if isinstance(layer, dict) and isinstance(layer.get("name"), str):
            names.append(layer["name"])
    spec["layers"] = layers
    if r.random() < 0.05 * nasty:
        spec["outputs"] = r.choice([["l0"], "nope", [3], []])
    if r.random() < 0.03 * nasty:
        spec[r.choice(["inputt", "framwork", "extra"])] = 1
    if r.random() < 0.03 * nasty:
        del spec["framework"]
    return spec


_YAML_ODDITIES = [
    "a: 0x\n", "a: 0x_\n", "a: 0b_\n", "a: 0o\n", "a: +0x_\n", "a: 190:20:30\n", "a: !!python/object:os.system x\n",
    "a: !!binary aGk=\n", "a: &x [1]\nb: *x\n", "a: *nope\n", "? [1, 2]\n: 3\n", "a: 1\na: 2\n", "---\n---\n",
    "a: 2001-12-14\n", "<<: {a: 1}\n", "a: .inf\n", "a: .nan\n", "a: \x00\n", "a: '\ud800'\n", "\ufeffa: 1\n",
    "a: [" * 70 + "]" * 70 + "\n", "- - - - - - - - 1\n", "a: 1.0e+5000\n", "a: " + "9" * 5000 + "\n",
    "{" * 200, "a: !!int 12\n", "a: !!str 12\n", "a: !custom 1\n", "%YAML 1.1\n---\na: 1\n",
]


def _alias_bomb(r: random.Random) -> str:
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, r.randint(3, 9)):
        p = chr(96 + i)
        text += f"{chr(97 + i)}: &{chr(97 + i)} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    return text


def _deep_yaml(r: random.Random) -> str:
    n = r.choice([65, 500, 8000])
    if r.random() < 0.5:
        return "framework: keras\ninput: " + "[" * n + "1" + "]" * n + "\nlayers: [Flatten]\n"
    return "framework: keras\ninput: [1]\nlayers:\n" + "".join("  " * i + "- \n" for i in range(min(n, 400)))


def _text(r: random.Random, spec: dict, nasty: float) -> tuple[str, str]:
    """A spec dict as YAML or JSON text, sometimes damaged."""
    roll = r.random()
    try:
        text = json.dumps(spec) if roll < 0.25 else yaml.safe_dump(spec, allow_unicode=r.random() < 0.5,
                                                                     default_flow_style=r.random() < 0.5)
    except (TypeError, ValueError, yaml.YAMLError):
        text = "framework: keras\ninput: [3]\nlayers: [Flatten]\n"
    kind = "json" if roll < 0.25 else "yaml"
    roll = r.random() / max(nasty, 0.01)
    if roll < 0.1:
        lines = text.splitlines(keepends=True)
        at = r.randint(0, len(lines))
        lines.insert(at, r.choice(_YAML_ODDITIES))
        return "".join(lines), "yaml-oddity"
    if roll < 0.14 and text:
        at = r.randrange(len(text))
        return text[:at] + r.choice(["\t", ":", "[", "]", "{", "&", "*", "!", "%", "@", "`", "\x00", "é", "#"]) + \
            text[at + 1:], "yaml-damaged"
    if roll < 0.16:
        return text[: r.randrange(max(1, len(text)))], "truncated"
    return text, kind


def _bindings(r: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in SYMBOLS[:10]:
        roll = r.random()
        out[s] = (r.choice([1, 2, 3, 4, 8, 16, 32, 224]) if roll < 0.7 else
                  r.choice([0, -1, 2**62, I64, 2**63, 2**64, -(2**63), 10**100, 10**1300, 2**5000, 3.0, 2.5,
                            float("nan"), float("inf"), "3", None, True, np.int64(7), np.uint64(2**64 - 1),
                            np.float32(4.0), [3]]))
    if r.random() < 0.05:
        out["nope"] = 1
    if r.random() < 0.05:
        out.pop(r.choice(SYMBOLS[:10]))
    return out


def _columns(r: random.Random) -> dict[str, Any]:
    n = r.choice([1, 3, 16, 64])
    out: dict[str, Any] = {}
    for s in SYMBOLS[:10]:
        roll = r.random()
        if roll < 0.5:
            out[s] = np.array([r.choice([1, 2, 3, 8, 16, 32]) for _ in range(n)], dtype=np.int64)
        elif roll < 0.6:
            out[s] = r.choice([1, 3, 2**62, I64, 2**64, -(2**63), 10**30])
        elif roll < 0.7:
            out[s] = np.array([r.choice([1, 2**31, 2**62, I64, -(2**63), 0, -1]) for _ in range(n)], dtype=np.int64)
        elif roll < 0.75:
            out[s] = np.array([r.choice([1, 2**63, 2**64 - 1]) for _ in range(n)], dtype=np.uint64)
        elif roll < 0.82:
            out[s] = np.array([r.choice([1.0, 2.5, 1e19, float("nan"), 3.0, 1e300]) for _ in range(n)])
        elif roll < 0.87:
            out[s] = [r.choice([1, 2**64, 10**100, "a", None, 3.5]) for _ in range(n)]
        elif roll < 0.9:
            out[s] = np.array([[1, 2], [3, 4]])
        elif roll < 0.93:
            out[s] = np.array([True, False] * (n // 2 or 1))
        elif roll < 0.96:
            out[s] = np.arange(n + 1)
        else:
            out[s] = np.array([1], dtype=np.int8).repeat(n)
    return out


EXAMPLES = Path(__file__).parent.parent / "examples"
_EXAMPLES: list[dict] = []


def _mutant(r: random.Random) -> dict:
    """A real network from examples/ with a few arguments, layers or inputs changed."""
    if not _EXAMPLES:
        for path in sorted(EXAMPLES.glob("*.yaml")):
            if path.stat().st_size < 8000:  # the small ones: a case stays well under a second
                _EXAMPLES.append(yaml.safe_load(path.read_text()))
    spec = json.loads(json.dumps(r.choice(_EXAMPLES)))
    layers = spec["layers"]
    for _ in range(r.randint(1, 3)):
        roll = r.random()
        i = r.randrange(len(layers))
        entry = layers[i]
        if roll < 0.6 and isinstance(entry, dict):
            kind = next((k for k in entry if k not in ("name", "inputs")), None)
            args = entry.get(kind) if kind else None
            if isinstance(args, dict) and args:
                key = r.choice(list(args))
                args[key] = _value(r) if r.random() < 0.7 else _plausible_any(r)
        elif roll < 0.75:
            layers.insert(i, _layer(r, spec["framework"], i, [], 0.1, r.choice([1, 2, 3])))
        elif roll < 0.85 and len(layers) > 1:
            del layers[i]
        elif "input" in spec:
            shape = spec["input"]
            if isinstance(shape, list) and shape:
                shape[r.randrange(len(shape))] = r.choice([0, -1, 1, 10**59, "H", "H*W", "2**64", _value(r)])
    return spec


def _plausible_any(r: random.Random) -> Any:
    return r.choice([0, 1, 2, 3, 7, "S", "same", "valid", [2, 2], [1, 2, 3], "P + 1", -1, 2**62])


def case(seed: int) -> Case:
    """One reproducible case."""
    r = random.Random(seed)
    roll = r.random()
    if roll > 0.8:
        spec_dict = _mutant(r)
        if r.random() < 0.5:
            return Case(seed, spec_dict, _bindings(r), _columns(r), "mutant")
        text, _ = _text(r, spec_dict, 0.1)
        return Case(seed, text, _bindings(r), _columns(r), "mutant")
    if roll < 0.04:
        spec: Any = _alias_bomb(r) if r.random() < 0.5 else r.choice(_YAML_ODDITIES)
        kind = "yaml-raw"
    elif roll < 0.07:
        spec, kind = _deep_yaml(r), "deep-nesting"
    elif roll < 0.09:
        spec = r.choice(["examples/classic.yaml", "/etc/passwd", "spec.json", "", "   ", "[]", "3", "null", "~"])
        kind = "not-a-spec"
    else:
        nasty = r.choice([0.0, 0.02, 0.05, 0.1, 0.3, 1.0])  # how far from a plausible spec
        spec_dict = _spec_dict(r, nasty)
        if r.random() < 0.25:
            spec, kind = spec_dict, "dict"
        else:
            spec, kind = _text(r, spec_dict, nasty)
    return Case(seed, spec, _bindings(r), _columns(r), kind)


def cases(start: int, count: int) -> list[Case]:
    return [case(seed) for seed in range(start, start + count)]


def derivations(start: int, count: int) -> list[Any]:
    """The derivations (uncached) of the cases symshape accepts; the refused ones left out."""
    import symshape

    out = []
    for c in cases(start, count):
        try:
            out.append(symshape.derive(c.spec, cache=False))
        except symshape.SymshapeError:
            continue
    return out


# ---------------------------------------------------------------- running one


def _stage(out: Outcome, name: str, fn: Any) -> Any:
    from symshape import SymshapeError

    t = time.perf_counter()
    try:
        return fn()
    except SymshapeError:
        return None
    except Exception as err:  # noqa: BLE001 - what the fuzz test counts
        tb = traceback.extract_tb(err.__traceback__)[-1]
        out.crashes.append(f"{name}: {type(err).__name__}: {str(err)[:200]} "
                           f"[{Path(tb.filename).name}:{tb.lineno}]")
        return None
    finally:
        out.stages[name] = time.perf_counter() - t


def run(c: Case, cli: bool = True) -> Outcome:
    """Every public entry point on one case; crashes are exceptions outside SymshapeError."""
    import symshape
    from symshape.cli import main
    from symshape.report import derivation_report, evaluation_report

    out = Outcome(c.seed, c.kind, 0.0)
    start = time.perf_counter()
    d = _stage(out, "derive", lambda: symshape.derive(c.spec, cache=False))
    if d is not None:
        _stage(out, "to_dict", d.to_dict)
        _stage(out, "report", lambda: derivation_report(d, "table") + derivation_report(d, "markdown"))
        e = _stage(out, "evaluate", lambda: d.evaluate({k: v for k, v in c.bindings.items() if k in d.symbols}))
        if e is not None:
            _stage(out, "eval_report", lambda: evaluation_report(d, e) + json.dumps(e.to_dict()))
        _stage(out, "batch", lambda: d.evaluate_batch({k: v for k, v in c.columns.items() if k in d.symbols},
                                                      outputs=("output_shape", "params", "macs", "activations")))
    if cli:
        names = list(d.free_symbols) if d is not None and _stage(out, "symbols", lambda: d.free_symbols) else []
        _stage(out, "cli", lambda: _cli(c, main, names))
    out.seconds = time.perf_counter() - start
    return out


def _cli(c: Case, main: Any, names: list[str]) -> None:
    try:
        text = c.spec if isinstance(c.spec, str) else json.dumps(c.spec, default=str)
    except (TypeError, ValueError):  # a dict that has no JSON text (tuple keys, ints over the digit limit)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        try:
            path.write_text(text, encoding="utf-8")
        except UnicodeError:
            path.write_bytes(text.encode("utf-8", "surrogatepass"))
        sets = [f"--set={k}={v}" for k, v in c.bindings.items() if isinstance(v, int) and not isinstance(v, bool)
                and abs(v) < 10**1000]
        commands = [["derive", str(path)], ["eval", str(path), *sets], ["derive", str(path), "--format", "json"]]
        if names:  # the commands that evaluate many bindings
            pick = random.Random(c.seed).choice(names)
            commands.append(["solve", str(path), "--for", pick, "--range", "0:64",
                             *[a for a in sets if not a.startswith(f"--set={pick}=")]])
            commands.append(["sweep", str(path), *[f"--grid={n}=1,2,3,{2**62}" for n in names[:6]],
                             "--format", "json", "--all"])
        for argv in commands:
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                status = main(argv, out=io.StringIO())
            if status not in (0, 1, 2):
                raise AssertionError(f"exit {status} for {argv[0]}: {err.getvalue().strip()[:300]}")
            errors = [line for line in err.getvalue().splitlines() if not line.startswith("symshape: warning:")]
            if status == 2 and (len(errors) != 1 or not errors[0].startswith("symshape: error: ")):
                raise AssertionError(f"exit 2 without one error line: {err.getvalue()[:300]!r}")


# ---------------------------------------------------------------- the long run


def main(argv: list[str] | None = None) -> int:
    """python -m tests.fuzzgen [START] [COUNT]: run cases, print crashes as found and a summary."""
    import sys
    from collections import defaultdict

    args = sys.argv[1:] if argv is None else argv
    start, count = (int(args[0]) if args else 0), (int(args[1]) if len(args) > 1 else 1000)
    crashes = 0
    times: list[float] = []
    by_kind: dict[str, list[float]] = defaultdict(list)
    by_stage: dict[str, float] = defaultdict(float)
    slow: list[tuple[float, int, str, str]] = []
    t0 = time.perf_counter()
    for seed in range(start, start + count):
        c = case(seed)
        o = run(c, cli=seed % 2 == 0)
        times.append(o.seconds)
        by_kind[c.kind].append(o.seconds)
        for stage, sec in o.stages.items():
            by_stage[stage] = max(by_stage[stage], sec)
        slow.append((o.seconds, seed, c.kind, max(o.stages, key=o.stages.get) if o.stages else "-"))
        slow = sorted(slow, reverse=True)[:10]
        for x in o.crashes:
            crashes += 1
            print(f"CRASH {x}\n    {c.describe()}", flush=True)
        if (seed - start + 1) % 5000 == 0:
            print(f"... {seed - start + 1} cases, {crashes} crashes, {time.perf_counter() - t0:.0f} s", flush=True)
    total = time.perf_counter() - t0
    times.sort()
    print(f"cases {count} (seeds {start}..{start + count - 1}), exceptions outside SymshapeError {crashes}, "
          f"cases over 5 s {sum(t > 5 for t in times)}")
    print(f"wall {total:.0f} s, {1000 * total / count:.1f} ms per case; per case: median "
          f"{1000 * times[len(times) // 2]:.1f} ms, p99 {1000 * times[int(len(times) * 0.99)]:.0f} ms, "
          f"max {times[-1]:.2f} s")
    print("slowest cases: " + "; ".join(f"seed {s} {k} {t:.2f} s ({st})" for t, s, k, st in slow[:5]))
    print("max per kind: " + ", ".join(f"{k} {max(v):.2f} s (n={len(v)})" for k, v in
                                       sorted(by_kind.items(), key=lambda kv: -max(kv[1]))))
    print("max per stage: " + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(by_stage.items(), key=lambda kv: -kv[1])))
    return 1 if crashes or times[-1] > 5 else 0


if __name__ == "__main__":
    raise SystemExit(main())
