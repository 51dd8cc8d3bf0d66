"""Run a README section's first Python sample as printed (from the repository root), for the tests that
check what its comments say it returns."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent


def run_readme_sample(heading: str, label: str) -> dict[str, Any]:
    """The names the first ```python block after `heading` defines, run with the root as working directory."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        scope: dict[str, Any] = {}
        exec(compile(code, f"README.md ({label})", "exec"), scope)  # our own README, not input
    finally:
        os.chdir(here)
    return scope
