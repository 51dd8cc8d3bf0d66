"""The command line, in-process through main(argv) and as the installed console script.

Rendered outputs are compared with golden files in tests/golden/ (pytest --overwrite rewrites them).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from symshape.cli import main

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).parent / "golden"


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    out = io.StringIO()
    code = main(argv, out=out)
    captured = capsys.readouterr()
    return code, out.getvalue() + captured.out, captured.err


def check_golden(name: str, text: str, request: pytest.FixtureRequest) -> None:
    path = GOLDEN / name
    if request.config.getoption("--overwrite"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}: run pytest --overwrite"
    assert text == path.read_text(), f"{name} differs from its golden file (pytest --overwrite to accept)"


GOLDEN_CASES = [
    (["derive", "classic.yaml"], "classic.table.txt"),
    (["derive", "classic_symbolic.yaml"], "classic_symbolic.table.txt"),
    (["derive", "classic_symbolic.yaml", "--format", "markdown"], "classic_symbolic.md"),
    (["derive", "classic_symbolic.yaml", "--format", "latex"], "classic_symbolic.tex"),
    (["derive", "unet.yaml", "--format", "markdown"], "unet.md"),
    (["eval", "resnet18.yaml", "--set", "H=224", "--set", "W=224"], "resnet18.eval.txt"),
    (["layers", "Conv2d"], "layer.Conv2d.txt"),
    (["layers", "MaxPooling2D", "--format", "markdown"], "layer.MaxPooling2D.md"),
]


@pytest.mark.parametrize(("argv", "golden"), GOLDEN_CASES)
def test_golden_outputs(argv: list[str], golden: str, capsys: pytest.CaptureFixture, request: pytest.FixtureRequest,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    argv = [str(EXAMPLES / a) if a.endswith(".yaml") else a for a in argv]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    check_golden(golden, out.replace(str(EXAMPLES) + "/", ""), request)


def test_derive_json_is_to_dict(capsys: pytest.CaptureFixture) -> None:
    import symshape

    code, out, _ = run(["derive", str(EXAMPLES / "classic_symbolic.yaml"), "--format", "json"], capsys)
    assert code == 0
    assert json.loads(out) == json.loads(json.dumps(symshape.derive(EXAMPLES / "classic_symbolic.yaml").to_dict()))


def test_eval_json_is_evaluate_to_dict(capsys: pytest.CaptureFixture) -> None:
    import symshape

    argv = ["eval", str(EXAMPLES / "classic_symbolic.yaml"), "--format", "json"]
    values = {"I": 32, "F": 3, "S": 1, "P": 0, "D": 5}
    code, out, _ = run(argv + [f"--set={k}={v}" for k, v in values.items()], capsys)
    assert code == 0
    expected = symshape.derive(EXAMPLES / "classic_symbolic.yaml").evaluate(values).to_dict()
    assert json.loads(out) == expected
    assert expected["layers"][0]["output_shape"] == [30, 30, 5] and expected["layers"][0]["params"]["total"] == 140


def test_eval_exit_status_1_on_violation(capsys: pytest.CaptureFixture) -> None:
    argv = ["eval", str(EXAMPLES / "classic_symbolic.yaml"), "--set", "I=2", "--set", "F=3", "--set", "S=1",
            "--set", "P=0", "--set", "D=5"]
    code, out, _ = run(argv, capsys)
    assert code == 1
    assert "INVALID" in out and "layer 0 'conv2d' (Conv2D): output height" in out


def test_derive_reads_stdin(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO((EXAMPLES / "classic.yaml").read_text()))
    code, out, _ = run(["derive", "-", "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["output_shape"] == ["15", "15", "5"]


def test_sweep_csv_matches_single_evaluations(capsys: pytest.CaptureFixture) -> None:
    import symshape

    argv = ["sweep", str(EXAMPLES / "classic_symbolic.yaml"), "--grid", "I=4:70:5", "--grid", "F=1,3,5",
            "--grid", "S=1,2", "--grid", "P=0,1", "--grid", "D=8", "--where", "params <= 300 and out0 >= 4"]
    code, out, _ = run(argv, capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows
    d = symshape.derive(EXAMPLES / "classic_symbolic.yaml")
    kept = set()
    for i in range(4, 70, 5):
        for f in (1, 3, 5):
            for s in (1, 2):
                for p in (0, 1):
                    e = d.evaluate(I=i, F=f, S=s, P=p, D=8)
                    if e.valid and e.params <= 300 and e.output_shape[0] >= 4:
                        kept.add((i, f, s, p))
    assert {(int(r["I"]), int(r["F"]), int(r["S"]), int(r["P"])) for r in rows} == kept
    for r in rows:
        e = d.evaluate({k: int(r[k]) for k in ("I", "F", "S", "P", "D")})
        assert [int(r["out0"]), int(r["out1"]), int(r["out2"])] == list(e.output_shape)
        assert int(r["params"]) == e.params and int(r["macs"]) == e.macs


def test_sweep_json_to_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    target = tmp_path / "out.json"
    argv = ["sweep", str(EXAMPLES / "classic.yaml"), "--format", "json", "-o", str(target)]
    code, _, err = run(argv, capsys)
    assert code == 0 and "1 of 1 combinations kept" in err
    data = json.loads(target.read_text())
    assert data["rows"] == [[15, 15, 5, 140, 121500, 1]]


def test_layers_lists_both_frameworks(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(["layers", "--format", "json"], capsys)
    names = {(r["framework"], r["name"]) for r in json.loads(out)}
    assert code == 0 and ("keras", "Conv2D") in names and ("torch", "ConvTranspose3d") in names
    assert len(names) > 150


BAD = [  # argv (with {ex} for the examples folder), fragment of the one-line error
    (["derive", "{ex}/nope.yaml"], "nope.yaml: no such file"),
    (["derive", "{ex}/classic.yaml", "--format", "html"], "invalid choice: 'html'"),
    (["eval", "{ex}/classic_symbolic.yaml", "--set", "I32"], "--set takes NAME=VALUE"),
    (["eval", "{ex}/classic_symbolic.yaml", "--set", "I=3.5"], "'3.5' is not an integer"),
    (["eval", "{ex}/classic_symbolic.yaml", "--set", "J=3"], "unknown symbol 'J'"),
    (["eval", "{ex}/classic_symbolic.yaml", "--set", "I=3"], "missing values for F, S, P, D"),
    (["sweep", "{ex}/classic_symbolic.yaml", "--grid", "I=1:x"], "is not a list"),
    (["sweep", "{ex}/classic_symbolic.yaml", "--grid", "I=1,2"], "no --grid for F, S, P, D"),
    (["sweep", "{ex}/classic.yaml", "--where", "parms < 3"], "did you mean 'params'"),
    (["sweep", "{ex}/classic.yaml", "--where", "params"], "has no comparison"),
    (["sweep", "{ex}/classic.yaml", "--where", "__import__('os') < 1"], "unexpected character"),
    (["layers", "Conv2dd"], "did you mean 'Conv2d'"),
    (["solve", "{ex}/classic.yaml", "--for", "I", "--range", "1-9"], "--range takes LO:HI"),
    (["solve", "{ex}/classic_symbolic.yaml", "--for", "J", "--range", "1:9"], "unknown symbol 'J'"),
    (["solve", "{ex}/classic_symbolic.yaml", "--for", "I", "--range", "1:9", "--target", "out7=1"],
     "the output has 3 axes"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["sweep", "{ex}/classic_symbolic.yaml", "--grid", "I=5:1"], "--grid I: '5:1' holds no value"),
    (["sweep", "{ex}/classic_symbolic.yaml", "--grid", "I=1,99999999999999999999"], "must fit in 64 bits"),
    (["sweep", "{ex}/classic_symbolic.yaml", "--grid", "I=1", "--grid", "I=2"], "--grid I is given twice"),
    (["sweep", "{ex}/classic_symbolic.yaml", "--grid", "J=1"], "unknown symbol 'J'"),
    (["sweep", "{ex}/classic_symbolic.yaml", "--grid", "I", "--grid", "F=1"], "--grid takes NAME=VALUES"),
    (["sweep", "{ex}/classic_symbolic.yaml", "--grid", "I=1:10000001", "--grid", "F=1:1000001", "--grid", "S=1:101",
      "--grid", "P=0", "--grid", "D=1"], "the grid has 1,000,000,000,000,000 combinations; the limit is"),
    (["sweep", "{ex}/classic.yaml", "-o", "/nonexistent/dir/out.csv"], "--output /nonexistent/dir/out.csv"),
    (["solve", "{ex}/classic_symbolic.yaml", "--for", "I", "--set", "F=3"], "bind S, P, D to solve for I"),
    (["solve", "{ex}/classic_symbolic.yaml", "--for", "I", "--set", "F=3", "--set", "S=1", "--set", "P=0",
      "--set", "D=4", "--budget", "maccs=10"], "unknown quantity 'maccs' (did you mean 'macs'?)"),
]


@pytest.mark.parametrize(("argv", "fragment"), BAD)
def test_bad_usage_exit_2_one_line(argv: list[str], fragment: str, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run([a.replace("{ex}", str(EXAMPLES)) for a in argv], capsys)
    assert code == 2
    assert fragment in err
    assert "Traceback" not in err
    assert len([ln for ln in err.splitlines() if ln.startswith("symshape: error")]) == 1


def test_bad_spec_file_names_file_line_layer(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec = tmp_path / "model.yaml"
    spec.write_text("framework: keras\ninput: [32, 32, 3]\nlayers:\n  - Conv2D: {filters: 8, kernel_size: 3}\n"
                    "  - MaxPooling2D: {pool_sise: 2}\n")
    code, _, err = run(["derive", str(spec)], capsys)
    assert code == 2
    assert f"{spec}:5: layer 1 'max_pooling2d' (MaxPooling2D): argument 'pool_sise'" in err
    assert "did you mean 'pool_size'" in err


def test_help_and_version(capsys: pytest.CaptureFixture) -> None:
    for command in ("derive", "eval", "sweep", "solve", "layers", "serve"):
        code, out, _ = run([command, "--help"], capsys)
        assert code == 0 and ("examples:" in out or command == "serve")
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.startswith("symshape ")


@pytest.mark.skipif(shutil.which("symshape") is None,
                    reason="the symshape console script is not on PATH (pip install -e .)")
def test_console_script_subprocess() -> None:
    done = subprocess.run(["symshape", "derive", str(EXAMPLES / "classic.yaml")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "(30, 30, 5)" in done.stdout and "(15, 15, 5)" in done.stdout and "140" in done.stdout
    bad = subprocess.run(["symshape", "eval", str(EXAMPLES / "classic_symbolic.yaml"), "--set", "I=x"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("symshape: error:") and "Traceback" not in bad.stderr
    invalid = subprocess.run(["symshape", "eval", str(EXAMPLES / "classic_symbolic.yaml"), "--format", "json",
                              "--set", "I=1", "--set", "F=3", "--set", "S=1", "--set", "P=0", "--set", "D=2"],
                             capture_output=True, text=True, timeout=120)
    assert invalid.returncode == 1 and json.loads(invalid.stdout)["valid"] is False


def test_layers_markdown_is_the_reference_index(capsys: pytest.CaptureFixture) -> None:
    """`layers --format markdown` prints the layer reference's index (docs/layers/, checked by test_reference)."""
    code, out, _ = run(["layers", "--format", "markdown"], capsys)
    assert code == 0
    index = (ROOT / "docs" / "layers" / "index.md").read_text()
    assert out == index.replace("](torch/", "](docs/layers/torch/").replace("](keras/", "](docs/layers/keras/")


