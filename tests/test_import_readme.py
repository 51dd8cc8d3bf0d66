"""The README's 'Bring your own model' sample runs as printed and its comments state what it returns."""

import pytest

from .readme_sample import run_readme_sample


def test_bring_your_own_model_sample() -> None:
    pytest.importorskip("torch")
    scope = run_readme_sample("## Bring your own model", "Bring your own model")
    d, e, small = scope["d"], scope["e"], scope["small"]
    assert str(d.params) == "2724*width**2 + 8297*width + 1000"
    assert e.params == 11689512 and small.params == 831096
    assert "class Model(nn.Module)" in scope["code"] and "out_channels=16" in scope["code"]
