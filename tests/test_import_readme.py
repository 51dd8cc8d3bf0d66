"""The README's 'Bring your own model' sample runs as printed and its comments state what it returns."""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def test_bring_your_own_model_sample() -> None:
    pytest.importorskip("torch")
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Bring your own model"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        scope: dict = {}
        exec(compile(code, "README.md (Bring your own model)", "exec"), scope)  # our own README, not input
    finally:
        os.chdir(here)
    d, e, small = scope["d"], scope["e"], scope["small"]
    assert str(d.params) == "2724*width**2 + 8297*width + 1000"
    assert e.params == 11689512 and small.params == 831096
    assert "class Model(nn.Module)" in scope["code"] and "out_channels=16" in scope["code"]