def test_solve(capsys: pytest.CaptureFixture) -> None:
    argv = ["solve", str(EXAMPLES / "classic_symbolic.yaml"), "--for", "I", "--range", "1:200", "--set", "F=5",
            "--set", "S=2", "--set", "P=0", "--set", "D=8", "--target", "out0=10"]
    code, out, _ = run(argv, capsys)
    assert code == 0 and out == ("43 ≤ I ≤ 46\n"
                                 "  the network is valid and gives out0 = 10 for I in 43, 44, 45, 46 (4 values)\n"
                                 "  in general: out0 = t exactly when 4·t + 3 ≤ I ≤ 4·t + 6\n")
    code, out, _ = run([*argv[:-2], "--target", "out0=1000", "--format", "json"], capsys)
    assert code == 1 and json.loads(out)["pieces"] == []
    code, out, _ = run([*argv[:-2], "--range", "1:100", "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["text"] == "7 ≤ I ≤ 100" and doc["count"] == 94


# ---------------------------------------------------------------- streamed sweeps and --where

SMALL_GRID = ["--grid", "I=4:40:3", "--grid", "F=1,3,5", "--grid", "S=1,2", "--grid", "P=0,1", "--grid", "D=2,8"]


def _kept(where: object) -> set[tuple[int, ...]]:
    """The combinations of SMALL_GRID a --where keeps, from one exact evaluation each."""
    import itertools

    import symshape

    d = symshape.derive(EXAMPLES / "classic_symbolic.yaml")
    out = set()
    for i, f, s, p, dd in itertools.product(range(4, 40, 3), (1, 3, 5), (1, 2), (0, 1), (2, 8)):
        e = d.evaluate(I=i, F=f, S=s, P=p, D=dd)
        if e.valid and where(dict(I=i, F=f, S=s, P=p, D=dd, params=e.params, macs=e.macs,  # type: ignore[operator]
                                  out0=e.output_shape[0])):
            out.add((i, f, s, p, dd))
    return out


WHERE = [  # --where conditions, the same condition in Python
    (["params <= 300 and out0 >= 4"], lambda r: r["params"] <= 300 and r["out0"] >= 4),
    (["params <= 100 or out0 >= 8"], lambda r: r["params"] <= 100 or r["out0"] >= 8),
    (["not S == 1"], lambda r: r["S"] != 1),
    (["not (S == 1 or P == 0) and D > 2"], lambda r: not (r["S"] == 1 or r["P"] == 0) and r["D"] > 2),
    (["(params + 1) // 2 <= 60 or (macs % 7 == 0 and not (I < 20))"],
     lambda r: (r["params"] + 1) // 2 <= 60 or (r["macs"] % 7 == 0 and not r["I"] < 20)),
    (["F == 3", "I >= 30 or P == 1"], lambda r: r["F"] == 3 and (r["I"] >= 30 or r["P"] == 1)),
    (["((out0 >= 3))"], lambda r: r["out0"] >= 3),
]


@pytest.mark.parametrize(("conditions", "python"), WHERE)
def test_where_or_not_parentheses(conditions: list[str], python: object, capsys: pytest.CaptureFixture) -> None:
    argv = ["sweep", str(EXAMPLES / "classic_symbolic.yaml"), *SMALL_GRID]
    for c in conditions:
        argv += ["--where", c]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    expected = _kept(python)
    assert 0 < len(expected) < 12 * 3 * 2 * 2 * 2  # the condition selects something, not everything
    assert {tuple(int(r[k]) for k in "IFSPD") for r in rows} == expected


BAD_WHERE = [
    ("params = 3", "unexpected '='"),
    ("params < 3 < 4", "one comparison per condition"),
    ("(params < 3", "expected ')'"),
    ("params < 3 and", "ended too early"),
    ("params < 3 or or out0 > 1", "unexpected 'or'"),
    ("params + not 3 < 1", "unexpected 'not'"),
    ("__import__('os').system('x') < 1", "unexpected character"),
    ("params < 3.5", "decimals are not sizes"),
    ("params < ", "nothing on one side"),
    ("I2 < 3", "unknown name 'I2'"),
]


@pytest.mark.parametrize(("condition", "fragment"), BAD_WHERE)
def test_where_errors(condition: str, fragment: str, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run(["sweep", str(EXAMPLES / "classic_symbolic.yaml"), *SMALL_GRID, "--where", condition], capsys)
    assert code == 2 and err.startswith("symshape: error: --where: ") and fragment in err, err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("chunk", [1, 7, 1000])
@pytest.mark.parametrize("keep_invalid", [False, True])
def test_streamed_sweep_equals_one_batch(chunk: int, keep_invalid: bool) -> None:
    """The streamed rows (mixed-radix chunks of any size, CSV and JSON) are the rows of one batch
    evaluation of the materialized grid, in itertools.product order."""
    import itertools

    import numpy as np

    import symshape
    from symshape.sweep import Sweep, parse_axis
    from symshape.where import parse_where

    d = symshape.derive(EXAMPLES / "classic_symbolic.yaml")
    axes = [parse_axis("I", "40:1:-3"), parse_axis("F", "1,3,5"), parse_axis("S", "2"), parse_axis("P", "0:2"),
            parse_axis("D", "8,2")]
    combos = np.array(list(itertools.product(*(a.values for a in axes))), dtype=np.int64)
    cols = {a.name: combos[:, j] for j, a in enumerate(axes)}
    res = d.evaluate_batch(cols, outputs=("output_shape", "params", "macs"))
    keep = (res.valid | keep_invalid) & (res.columns["params"] <= 300)
    expected = np.stack([*cols.values(), *res.columns["output_shape"], res.columns["params"], res.columns["macs"],
                         res.valid.astype(np.int64)], axis=1)[keep].tolist()
    assert 0 < len(expected) < len(combos)
    where = parse_where(["params <= 300"], Sweep.names(d, "IFSPD"))
    sweep = Sweep(d, axes, where, keep_invalid=keep_invalid)
    for fmt in ("csv", "json"):
        buf = io.StringIO()
        assert sweep.write(buf, fmt, chunk=chunk) == len(expected)
        if fmt == "csv":
            lines = buf.getvalue().splitlines()
            assert lines[0] == "I,F,S,P,D,out0,out1,out2,params,macs,valid"
            assert [[int(v) for v in ln.split(",")] for ln in lines[1:]] == expected
        else:
            data = json.loads(buf.getvalue())
            assert data == {"columns": sweep.header, "rows": expected, "combinations": len(combos),
                            "kept": len(expected)}


def test_sweep_json_with_no_row_is_valid_json(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(["sweep", str(EXAMPLES / "classic.yaml"), "--format", "json", "--where", "params < 0"], capsys)
    assert code == 0 and json.loads(out) == {"columns": ["out0", "out1", "out2", "params", "macs", "valid"],
                                             "rows": [], "combinations": 1, "kept": 1 - 1}


def test_sweep_memory_is_bounded(tmp_path: Path) -> None:
    """2,000,000 combinations, every one kept, written to a file: the process grows by far less than
    the rows would take in memory (the former sweep kept them all: ~650 MB here)."""
    script = f"""
import resource, sys
from symshape.cli import main
spec = {str(EXAMPLES / "classic_symbolic.yaml")!r}
grid = ["--grid", "F=1,3", "--grid", "S=1", "--grid", "P=0", "--grid", "D=1:11"]
assert main(["sweep", spec, "--grid", "I=8:12", *grid, "-o", {str(tmp_path / "warm.csv")!r}]) == 0
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert main(["sweep", spec, "--grid", "I=8:100008", *grid, "--all", "-o", {str(tmp_path / "big.csv")!r}]) == 0
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    growth_mb = int(done.stdout.split()[-1])
    with open(tmp_path / "big.csv") as f:
        assert sum(1 for _ in f) == 2_000_001
    assert growth_mb < 200, f"the sweep grew the process by {growth_mb} MB"


def test_solve_uses_the_declared_range(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text("framework: keras\ninput: [H, H, 3]\nsymbols:\n  H: {min: 1, max: 200}\nlayers:\n"
                    "  - Conv2D: {filters: 4, kernel_size: 5, strides: 2}\n  - MaxPooling2D: {}\n")
    argv = ["solve", str(spec), "--for", "H", "--target", "out0=10"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert out.startswith("43 ≤ H ≤ 46\n")
    assert run([*argv, "--range", "1:200"], capsys)[1] == out
    code, out, err = run(argv[:4], capsys)
    assert code == 0 and out.startswith("7 ≤ H ≤ 200\n")  # the declared max bounds the answer
    spec.write_text(spec.read_text().replace("{min: 1, max: 200}", "{min: 1}"))
    code, out, err = run(argv[:4], capsys)
    assert code == 0 and out.startswith("H ≥ 7\n")  # unbounded: the closed form needs no range


# ---------------------------------------------------------------- the first command is fast; python -m


def test_version_and_help_do_not_import_sympy_or_numpy() -> None:
    for argv in (["--version"], ["--help"], ["sweep", "--help"]):
        code = (f"import symshape.cli, sys; symshape.cli.main({argv!r}); "
                "heavy = [m for m in ('sympy', 'numpy', 'rich') if m in sys.modules]; assert not heavy, heavy")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (argv, done.stderr)


def test_import_symshape_is_lazy_and_complete() -> None:
    code = ("import sys, symshape; assert 'sympy' not in sys.modules; "
            "from symshape.derive import LayerResult; "  # importing the submodule keeps symshape.derive the function
            "assert callable(symshape.derive) and symshape.derive.__module__ == 'symshape.derive'; "
            "d = symshape.derive({'framework': 'keras', 'input': [4], 'layers': [{'Dense': {'units': 3}}]}); "
            "assert d.output_shape == (3,)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_python_m_symshape(capsys: pytest.CaptureFixture) -> None:
    argv = ["derive", str(EXAMPLES / "classic.yaml")]
    done = subprocess.run([sys.executable, "-m", "symshape", *argv], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == run(argv, capsys)[1]
    done = subprocess.run([sys.executable, "-m", "symshape", "eval", str(EXAMPLES / "classic_symbolic.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("symshape: error: missing values")


# ---------------------------------------------------------------- never-valid specs and warnings

NEVER_VALID = ("framework: torch\ninput: [3, H, W]\nlayers:\n  - Conv2d: {out_channels: 16, kernel_size: 3}\n"
               "  - ReLU: {}\n  - Conv2d: {in_channels: 32, out_channels: 8, kernel_size: 3}\n")


@pytest.mark.parametrize(("fmt", "first"), [
    ("table", "never valid: layer 2 'conv2d_1' (Conv2d): in_channels 32 != 16 incoming channels"),
    ("markdown", "**Never valid**: layer 2 'conv2d_1' (Conv2d): in_channels 32 != 16 incoming channels"),
    ("latex", r"\textbf{Never valid}: layer 2 \textquotesingle{}conv2d\_\allowbreak{}1\textquotesingle{} (Conv2d): "
              r"in\_\allowbreak{}channels 32 != 16 incoming channels"),
])
def test_derive_never_valid_says_why_first_and_exits_1(fmt: str, first: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    spec = tmp_path / "nv.yaml"
    spec.write_text(NEVER_VALID)
    code, out, err = run(["derive", str(spec), "--format", fmt], capsys)
    assert code == 1, err
    if fmt == "latex":  # a standalone document: the reasons come first after its title
        assert out.startswith("\\documentclass") and out.rstrip().endswith("\\end{document}")
        out = out.split("\\medskip\n", 1)[1]
    assert out.splitlines()[0] == first
    for size in ("Total params", "MACs", "Output", "(16,", "(8,", "floor"):  # no meaningless sizes
        assert size not in out
    code, out, _ = run(["derive", str(spec), "--format", "json"], capsys)
    assert code == 1 and json.loads(out)["framework"] == "torch"


def test_derive_json_of_a_never_valid_spec_has_the_reasons_first_and_no_sizes(tmp_path: Path,
                                                                             capsys: pytest.CaptureFixture) -> None:
    from tests.test_honest import negatives

    spec = tmp_path / "nv3.yaml"
    spec.write_text("framework: keras\ninput: [0, 32, 3]\nlayers:\n  - Conv2D: {filters: 5, kernel_size: 3}\n")
    code, out, _ = run(["derive", str(spec), "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 1 and next(iter(doc)) == "never_valid" and out.lstrip("{\n ").startswith('"never_valid"')
    assert doc["never_valid"] == ["input 'input': input axis 0: 0 < 1",
                                  "layer 0 'conv2d' (Conv2D): output height: -2 < 1"]
    assert doc["output_shape"] is doc["closed_form"] is doc["macs"] is doc["activations"] is None
    assert doc["params"]["total"] is None and doc["layers"][0]["output_shape"] is None
    assert doc["inputs"] == {"input": ["0", "32", "3"]} and doc["layers"][0]["kind"] == "Conv2D"
    assert negatives(doc) == [] and "-8100" not in out and '"-2"' not in out
    spec.write_text(NEVER_VALID.replace("in_channels: 32", "in_channels: 16"))
    code, out, _ = run(["derive", str(spec)], capsys)
    assert code == 0 and "never valid" not in out and "Total params: 1,608" in out


def test_derive_warnings_go_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec = tmp_path / "w.yaml"
    spec.write_text("framework: keras\ninput: [Hight, 32, 3]\nsymbols:\n  Height: {min: 1}\nlayers:\n"
                    "  - Conv2D: {filters: 4, kernel_size: 3}\n")
    code, out, err = run(["derive", str(spec)], capsys)
    assert code == 0 and "warning" not in out
    assert err.startswith("symshape: warning: symbol 'Hight' is not declared") and "did you mean 'Height'" in err
    for argv in (["eval", str(spec), "--set", "Hight=32"], ["sweep", str(spec), "--grid", "Hight=32"]):
        err = run(argv, capsys)[2]
        assert err.startswith("symshape: warning: symbol 'Hight' is not declared"), argv


def test_sweep_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """stderr a terminal (a pty), rows to a file: the bar shows rows/s and kept rows, then goes away."""
    from tests.terminal import run_on_terminal

    target = tmp_path / "rows.csv"
    argv = ["sweep", str(EXAMPLES / "classic_symbolic.yaml"), "--grid", "I=1:1001", "--grid", "F=1:11", "--grid",
            "S=1:11", "--grid", "P=0:10", "--grid", "D=1:11", "--where", "D <= 1", "-o", str(target)]
    code, text = run_on_terminal(argv, stream="stderr")
    assert code == 0
    assert "sweeping" in text and " rows/s, " in text and " kept" in text, text[-500:]
    assert "996,575 of 10,000,000 combinations kept ->" in text


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize(("grid", "where", "kept"), [
    (["I=9223372036854775807,32", "D=1,5"], [], 4),  # MACs past int64: exact, never a wrapped number
    (["I=9223372036854775807,32", "D=1,5"], ["macs > 1000000"], 2),
    (["I=32:35", "D=1"], ["params * 1000000000000000000 > 5 and macs * 10000000000 > 1"], 3),  # the filter overflows
    (["I=32:35", "D=1"], ["params * 1000000000000000000 < 5"], 0),
])
def test_sweep_rows_past_int64_are_exact(grid: list[str], where: list[str], kept: int, fmt: str,
                                         capsys: pytest.CaptureFixture) -> None:
    import symshape

    argv = ["sweep", str(EXAMPLES / "classic_symbolic.yaml"), "--grid", "F=1", "--grid", "S=1", "--grid", "P=0",
            "--format", fmt]
    for g in grid:
        argv += ["--grid", g]
    for w in where:
        argv += ["--where", w]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    if fmt == "json":
        data = json.loads(out)
        header, rows = data["columns"], data["rows"]
    else:
        header, *lines = out.splitlines()
        header = header.split(",")
        rows = [[int(v) for v in ln.split(",")] for ln in lines]
    assert len(rows) == kept
    d = symshape.derive(EXAMPLES / "classic_symbolic.yaml")
    for row in rows:
        r = dict(zip(header, row, strict=True))
        e = d.evaluate({k: r[k] for k in "IFSPD"})
        assert e.valid and r["valid"] == 1
        assert [r["out0"], r["out1"], r["out2"], r["params"], r["macs"]] == [*e.output_shape, e.params, e.macs]
