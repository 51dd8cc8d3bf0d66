"""A Node.js client (@grpc/grpc-js) calls Derive, Evaluate, EvaluateBatch and Solve on a real server and
evaluates the portable expression graphs in JavaScript: the numbers must be symshape's own."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import symshape
from symshape.solve import solve
from symshape_server.ids import derivation_id
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


CASES = [  # spec, bindings, the symbol Solve is asked for (the others bound), Solve's targets
    ("classic_symbolic.yaml", {"I": 32, "F": 3, "S": 1, "P": 0, "D": 5}, "I", {}),
    ("classic_symbolic.yaml", {"I": 32, "F": 5, "S": 2, "P": 0, "D": 3}, "I", {0: 7}),  # finite: 31..34
    ("unet.yaml", {"C": 3, "H": 570, "W": 72, "K": 2}, "H", {}),  # H = 0 (mod 8): 568 or 576
    ("transformer_block.yaml", {"L": 9, "E": 96, "Hh": 4}, "E", {}),
    ("resnet18.yaml", {"H": 224, "W": 160}, "W", {}),
]


@pytest.mark.parametrize(("name", "bindings", "symbol", "targets"), CASES)
def test_node_client(node_ready: Path, port: int, name: str, bindings: dict[str, int], symbol: str,
                     targets: dict[int, int]) -> None:
    done = subprocess.run(["node", str(node_ready / "client.js"), f"127.0.0.1:{port}", str(EXAMPLES / name),
                           json.dumps(bindings), symbol, json.dumps(targets)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    d = symshape.derive(EXAMPLES / name)
    e = d.evaluate(bindings)
    assert got["derivation_id"] == derivation_id(EXAMPLES / name)
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
    # Solve, decoded in JavaScript: the numbers and the condition graph agree with the library's answer
    answer = solve(d, symbol, {k: v for k, v in bindings.items() if k != symbol}, target=targets or None)
    got_solve = got["solve"]
    assert got_solve["symbol"] == symbol and got_solve["text"] == answer.text()
    assert got_solve["method"] == answer.method and got_solve["finite"] == (answer.count() is not None)
    assert got_solve["count"] == (None if answer.count() is None else str(answer.count()))
    assert [int(v) for v in got_solve["first"]] == answer.first(20)
    assert [[None if x is None else int(x) for x in p] for p in got_solve["pieces"]] == \
        [[p.lo, p.hi, p.modulus, p.residue] for p in answer.pieces]
    assert [None if v is None else int(v) for v in got_solve["nearest"]] == list(answer.nearest(bindings[symbol]))
    members = [answer.contains(int(v)) for v in got_solve["probe"]]
    assert got_solve["condition"] == members and got_solve["pieces_contain"] == members
