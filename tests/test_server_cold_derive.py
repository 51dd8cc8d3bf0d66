"""The Derive reply's free symbols without the compiled program (issue 13, cold Derive): a derivation
worker sends the reply first and builds the evaluation program after, so `convert.free_symbols` must
name exactly what `Derivation.free_symbols` (from the program) names, on every example and on specs
with a batch, several inputs and symbols that only a condition or a count uses."""

from __future__ import annotations

from pathlib import Path

import pytest

import symshape
from symshape.deep import run_deep
from symshape_server.convert import free_symbols

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

SPECS = {
    "batch named": "framework: torch\nbatch: B\ninput: [3, H, W]\nlayers:\n"
                   "  - Conv2d: {out_channels: C, kernel_size: K}\n  - BatchNorm2d: {num_features: C}\n",
    "count only": "framework: torch\ninput: [N]\nlayers:\n  - Linear: {in_features: N, out_features: M}\n",
    "condition only": "framework: torch\ninput: [3, H]\nlayers:\n  - Conv1d: {out_channels: 4, kernel_size: K, "
                      "stride: S}\n",
    "no symbols": "framework: torch\ninput: [3, 8]\nlayers:\n  - Conv1d: {out_channels: 4, kernel_size: 3}\n",
}


@pytest.mark.parametrize("source", [*EXAMPLES, *SPECS], ids=[*(p.name for p in EXAMPLES), *SPECS])
def test_free_symbols_match_the_compiled_program(source: Path | str) -> None:
    text = source.read_text() if isinstance(source, Path) else SPECS[source]
    d = symshape.derive(text, cache=False)
    walked = run_deep(free_symbols, d)
    assert "compiled" not in d.__dict__  # the walk did not compile
    assert walked == d.free_symbols
    assert free_symbols(d) == walked  # compiled by now: the library's answer
