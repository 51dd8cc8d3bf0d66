"""A Node.js client (@grpc/grpc-js) calls Derive, Evaluate and EvaluateBatch on a real server and
evaluates the portable expression graphs in JavaScript: the numbers must be symshape's own."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import symshape
from symshape_server.service import ServerConfig, create_server, shutdown

NODE_DIR = Path(__file__).parent / "node"
EXAMPLES = Path(__file__).parent.parent / "examples"

pytestmark = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                                reason="Node.js and npm are needed")


@pytest.fixture(scope="module")
def node_ready() -> Path:
    if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").exists():
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    return NODE_DIR


@pytest.fixture(scope="module")
def port():
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1))
    running.server.start()
    yield running.port
    shutdown(running, 0.5)


CASES = [
    ("classic_symbolic.yaml", {"I": 32, "F": 3, "S": 1, "P": 0, "D": 5}),
    ("unet.yaml", {"C": 3, "H": 64, "W": 72, "K": 2}),
    ("transformer_block.yaml", {"L": 9, "E": 96, "Hh": 4}),
    ("resnet18.yaml", {"H": 224, "W": 160}),
]


@pytest.mark.parametrize(("name", "bindings"), CASES)
def test_node_client(node_ready: Path, port: int, name: str, bindings: dict[str, int]) -> None:
    done = subprocess.run(["node", str(node_ready / "client.js"), f"127.0.0.1:{port}", str(EXAMPLES / name),
                           json.dumps(bindings)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    d = symshape.derive(EXAMPLES / name)
    e = d.evaluate(bindings)
    assert got["derivation_id"] == d.key
    assert [int(v) for v in got["closed_form"]] == list(e.output_shape)  # evaluated in JavaScript
    assert int(got["params"]) == e.params and int(got["macs"]) == e.macs
    assert all(got["constraints"]) == e.valid
    assert [int(v) for v in got["evaluate"]["output_shape"]] == list(e.output_shape)
    assert int(got["evaluate"]["params"]) == e.params and got["evaluate"]["valid"] == e.valid
    first = d.free_symbols[0]
    cols = {s: (np.array(got["batch"]["sizes"]) if s == first else bindings[s]) for s in d.free_symbols}
    want = d.evaluate_batch(cols, outputs=("output_shape", "params"))
    assert [int(o) for o in got["batch"]["offsets"]] == [0, 4]
    assert got["batch"]["valid"] == want.valid.tolist()
    assert [int(v) for v in got["batch"]["params"]] == want.columns["params"].tolist()
    assert [[int(v) for v in axis] for axis in got["batch"]["output_shape"]] == \
        [a.tolist() for a in want.columns["output_shape"]]
