"""A spec's key and its derivation id's JSON are made of the same canonical fields, dumped once
(`Spec.canonical_text`): both are exactly the text that dumping the whole canonical form gives."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from symshape.spec import load_spec
from symshape_server.ids import canonical_json
from tests.fuzzgen import cases

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _old_key(spec: Any) -> str:
    text = _dumps(spec.canonical())
    order = list(spec.inputs)
    if order != sorted(order):
        text += json.dumps(order)
    return hashlib.sha256(text.encode()).hexdigest()


def _old_canonical_json(spec: Any) -> str:
    c = dict(spec.canonical())
    for name in ("inputs", "symbols"):
        if isinstance(c.get(name), dict):
            c[name] = [[k, v] for k, v in c[name].items()]
    return _dumps(c)


def _specs() -> list[Any]:
    out = [load_spec(p) for p in EXAMPLES]
    out.append(load_spec("framework: torch\nbatch: B\nmode: eval\ninputs: {z: [3, H], a: [3, H]}\nsymbols: "
                         "{H: {min: 4}}\nlayers:\n  - Add: {inputs: [z, a]}\n  - Conv1d: {out_channels: 4, "
                         "kernel_size: 3, name: \"c\\u00e9\"}\n"))
    for c in cases(9100, 150):
        try:
            out.append(load_spec(c.spec))
        except Exception:  # noqa: BLE001, S112 - refused specs have no key
            continue
    return out


@pytest.mark.parametrize("spec", _specs())
def test_same_text_as_dumping_the_whole(spec: Any) -> None:
    assert spec.canonical_text() == _dumps(spec.canonical())
    assert spec.key == _old_key(spec)
    assert canonical_json(spec) == _old_canonical_json(spec)
