"""The README's console samples are the real output: each ```console block that starts with
`$ symshape ...` is run (in a folder holding the examples and the files below) and compared."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"

FILES = {  # files the README's commands name that are not in the repository
    "model.yaml": "framework: keras\ninput: [32, 32, 3]\nlayers:\n  - Conv2D: {filters: 8, kernel_size: 3}\n"
                  "  - MaxPooling2D: {pool_sise: 2}\n",
}


def console_blocks() -> list[tuple[int, str, str]]:
    """(line number, command, expected output) of each ```console block starting with '$ symshape'."""
    text = README.read_text(encoding="utf-8")
    out = []
    for m in re.finditer(r"^```console\n(.*?)^```$", text, flags=re.S | re.M):
        lines = m.group(1).splitlines()
        if lines and lines[0].startswith("$ symshape "):
            line = text[: m.start()].count("\n") + 1
            out.append((line, lines[0][2:], "\n".join(lines[1:])))
    return out


def test_the_readme_has_console_samples() -> None:
    assert len(console_blocks()) >= 2


@pytest.mark.parametrize(("line", "command", "expected"), console_blocks(),
                         ids=[f"README.md:{b[0]}" for b in console_blocks()])
def test_console_sample_is_the_real_output(line: int, command: str, expected: str, tmp_path: Path) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    for name, content in FILES.items():
        (tmp_path / name).write_text(content)
    argv = shlex.split(command)
    assert argv[0] == "symshape"
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run([sys.executable, "-m", "symshape", *argv[1:]], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env=env)
    got = (done.stdout + done.stderr).rstrip("\n")
    assert got == expected, f"README.md:{line}: the sample of '{command}' is not its output; it is now:\n{got}"
