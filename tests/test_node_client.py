"""A Node.js client (@grpc/grpc-js) calls Derive, Evaluate, EvaluateBatch and Solve on a real server and
evaluates the portable expression graphs in JavaScript: the numbers must be symshape's own. It loads the protos
that `python -m symshape_server.protos DIR` writes (google/rpc/status.proto and error_details.proto included),
decodes refused calls' ErrorInfo and BadRequest, and treats a zero divisor as undefined."""

from __future__ import annotations

import json
import os
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
def proto_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from symshape_server.protos import write

    target = tmp_path_factory.mktemp("protos")
    write(target)
    return target


@pytest.fixture(scope="module")
def port():
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1))
    running.server.start()
    yield running.port
    shutdown(running, 0.5)


CASES = [  # spec, bindings, the symbol Solve is asked for (the others bound), Solve's targets, a divisor to zero
    ("classic_symbolic.yaml", {"I": 32, "F": 3, "S": 1, "P": 0, "D": 5}, "I", {}, "S"),
    ("classic_symbolic.yaml", {"I": 32, "F": 5, "S": 2, "P": 0, "D": 3}, "I", {0: 7}, None),  # finite: 31..34
    ("unet.yaml", {"C": 3, "H": 570, "W": 72, "K": 2}, "H", {}, None),  # H = 0 (mod 8): 568 or 576
    ("transformer_block.yaml", {"L": 9, "E": 96, "Hh": 4}, "E", {}, None),
    ("resnet18.yaml", {"H": 224, "W": 160}, "W", {}, None),
]


@pytest.mark.parametrize(("name", "bindings", "symbol", "targets", "zero"), CASES)
def test_node_client(node_ready: Path, proto_dir: Path, port: int, name: str, bindings: dict[str, int], symbol: str,
                     targets: dict[int, int], zero: str | None) -> None:
    env = {**os.environ, "SYMSHAPE_PROTO_DIR": str(proto_dir), **({"ZERO_SYMBOL": zero} if zero else {})}
    done = subprocess.run(["node", str(node_ready / "client.js"), f"127.0.0.1:{port}", str(EXAMPLES / name),
                           json.dumps(bindings), symbol, json.dumps(targets)], capture_output=True, text=True,
                          timeout=120, env=env)
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
    # refused calls, decoded in JavaScript from the google.rpc.Status details
    missing, bad_spec = got["errors"]
    assert (missing["code"], missing["reason"], missing["domain"]) == (3, "BAD_BINDINGS", "symshape.dev")
    assert missing["fields"][0][0] == "bindings" and "missing" in missing["fields"][0][1]
    assert (bad_spec["code"], bad_spec["reason"]) == (3, "BAD_SPEC")
    assert bad_spec["fields"][0][0] == "spec.text" and "did you mean 'kernel_size'" in bad_spec["fields"][0][1]
    assert bad_spec["metadata"] == {"line": "4", "layer_index": "0", "layer_name": "conv1d", "argument": "kernel"}
    if zero:  # a zero divisor: undefined in JavaScript (BigInt throws; the client says null), not valid here
        e0 = d.evaluate({**bindings, zero: 0})
        assert got["zero_divisor"]["closed_form"] == [None if v is None else str(v) for v in e0.output_shape]
        assert None in got["zero_divisor"]["closed_form"]
        assert got["zero_divisor"]["valid"] is False and got["zero_divisor"]["valid_is_present"]
        assert got["zero_divisor"]["violations"] == [v.message for v in e0.violations]
