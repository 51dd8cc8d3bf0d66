"""`symshape solve` as a user runs it: the closed form first, its first values, the conditions that
decide it, nearest members with the rows dropped, lossless sizes and budgets; JSON for programs."""

import json
from pathlib import Path

import pytest

from symshape.cli import main

EXAMPLES = Path(__file__).parent.parent / "examples"
UNET = [str(EXAMPLES / "unet.yaml"), "--for", "H", "--set", "C=3", "--set", "W=64", "--set", "K=2"]
CLASSIC = [str(EXAMPLES / "classic_symbolic.yaml"), "--for", "I", "--set", "S=2", "--set", "P=0", "--set", "D=8"]


def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_unet_valid_set_and_nearest(capsys):
    code, out, _ = run(["solve", *UNET, "--near", "570"], capsys)
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == "H ≥ 8 and H ≡ 0 (mod 8)"
    assert lines[1] == ("  the network is valid for H in 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, ... "
                        "(infinitely many)")
    assert ("  because layer 20 'skip3' (cat): axis 1 of the concatenated inputs fails for H ≡ 4, 5, 6, 7 (mod 8)"
            in lines)
    assert "  570 is not; pad to 576 or crop to 568" in lines
    assert "  at H = 570: layer 9 'pool2' (MaxPool2d): 1 height row(s) never read" in lines


def test_lossless_and_the_seed_example(capsys):
    code, out, _ = run(["solve", *CLASSIC, "--set", "F=2", "--lossless", "--near", "11"], capsys)
    assert code == 0
    assert out.splitlines()[0] == "I ≥ 4 and I ≡ 0 (mod 4)"
    assert "  at I = 11: layer 1 'max_pooling2d' (MaxPooling2D): 1 height row(s) never read" in out


def test_budget(capsys):
    code, out, _ = run(["solve", str(EXAMPLES / "resnet50.yaml"), "--for", "H", "--set", "W=224",
                        "--budget", "macs=4089184256"], capsys)
    assert code == 0 and out == "largest H with macs ≤ 4,089,184,256: H = 224 (macs 4,089,184,256)\n"
    code, out, _ = run(["solve", str(EXAMPLES / "resnet50.yaml"), "--for", "H", "--set", "W=224",
                        "--budget", "macs=10", "--format", "json"], capsys)
    assert code == 1 and json.loads(out)["value"] is None


def test_json_answer(capsys):
    code, out, _ = run(["solve", *UNET, "--format", "json", "--near", "570"], capsys)
    doc = json.loads(out)
    assert code == 0
    assert doc["periodic"] == {"start": 8, "period": 8, "residues": [0]}
    assert doc["pieces"] == [{"lo": 8, "hi": None, "modulus": 8, "residue": 0}]
    assert doc["count"] is None and doc["first"][:3] == [8, 16, 24]
    assert doc["near"] == {"value": 570, "below": 568, "above": 576}
    assert doc["dropped"][0]["layer"] == 9


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--target", "out9=1"], "--target out9: the output has 3 axes"),
    (["--budget", "macs"], "--budget takes QUANTITY=N"),
])
def test_errors(argv, fragment, capsys):
    code, _, err = run(["solve", *UNET, *argv], capsys)
    assert code == 2 and fragment in err and err.count("\n") == 1


def test_derive_shows_the_exact_valid_inputs_when_one_symbol_is_free(tmp_path, capsys):
    spec = (EXAMPLES / "unet.yaml").read_text().replace("input: [C, H, W]", "input: [3, H, 64]")
    spec = spec.replace("out_channels: K", "out_channels: 2")
    spec = "\n".join(line for line in spec.splitlines() if not line.startswith(("  C:", "  W:", "  K:")))
    path = tmp_path / "unet_h.yaml"
    path.write_text(spec)
    code, out, err = run(["derive", str(path)], capsys)
    assert code == 0, err
    assert out.splitlines()[-1] == "Valid inputs, exactly: H ≥ 8 and H ≡ 0 (mod 8)"
    code, out, _ = run(["derive", str(path), "--format", "markdown"], capsys)
    assert out.rstrip().splitlines()[-1] == "**Valid inputs, exactly**: H ≥ 8 and H ≡ 0 (mod 8)"
    code, out, _ = run(["derive", str(EXAMPLES / "classic_symbolic.yaml")], capsys)
    assert "Valid inputs, exactly" not in out  # five free symbols: no one-symbol answer


BUDGET = [str(EXAMPLES / "classic_symbolic.yaml"), "--for", "I", "--set", "F=3", "--set", "S=1", "--set", "P=0",
          "--set", "D=1"]


@pytest.mark.parametrize(("argv", "code", "fragment"), [
    (["--budget", "macs=1e400"], 2, "--budget macs: the exponent must be 0 to 60, got 400"),
    (["--budget", "macs=4e6"], 0, "largest I with macs ≤ 4,000,000: I = 386 (macs 3,981,312)"),
    (["--budget", "params=1e20"], 0, "every valid I has params ≤ 100,000,000,000,000,000,000 (up to 2**62"),
    (["--near", "9" * 5000], 2, "has 5,000 digits; integers have at most 60"),
    (["--near", "-5"], 0, "-5 is not; pad to 4"),
])
def test_budgets_and_bounded_values(argv, code, fragment, capsys):
    got, out, err = run(["solve", *BUDGET, *argv], capsys)
    assert got == code and fragment in (out if code == 0 else err)
    assert "never read" not in out  # nothing is reported at a value outside the domain
    assert len(err) < 300


def test_huge_integers_and_a_full_disk_are_errors_not_crashes():
    import subprocess
    import sys

    big = "9" * 5000
    for argv in (["eval", str(EXAMPLES / "classic_symbolic.yaml"), "--set", f"I={big}"],
                 ["sweep", str(EXAMPLES / "classic_symbolic.yaml"), "--grid", f"I={big}"],
                 ["solve", *UNET, "--range", f"1:{big}"]):
        done = subprocess.run([sys.executable, "-m", "symshape", *argv], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and len(done.stderr) < 300, done.stderr
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "symshape", "derive", str(EXAMPLES / "classic.yaml")],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert done.returncode == 2 and "cannot write the output: No space left on device" in done.stderr


def test_client_reads_a_missing_file_as_a_spec_error():
    from symshape.client import Client
    from symshape.errors import SpecError

    with Client("localhost:1") as c, pytest.raises(SpecError, match="no such file"):
        c.spec(Path("/nonexistent/model.yaml"))
